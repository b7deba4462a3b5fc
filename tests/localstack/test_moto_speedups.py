"""The emulator's speed-ups to moto change no answer.

- Fast response bodies: in-process moto (no server), every item operation paysweep uses runs
  once, and for each result the fast body and moto's general serializer's body must parse to
  the same JSON.
- Everything together, over HTTP: the same script of requests (paysweep's own store
  operations, repeated so every cache is hit, and requests moto must refuse) against an
  emulator with the speed-ups and one with moto as shipped gives the same answers, call by call.
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.dynamodb.responses import DynamoResult
from paysweep.aws.store import DynamoDBOrderStore
from paysweep.domain import item
from paysweep.domain.clock import to_iso
from paysweep.domain.orders import OrderStatus, new_order_item
from paysweep.sweep.ports import ConditionFailed
from paysweep_local.emulator import Emulator
from paysweep_local.moto_speedups import FAST_DYNAMODB_OPERATIONS, dynamodb_wire_body
from support.tables import template_table


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


# -- everything together, over HTTP ------------------------------------------------------------

NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)


class Recorder:
    """A DynamoDB client stand-in that forwards every call and records its answer or error."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.answers: list[tuple[str, Any]] = []

    def __getattr__(self, operation: str) -> Callable[..., Any]:
        forward = getattr(self._client, operation)

        def call(**kwargs: Any) -> Any:
            try:
                response = forward(**kwargs)
            except ClientError as error:
                self.answers.append((operation, {k: v for k, v in error.response.items() if k != "ResponseMetadata"}))
                raise
            self.answers.append((operation, {k: v for k, v in response.items() if k != "ResponseMetadata"}))
            return response

        return call


def expect_refusal(action: Callable[[], Any]) -> None:
    with pytest.raises((ClientError, ConditionFailed)):
        action()


def attempt(action: Callable[[], Any]) -> None:
    """Make the call; its answer or its error is what gets compared."""
    with contextlib.suppress(ClientError):
        action()


