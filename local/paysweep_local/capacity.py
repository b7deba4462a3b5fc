"""DynamoDB's write request units, computed from what a write actually did.

The emulator (moto) answers fixed values for `ConsumedCapacity`, so the local stack computes
the units itself: for every PutItem, UpdateItem, DeleteItem and BatchWriteItem request, the
emulator's middleware reads the item before and after the write from moto's backend (under
the lock that serialises every request, so nothing else changes it in between) and applies
AWS's documented rules:

* Item size (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html):
  the sum of attribute names and values; a string is its UTF-8 bytes, a number 1 byte per two
  significant digits plus 1, binary its raw bytes, null and Boolean 1 byte, a list or map 3
  bytes plus its elements plus 1 byte per element (a map element also its name), a set the
  sum of its elements.
* Table units (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html#write-operation-consumption):
  one write request unit per 1 KB, rounded up, of the larger of the item before and after
  the write; at least 1 (also for deleting an item that does not exist).
* Index units (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/GSI.html#GSI.Writes):
  per global secondary index, an entry put (the item gains the index's keys) or deleted (it
  loses them) costs ceil(entry / 1 KB); a changed index key is a delete plus a put; a changed
  projected non-key attribute with the keys unchanged is one put; an item in the index
  neither before nor after costs nothing. The entry is what the index holds: the table's key,
  the index's keys and the projected attributes.
* Refused writes (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/WorkingWithItems.html#WorkingWithItems.ConditionalUpdate):
  a conditional write whose condition is false still consumes write capacity on the table,
  ceil(size of the existing item / 1 KB), at least 1; no index is written.

Nothing here imports moto: `MotoItems` (the only moto-aware part) is used by the emulator
process; the rules are plain functions, unit-tested in `tests/unit/test_write_units.py`.
"""

from __future__ import annotations

import base64
import json
import math
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

KB = 1024
WRITE_OPERATIONS = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"})
"""Single-item writes (and batches of them) whose units are computed; TransactWriteItems is
counted as uncomputed (paysweep makes none)."""

Wire = Mapping[str, Any]
"""An attribute value or item in DynamoDB's wire form: `{"S": "..."}`, `{"M": {...}}`, ..."""


# ----------------------------------------------------------------------------------------
# Sizes
# ----------------------------------------------------------------------------------------


def number_size(text: str) -> int:
    """A number: 1 byte per two significant digits (leading and trailing zeros trimmed), plus 1."""
    digits = str(abs(Decimal(text)).normalize()) if Decimal(text) else "0"
    if "E" in digits:  # normalize() writes 1E+3 for 1000: the significant digits are before the E
        digits = digits.split("E", 1)[0]
    significant = digits.replace(".", "").lstrip("0").rstrip("0") or "0"
    return math.ceil(len(significant) / 2) + 1


def value_size(value: Wire) -> int:
    """Bytes of one attribute value in wire form (its name is counted by the caller)."""
    ((kind, data),) = value.items()
    if kind == "S":
        return len(str(data).encode("utf-8"))
    if kind == "N":
        return number_size(str(data))
    if kind == "B":
        return len(_raw_bytes(data))
    if kind in ("NULL", "BOOL"):
        return 1
    if kind == "M":
        return 3 + sum(len(name.encode("utf-8")) + value_size(element) + 1 for name, element in data.items())
    if kind == "L":
        return 3 + sum(value_size(element) + 1 for element in data)
    if kind == "SS":
        return sum(len(str(element).encode("utf-8")) for element in data)
    if kind == "NS":
        return sum(number_size(str(element)) for element in data)
    if kind == "BS":
        return sum(len(_raw_bytes(element)) for element in data)
    raise ValueError(f"no DynamoDB size for attribute type {kind!r}")


def _raw_bytes(data: Any) -> bytes:
    """Binary as sent on the wire is base64 text; its size is the raw bytes."""
    if isinstance(data, (bytes, bytearray)):
        return bytes(data)
    return base64.b64decode(str(data))


def attribute_size(name: str, value: Wire) -> int:
    return len(name.encode("utf-8")) + value_size(value)


def item_size(item: Wire | None) -> int:
    """Bytes of an item in wire form (0 for no item)."""
    if not item:
        return 0
    return sum(attribute_size(name, value) for name, value in item.items())


