"""The order writer: how a merchant's order service registers a pending order.

`register_order` validates the order, computes `sweepKey` and `nextCheckAt`, and writes it only
if no order with that id exists. Invalid input raises `InvalidOrder` and writes nothing.

What it validates (CONTRACT.md section 2): the contract's common rules, always; the provider's
own rules (its id, order id length, currencies, the references its calls need) when the caller
passes the provider's `profile` (`PROFILE` of `functions/<provider>/<provider>_profile.py`). The
layer holds no provider's profile, so without one a missing reference is found by the sweep
instead, which validates every order against its adapter's profile: REVIEW `INVALID_ORDER`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from paysweep.aws import clients
from paysweep.aws.store import DynamoDBOrderStore
from paysweep.domain.clock import utc_now
from paysweep.domain.orders import new_order_item
from paysweep.domain.providers import ProviderProfile
from paysweep.sweep.ports import ConditionFailed

if TYPE_CHECKING:
    from types_boto3_dynamodb import DynamoDBClient

DEPRECATED_PG_CNO_REF = "pgCno"
"""The reference the deprecated `pg_cno=` argument names (it predates named references). The
layer's one provider field name, kept here and only here for writers of paysweep 0.1."""


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
    refs: Mapping[str, str] | None = None,
    profile: ProviderProfile | None = None,
    expires_at: datetime | None = None,
    created_at: datetime | None = None,
    first_check_after: timedelta = timedelta(minutes=1),
    client: DynamoDBClient | None = None,
    pg_cno: str | None = None,
    merchant_id: str | None = None,
) -> dict[str, Any]:
    """Validate and write one pending order; returns the item written.

    `refs`: the order's references by name (those its provider's profile requires), written as
    top-level attributes of the item.
    `profile`: the provider's profile, to check its own rules as well as the contract's.
    `merchant_id`: the merchant account the order was paid to, when the provider's secret holds
    several (absent: its default account); 1..32 ASCII letters, digits, `-`, `_`, `.`.
    `pg_cno`: deprecated, the same as `refs={DEPRECATED_PG_CNO_REF: pg_cno}`.
    """
    item = new_order_item(
        order_id=order_id,
        provider=provider,
        amount=amount,
        currency=currency,
        shards=shards,
        created_at=created_at or utc_now(),
        first_check_after=first_check_after,
        expires_at=expires_at,
        refs=with_deprecated_refs(refs, pg_cno),
        profile=profile,
        merchant_id=merchant_id,
    )
    store = DynamoDBOrderStore(client or clients.dynamodb(), table_name, due_index="", audit_index="")  # no index read
    try:
        store.put_new(item)
    except ConditionFailed:
        raise DuplicateOrder(f"order {order_id!r} already exists; nothing was written") from None
    return item


def with_deprecated_refs(refs: Mapping[str, str] | None, pg_cno: str | None) -> dict[str, str]:
    """`refs`, with the deprecated `pg_cno=` argument as the reference it always meant."""
    merged = dict(refs or {})
    if pg_cno is None:
        return merged
    warnings.warn(
        f"register_order(pg_cno=...) is deprecated: pass refs={{{DEPRECATED_PG_CNO_REF!r}: ...}}",
        DeprecationWarning,
        stacklevel=3,
    )
    if merged.setdefault(DEPRECATED_PG_CNO_REF, pg_cno) != pg_cno:
        raise ValueError(f"pg_cno and refs[{DEPRECATED_PG_CNO_REF!r}] differ; pass refs only")
    return merged