def script(client: Any) -> None:
    """paysweep's store operations on a few orders, twice over, then requests moto refuses."""
    store = DynamoDBOrderStore(client, "orders", "due-index", "outbox-index")
    at = to_iso(NOW)
    for round_ in range(2):
        for n in range(3):
            order_id = f"O-{round_}-{n}"
            store.put_new(new_order_item(order_id=order_id, provider="kicc-wechatpay", amount=Decimal(1000),
                                         currency="KRW", shards=4, created_at=NOW - timedelta(minutes=5),
                                         first_check_after=timedelta(0), pg_cno=f"PG{order_id}"))
            expect_refusal(lambda: store.put_new({"orderId": order_id, "status": "PENDING"}))
        sweep_keys = [f"kicc-wechatpay#{shard}" for shard in range(4)]
        due = [entry for key in sweep_keys for entry in store.due_in_shard(key, at, page_size=2)]
        for i, entry in enumerate(due):
            token = f"sweep-{round_}-{i}"
            due_by = item.Due(entry.sweep_key, at, at)
            claim = item.claim(entry.order_id, due_by, token=token, now=at, lease_until=to_iso(NOW + timedelta(minutes=2)))
            claimed = claim.applied_to(store.claim(claim))
            expect_refusal(lambda: store.claim(item.claim(entry.order_id, due_by, token="late", now=at, lease_until=at)))
            if i % 2:  # still pending: reschedule and release
                store.apply(item.Transition(entry.order_id, item.Leased(token, OrderStatus.PENDING), {
                    "attempts": int(claimed.get("attempts", 0)) + 1, "nextCheckAt": to_iso(NOW + timedelta(minutes=1)),
                    "lastCheck": {"at": at, "kind": "status", "state": "IN_PROGRESS", "providerStatus": "TS03", "detail": None},
                    "history": [*claimed.get("history", []), f"{at} status IN_PROGRESS TS03"], "updatedAt": at,
                }, ["leaseOwner", "leaseUntil"]))
            else:  # decided: record the outcome with its outbox marker, then clear the marker
                event = f"{entry.order_id}:APPROVED"
                store.apply(item.Transition(entry.order_id, item.Leased(token, OrderStatus.PENDING), {
                    "status": "APPROVED", "outbox": {"eventId": event, "body": "{}", "topic": "APPROVED"},
                    "outboxKey": entry.sweep_key, "outboxSince": at, "updatedAt": at,
                    "outcome": {"outcome": "APPROVED", "reason": None, "eventId": event, "occurredAt": at},
                }, ["sweepKey", "nextCheckAt", "leaseOwner", "leaseUntil"]))
                list(store.unpublished(sweep_keys, at, page_size=10))
                store.apply(item.clear_outbox(entry.order_id, event))
                expect_refusal(lambda: store.apply(item.clear_outbox(entry.order_id, event)))
            expect_refusal(lambda: store.apply(item.Transition(entry.order_id, item.Leased("not-the-lease", OrderStatus.PENDING),
                                                               {"updatedAt": at})))
            store.read(entry.order_id)
        store.count_due(sweep_keys, to_iso(NOW + timedelta(hours=1)))
    refused = [
        "SET a = :v SET b = :v",  # two SET clauses
        "SET a = :v, a.b = :v",  # overlapping paths
        "SET orderId = :v",  # the key
        "SET a = :missing",  # an undefined value
        "SET a = list_append(history, :v)",  # a string is not a list
        "SET = :v",  # syntax
    ]
    for expression in refused:
        expect_refusal(lambda: client.update_item(
            TableName="orders", Key={"orderId": {"S": "O-0-0"}}, UpdateExpression=expression,
            ExpressionAttributeValues={":v": {"S": "x"}}))
    edge_cases = [  # the shape the speed-ups plan directly, with what moto refuses (or lets through)
        ("SET #n = :missing", {"#n": "note"}, {":v": {"S": "x"}}),
        ("SET #n = :missing, #m = :v", {"#n": "note", "#m": "other"}, {":v": {"S": "x"}}),
        ("SET #n = :v, #missing = :v", {"#n": "note"}, {":v": {"S": "x"}}),
        ("REMOVE #n, #missing", {"#n": "note"}, {}),
        ("SET #k = :v", {"#k": "orderId"}, {":v": {"S": "x"}}),
        ("SET #due = :v", {"#due": "nextCheckAt"}, {":v": {"N": "1"}}),
        ("SET #due = :v", {"#due": "nextCheckAt"}, {":v": {"S": ""}}),
        ("SET #a = :v, #b = :v", {"#a": "note", "#b": "note"}, {":v": {"S": "x"}}),
        ("REMOVE #a, #b", {"#a": "note", "#b": "note"}, {}),
        ("SET #a = :v REMOVE #a", {"#a": "note"}, {":v": {"S": "x"}}),
        ("SET #a = :vREMOVE #b", {"#a": "note", "#b": "other"}, {":vREMOVE": {"S": "x"}}),
        ("SET #a = :v", {"#a": "big"}, {":v": {"S": "b" * 150_000}}),  # beyond the speed-up's measure-once bound
        ("SET #a = :v, #b = :w", {"#a": "big", "#b": "bigger"},  # beyond the 400 KB item limit
         {":v": {"S": "c" * 150_000}, ":w": {"S": "d" * 300_000}}),
    ]
    for expression, names, values in edge_cases:
        attempt(lambda: client.update_item(
            TableName="orders", Key={"orderId": {"S": "O-0-0"}}, UpdateExpression=expression,
            ExpressionAttributeNames=names, **({"ExpressionAttributeValues": values} if values else {})))
    client.update_item(TableName="orders", Key={"orderId": {"S": "O-0-0"}}, UpdateExpression="SET #a = :a, #b = :b",
                       ExpressionAttributeNames={"#a": "note", "#b": "tags"},
                       ExpressionAttributeValues={":a": {"S": "x" * 300}, ":b": {"SS": ["b", "a"]}}, ReturnValues="ALL_NEW")
    client.update_item(TableName="orders", Key={"orderId": {"S": "O-new"}}, UpdateExpression="SET #a = :a REMOVE #b",
                       ExpressionAttributeNames={"#a": "note", "#b": "tags"},
                       ExpressionAttributeValues={":a": {"M": {"x": {"L": [{"N": "1.50"}, {"NULL": True}]}}}},
                       ReturnValues="ALL_NEW")
    client.update_item(TableName="orders", Key={"orderId": {"S": "O-0-0"}},
                       UpdateExpression="SET history = list_append(if_not_exists(history, :empty), :more) ADD attempts :one",
                       ExpressionAttributeValues={":empty": {"L": []}, ":more": {"L": [{"S": "x"}]}, ":one": {"N": "1"}},
                       ReturnValues="UPDATED_NEW")


@pytest.fixture(scope="module")
def twin_emulators() -> Iterator[tuple[Emulator, Emulator]]:
    with Emulator(speedups=True) as fast, Emulator(speedups=False) as plain:
        yield fast, plain


def test_the_speedups_change_no_answer_over_http(twin_emulators: tuple[Emulator, Emulator]) -> None:
    answers = []
    for emulator in twin_emulators:
        client = emulator.client("dynamodb")
        client.create_table(TableName="orders", **template_table("OrdersTable"))
        recorder = Recorder(client)
        script(recorder)
        answers.append(recorder.answers)
        client.delete_table(TableName="orders")
    fast, plain = answers
    codes = Counter(answer["Error"]["Code"] for _, answer in fast if "Error" in answer)
    assert len(fast) > 80 and codes["ConditionalCheckFailedException"] > 20 and codes["ValidationException"] >= 12, codes
    assert [operation for operation, _ in fast] == [operation for operation, _ in plain]
    for (operation, with_speedups), (_, as_shipped) in zip(fast, plain, strict=True):
        assert with_speedups == as_shipped, operation


def test_the_emulator_says_which_moto_it_runs(twin_emulators: tuple[Emulator, Emulator]) -> None:
    fast, plain = twin_emulators
    assert (fast.speedups, plain.speedups) == (True, False)
    assert fast.health()["speedups"] is True and plain.health()["speedups"] is False
