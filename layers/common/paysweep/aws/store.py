"""The orders table in DynamoDB: the only code that reads or writes it.

Every write is one `paysweep.domain.item.Transition`, carried out as one conditional
UpdateItem whose condition expression is the transition's guard. When a condition fails,
DynamoDB returns the item as it was (`ReturnValuesOnConditionCheckFailure=ALL_OLD`), so the
caller learns who got there first without another read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from paysweep.aws.dynamodb import call_dynamodb, from_item, serialize, to_item
from paysweep.domain import item
from paysweep.sweep.ports import DueOrder

if TYPE_CHECKING:
    from types_boto3_dynamodb import DynamoDBClient

Expression = tuple[str, dict[str, str], dict[str, Any]]
"""A DynamoDB expression with its attribute names and values."""


def update_expression(set_values: Mapping[str, Any], remove: Iterable[str]) -> Expression:
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    sets: list[str] = []
    for i, (name, value) in enumerate(set_values.items()):
        names[f"#s{i}"] = name
        values[f":s{i}"] = serialize(value)
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


def condition_expression(guard: item.Guard) -> Expression:
    """The guard as a DynamoDB condition: the same rule as the guard's `holds()`."""
    match guard:
        case item.Due(sweep_key=sweep_key, due_by=due_by, now=now):
            return (
                "#sk = :sk AND #due <= :due AND (attribute_not_exists(#until) OR #until < :now)",
                {"#sk": item.SWEEP_KEY, "#due": item.NEXT_CHECK_AT, "#until": item.LEASE_UNTIL},
                {":sk": serialize(sweep_key), ":due": serialize(due_by), ":now": serialize(now)},
            )
        case item.AuditDue(audit_key=audit_key, due_by=due_by, now=now):
            return (
                "#ak = :ak AND #at <= :due AND attribute_not_exists(#sk) AND (attribute_not_exists(#until) OR #until < :now)",
                {"#ak": item.AUDIT_KEY, "#at": item.AUDIT_AT, "#sk": item.SWEEP_KEY, "#until": item.LEASE_UNTIL},
                {":ak": serialize(audit_key), ":due": serialize(due_by), ":now": serialize(now)},
            )
        case item.Checkable(shard_prefix=prefix, now=now):
            return (
                "begins_with(#sk, :prefix) AND (attribute_not_exists(#until) OR #until < :now)",
                {"#sk": item.SWEEP_KEY, "#until": item.LEASE_UNTIL},
                {":prefix": serialize(prefix), ":now": serialize(now)},
            )
        case item.Leased(token=token, status=None):
            return "#lease = :token", {"#lease": item.LEASE_OWNER}, {":token": serialize(token)}
        case item.Leased(token=token, status=status):
            return (
                "#lease = :token AND #status = :expected",
                {"#lease": item.LEASE_OWNER, "#status": item.STATUS},
                {":token": serialize(token), ":expected": serialize(status)},
            )
        case item.LeasedOrFree(token=token, status=status, now=now):
            return (
                "#status = :expected AND (#lease = :token OR attribute_not_exists(#lease) OR #until < :now)",
                {"#lease": item.LEASE_OWNER, "#status": item.STATUS, "#until": item.LEASE_UNTIL},
                {":token": serialize(token), ":expected": serialize(status), ":now": serialize(now)},
            )
        case item.Unchanged(expected=expected, now=now):
            return _unchanged(expected, now)
        case item.Recorded(event_id=event_id, status=status):
            return (
                "#oc.eventId = :e AND #status = :s AND attribute_exists(#sk)",
                {"#oc": item.OUTCOME, "#status": item.STATUS, "#sk": item.SWEEP_KEY},
                {":e": serialize(event_id), ":s": serialize(status)},
            )
        case item.Absent():
            return "attribute_not_exists(#id)", {"#id": item.ORDER_ID}, {}


def _unchanged(expected: Mapping[str, Any], now: str) -> Expression:
    names: dict[str, str] = {"#until": item.LEASE_UNTIL}
    values: dict[str, Any] = {":now": serialize(now)}
    conditions: list[str] = []
    for i, (name, value) in enumerate(expected.items()):
        names[f"#e{i}"] = name
        if value is None:
            conditions.append(f"attribute_not_exists(#e{i})")
        else:
            values[f":e{i}"] = serialize(value)
            conditions.append(f"#e{i} = :e{i}")
    conditions.append("(attribute_not_exists(#until) OR #until <= :now)")
    return " AND ".join(conditions), names, values