def plain_item_size(item: Mapping[str, Any]) -> int:
    """Bytes of a deserialised item (str, Decimal, int, bool, None, dict, list, set, bytes)."""
    from boto3.dynamodb.types import TypeSerializer

    serializer = TypeSerializer()
    return item_size({name: serializer.serialize(value) for name, value in item.items()})


def attribute_sizes(item: Wire) -> dict[str, int]:
    """Each attribute's share of the item's size (name included), largest first."""
    sizes = {name: attribute_size(name, value) for name, value in item.items()}
    return dict(sorted(sizes.items(), key=lambda pair: (-pair[1], pair[0])))


def units(size_bytes: int) -> int:
    """Write request units of `size_bytes`: 1 per KB, rounded up, at least 1."""
    return max(1, math.ceil(size_bytes / KB))


# ----------------------------------------------------------------------------------------
# Indexes and what one write costs
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IndexSpec:
    """A global secondary index as its table describes it."""

    name: str
    keys: tuple[str, ...]
    """The index's key attributes (partition, then sort)."""
    table_keys: tuple[str, ...]
    projection: str = "KEYS_ONLY"
    """KEYS_ONLY, INCLUDE or ALL."""
    non_key: tuple[str, ...] = ()
    """The projected non-key attributes of an INCLUDE index."""

    def entry(self, item: Wire | None) -> dict[str, Any] | None:
        """The index's entry for the item, or None when the item is not in the (sparse) index."""
        if not item or any(key not in item for key in self.keys):
            return None
        if self.projection == "ALL":
            return dict(item)
        names = (*self.table_keys, *self.keys, *(self.non_key if self.projection == "INCLUDE" else ()))
        return {name: item[name] for name in names if name in item}

    def key_of(self, entry: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(_canonical(entry[key]) for key in self.keys)


def _canonical(value: Any) -> Any:
    """Hashable and comparable form of a wire value (numbers compared as numbers)."""
    ((kind, data),) = value.items()
    if kind == "N":
        return kind, Decimal(str(data))
    return kind, repr(data)


def index_units(index: IndexSpec, before: Wire | None, after: Wire | None) -> int:
    """Write units one write costs in one global secondary index (GSI.html#GSI.Writes)."""
    old, new = index.entry(before), index.entry(after)
    if old is None and new is None:
        return 0
    if old is None:
        assert new is not None
        return units(item_size(new))
    if new is None:
        return units(item_size(old))
    if index.key_of(old) != index.key_of(new):
        return units(item_size(old)) + units(item_size(new))
    if old != new:
        return units(max(item_size(old), item_size(new)))
    return 0


@dataclass(frozen=True)
class WriteCost:
    """What one write consumed: table units, units per index, and whether it was refused."""

    table: int
    indexes: Mapping[str, int] = field(default_factory=dict)
    refused: bool = False
    size_before: int = 0
    size_after: int = 0

    @property
    def total(self) -> int:
        return self.table + sum(self.indexes.values())


def write_cost(before: Wire | None, after: Wire | None, indexes: Iterable[IndexSpec]) -> WriteCost:
    """A write that happened: the item went from `before` to `after` (None: no item)."""
    size_before, size_after = item_size(before), item_size(after)
    per_index = {index.name: index_units(index, before, after) for index in indexes}
    return WriteCost(units(max(size_before, size_after)), per_index, False, size_before, size_after)


def refused_cost(existing: Wire | None) -> WriteCost:
    """A conditional write whose condition was false: the existing item's size, at least 1 unit."""
    size = item_size(existing)
    return WriteCost(units(size), {}, True, size, size)


# ----------------------------------------------------------------------------------------
# Which write is this (for the per-shape totals)
# ----------------------------------------------------------------------------------------


def write_shape(operation: str, request: Mapping[str, Any]) -> str:
    """A readable name for the kind of write: the operation and, for an update, its expression
    with the attribute names filled in and the values left out (`SET leaseOwner, leaseUntil`)."""
    if operation != "UpdateItem":
        return operation
    names = request.get("ExpressionAttributeNames") or {}
    expression = str(request.get("UpdateExpression") or "")
    expression = re.sub(r"#[A-Za-z0-9_]+", lambda match: str(names.get(match.group(0), match.group(0))), expression)
    expression = re.sub(r"\s*=\s*:[A-Za-z0-9_]+", "", expression)
    return f"UpdateItem {' '.join(expression.split())}"


# ----------------------------------------------------------------------------------------
# Totals, as the emulator's /_paysweep/stats reports them
# ----------------------------------------------------------------------------------------


@dataclass
class ShapeTotals:
    writes: int = 0
    refused: int = 0
    table_units: int = 0
    index_units: int = 0
    refused_units: int = 0
    max_size_before: int = 0
    max_size_after: int = 0
    largest_after: dict[str, Any] | None = None
    """The largest item this kind of write left (wire form), for a look at its attributes."""

    def add(self, cost: WriteCost, after: Wire | None) -> None:
        self.writes += 1
        if cost.refused:
            self.refused += 1
            self.refused_units += cost.table
        else:
            self.table_units += cost.table
            self.index_units += sum(cost.indexes.values())
        self.max_size_before = max(self.max_size_before, cost.size_before)
        if not cost.refused and cost.size_after >= self.max_size_after and after is not None:
            self.max_size_after = cost.size_after
            self.largest_after = dict(after)

    def to_json(self) -> dict[str, Any]:
        return {
            "writes": self.writes,
            "refused": self.refused,
            "tableUnits": self.table_units,
            "indexUnits": self.index_units,
            "refusedUnits": self.refused_units,
            "maxSizeBefore": self.max_size_before,
            "maxSizeAfter": self.max_size_after,
            "largestAfter": self.largest_after,
        }


@dataclass
class WriteUnitBook:
    """Write request units consumed since the last reset, by table, index and kind of write."""

    table: dict[str, int] = field(default_factory=dict)
    indexes: dict[str, int] = field(default_factory=dict)
    """Keyed `table/index/NAME`."""
    refused: dict[str, int] = field(default_factory=dict)
    refused_writes: int = 0
    writes: int = 0
    uncomputed: dict[str, int] = field(default_factory=dict)
    """Write calls whose units are not computed (TransactWriteItems), by operation."""
    shapes: dict[str, ShapeTotals] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, table: str, shape: str, cost: WriteCost, after: Wire | None) -> None:
        with self.lock:
            self.writes += 1
            if cost.refused:
                self.refused_writes += 1
                self.refused[table] = self.refused.get(table, 0) + cost.table
            else:
                self.table[table] = self.table.get(table, 0) + cost.table
                for name, spent in cost.indexes.items():
                    key = f"{table}/index/{name}"
                    self.indexes[key] = self.indexes.get(key, 0) + spent
            self.shapes.setdefault(f"{table} {shape}", ShapeTotals()).add(cost, after)

    def not_computed(self, operation: str) -> None:
        with self.lock:
            self.uncomputed[operation] = self.uncomputed.get(operation, 0) + 1

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            table, indexes, refused = sum(self.table.values()), sum(self.indexes.values()), sum(self.refused.values())
            return {
                "total": table + indexes + refused,
                "table": table,
                "indexes": indexes,
                "refused": refused,
                "byTable": dict(self.table),
                "byIndex": dict(self.indexes),
                "refusedByTable": dict(self.refused),
                "writes": self.writes,
                "refusedWrites": self.refused_writes,
                "uncomputed": dict(self.uncomputed),
                "byShape": {shape: totals.to_json() for shape, totals in self.shapes.items()},
            }

    def reset(self) -> None:
        with self.lock:
            self.table.clear()
            self.indexes.clear()
            self.refused.clear()
            self.uncomputed.clear()
            self.shapes.clear()
            self.refused_writes = self.writes = 0


