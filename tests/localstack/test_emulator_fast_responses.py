"""The emulator's fast DynamoDB responses are byte-for-byte what moto's own serializer means.

In-process moto (no server): every item operation paysweep uses runs once, and for each
result the fast body and moto's general serializer's body must parse to the same JSON.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.dynamodb.responses import DynamoResult

from paysweep_local.emulator import FAST_DYNAMODB_OPERATIONS, dynamodb_wire_body


@pytest.fixture
def compared(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any, Any]]:
    """Records (operation, fast body, moto's body) for every DynamoDB result."""
    seen: list[tuple[str, Any, Any]] = []
    general = DynamoResult.execute_result

    def recording(self: Any, context: Any) -> Any:
        status, headers, body = general(self, context)
        fast = None
        if isinstance(self.result, dict):
            fast = dynamodb_wire_body(self.result, context.operation_model.output_shape.members)
        seen.append((context.operation_model.name, fast, body))
        return status, headers, body

    monkeypatch.setattr(DynamoResult, "execute_result", recording)
    return seen


def test_fast_bodies_equal_motos_for_every_item_operation(compared: list[tuple[str, Any, Any]]) -> None:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "orderId", "KeyType": "HASH"}],
            AttributeDefinitions=[
                {"AttributeName": "orderId", "AttributeType": "S"},
                {"AttributeName": "sweepKey", "AttributeType": "S"},
                {"AttributeName": "nextCheckAt", "AttributeType": "S"},
            ],
            GlobalSecondaryIndexes=[{
                "IndexName": "due-index",
                "KeySchema": [{"AttributeName": "sweepKey", "KeyType": "HASH"},
                              {"AttributeName": "nextCheckAt", "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }],
            BillingMode="PAY_PER_REQUEST",
        )
        table = boto3.resource("dynamodb", region_name="us-east-1").Table("t")
        item = {
            "orderId": "O-1", "sweepKey": "p#0", "nextCheckAt": "2026-11-22T03:14:15Z",
            "amount": Decimal("12.03"), "attempts": 3, "flag": True, "nothing": None,
            "history": ["2026-11-22T03:14:15Z status APPROVED TS01"], "tags": {"a", "b"},
            "lastCheck": {"state": "APPROVED", "detail": "한국어 텍스트 \"quoted\"", "n": Decimal("-1E+2")},
        }
        table.put_item(Item=item, ReturnValues="NONE")
        table.put_item(Item={**item, "orderId": "O-2"})
        table.get_item(Key={"orderId": "O-1"})
        table.update_item(Key={"orderId": "O-1"}, UpdateExpression="SET attempts = attempts + :one",
                          ExpressionAttributeValues={":one": 1}, ReturnValues="ALL_OLD", ReturnConsumedCapacity="TOTAL")
        table.update_item(Key={"orderId": "O-2"}, UpdateExpression="REMOVE sweepKey", ReturnValues="UPDATED_NEW")
        table.query(IndexName="due-index", KeyConditionExpression="sweepKey = :k AND nextCheckAt <= :n",
                    ExpressionAttributeValues={":k": "p#0", ":n": "2026-12-01T00:00:00Z"}, Limit=1)
        table.scan()
        client.batch_get_item(RequestItems={"t": {"Keys": [{"orderId": {"S": "O-1"}}]}})
        client.batch_write_item(RequestItems={"t": [{"PutRequest": {"Item": {"orderId": {"S": "O-3"}}}}]})
        table.delete_item(Key={"orderId": "O-3"}, ReturnValues="ALL_OLD")

    checked = {op for op, _, _ in compared if op in FAST_DYNAMODB_OPERATIONS}
    assert checked == FAST_DYNAMODB_OPERATIONS
    for operation, fast, general in compared:
        if operation in FAST_DYNAMODB_OPERATIONS:
            assert fast is not None, operation
            assert json.loads(fast) == json.loads(general), operation
