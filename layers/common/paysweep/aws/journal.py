"""The compensation journal in DynamoDB: what a sweep did when the orders table refused to
record it, in a separate small table (`paysweep.sweep.compensation` says why it exists).

The next sweep knows to look because the failed sweep's lease was never released; the read
is strongly consistent, and entries expire by DynamoDB TTL (`expiresAtEpoch`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from paysweep.aws.dynamodb import call_dynamodb, from_item, to_item
from paysweep.domain.answers import CancelIntent
from paysweep.domain.outcomes import OutcomeMessage
from paysweep.sweep.ports import Compensation, JournalTarget

if TYPE_CHECKING:
    from types_boto3_dynamodb import DynamoDBClient


class DynamoDBCompensationJournal:
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

