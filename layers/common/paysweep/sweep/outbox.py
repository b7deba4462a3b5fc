"""The outbox: outcomes recorded with the transition, published after, cleared last.

A terminal transition writes the outcome message into the order in the same conditional
write (the outbox marker). This buffer publishes markers in batches and clears each one
once SNS has accepted it. A crash anywhere in between leaves the marker, and the next
sweep re-publishes it under the same `eventId` (`republish_backlog`).
"""

from __future__ import annotations

import threading
from collections import defaultdict

from paysweep.domain.item import clear_outbox
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

    def publish(self, messages: list[OutcomeMessage], *, recorded: bool = True) -> list[OutcomeMessage]:
        """Publish, then clear the markers of what SNS accepted. Returns what was published.

        `recorded=False` is for a compensation the table could not record: there is no
        marker to clear.
        """
        report = self._publisher.publish(messages)
        for message, code in report.failed:
            self._summary.count_error("publish")
            logger.error(
                "outcome not published; it stays in the outbox for the next sweep",
                extra={"orderId": message.order_id, "eventId": message.event_id, "error": code},
            )
        for message in report.published if recorded else ():
            self._clear(message)
        return report.published

    def _clear(self, message: OutcomeMessage) -> None:
        try:
            self._store.apply(clear_outbox(message.order_id, message.event_id))
        except ConditionFailed:
            pass  # already cleared by a concurrent re-publish: nothing left to do
        except StoreUnavailable as error:
            self._summary.count_error("outbox_clear")
            logger.warning(
                "published, but the outbox marker was not cleared: a later sweep re-publishes it "
                "under the same eventId",
                extra={"orderId": message.order_id, "eventId": message.event_id, "error": error.code},
            )
