"""DynamoDB access: the only module that reads or writes the orders table.

Every write is conditional. A claim takes a lease (owner token + expiry) only on an order
that is due; every later write requires that lease, so a sweep that lost its lease cannot
overwrite another sweep's decision. The claim also moves `nextCheckAt` to the lease's
expiry: other sweeps stop seeing the order as due, and if this sweep dies, the order
becomes due again by itself when the lease runs out.

Attributes the sweeper owns (documented in docs/CONTRACT.md): `leaseOwner`, `leaseUntil`,
`attempts`, `generation`, `lastCheck`, `history`, `outcome`, `cancel`, `outbox`,
`outboxKey`, `outboxSince`, `updatedAt`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from paysweep.orders import OrderStatus

if TYPE_CHECKING:
    from types_boto3_dynamodb import DynamoDBClient

HISTORY_LIMIT = 8
_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


class StoreError(Exception):
    """Base of the store's failures."""


class ConditionFailed(StoreError):
    """The item was not in the state the write required (lease lost, already decided).

    `current` is the item as DynamoDB saw it when the condition failed, when available.
    """

    def __init__(self, message: str, current: dict[str, Any] | None) -> None:
        super().__init__(message)
        self.current = current


class StoreUnavailable(StoreError):
    """DynamoDB did not take the request, even after the SDK's retries (throttling, 5xx)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class DueOrder(NamedTuple):
    """One entry of the due index: enough to claim the order."""

    next_check_at: str
    order_id: str
    sweep_key: str


class Claimed(NamedTuple):
    """A claimed order: the item as it is now, and whether a previous lease was abandoned.

    An abandoned lease (one that expired without its sweep releasing it) means that sweep
    crashed or could not write; it may have acted at the provider, so the compensation
    journal is consulted before deciding anything.
    """

    item: dict[str, Any]
    abandoned_lease: str | None


class Transition(NamedTuple):
    """One conditional update of one order, made while holding its lease.

    With `free_lease_ok_at` (the current time), the write also succeeds when the lease is
    free or expired at that time: used when a sweep must record a compensation after the
    very write that would have kept its lease failed.
    """

    order_id: str
    lease_token: str
    expected_status: OrderStatus | str | None
    """None accepts any status (used to close an item whose status is itself invalid)."""
    set: Mapping[str, Any] = MappingProxyType({})
    remove: Sequence[str] = ()
    free_lease_ok_at: str | None = None


def to_item(values: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _serializer.serialize(value) for name, value in values.items()}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _deserializer.deserialize(value) for name, value in item.items()}


def _update_expression(set_values: Mapping[str, Any], remove: Iterable[str]) -> tuple[str, dict[str, str], dict[str, Any]]:
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    sets: list[str] = []
    for i, (name, value) in enumerate(set_values.items()):
        names[f"#s{i}"] = name
        values[f":s{i}"] = _serializer.serialize(value)
        sets.append(f"#s{i} = :s{i}")
    removes: list[str] = []
    for i, name in enumerate(remove):
        names[f"#r{i}"] = name
        removes.append(f"#r{i}")
    expression = ""
    if sets:
        expression += "SET " + ", ".join(sets)
    if removes:
        expression += " REMOVE " + ", ".join(removes)
    return expression.strip(), names, values


class OrderStore:
    """The orders table and its two sparse indexes (due orders, unpublished outcomes)."""

    def __init__(self, client: DynamoDBClient, table: str, due_index: str, outbox_index: str) -> None:
        self._client = client
        self._table = table
        self._due_index = due_index
        self._outbox_index = outbox_index

    # -- reads ---------------------------------------------------------------------------

    def _query_pages(self, **kwargs: Any) -> Iterator[list[dict[str, Any]]]:
        start: dict[str, Any] | None = None
        while True:
            request = dict(kwargs, TableName=self._table)
            if start:
                request["ExclusiveStartKey"] = start
            response = call_dynamodb(self._client.query, **request)
            yield [from_item(item) for item in response.get("Items", [])]
            start = response.get("LastEvaluatedKey")
            if not start:
                return

    def due_in_shard(self, sweep_key: str, now: str, page_size: int) -> Iterator[DueOrder]:
        """Due orders of one shard, oldest first, fetched one page at a time."""
        for page in self._query_pages(
            IndexName=self._due_index,
            KeyConditionExpression="sweepKey = :k AND nextCheckAt <= :now",
            ExpressionAttributeValues={":k": {"S": sweep_key}, ":now": {"S": now}},
            ScanIndexForward=True,
            Limit=page_size,
        ):
            for item in page:
                yield DueOrder(str(item["nextCheckAt"]), str(item["orderId"]), str(item["sweepKey"]))

    def count_due(self, sweep_keys: Iterable[str], now: str) -> int:
        """How many orders of these shards are due now (keys-only index: cheap to count)."""
        total = 0
        for key in sweep_keys:
            start: dict[str, Any] | None = None
            while True:
                request: dict[str, Any] = {
                    "TableName": self._table,
                    "IndexName": self._due_index,
                    "KeyConditionExpression": "sweepKey = :k AND nextCheckAt <= :now",
                    "ExpressionAttributeValues": {":k": {"S": key}, ":now": {"S": now}},
                    "Select": "COUNT",
                }
                if start:
                    request["ExclusiveStartKey"] = start
                response = call_dynamodb(self._client.query, **request)
                total += int(response.get("Count", 0))
                start = response.get("LastEvaluatedKey")
                if not start:
                    break
        return total

    def unpublished(self, sweep_keys: Iterable[str], older_than: str, page_size: int) -> Iterator[dict[str, Any]]:
        """Orders whose outcome was recorded but not yet confirmed published (the outbox)."""
        for key in sweep_keys:
            for page in self._query_pages(
                IndexName=self._outbox_index,
                KeyConditionExpression="outboxKey = :k AND outboxSince <= :t",
                ExpressionAttributeValues={":k": {"S": key}, ":t": {"S": older_than}},
                Limit=page_size,
            ):
                yield from page

    def read(self, order_id: str) -> dict[str, Any] | None:
        """The order as it is now (strongly consistent)."""
        response = call_dynamodb(
            self._client.get_item, TableName=self._table, Key=to_item({"orderId": order_id}), ConsistentRead=True
        )
        item = response.get("Item")
        return from_item(item) if item else None

    def in_status(
        self, status: str, *, provider: str | None = None, page_size: int = 1000
    ) -> Iterator[dict[str, Any]]:
        """Every order in one status (and of one provider, if given), a page at a time.

        The table has no index on `status` (the sweep never needs one), so this is a Scan
        with a filter: it reads, and is billed for, the whole table however few orders
        match. For operators' occasional use (`paysweep review`), never for the sweep.
        Only the attributes a listing needs are returned.
        """
        names = {"#status": "status", "#provider": "provider", "#outcome": "outcome"}
        values = {":status": _serializer.serialize(status)}
        condition = "#status = :status"
        if provider is not None:
            values[":provider"] = _serializer.serialize(provider)
            condition += " AND #provider = :provider"
        start: dict[str, Any] | None = None
        while True:
            request: dict[str, Any] = {
                "TableName": self._table,
                "FilterExpression": condition,
                "ProjectionExpression": "orderId, #status, #provider, #outcome",
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
                "Limit": page_size,
            }
            if start:
                request["ExclusiveStartKey"] = start
            response = call_dynamodb(self._client.scan, **request)
            yield from (from_item(item) for item in response.get("Items", []))
            # A page can hold no match and still not be the last: only the key says when to stop.
            start = response.get("LastEvaluatedKey")
            if not start:
                return

    # -- writes --------------------------------------------------------------------------

    def claim(self, due: DueOrder, *, due_by: str, now: str, lease_until: str, token: str) -> Claimed:
        """Take the lease on a due order and return the whole item.

        The index is eventually consistent, so the condition re-checks the real item: it
        must still be in this shard and due by `due_by`, the time the sweep read the index
        (an unexpired lease keeps it not due, and so does a check by another sweep since).
        Raises `ConditionFailed` when another sweep got there first.
        """
        changes = {"leaseOwner": token, "leaseUntil": lease_until, "nextCheckAt": lease_until, "updatedAt": now}
        expression, names, values = _update_expression(changes, ())
        names.update({"#sk": "sweepKey", "#due": "nextCheckAt"})
        values.update({":sk": _serializer.serialize(due.sweep_key), ":now": _serializer.serialize(due_by)})
        response = self._conditional(
            self._client.update_item,
            Key=to_item({"orderId": due.order_id}),
            UpdateExpression=expression,
            ConditionExpression="#sk = :sk AND #due <= :now",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_OLD",
        )
        before = from_item(response["Attributes"])
        previous = before.get("leaseOwner")
        return Claimed(item={**before, **changes}, abandoned_lease=str(previous) if previous else None)

    def apply(self, transition: Transition) -> None:
        """Write a transition, provided we still hold the lease and the status is as expected."""
        expression, names, values = _update_expression(transition.set, transition.remove)
        names["#lease"] = "leaseOwner"
        values[":token"] = _serializer.serialize(transition.lease_token)
        condition = "#lease = :token"
        if transition.expected_status is not None:
            names["#status"] = "status"
            values[":expected"] = _serializer.serialize(str(transition.expected_status))
            condition += " AND #status = :expected"
        if transition.free_lease_ok_at:
            assert transition.expected_status is not None  # nosec B101  # type-narrowing invariant; Lambda never runs python -O
            names["#until"] = "leaseUntil"
            values[":now"] = _serializer.serialize(transition.free_lease_ok_at)
            condition = (
                "#status = :expected AND (#lease = :token OR attribute_not_exists(#lease) OR #until < :now)"
            )
        self._conditional(
            self._client.update_item,
            Key=to_item({"orderId": transition.order_id}),
            UpdateExpression=expression,
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def clear_outbox(self, order_id: str, event_id: str) -> None:
        """Mark an outcome as published; a no-op condition failure if already cleared."""
        self._conditional(
            self._client.update_item,
            Key=to_item({"orderId": order_id}),
            UpdateExpression="REMOVE #o, #ok, #os",
            ConditionExpression="#o.eventId = :e",
            ExpressionAttributeNames={"#o": "outbox", "#ok": "outboxKey", "#os": "outboxSince"},
            ExpressionAttributeValues={":e": _serializer.serialize(event_id)},
        )

    def update_unchanged(
        self,
        order_id: str,
        *,
        expected: Mapping[str, Any],
        now: str,
        set_values: Mapping[str, Any],
        remove: Iterable[str] = (),
    ) -> None:
        """An operator's write: applied only if the order is still as the operator read it.

        Every `expected` attribute must still hold the value read (None: still absent), and
        no sweep may hold a live lease: a sweep that claimed or decided the order since it
        was read is never overwritten. Raises `ConditionFailed` with the current item.
        """
        expression, names, values = _update_expression(set_values, remove)
        conditions: list[str] = []
        for i, (name, value) in enumerate(expected.items()):
            names[f"#e{i}"] = name
            if value is None:
                conditions.append(f"attribute_not_exists(#e{i})")
            else:
                values[f":e{i}"] = _serializer.serialize(value)
                conditions.append(f"#e{i} = :e{i}")
        names["#until"] = "leaseUntil"
        values[":now"] = _serializer.serialize(now)
        conditions.append("(attribute_not_exists(#until) OR #until <= :now)")
        self._conditional(
            self._client.update_item,
            Key=to_item({"orderId": order_id}),
            UpdateExpression=expression,
            ConditionExpression=" AND ".join(conditions),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def put_new(self, item: Mapping[str, Any]) -> None:
        """Insert a new order; refuses to overwrite an existing order id."""
        self._conditional(
            self._client.put_item,
            Item=to_item(item),
            ConditionExpression="attribute_not_exists(orderId)",
        )

    # -- plumbing ------------------------------------------------------------------------

    def _conditional[R](self, write: Callable[..., R], **kwargs: Any) -> R:
        """A conditional write that reports the item's state when the condition fails."""
        return call_dynamodb(write, TableName=self._table, ReturnValuesOnConditionCheckFailure="ALL_OLD", **kwargs)