# ----------------------------------------------------------------------------------------
# moto's side (the emulator process only)
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PendingWrite:
    """One item a write request is about to touch, as it was before the write."""

    table: str
    key: dict[str, Any]
    before: dict[str, Any] | None
    indexes: tuple[IndexSpec, ...]


class MotoItems:
    """Items and index definitions straight from moto's DynamoDB backend (same process)."""

    def __init__(self, account_id: str | None = None) -> None:
        from moto.core import DEFAULT_ACCOUNT_ID

        self.account_id = account_id or DEFAULT_ACCOUNT_ID

    def _table(self, region: str, name: str) -> Any:
        from moto.dynamodb.models import dynamodb_backends

        return dynamodb_backends[self.account_id][region].get_table(name)

    def pending(self, region: str, table_name: str, key_source: Mapping[str, Any]) -> PendingWrite | None:
        """The item `key_source` (a key, or a whole item) names, read before the write."""
        try:
            table = self._table(region, table_name)
        except Exception:  # noqa: BLE001 - no such table: moto answers the error, nothing is billed
            return None
        table_keys = tuple(key["AttributeName"] for key in table.schema)
        key = {name: key_source[name] for name in table_keys if name in key_source}
        if len(key) != len(table_keys):
            return None
        indexes = tuple(
            IndexSpec(
                name=index.name,
                keys=tuple(index.schema_key_attrs),
                table_keys=table_keys,
                projection=(index.projection or {}).get("ProjectionType", "ALL"),
                non_key=tuple((index.projection or {}).get("NonKeyAttributes", [])),
            )
            for index in table.global_indexes
        )
        return PendingWrite(table.name, key, self.read(region, table.name, key), indexes)

    def read(self, region: str, table_name: str, key: Mapping[str, Any]) -> dict[str, Any] | None:
        from moto.dynamodb.models.dynamo_type import DynamoType

        try:
            table = self._table(region, table_name)
            hash_name = table.hash_key_attr
            range_name = table.range_key_attr
            found = table.get_item(
                DynamoType(key[hash_name]), DynamoType(key[range_name]) if range_name else None
            )
        except Exception:  # noqa: BLE001 - a malformed key: moto answers the error
            return None
        return dict(found.to_json()["Attributes"]) if found is not None else None


