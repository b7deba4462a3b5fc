"""Sweeps started together share the due work: every due order is checked once, by one of
them, in that tick, or a summary says the truth about what was left (`complete: false`,
`leftDue`).

The defect this guards against: two sweeps that met each other's leases in a shard both
ceded it to the other and both reported `complete: true`, leaving a third of the shard due
and unasked until the next tick (README, Reliability: `complete: true` means it left nothing due
in its shards that nobody held).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import pytest
from paysweep.writer import register_order
from paysweep_local.sandbox import InvocationResult
from paysweep_local.simulators import kicc
from paysweep_local.stack import LocalStack
from support.invariants import check_not_lost
from support.scenarios import KICC

ORDERS = 200
ROUNDS = 3
"""Ticks per case: whether two sweeps meet in a shard depends on timing, so each case is tried
more than once (the defect showed in about half of the ticks)."""


@pytest.fixture
def three_containers(stack: LocalStack) -> Iterator[LocalStack]:
    """A provider slow enough that sweeps started together really overlap (each in its own sandbox)."""
    stack.kicc.latency_seconds = 0.01
    yield stack
    stack.kicc.latency_seconds = 0.0


def register(stack: LocalStack, shards: int) -> list[str]:
    """Pending KICC orders, all due; with `shards=1` every one lands in `kicc-wechatpay#0`
    (valid: any shard in range is), the layout that made both sweeps cede."""
    order_ids = [f"OV-{n:03d}" for n in range(ORDERS)]
    for order_id in order_ids:
        pg_cno = f"PG-{order_id}"
        stack.kicc.add_payment(pg_cno, order_id, 1000, "KRW", script=[kicc.pending()])
        register_order(
            table_name=stack.table, shards=shards, order_id=order_id, provider=KICC, amount="1000",
            currency="KRW", refs={"pgCno": pg_cno}, created_at=stack.now(), first_check_after=timedelta(0),
            client=stack.client("dynamodb"),
        )
    return order_ids


@pytest.mark.parametrize("sweeps", [2, 3])
@pytest.mark.parametrize("shards", [1, 4], ids=["one-shard", "four-shards"])
def test_sweeps_started_together_check_every_due_order_once(
    three_containers: LocalStack, sweeps: int, shards: int
) -> None:
    stack = three_containers
    for _ in range(ROUNDS):
        stack.clear()
        order_ids = register(stack, shards)
        runs = [future.result() for future in [stack.sweep_async(KICC) for _ in range(sweeps)]]
        check_one_tick(stack, order_ids, runs)


def check_one_tick(stack: LocalStack, order_ids: list[str], runs: list[InvocationResult]) -> None:
    assert all(run.ok for run in runs), [run.error for run in runs]
    summaries = [run.result for run in runs]
    items = {item["orderId"]: item for item in stack.orders()}
    asked = Counter(r.body["pgCno"] for r in stack.kicc.requests_for(kicc.FIND_PATH) if r.body)
    twice = sorted(pg for pg, n in asked.items() if n > 1)
    assert not twice, f"asked about twice in one tick: {twice[:5]}"
    checked = [o for o in order_ids if items[o].get("attempts", 0) == 1]
    never = [o for o in order_ids if items[o].get("attempts", 0) == 0]
    assert len(checked) + len(never) == ORDERS, "an order was checked more than once"
    assert sum(s["checked"] for s in summaries) == len(checked), summaries
    incomplete = [s for s in summaries if not s["complete"]]
    if never:
        assert incomplete, (
            f"{len(never)} orders were left due and never asked about, yet every summary says "
            f"complete: {summaries}"
        )
        assert max(s["leftDue"] for s in incomplete) >= len(never), summaries
    for summary in summaries:
        if summary["complete"]:
            assert summary["leftDue"] == 0, summary
    assert not check_not_lost(list(items.values()))
