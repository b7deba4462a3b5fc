"""The outbox: outcomes recorded with the transition, published after, confirmed last.

A decided order stays in the due index until its outcome is published (`item.decide`):
that is the outbox, and it costs no write of its own. This buffer publishes recorded outcomes
in batches and, once SNS has accepted one, takes its order out of the due index
(`item.published`). A crash anywhere in between leaves the order in the index, decided; the
next sweep to claim it re-publishes its outcome, rebuilt from its `outcome` record, under the
same `eventId`.
"""

from __future__ import annotations

import threading
from collections import defaultdict

from paysweep.domain import item
from paysweep.domain.outcomes import Outcome, OutcomeMessage
from paysweep.observability import logger
from paysweep.sweep.ports import ConditionFailed, OrderStore, OutcomePublisher, StoreUnavailable
from paysweep.sweep.summary import SweepSummary

BATCH_LIMIT = 10
"""Outcomes of one topic published together: what one SNS PublishBatch request takes."""

class OutboxBuffer:
    """Collects recorded outcomes from worker threads and publishes them in batches."""

    def __init__(self, publisher: OutcomePublisher, store: OrderStore, summary: SweepSummary) -> None:
        self._publisher = publisher
        self._store = store
        self._summary = summary
        self._lock = threading.Lock()
        self._pending: dict[Outcome, list[OutcomeMessage]] = defaultdict(list)

    def add(self, message: OutcomeMessage) -> None:
        """Queue a recorded outcome; a full batch is published at once by the caller's thread."""
        with self._lock:
            queue = self._pending[message.outcome]
            queue.append(message)
            batch = queue[:] if len(queue) >= BATCH_LIMIT else []
            if batch:
                queue.clear()
        if batch:
            self.publish(batch)

    def flush(self) -> None:
        with self._lock:
            batch = [message for queue in self._pending.values() for message in queue]
            self._pending.clear()
        if batch:
            self.publish(batch)

    def publish(self, messages: list[OutcomeMessage], *, confirm: bool = True) -> list[OutcomeMessage]:
        """Publish, then confirm what SNS accepted (the order leaves the due index). Returns what
        was published.

        `confirm=False` is for a compensation the table could not record: there is nothing in
        the table to confirm.
        """
        report = self._publisher.publish(messages)
        for message, code in report.failed:
            self._summary.count_error("publish")
            logger.error(
                "outcome not published; it stays in the outbox for the next sweep",
                extra={"orderId": message.order_id, "eventId": message.event_id, "error": code},
            )
        if confirm:
            for message in report.published:
                self._confirm(item.published(message.order_id, message.event_id, message.outcome.value))
        return report.published

    def _confirm(self, transition: item.Transition) -> None:
        try:
            self._store.apply(transition)
        except ConditionFailed:
            pass  # already confirmed by a concurrent re-publish: nothing left to do
        except StoreUnavailable as error:
            self._summary.count_error("outbox_clear")
            logger.warning(
                "published, but not confirmed in the table: a later sweep re-publishes it under the same eventId",
                extra={"orderId": transition.order_id, "error": error.code},
            )
