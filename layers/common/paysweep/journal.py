"""The compensation journal: what a sweep did when the orders table refused to record it.

KICC's rule is absolute: an approval we cannot record must be cancelled. When the orders
table takes no writes, the sweep still cancels (under the order's one stable cancel key),
publishes the outcome, and records what it did here, in a separate small table, so the
next sweep to claim the order converges the orders table to the truth instead of asking
the provider afresh and approving a payment that is being cancelled.

The next sweep knows to look because the failed sweep's lease was never released
(`Claimed.abandoned_lease`); the read is strongly consistent.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any, NamedTuple

from paysweep.answers import CancelIntent
from paysweep.outcomes import OutcomeMessage
from paysweep.store import call_dynamodb, from_item, to_item

if TYPE_CHECKING:
    from types_boto3_dynamodb import DynamoDBClient


class JournalTarget(StrEnum):
    CANCELLING = "CANCELLING"
    """A cancel was requested: the order continues as a cancelling order."""
    REVIEW = "REVIEW"
    """Nothing could be cancelled: the order ends in REVIEW."""


class Compensation(NamedTuple):
    order_id: str
    target: JournalTarget
    message: OutcomeMessage
    """The outcome already published for this compensation."""
    intent: CancelIntent | None
    created_at: str
    expires_at_epoch: int
    """DynamoDB TTL: the entry is useless once the order can no longer be claimed."""


class CompensationJournal:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def record(self, entry: Compensation) -> None:
        """Write an entry; the first entry of an order wins (a retry must not replace it)."""
        item: dict[str, Any] = {
            "orderId": entry.order_id,
            "target": entry.target.value,
            "message": entry.message.to_item(),
            "createdAt": entry.created_at,
            "expiresAtEpoch": entry.expires_at_epoch,
        }
        if entry.intent is not None:
            item["intent"] = entry.intent.to_item()
        call_dynamodb(
            self._client.put_item,
            TableName=self._table,
            Item=to_item(item),
            ConditionExpression="attribute_not_exists(orderId)",
        )

    def find(self, order_id: str) -> Compensation | None:
        response = call_dynamodb(
            self._client.get_item, TableName=self._table, Key=to_item({"orderId": order_id}), ConsistentRead=True
        )
        item = response.get("Item")
        if not item:
            return None
        data = from_item(item)
        return Compensation(
            order_id=str(data["orderId"]),
            target=JournalTarget(str(data["target"])),
            message=OutcomeMessage.from_item(data["message"]),
            intent=CancelIntent.from_item(data["intent"]) if data.get("intent") else None,
            created_at=str(data["createdAt"]),
            expires_at_epoch=int(data["expiresAtEpoch"]),
        )

    def resolve(self, order_id: str) -> None:
        """Delete an entry once the orders table holds what it says."""
        call_dynamodb(self._client.delete_item, TableName=self._table, Key=to_item({"orderId": order_id}))

