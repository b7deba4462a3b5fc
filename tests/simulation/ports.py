"""The sweep's ports in the simulation: the in-memory doubles, with simulated latency and the
seed's faults at every call. Each call gives the turn back to the scheduler, so other
sweeps' threads interleave there, and each write is followed by the invariant check."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from doubles.store import MemoryCompensationJournal, MemoryOrderStore
from paysweep.domain import item as items
from paysweep.domain.outcomes import OutcomeMessage
from paysweep.sweep.ports import Compensation, DueOrder, PublishReport, StoreUnavailable

from simulation.faults import Faults
from simulation.scheduler import Killed, Scheduler

DB_LATENCY = (0.002, 0.02)
INDEX_LAG = 2.0
"""Longest a sparse index trails the table, simulated seconds (DynamoDB's global secondary
indexes are eventually consistent, typically well under a second behind)."""


class Delivered:
    """Everything SNS accepted, in order: what subscribers receive (duplicates included)."""

    def __init__(self) -> None:
        self.messages: list[OutcomeMessage] = []


class _Port:
    def __init__(self, scheduler: Scheduler, faults: Faults, after_write: Callable[[], None]) -> None:
        self.scheduler = scheduler
        self.faults = faults
        self.after_write = after_write

    def _crash(self) -> None:
        self.scheduler.kill(self.scheduler.current_group)
        raise Killed

    def _wait(self) -> None:
        self.scheduler.pause(self.faults.latency(*DB_LATENCY))

    def _read_fault(self, call: str) -> None:
        if self.faults.read(call) == "throttle":
            self._wait()
            raise StoreUnavailable(f"{call}: throttled", "ProvisionedThroughputExceededException")

    def _write(self, call: str, effect: Callable[[], Any]) -> Any:
        fault = self.faults.write(call)
        if fault == "throttle":
            self._wait()
            raise StoreUnavailable(f"{call}: throttled", "ThrottlingException")
        if fault == "crash_before":
            self._crash()
        try:
            result = effect()
        except Exception:
            self._wait()
            raise
        self.after_write()
        if fault == "crash_after":
            self._crash()
        if fault == "lost":
            self._wait()
            raise StoreUnavailable(f"{call}: the answer was lost", "InternalServerError")
        if fault == "stall":
            self.scheduler.pause(self.faults.stall_seconds(self.scheduler.current_group))
        else:
            self._wait()
        return result


class SimulatedStore(_Port):
    def __init__(self, store: MemoryOrderStore, scheduler: Scheduler, faults: Faults, after_write: Callable[[], None]) -> None:
        super().__init__(scheduler, faults, after_write)
        self.store = store

    def _index_caught_up(self) -> None:
        """The index may trail the table, but by at most INDEX_LAG."""
        if self.scheduler.now - self.store.refreshed_at > INDEX_LAG * self.faults.rng.random():
            self.store.refresh_indexes(at=self.scheduler.now)

    def due_in_shard(
        self, sweep_key: str, now: str, page_size: int, *, newest_first: bool = False
    ) -> Iterator[DueOrder]:
        self._read_fault("due query")
        self._wait()
        self._index_caught_up()
        entries = list(self.store.due_in_shard(sweep_key, now, page_size, newest_first=newest_first))
        for start in range(0, len(entries), page_size):
            if start:
                self._read_fault("due query page")
                self._wait()
            yield from entries[start : start + page_size]

    def audits_due(self, audit_key: str, now: str, page_size: int) -> Iterator[DueOrder]:
        self._read_fault("audit query")
        self._wait()
        self._index_caught_up()
        yield from list(self.store.audits_due(audit_key, now, page_size))

    def count_due(self, sweep_keys: Iterable[str], now: str) -> int:
        self._read_fault("count")
        self._wait()
        self._index_caught_up()
        return self.store.count_due(sweep_keys, now)

    def read(self, order_id: str) -> items.StoredOrder | None:
        self._read_fault("read")
        self._wait()
        return self.store.read(order_id)

    def claim(self, transition: items.Transition) -> items.StoredOrder:
        return self._write("claim", lambda: self.store.claim(transition))  # type: ignore[no-any-return]

    def apply(self, transition: items.Transition) -> None:
        self._write("update", lambda: self.store.apply(transition))


class SimulatedJournal(_Port):
    def __init__(self, journal: MemoryCompensationJournal, scheduler: Scheduler, faults: Faults,
                 after_write: Callable[[], None]) -> None:
        super().__init__(scheduler, faults, after_write)
        self.journal = journal

    def record(self, entry: Compensation) -> None:
        self._write("journal record", lambda: self.journal.record(entry))

    def find(self, order_id: str) -> Compensation | None:
        self._read_fault("journal find")
        self._wait()
        return self.journal.find(order_id)

    def resolve(self, order_id: str) -> None:
        self._write("journal resolve", lambda: self.journal.resolve(order_id))


class SimulatedPublisher(_Port):
    def __init__(self, delivered: Delivered, scheduler: Scheduler, faults: Faults, after_write: Callable[[], None]) -> None:
        super().__init__(scheduler, faults, after_write)
        self.delivered = delivered

    def publish(self, messages: Sequence[OutcomeMessage]) -> PublishReport:
        fault = self.faults.publish()
        self._wait()
        if fault == "fail":
            return PublishReport([], [(m, "InternalError") for m in messages])
        if fault == "partial":
            failing = {m.event_id for m in messages if self.faults.rng.random() < 0.5}
            published = [m for m in messages if m.event_id not in failing]
            self.delivered.messages.extend(published)
            self.after_write()
            return PublishReport(published, [(m, "InternalError") for m in messages if m.event_id in failing])
        self.delivered.messages.extend(messages)
        self.after_write()
        if fault == "crash_after":
            self._crash()
        if fault == "lost":
            return PublishReport([], [(m, "RequestTimeout") for m in messages])
        return PublishReport(list(messages), [])