class DynamoDBOrderStore:
    """The orders table and its sparse indexes (due orders, due audits).

    Both index names are required: they are the stack's (DUE_INDEX_NAME, AUDIT_INDEX_NAME), and
    a default here once hid a configured name that never reached the store.
    """

    def __init__(self, client: DynamoDBClient, table: str, *, due_index: str, audit_index: str) -> None:
        self._client = client
        self._table = table
        self._due_index = due_index
        self._audit_index = audit_index

    # -- reads ---------------------------------------------------------------------------

    def _responses(self, operation: Callable[..., Any], **kwargs: Any) -> Iterator[Mapping[str, Any]]:
        """One Query or Scan of the table, response after response, until DynamoDB says there is
        no more (a page can hold no match and still not be the last: only the key says when to
        stop)."""
        start: dict[str, Any] | None = None
        while True:
            request = dict(kwargs, TableName=self._table)
            if start:
                request["ExclusiveStartKey"] = start
            response = call_dynamodb(operation, **request)
            yield response
            start = response.get("LastEvaluatedKey")
            if not start:
                return

    def _query(self, **kwargs: Any) -> Iterator[Mapping[str, Any]]:
        return self._responses(self._client.query, **kwargs)

    def _query_pages(self, **kwargs: Any) -> Iterator[list[dict[str, Any]]]:
        for response in self._query(**kwargs):
            yield [from_item(found) for found in response.get("Items", [])]

    def due_in_shard(
        self, sweep_key: str, now: str, page_size: int, *, newest_first: bool = False
    ) -> Iterator[DueOrder]:
        """Due orders of one shard, oldest (or newest) first, fetched one page at a time."""
        for page in self._query_pages(
            IndexName=self._due_index,
            KeyConditionExpression="sweepKey = :k AND nextCheckAt <= :now",
            ExpressionAttributeValues={":k": {"S": sweep_key}, ":now": {"S": now}},
            ScanIndexForward=not newest_first,
            Limit=page_size,
        ):
            for found in page:
                yield DueOrder(str(found[item.NEXT_CHECK_AT]), str(found[item.ORDER_ID]), str(found[item.SWEEP_KEY]))

    def audits_due(self, audit_key: str, now: str, page_size: int) -> Iterator[DueOrder]:
        """Audits of one shard due by `now`, oldest first, one page at a time (the audit index)."""
        for page in self._query_pages(
            IndexName=self._audit_index,
            KeyConditionExpression="auditKey = :k AND auditAt <= :now",
            ExpressionAttributeValues={":k": {"S": audit_key}, ":now": {"S": now}},
            ScanIndexForward=True,
            Limit=page_size,
        ):
            for found in page:
                yield DueOrder(str(found[item.AUDIT_AT]), str(found[item.ORDER_ID]), str(found[item.AUDIT_KEY]))

    def count_due(self, sweep_keys: Iterable[str], now: str) -> int:
        """How many orders of these shards are due now (keys-only index: cheap to count)."""
        return sum(
            int(response.get("Count", 0))
            for key in sweep_keys
            for response in self._query(
                IndexName=self._due_index,
                KeyConditionExpression="sweepKey = :k AND nextCheckAt <= :now",
                ExpressionAttributeValues={":k": {"S": key}, ":now": {"S": now}},
                Select="COUNT",
            )
        )

    def read(self, order_id: str) -> item.StoredOrder | None:
        """The order as it is now (strongly consistent)."""
        response = call_dynamodb(
            self._client.get_item, TableName=self._table, Key=to_item({item.ORDER_ID: order_id}), ConsistentRead=True
        )
        found = response.get("Item")
        return item.StoredOrder(from_item(found)) if found else None

    def in_status(
        self,
        status: str | None,
        *,
        provider: str | None = None,
        reason: str | None = None,
        merchant_id: str | None = None,
        page_size: int = 1000,
    ) -> Iterator[item.StoredOrder]:
        """Every order in one status (any decided status: None), of one provider, with one
        outcome reason and of one merchant account if given, a page at a time.

        The table has no index on `status` (the sweep never needs one), so this is a Scan
        with a filter: it reads, and is billed for, the whole table however few orders
        match. For operators' occasional use (`paysweep review`), never for the sweep.
        Only the attributes a listing needs are returned.
        """
        names = {"#status": item.STATUS, "#provider": item.PROVIDER, "#outcome": item.OUTCOME, "#merchant": item.MERCHANT_ID}
        values: dict[str, Any] = {}
        conditions = ["attribute_exists(#outcome)"]
        if status is not None:
            values[":status"] = serialize(status)
            conditions.append("#status = :status")
        if provider is not None:
            values[":provider"] = serialize(provider)
            conditions.append("#provider = :provider")
        if reason is not None:
            values[":reason"] = serialize(reason)
            conditions.append("#outcome.reason = :reason")
        if merchant_id is not None:
            values[":merchant"] = serialize(merchant_id)
            conditions.append("#merchant = :merchant")
        request: dict[str, Any] = {
            "FilterExpression": " AND ".join(conditions),
            "ProjectionExpression": "orderId, #status, #provider, #outcome, #merchant",
            "ExpressionAttributeNames": names,
            "Limit": page_size,
        }
        if values:
            request["ExpressionAttributeValues"] = values
        for response in self._responses(self._client.scan, **request):
            yield from (item.StoredOrder(from_item(found)) for found in response.get("Items", []))

    # -- writes --------------------------------------------------------------------------

    def claim(self, transition: item.Transition) -> item.StoredOrder:
        """Apply a claim and return the whole order as it was before it.

        Raises `ConditionFailed` when another sweep got there first.
        """
        response = self._update(transition, ReturnValues="ALL_OLD")
        return item.StoredOrder(from_item(response.get("Attributes", {})))

    def apply(self, transition: item.Transition) -> None:
        """Apply a transition if its guard holds; `ConditionFailed` (with the item) if not."""
        self._update(transition)

    def put_new(self, new_item: Mapping[str, Any]) -> None:
        """Insert a new order; refuses to overwrite an existing order id."""
        condition, names, _ = condition_expression(item.Absent())
        call_dynamodb(
            self._client.put_item,
            TableName=self._table,
            Item=to_item(new_item),
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )

    def _update(self, transition: item.Transition, **extra: Any) -> Any:
        expression, names, values = update_expression(transition.set, transition.remove)
        condition, condition_names, condition_values = condition_expression(transition.guard)
        request: dict[str, Any] = {
            "TableName": self._table,
            "Key": to_item({item.ORDER_ID: transition.order_id}),
            "UpdateExpression": expression,
            "ConditionExpression": condition,
            "ExpressionAttributeNames": {**names, **condition_names},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            **extra,
        }
        if values or condition_values:
            request["ExpressionAttributeValues"] = {**values, **condition_values}
        return call_dynamodb(self._client.update_item, **request)