def requests_of(operation: str, body: Mapping[str, Any]) -> list[tuple[str, str, Mapping[str, Any]]]:
    """(table, kind, key or item) of each item a write request touches."""
    if operation in ("UpdateItem", "DeleteItem"):
        return [(str(body.get("TableName", "")), operation, body.get("Key") or {})]
    if operation == "PutItem":
        return [(str(body.get("TableName", "")), operation, body.get("Item") or {})]
    if operation == "BatchWriteItem":
        found: list[tuple[str, str, Mapping[str, Any]]] = []
        for table, writes in (body.get("RequestItems") or {}).items():
            for write in writes:
                if "PutRequest" in write:
                    found.append((table, "BatchWriteItem PutRequest", write["PutRequest"].get("Item") or {}))
                elif "DeleteRequest" in write:
                    found.append((table, "BatchWriteItem DeleteRequest", write["DeleteRequest"].get("Key") or {}))
        return found
    return []


class WriteAccountant:
    """The emulator's side: reads each item before and after a write (under the emulator's
    lock), computes what the write consumed, and books it."""

    def __init__(self) -> None:
        self.book = WriteUnitBook()
        self._items: MotoItems | None = None

    @property
    def items(self) -> MotoItems:
        if self._items is None:
            self._items = MotoItems()
        return self._items

    def before(self, operation: str, body: bytes, region: str) -> list[tuple[str, PendingWrite]]:
        """What the request's items are before it runs (call inside the lock, before moto)."""
        if operation == "TransactWriteItems":
            self.book.not_computed(operation)
            return []
        if operation not in WRITE_OPERATIONS:
            return []
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            return []
        found = []
        for table, kind, key_source in requests_of(operation, request):
            pending = self.items.pending(region, table, key_source)
            if pending is not None:
                found.append((write_shape(operation, request) if kind == operation else kind, pending))
        return found

    def after(self, pending: list[tuple[str, PendingWrite]], region: str, status: str, answer: bytes) -> None:
        """Book the writes once moto answered (call inside the same lock)."""
        if not pending:
            return
        if status.startswith("200"):
            for shape, write in pending:
                after = self.items.read(region, write.table, write.key)
                self.book.add(write.table, shape, write_cost(write.before, after, write.indexes), after)
        elif status.startswith("400") and b"ConditionalCheckFailed" in answer:
            for shape, write in pending:
                self.book.add(write.table, shape, refused_cost(write.before), write.before)

    def refused(self, operation: str, body: bytes, region: str) -> None:
        """A conditional failure injected by a fault rule: billed as DynamoDB bills a refused write."""
        for shape, write in self.before(operation, body, region):
            self.book.add(write.table, shape, refused_cost(write.before), write.before)
