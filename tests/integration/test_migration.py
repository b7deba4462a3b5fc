"""Items paysweep 0.1 wrote are swept by this version, published once, and never lost
(README, Changelog: the migration note).

0.1 differed in two ways an existing table still shows after a deploy:
- a claim moved `nextCheckAt` to the lease's end, so a leased order left the due view until
  its lease ran out (this version leaves `nextCheckAt` alone and refuses a live lease instead);
- a decided order left the due index at once and carried its message in an outbox marker
  (`outbox`, `outboxKey`, `outboxSince`: the sparse outbox index) until SNS took it.
"""

from __future__ import annotations

from datetime import timedelta

from paysweep.aws.dynamodb import to_item
from paysweep.domain.outcomes import Outcome, Reason, build_message, outcome_record
from paysweep_local.simulators import kicc, teemopay
from paysweep_local.stack import LocalStack
from support.invariants import check_all
from support.outcomes import Published
from support.scenarios import KICC, TEEMO, add_kicc, add_teemopay

LEASE = timedelta(minutes=2)


def rewrite(stack: LocalStack, order_id: str, **changes: object) -> None:
    """Put the order back as 0.1 would have left it (a raw item, as an old version wrote it)."""
    item = {**(stack.order(order_id) or {}), **changes}
    for name, value in list(item.items()):
        if value is None:
            del item[name]
    stack.client("dynamodb").put_item(TableName=stack.table, Item=to_item(item))


def test_an_order_a_01_sweep_left_leased_is_swept_after_its_lease(stack: LocalStack, published: Published) -> None:
    add_kicc(stack, "MG-LEASED", [kicc.approved()])
    until = (stack.now() + LEASE).strftime("%Y-%m-%dT%H:%M:%SZ")
    rewrite(stack, "MG-LEASED", leaseOwner="sweep-01old:1", leaseUntil=until, nextCheckAt=until)

    first = stack.sweep(KICC)
    assert first.ok and first.result["checked"] == 0, "a live 0.1 lease is respected"
    assert kicc.FIND_PATH not in {r.path for r in stack.kicc.requests}

    stack.advance(LEASE.total_seconds() + 60)
    second = stack.sweep(KICC)
    assert second.ok and second.result["outcomes"] == {"APPROVED": 1}, second.result
    assert [m["eventId"] for m in published.for_order("MG-LEASED")] == ["MG-LEASED:APPROVED"]
    check_all(stack.orders(), [d.message for d in published.all])


def test_an_outcome_left_in_the_01_outbox_is_published_once_and_cleared(stack: LocalStack, published: Published) -> None:
    add_teemopay(stack, "MG-OUTBOX", [teemopay.pending()])
    shard = stack.order("MG-OUTBOX")["sweepKey"]
    decided_at = (stack.now() - timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    message = build_message(order_id="MG-OUTBOX", provider=TEEMO, outcome=Outcome.FAILED, reason=Reason.PROVIDER_DECLINED,
                            requested=None, reported=None, provider_status="3", provider_refs={},
                            occurred_at=decided_at, attempts=2)
    rewrite(stack, "MG-OUTBOX", status="FAILED", outcome=outcome_record(message), attempts=2,
            outbox={**message.to_item(), "since": decided_at}, outboxKey=shard, outboxSince=decided_at,
            sweepKey=None, nextCheckAt=None)

    run = stack.sweep(TEEMO)
    assert run.ok and run.result["republished"] == 1, run.result
    delivered = [d for d in published.collect() if d.message["orderId"] == "MG-OUTBOX"]
    assert [d.body for d in delivered] == [message.body], "published as 0.1 stored it, byte for byte"
    item = stack.order("MG-OUTBOX")
    assert item["status"] == "FAILED" and not {"outbox", "outboxKey", "outboxSince", "sweepKey"} & set(item)

    stack.advance(600)
    again = stack.sweep(TEEMO)
    assert again.ok and again.result["republished"] == 0
    assert not [d for d in published.collect() if d.message["orderId"] == "MG-OUTBOX"], "published once"
    assert not stack.teemopay.requests, "a decided order is never asked about again"
    check_all(stack.orders(), [d.message for d in published.all])
