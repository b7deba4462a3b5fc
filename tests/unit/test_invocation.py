"""What a function is asked, read from its event; and a queued batch's partial response, built by
Powertools' own batch utility (CONTRACT.md sections 5 and 6)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from paysweep.invocation import (
    MAX_CHECKED_ORDERS,
    InvalidCheckRequest,
    Trigger,
    UnrecognisedEvent,
    checked_order_ids,
    queued_order_id,
    trigger_of,
)
from paysweep.queued import check_batch
from paysweep.sweep.check import CheckReason, CheckResult

EVENTS = Path(__file__).resolve().parents[2] / "events"


@pytest.mark.parametrize("name", ["schedule.json", "schedule-shards-0-1.json", "eventbridge-rule.json"])
def test_the_schedules_events_are_sweeps(name: str) -> None:
    assert trigger_of(json.loads((EVENTS / name).read_text())) is Trigger.SCHEDULE


def test_a_check_request_and_an_sqs_batch_are_told_apart() -> None:
    assert trigger_of({"check": ["ORD-1"]}) is Trigger.INVOKE
    assert trigger_of(json.loads((EVENTS / "check-queue.json").read_text())) is Trigger.QUEUE


@pytest.mark.parametrize("event", [{}, {"detail": {}}, {"Records": []}, {"Records": [{"eventSource": "aws:sns"}]},
                                   {"orderId": "ORD-1"}, [], "check", None])
def test_anything_else_is_an_error_never_a_sweep(event: Any) -> None:
    with pytest.raises(UnrecognisedEvent, match="nothing was done"):
        trigger_of(event)


def test_a_check_request_names_1_to_20_valid_order_ids() -> None:
    ids = [f"ORD-{n}" for n in range(MAX_CHECKED_ORDERS)]
    assert checked_order_ids({"check": ids}) == ids
    for wrong, says in [("ORD-1", "got str"), ([], "got 0 ids"), ([*ids, "ORD-X"], "got 21 ids"),
                        (["ORD-1", "ORD 2"], "'ORD 2': orderId may only hold"), ([7], "7: orderId must be"),
                        (["x" * 41], "at most 40")]:
        with pytest.raises(InvalidCheckRequest, match=says):
            checked_order_ids({"check": wrong})


@pytest.mark.parametrize("body, says", [("ORD-1", "not JSON"), ('["ORD-1"]', "orderId"), ('{"orderID": "ORD-1"}', "orderId"),
                                        ('{"orderId": "ORD 1"}', "may only hold"), ('{"orderId": ""}', "non-empty")])
def test_a_queued_message_is_an_object_naming_one_valid_order_id(body: str, says: str) -> None:
    with pytest.raises(InvalidCheckRequest, match=says):
        queued_order_id(body)
    assert queued_order_id('{"orderId": "ORD-1", "source": "webhook"}') == "ORD-1"


def sqs_event(*bodies: str) -> dict[str, Any]:
    template = json.loads((EVENTS / "check-queue.json").read_text())["Records"][0]
    return {"Records": [{**template, "messageId": f"m-{n}", "body": body} for n, body in enumerate(bodies)]}


def result(order_id: str, *, checked: bool, reason: CheckReason | None) -> CheckResult:
    return CheckResult(order_id, "PENDING", checked, None, reason, None)


def test_a_batch_reports_exactly_the_messages_to_deliver_again() -> None:
    asked: list[list[str]] = []

    def check(order_ids: list[str]) -> list[CheckResult]:
        asked.append(order_ids)
        return [
            result("ORD-OK", checked=True, reason=None),
            result("ORD-HELD", checked=False, reason=CheckReason.LEASED),
            result("ORD-DONE", checked=False, reason=CheckReason.ALREADY_DECIDED),
            result("ORD-NONE", checked=False, reason=CheckReason.NOT_FOUND),
            result("ORD-SLOW", checked=False, reason=CheckReason.OUT_OF_TIME),
        ]

    event = sqs_event(*(json.dumps({"orderId": o}) for o in ("ORD-OK", "ORD-HELD", "ORD-DONE", "ORD-NONE", "ORD-SLOW")),
                      "not json")
    response = check_batch(event, None, check)  # type: ignore[arg-type]
    assert asked == [["ORD-OK", "ORD-HELD", "ORD-DONE", "ORD-NONE", "ORD-SLOW"]], "one check for the whole batch"
    assert response == {"batchItemFailures": [{"itemIdentifier": "m-3"}, {"itemIdentifier": "m-4"},
                                              {"itemIdentifier": "m-5"}]}


def test_a_batch_of_poison_alone_is_answered_not_raised() -> None:
    def check(order_ids: list[str]) -> list[CheckResult]:
        raise AssertionError("nothing to check")

    response = check_batch(sqs_event("{}", "[]"), None, check)  # type: ignore[arg-type]
    assert response == {"batchItemFailures": [{"itemIdentifier": "m-0"}, {"itemIdentifier": "m-1"}]}
