"""Orders written straight to the deployed table, for scenarios the operator command cannot set up.

`write_order` is the writer helper `paysweep register` uses, due at once (two CLI runs per order
would add seconds to every least-privilege case); `expired_since` back-dates an order past its
final check; `abandon_lease` leaves what a sweep that crashed holding the lease leaves.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from e2e.deployed import E2EStack
from paysweep.domain.clock import to_iso


def write_order(stack: E2EStack, order_id: str, provider: str, amount: str = "1000", **extra: Any) -> dict[str, Any]:
    """The writer helper `paysweep register` uses, due at once (quicker than two CLI runs)."""
    return stack.local.register(order_id, provider, amount, "KRW", first_check_after=timedelta(0), **extra)


def expired_since(minutes: int) -> dict[str, datetime]:
    now = datetime.now(UTC)
    return {"created_at": now - timedelta(minutes=minutes + 60), "expires_at": now - timedelta(minutes=minutes)}


def abandon_lease(stack: E2EStack, order_id: str) -> None:
    """What a sweep that crashed holding the lease leaves: a lease that expired unreleased."""
    past = to_iso(datetime.now(UTC) - timedelta(minutes=5))
    stack.client("dynamodb").update_item(
        TableName=stack.local.table,
        Key={"orderId": {"S": order_id}},
        UpdateExpression="SET leaseOwner = :owner, leaseUntil = :past, nextCheckAt = :past",
        ExpressionAttributeValues={":owner": {"S": "crashed-sweep"}, ":past": {"S": past}},
    )
