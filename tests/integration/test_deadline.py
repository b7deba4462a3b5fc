"""A sweep near its Lambda deadline stops claiming, lets in-flight calls finish, leaves the rest due.

The sweep is invoked with just a few seconds more than its claim reserve (one provider call
plus the deadline margin) while every provider answer takes a second: it must return before
the deadline, reach only part of the due orders, and leave every other one due, unleased and
untouched, for the next sweep, which checks exactly those.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from paysweep.config import SweepConfig
from paysweep_local.simulators import kicc
from paysweep_local.stack import LocalStack
from support.invariants import check_all
from support.outcomes import Published
from support.scenarios import KICC, add_kicc

ORDERS = 300
SWEEPING_SECONDS = 4
"""Time left for claiming beyond the reserve: a few one-second rounds of provider calls."""


@pytest.fixture
def slow_kicc(stack: LocalStack) -> Iterator[LocalStack]:
    stack.kicc.latency_seconds = 1.0
    yield stack
    stack.kicc.latency_seconds = 0.0


def test_a_sweep_stops_claiming_before_its_deadline_and_leaves_the_rest_due(
    slow_kicc: LocalStack, published: Published
) -> None:
    stack = slow_kicc
    order_ids = [f"DL-{n:03d}" for n in range(ORDERS)]
    for order_id in order_ids:
        add_kicc(stack, order_id, [kicc.pending()])
    config = SweepConfig.from_env(stack.functions[KICC].info.environment)
    timeout = config.claim_reserve.total_seconds() + SWEEPING_SECONDS

    run = stack.sweep(KICC, timeout_seconds=timeout)

    assert run.ok, run.error
    assert run.duration_ms < timeout * 1000, "the sweep ran into its deadline"
    summary = run.result
    checked = summary["checked"]
    assert 0 < checked < ORDERS
    assert summary["complete"] is False and summary["leftDue"] == ORDERS - checked
    items = {item["orderId"]: item for item in stack.orders()}
    reached = [i for i in items.values() if i.get("attempts", 0) == 1]
    unreached = [i for i in items.values() if i.get("attempts", 0) == 0]
    assert len(reached) == checked and len(unreached) == ORDERS - checked
    now = stack.now()
    for item in unreached:
        assert "leaseOwner" not in item, f"{item['orderId']} kept a lease it never used"
        assert item["nextCheckAt"] <= now.strftime("%Y-%m-%dT%H:%M:%SZ"), f"{item['orderId']} is no longer due"
    assert len(stack.kicc.requests) == checked, "a provider call was started after the sweep stopped claiming"

    stack.kicc.latency_seconds = 0.0
    rest = stack.sweep(KICC)
    assert rest.ok, rest.error
    assert rest.result["checked"] == ORDERS - checked and rest.result["complete"] is True
    assert all(stack.order(o)["attempts"] == 1 for o in order_ids), "an order was checked twice or never"
    check_all(stack.orders(), [d.message for d in published.all])
