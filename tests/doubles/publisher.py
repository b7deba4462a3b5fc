"""SNS for the unit tests that run the real engine: a publisher that keeps what it accepted, and a
store that refuses the writes a test picks (the table taking no writes).

The publisher stands for `paysweep.aws.publisher.SnsOutcomePublisher` through the same port
(`OutcomePublisher`): every message in exactly one list of its `PublishReport`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from paysweep.domain.outcomes import OutcomeMessage
from paysweep.sweep.ports import PublishReport, StoreUnavailable

from doubles.store import MemoryOrderStore


class CapturingPublisher:
    """Accepts every message (after refusing the first `refuse` batches) and keeps them."""

    def __init__(self, refuse: int = 0) -> None:
        self.refuse = refuse
        self.accepted: list[OutcomeMessage] = []

    def publish(self, messages: Sequence[OutcomeMessage]) -> PublishReport:
        if self.refuse:
            self.refuse -= 1
            return PublishReport([], [(message, "InternalError") for message in messages])
        self.accepted.extend(messages)
        return PublishReport(list(messages), [])


class FlakyStore:
    """The in-memory store, refusing the writes `fails` picks (the table taking no writes)."""

    def __init__(self, store: MemoryOrderStore) -> None:
        self._store = store
        self.fails: Callable[[Any], bool] = lambda transition: False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def apply(self, transition: Any) -> None:
        if self.fails(transition):
            raise StoreUnavailable("the table refused the write", "InternalServerError")
        self._store.apply(transition)
