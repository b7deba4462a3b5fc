"""A decided order's item stays under 1 KB, so each of its writes costs one DynamoDB write unit
(README, cost table), even at the worst case: the longest order ids the providers take, the
longest merchant account id (`merchantId`), a full history, a cancel, a late payment's cancel and
its correction, and the due-index keys and lease a decided order keeps until its outcome is
published.

The judge is MiniStack's own `ConsumedCapacity`, which follows DynamoDB's sizing rules: a copy of
each item the real sweeps leave (caught while unpublished, SNS refusing every batch, and after)
is written under a key of the same length, and must cost one write unit on the table; the same
copy with `HEADROOM` bytes more must cost two, so the worst case is shown near the limit.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from paysweep.aws.dynamodb import to_item
from paysweep_local.simulators import kicc, teemopay
from paysweep_local.stack import LocalStack
from support.invariants import check_all
from support.outcomes import Published
from support.scenarios import KICC, LONGEST_ACCOUNT, TEEMO, simulator_account

KICC_ID, TEEMO_ID = 40, 32
"""KICC's shopOrderNo and TeemoPay's merchantOrderNo take at most this many characters."""
DECIDED = ("APPROVED", "FAILED", "CANCELLED", "REVIEW")
HEADROOM = 160
"""Bytes that push the worst case over 1 KB: it is within a sixth of a kilobyte of the limit."""


def order_id(prefix: str, length: int) -> str:
    return (prefix + "-" + "X" * length)[:length]


def sweep_both(stack: LocalStack, minutes: int) -> None:
    for _ in range(minutes):
        for provider in (KICC, TEEMO):
            run = stack.sweep(provider)
            assert run.ok, run.error
        stack.advance(60)


def table_write_units(stack: LocalStack, item: dict[str, Any], padding: int = 0) -> float:
    """What MiniStack charges the table for writing a copy of `item` (plus `padding` bytes)."""
    copy = {**item, "orderId": "~" + str(item["orderId"])[1:], **({"pad": "p" * padding} if padding else {})}
    client = stack.client("dynamodb")
    answer = client.put_item(TableName=stack.table, Item=to_item(copy), ReturnConsumedCapacity="INDEXES")
    client.delete_item(TableName=stack.table, Key={"orderId": {"S": copy["orderId"]}})
    return float(answer["ConsumedCapacity"]["Table"]["CapacityUnits"])


def decided_units(stack: LocalStack, ids: list[str], padding: int = 0) -> dict[str, tuple[str, float]]:
    """Each decided order's status and the table write units of its item."""
    units = {}
    for oid in ids:
        item: dict[str, Any] = stack.order(oid) or {}
        if item.get("status") in DECIDED:
            units[oid] = (str(item["status"]), table_write_units(stack, item, padding))
    return units


def test_every_item_of_a_decided_order_is_under_one_kilobyte(stack: LocalStack, published: Published) -> None:
    big = 100_000_000  # nine digits of won
    ids = {name: order_id(name, KICC_ID) for name in ("APPROVED", "MISMATCH", "LATE")}
    ids["TEEMO-LATE"] = order_id("TEEMO-LATE", TEEMO_ID)
    scripts = {
        "APPROVED": [kicc.pending(times=7), kicc.approved()],
        "MISMATCH": [kicc.pending(times=6), kicc.approved(amount=big - 1)],
        "LATE": [kicc.pending()],
    }
    expires = stack.now() + timedelta(minutes=25)  # seven checks before the final one: a full history
    pg_cnos = {name: f"2611221509001{n:07d}" for n, name in enumerate(scripts)}  # KICC's pgCno: 20 digits
    mall, app = (simulator_account(stack, provider, LONGEST_ACCOUNT) for provider in (KICC, TEEMO))
    for name, script in scripts.items():
        pg_cno = pg_cnos[name]
        stack.kicc.add_payment(pg_cno, ids[name], big, "KRW", script=script, account=mall)
        stack.register(ids[name], KICC, big, "KRW", refs={"pgCno": pg_cno}, merchant_id=LONGEST_ACCOUNT,
                       expires_at=expires if name == "LATE" else None)
    stack.teemopay.add_order(ids["TEEMO-LATE"], str(big), script=[teemopay.pending()], account=app)
    stack.register(ids["TEEMO-LATE"], TEEMO, big, "KRW", merchant_id=LONGEST_ACCOUNT, expires_at=expires)

    stack.faults.add_fault("sns", "PublishBatch", error="internal", times=-1)  # decided, kept unpublished
    sweep_both(stack, 40)  # the seventh check of a pending order comes 22 minutes in, the eighth 15 later
    unpublished = decided_units(stack, list(ids.values()))
    assert {status for status, _ in unpublished.values()} == {"APPROVED", "CANCELLED", "FAILED"}, unpublished
    stack.faults.clear_faults()
    sweep_both(stack, 2)

    stack.kicc.rescript(pg_cnos["LATE"], [kicc.approved()])
    stack.teemopay.rescript(ids["TEEMO-LATE"], [teemopay.paid()])
    stack.advance(3600)
    stack.faults.add_fault("sns", "PublishBatch", error="internal", times=-1)
    sweep_both(stack, 3)  # the audits: the KICC cancel sent and confirmed, the TeemoPay correction recorded
    corrections = decided_units(stack, [ids["LATE"], ids["TEEMO-LATE"]])
    padded = decided_units(stack, [ids["LATE"], ids["TEEMO-LATE"]], HEADROOM)
    assert sorted(status for status, _ in corrections.values()) == ["CANCELLED", "REVIEW"], corrections
    assert all("sweepKey" in stack.order(oid) for oid in corrections), "caught before publication"
    stack.faults.clear_faults()
    sweep_both(stack, 2)
    settled = decided_units(stack, list(ids.values()))

    for name, units in (("unpublished", unpublished), ("corrections, unpublished", corrections), ("published", settled)):
        too_big = {oid: unit for oid, unit in units.items() if unit[1] != 1}
        assert not too_big, f"{name}: decided items of 1 KB or more cost two units a write: {too_big}"
    assert max(unit for _, unit in padded.values()) == 2, "the worst case is near the limit: keep it honest"
    published.collect()
    check_all(stack.orders(), [d.message for d in published.all])
