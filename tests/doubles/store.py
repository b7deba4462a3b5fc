"""An in-memory orders table and compensation journal: the doubles of the deterministic
simulation.

They are evidence only because the same conformance suite (tests/conformance) runs against
them and against the DynamoDB-backed store on the emulators, and both pass it. Where they
could differ from DynamoDB they copy it rather than guess:
- values go in and out through boto3's own `TypeSerializer`/`TypeDeserializer`, so numbers
  come back as `Decimal`, tuples as lists, and a float is refused, exactly as DynamoDB does;
- a write's guard is the transition's own `holds()` (the DynamoDB store renders the same
  guard as a condition expression: the conformance suite holds the two to one answer);
- a failed condition reports the order as it was (`ReturnValuesOnConditionCheckFailure`), and
  every read comes back as the store port's `StoredOrder`;
- the due and audit indexes are sparse and eventually consistent: each is a snapshot that
  `refresh_indexes()` brings up to date (the simulation decides when, by seed), and the due
  and audit indexes project keys only.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from paysweep.domain import item as items
from paysweep.sweep.ports import Compensation, ConditionFailed, DueOrder

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def through_dynamodb(values: Mapping[str, Any]) -> dict[str, Any]:
    """The values as DynamoDB would store and return them (raises where DynamoDB would refuse)."""
    return {name: _deserializer.deserialize(_serializer.serialize(value)) for name, value in values.items()}


class MemoryOrderStore:
    """`paysweep.sweep.ports.OrderStore` in memory, one lock around every request."""

    def __init__(self, *, consistent_indexes: bool = True) -> None:
        self._items: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self.consistent_indexes = consistent_indexes
        """True: the indexes follow every write at once. False: only `refresh_indexes()` moves them."""
        self._due: list[DueOrder] = []
        self._audits: list[DueOrder] = []
        self.refreshed_at = 0.0
        """When `refresh_indexes(at=...)` last brought the indexes up to the table (caller's clock)."""
        self.writes = 0
        """Writes that happened (refused ones not counted)."""

    # -- the table -----------------------------------------------------------------------

    def read(self, order_id: str) -> items.StoredOrder | None:
        with self._lock:
            found = self._items.get(order_id)
            return items.StoredOrder(copy.deepcopy(found)) if found is not None else None

    def put_new(self, new_item: Mapping[str, Any]) -> None:
        self.apply(items.Transition(str(new_item[items.ORDER_ID]), items.Absent(), dict(new_item)))

    def claim(self, transition: items.Transition) -> items.StoredOrder:
        return items.StoredOrder(self._update(transition))

    def apply(self, transition: items.Transition) -> None:
        self._update(transition)

    def _update(self, transition: items.Transition) -> dict[str, Any]:
        with self._lock:
            current = self._items.get(transition.order_id)
            if not transition.guard.holds(current):
                raise ConditionFailed(
                    f"{transition.order_id}: {type(transition.guard).__name__} does not hold",
                    items.StoredOrder(copy.deepcopy(current)) if current is not None else None,
                )
            before = copy.deepcopy(current) if current is not None else {}
            self._items[transition.order_id] = through_dynamodb(transition.applied_to(current))
            self.writes += 1
            if self.consistent_indexes:
                self._refresh()
            return before

    def all_items(self) -> list[dict[str, Any]]:
        with self._lock:
            return [copy.deepcopy(found) for found in self._items.values()]

    # -- the indexes ---------------------------------------------------------------------

    def refresh_indexes(self, at: float = 0.0) -> None:
        """Bring the sparse indexes up to the table (eventual consistency, caught up)."""
        with self._lock:
            self._refresh()
            self.refreshed_at = at

    def _refresh(self) -> None:
        due = [
            DueOrder(str(found[items.NEXT_CHECK_AT]), order_id, str(found[items.SWEEP_KEY]))
            for order_id, found in self._items.items()
            if isinstance(found.get(items.SWEEP_KEY), str) and isinstance(found.get(items.NEXT_CHECK_AT), str)
        ]
        self._due = sorted(due, key=lambda entry: (entry.sweep_key, entry.next_check_at, entry.order_id))
        audits = [
            DueOrder(str(found[items.AUDIT_AT]), order_id, str(found[items.AUDIT_KEY]))
            for order_id, found in self._items.items()
            if isinstance(found.get(items.AUDIT_KEY), str) and isinstance(found.get(items.AUDIT_AT), str)
        ]
        self._audits = sorted(audits, key=lambda entry: (entry.sweep_key, entry.next_check_at, entry.order_id))

    def due_in_shard(
        self, sweep_key: str, now: str, page_size: int, *, newest_first: bool = False
    ) -> Iterator[DueOrder]:
        with self._lock:
            entries = [entry for entry in self._due if entry.sweep_key == sweep_key and entry.next_check_at <= now]
        yield from reversed(entries) if newest_first else entries

    def audits_due(self, audit_key: str, now: str, page_size: int) -> Iterator[DueOrder]:
        with self._lock:
            entries = [entry for entry in self._audits if entry.sweep_key == audit_key and entry.next_check_at <= now]
        yield from entries

    def count_due(self, sweep_keys: Iterable[str], now: str) -> int:
        keys = set(sweep_keys)
        with self._lock:
            return sum(1 for entry in self._due if entry.sweep_key in keys and entry.next_check_at <= now)


class MemoryCompensationJournal:
    """`paysweep.sweep.ports.CompensationJournal` in memory: the first entry of an order wins."""

    def __init__(self) -> None:
        self._entries: dict[str, Compensation] = {}
        self._lock = threading.Lock()

    def record(self, entry: Compensation) -> None:
        with self._lock:
            if entry.order_id in self._entries:
                raise ConditionFailed(f"{entry.order_id}: already journaled", None)
            self._entries[entry.order_id] = entry

    def find(self, order_id: str) -> Compensation | None:
        with self._lock:
            return self._entries.get(order_id)

    def resolve(self, order_id: str) -> None:
        with self._lock:
            self._entries.pop(order_id, None)

    def entries(self) -> list[Compensation]:
        with self._lock:
            return list(self._entries.values())
