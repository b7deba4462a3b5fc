"""The order writer: how a merchant's order service registers a pending order.

`register_order` validates the order against the contract, computes `sweepKey` and
`nextCheckAt`, and writes it only if no order with that id exists. Invalid input raises
`InvalidOrder` and writes nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from paysweep.aws import clients
from paysweep.aws.store import DynamoDBOrderStore
from paysweep.domain.clock import utc_now
from paysweep.domain.orders import new_order_item
from paysweep.sweep.ports import ConditionFailed

if TYPE_CHECKING:
    from types_boto3_dynamodb import DynamoDBClient


class DuplicateOrder(Exception):
    """An order with this id is already in the table; it was left untouched."""


def register_order(
    *,
    table_name: str,
    shards: int,
    order_id: str,
    provider: str,
    amount: Decimal | int | str,
    currency: str,
    pg_cno: str | None = None,
    expires_at: datetime | None = None,
    created_at: datetime | None = None,
    first_check_after: timedelta = timedelta(minutes=1),
    client: DynamoDBClient | None = None,
) -> dict[str, Any]:
    """Validate and write one pending order; returns the item written."""
    item = new_order_item(
        order_id=order_id,
        provider=provider,
        amount=amount,
        currency=currency,
        shards=shards,
        created_at=created_at or utc_now(),
        first_check_after=first_check_after,
        expires_at=expires_at,
        pg_cno=pg_cno,
    )
    store = DynamoDBOrderStore(client or clients.dynamodb(), table_name, due_index="", audit_index="")  # no index read
    try:
        store.put_new(item)
    except ConditionFailed:
        raise DuplicateOrder(f"order {order_id!r} already exists; nothing was written") from None
    return item