def call_dynamodb[**P, R](request: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Make one DynamoDB request and translate its failures into the store's two exceptions.

    The client's standard retry mode has already retried throttling and 5xx answers by
    the time an error arrives here: what is left is a real failure of this request.
    """
    try:
        return request(*args, **kwargs)
    except ClientError as error:
        operation = getattr(request, "__name__", "request")
        code = error.response.get("Error", {}).get("Code", "Unknown")
        table = kwargs.get("TableName", "?")
        if code == "ConditionalCheckFailedException":
            current = error.response.get("Item")
            raise ConditionFailed(
                f"{operation} on {table}: condition failed", from_item(current) if isinstance(current, Mapping) else None
            ) from error
        raise StoreUnavailable(f"DynamoDB {operation} on {table} failed: {code}", code) from error
    except BotoCoreError as error:
        operation = getattr(request, "__name__", "request")
        raise StoreUnavailable(f"DynamoDB {operation} failed: {type(error).__name__}", type(error).__name__) from error


def history_with(history: Iterable[Any], entry: Mapping[str, Any]) -> list[str]:
    """The order's bounded history with one more event, as compact lines (oldest first).

    One short string per event (`2026-11-22T03:14:15Z status APPROVED TS01`) rather than a map:
    the item stays small, so a write costs one DynamoDB write unit. The full answer of the last
    check is `lastCheck`; every answer is in the logs.
    """
    line = " ".join(str(entry[k]) for k in ("at", "kind", "state", "providerStatus", "note") if entry.get(k))
    lines = [str(e) for e in history if isinstance(e, str)] + [line]
    return lines[-HISTORY_LIMIT:]
