"""The invariants' one definition (`support.invariants`) finds what each invariant forbids: the
integration suites and the simulation rely on it failing when it must."""

from __future__ import annotations

import pytest
from support.invariants import (
    check_all,
    check_no_mismatched_approval,
    check_not_lost,
    check_one_event_per_decision,
    check_published,
)

KRW_1000 = {"amount": "1000", "currency": "KRW"}


def message(event_id: str, outcome: str = "APPROVED", reported: dict[str, str] | None = KRW_1000, **more: str) -> dict:
    return {"orderId": event_id.split(":")[0], "eventId": event_id, "outcome": outcome,
            "requested": KRW_1000, "reported": reported, **more}


def decided(order_id: str, event_id: str, **more: str) -> dict:
    return {"orderId": order_id, "status": event_id.split(":")[1], "outcome": {"eventId": event_id}, **more}


def test_a_settled_world_keeps_every_invariant() -> None:
    items = [decided("A", "A:FAILED"), decided("B", "B:CANCELLED:1"),
             {"orderId": "C", "status": "PENDING", "sweepKey": "p#0", "nextCheckAt": "2026-01-01T00:00:00Z"}]
    messages = [message("A:FAILED", "FAILED", None), message("B:FAILED", "FAILED", None),
                message("B:CANCELLED:1", "CANCELLED", supersedes="B:FAILED")]
    check_all(items, messages)


def test_each_rule_finds_what_it_forbids() -> None:
    assert check_not_lost([{"orderId": "A", "status": "PENDING", "sweepKey": "p#0"}])
    assert check_not_lost([decided("A", "A:APPROVED", sweepKey="p#0")])
    assert check_not_lost([{"orderId": "A", "status": "PAID"}])
    assert check_one_event_per_decision([message("A:APPROVED"), message("A:REVIEW", "REVIEW")])
    assert check_one_event_per_decision([message("A:REVIEW:1", "REVIEW", supersedes="A:FAILED")])
    assert check_published([decided("A", "A:APPROVED")], [])
    assert check_published([decided("A", "A:APPROVED", sweepKey="p#0", nextCheckAt="x")], [message("A:APPROVED")])
    assert not check_published([decided("A", "A:APPROVED", sweepKey="p#0", nextCheckAt="x")], [message("A:APPROVED")],
                               settled=False)
    assert check_published([], [message("Z:APPROVED")])
    assert check_no_mismatched_approval([message("A:APPROVED", reported={"amount": "999", "currency": "KRW"})])
    assert check_no_mismatched_approval([message("A:APPROVED", reported=None)])
    with pytest.raises(AssertionError, match="invariants broken"):
        check_all([decided("A", "A:APPROVED")], [])
