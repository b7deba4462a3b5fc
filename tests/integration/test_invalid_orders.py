"""Malformed order items never crash a sweep and never stop the other orders.

Items written behind the helper's back (the table accepts anything) break the contract in
every documented way; each goes to REVIEW `INVALID_ORDER` exactly once, with a log line
naming what is wrong, while valid orders in the same shard are decided normally.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.types import TypeSerializer
from paysweep.domain.orders import shard_of, sweep_key
from paysweep_local.simulators import kicc
from paysweep_local.stack import LocalStack
from support.invariants import check_all
from support.outcomes import Published
from support.scenarios import KICC, add_kicc

VALID = {"provider": KICC, "status": "PENDING", "amount": Decimal(1000), "currency": "KRW",
         "pgCno": "PG-INV", "createdAt": "2026-01-01T00:00:00Z"}

# orderId -> (the fields that differ from a valid item, words the log line must contain)
MALFORMED: dict[str, tuple[dict[str, Any], str]] = {
    "INV-NO-AMOUNT": ({"amount": None}, "amount"),
    "INV-NEGATIVE": ({"amount": Decimal(-1000)}, "amount"),
    "INV-TEXT-AMOUNT": ({"amount": "one thousand"}, "amount"),
    "INV-FRACTION-KRW": ({"amount": Decimal("1000.5")}, "amount"),
    "INV-CURRENCY": ({"currency": "XYZ"}, "currency"),
    "INV-NO-PGCNO": ({"pgCno": None}, "pgCno"),
    "INV-LONG-PGCNO": ({"pgCno": "P" * 61}, "pgCno"),
    "INV-WRONG-TYPE": ({"currency": Decimal(410)}, "currency"),
    "INV-" + "X" * 40: ({}, "orderId"),
}


def write_raw(stack: LocalStack, order_id: str, changes: dict[str, Any]) -> None:
    """An item straight into the table, as a buggy writer would put it."""
    item = {**VALID, "orderId": order_id, **changes}
    item = {k: v for k, v in item.items() if v is not None}
    item["sweepKey"] = sweep_key(KICC, shard_of(order_id, int(stack.functions[KICC].info.environment["SWEEP_SHARDS"])))
    item["nextCheckAt"] = "2000-01-01T00:00:00Z"
    serializer = TypeSerializer()
    stack.client("dynamodb").put_item(
        TableName=stack.table, Item={k: serializer.serialize(v) for k, v in item.items()}
    )


@pytest.mark.parametrize("unknown_provider", [False, True])
def test_malformed_items_go_to_review_once_and_the_rest_is_decided(
    stack: LocalStack, published: Published, unknown_provider: bool
) -> None:
    for order_id, (changes, _) in MALFORMED.items():
        write_raw(stack, order_id, changes)
    if unknown_provider:
        # Swept by KICC's function (its sweepKey), but naming a provider that does not exist.
        write_raw(stack, "INV-PROVIDER", {"provider": "paypal"})
    good = [f"INV-GOOD-{n}" for n in range(3)]
    for order_id in good:
        add_kicc(stack, order_id, [kicc.approved()])
    stack.advance(120)

    run = stack.sweep(KICC)

    assert run.ok, run.error
    invalid = set(MALFORMED) | ({"INV-PROVIDER"} if unknown_provider else set())
    assert run.result["invalidOrders"] == len(invalid)
    assert run.result["outcomes"] == {"REVIEW": len(invalid), "APPROVED": len(good)}
    lines = {r["orderId"]: r for r in run.log_records("invalid order: a person must fix it")}
    assert set(lines) == invalid
    for order_id, (_, word) in MALFORMED.items():
        assert word in " ".join(lines[order_id]["problems"]), f"{order_id}: {lines[order_id]['problems']}"
    for order_id in invalid:
        assert published.only(order_id)["reason"] == "INVALID_ORDER"
        assert stack.order(order_id)["status"] == "REVIEW"
    assert not stack.kicc.requests_for(kicc.FIND_PATH)[len(good):], "an invalid order reached the provider"

    stack.advance(600)
    again = stack.sweep(KICC)
    assert again.ok and again.result["checked"] == 0 and again.result["invalidOrders"] == 0
    assert len(published.for_order(next(iter(invalid)))) == 1, "INVALID_ORDER published more than once"
    check_all(stack.orders(), [d.message for d in published.all])
