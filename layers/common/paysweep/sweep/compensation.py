"""The compensation protocol: what a sweep does when an approval cannot be recorded.

The integrity rule is absolute: an approval our database cannot record must be cancelled (where
a provider has no cancel API, a person must look: REVIEW). Cancelling a payment that another
sweep correctly recorded is as bad as approving a wrong one, so the order is re-read first.

When the orders table takes no writes at all, the sweep still cancels (under the order's one
stable cancel key), publishes the outcome, and writes what it did into the compensation
journal. The next sweep to claim the order finds the lease abandoned, reads the journal
first, and converges the order to it instead of asking the provider afresh.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from paysweep.domain import item
from paysweep.domain.answers import CancelAnswer, CancelIntent, CancelState, PaymentAnswer
from paysweep.domain.clock import to_iso
from paysweep.domain.orders import TERMINAL_STATUSES, InvalidOrder, Order, OrderStatus, parse_order
from paysweep.domain.outcomes import Outcome, OutcomeMessage, Reason, outcome_record
from paysweep.observability import logger
from paysweep.sweep.ports import (
    Compensation,
    ConditionFailed,
    JournalTarget,
    StoreError,
    StoreUnavailable,
)
from paysweep.sweep.steps import OrderSteps, Written
from paysweep.sweep.tools import SweepTools

JOURNAL_RETENTION = timedelta(days=14)
"""How long a journal entry outlives the order's expiry (DynamoDB TTL)."""


class Compensator:
    """The compensation protocol for one claimed order."""

    def __init__(self, steps: OrderSteps, tools: SweepTools) -> None:
        self.steps = steps
        self.tools = tools

    # -- an approval the table did not take -----------------------------------------------

    def approval_not_recorded(self, order: Order, answer: PaymentAnswer, now: datetime, written: Written) -> None:
        """First look at the order as it is: if the approval was recorded after all (the write
        happened and only its answer was lost), or another sweep recorded it or owns the order
        now, there is nothing to compensate, and cancelling would destroy a correct approval.
        A refused write already says how the order is; otherwise it is read again."""
        current = written.refusal.current if written.refusal is not None else None
        if current is None:
            try:
                current = self.tools.store.read(order.order_id)
            except StoreUnavailable:
                logger.warning("cannot re-read the order after the failed approval write")
        if current is not None and self._someone_else_decides(current, now):
            return
        self.tools.summary.count_error("db_update_failed")
        logger.error("the approval could not be recorded: compensating (DB_UPDATE_FAILED)")
        if self.tools.adapter.canceller is None:
            self._without_cancel(order, answer, now)
        else:
            self._with_cancel(order, answer, now)

    def _someone_else_decides(self, current: dict[str, Any], now: datetime) -> bool:
        status = current.get(item.STATUS)
        if status == OrderStatus.APPROVED.value:
            logger.info("another sweep already recorded this approval: nothing to compensate")
            return True
        if status != OrderStatus.PENDING.value:
            logger.info("another sweep has moved this order on: nothing to compensate", extra={"status": status})
            return True
        if current.get(item.LEASE_OWNER) != self.steps.token and item.live_lease(current, to_iso(now)):
            logger.info("another sweep holds this order's lease and will decide it: nothing to compensate")
            return True
        return False

    def _with_cancel(self, order: Order, answer: PaymentAnswer, now: datetime) -> None:
        steps = self.steps
        intent = steps.new_intent(order, Reason.DB_UPDATE_FAILED, answer.paid, now)
        cancelling = order._replace(status=OrderStatus.CANCELLING, cancel=intent)
        recorded = steps.write(
            item.keep_leased(
                order.order_id, item.LeasedOrFree(steps.token, OrderStatus.PENDING.value, to_iso(now)),
                check=steps.check(now, "status", answer), history=steps.history,
                attempts=order.attempts + steps.calls, lease_until=steps.lease_until(now),
                status=OrderStatus.CANCELLING, cancel=intent.to_item(),
            ),
            what="compensation",
        )
        if self._refused(recorded, now):
            return
        self.tools.summary.count("cancels_requested")
        if recorded.done:
            steps.send_cancel(cancelling, intent)
            return
        # The table takes no writes at all. Cancel anyway, under the order's one cancel key, and
        # tell subscribers now. The journal hears of the cancel before the provider does: a crash
        # after the cancel still leaves the record the next sweep converges the table to. No
        # lease covers this call: the write that would have kept it is the one that failed.
        journaled = steps.message(order, Outcome.CANCELLED, Reason.DB_UPDATE_FAILED, now, answer.paid, answer.provider_status, {})
        self._journal(order, journaled, JournalTarget.CANCELLING, intent, now)
        reply = steps.call(lambda: steps.canceller.request_cancel(cancelling, intent), CancelAnswer, under_lease=False)
        refs = steps.canceller.cancel_refs(reply.reference) if reply.reference else {}
        if reply.state is CancelState.REFUSED:
            # The journaled intent converges to this same REVIEW: the cancel, re-sent under its
            # key, is refused again.
            message = steps.message(order, Outcome.REVIEW, Reason.CANCEL_REFUSED, now, answer.paid, reply.provider_status, refs)
        else:
            message = steps.message(order, Outcome.CANCELLED, Reason.DB_UPDATE_FAILED, now, answer.paid, answer.provider_status, refs)
        self._publish_unrecorded(message)

    def _without_cancel(self, order: Order, answer: PaymentAnswer, now: datetime) -> None:
        """No cancel API: a person must look. REVIEW, never APPROVED."""
        steps = self.steps
        message = steps.message(order, Outcome.REVIEW, Reason.DB_UPDATE_FAILED, now, answer.paid, answer.provider_status, answer.refs)
        recorded = steps.record_terminal(order, message, steps.check(now, "status", answer), free_lease_ok=True)
        if recorded.done or self._refused(recorded, now):
            return
        self._journal(order, message, JournalTarget.REVIEW, None, now)
        self._publish_unrecorded(message)

    def _refused(self, written: Written, now: datetime) -> bool:
        """A compensation's own write refused by its guard: the order is no longer the pending,
        unowned one it was (our approval was recorded after all, or another sweep decides it).
        The table is writable, so it is not this protocol's case: nothing more to do."""
        if written.refusal is None:
            return False
        current = written.refusal.current
        logger.warning(
            "the compensation's write was refused: the order has moved on; nothing to compensate",
            extra={"status": current.get(item.STATUS) if current else None},
        )
        return True

    def _journal(
        self, order: Order, message: OutcomeMessage, target: JournalTarget, intent: CancelIntent | None, now: datetime
    ) -> None:
        """What the sweep does for the order, where the next sweep will look for it."""
        entry = Compensation(
            order_id=order.order_id,
            target=target,
            message=message,
            intent=intent,
            created_at=to_iso(now),
            expires_at_epoch=int((max(order.expires_at, now) + JOURNAL_RETENTION).timestamp()),
        )
        try:
            self.tools.journal.record(entry)
        except ConditionFailed:
            logger.warning("a compensation for this order is already journaled; keeping the first")
        except StoreUnavailable as error:
            self.tools.summary.count_error("journal_unwritable")
            logger.critical(
                "compensation could not be journaled: the published outcome is the only record; an operator "
                "must reconcile this order",
                extra={"eventId": message.event_id, "error": error.code},
            )

    def _publish_unrecorded(self, message: OutcomeMessage) -> None:
        """An outcome the orders table could not record: published at once, with no marker to
        clear (the journal holds it until the table does)."""
        self.tools.summary.count_outcome(message.outcome.value)
        self.tools.outbox.publish([message], confirm=False)

    # -- after an abandoned lease ---------------------------------------------------------

    def converged_from_journal(self, claimed: Mapping[str, Any]) -> bool:
        """After an abandoned lease: converge to what the journal says, if it says anything.
        True when the order needs nothing more from this sweep."""
        order_id = str(claimed.get(item.ORDER_ID))
        try:
            entry = self.tools.journal.find(order_id)
        except StoreUnavailable as error:
            self.tools.summary.count_error("journal_read")
            logger.warning("cannot read the compensation journal; the order waits for the next sweep", extra={"error": error.code})
            return True
        if entry is None:
            return False
        status = claimed.get(item.STATUS)
        outcome = claimed.get(item.OUTCOME)
        recorded = outcome.get("eventId") if isinstance(outcome, Mapping) else None
        if status in TERMINAL_STATUSES and item.unpublished(claimed) and recorded != entry.message.event_id:
            return self._supersede(claimed, entry)
        if status != OrderStatus.PENDING.value:
            self._resolve(order_id)
            return False
        try:
            order = parse_order(claimed, self.tools.adapter.profile, self.tools.config.expiry_window)
        except InvalidOrder:
            return False
        now = self.tools.clock()
        logger.warning("converging the order to its journaled compensation", extra={"target": entry.target.value})
        check = item.Check(to_iso(now), "journal", entry.target.value, detail=entry.message.event_id)
        if entry.target is JournalTarget.REVIEW:
            if self.steps.record_terminal(order, entry.message, check).done:
                self._resolve(order_id)
            return True
        if entry.intent is None:
            raise RuntimeError("a journaled cancel must carry its intent")
        converged = item.keep_leased(
            order_id, item.Leased(self.steps.token, OrderStatus.PENDING.value),
            check=check, history=self.steps.history, attempts=None,
            lease_until=self.steps.lease_until(now), status=OrderStatus.CANCELLING, cancel=entry.intent.to_item(),
        )
        if self.steps.write(converged, what="journal convergence").done:
            self._resolve(order_id)
            self.steps.continue_cancel(order._replace(status=OrderStatus.CANCELLING, cancel=entry.intent))
        return True

    def _supersede(self, claimed: Mapping[str, Any], entry: Compensation) -> bool:
        """A decided order whose outcome was never published, while the journal holds what the
        sweep did instead (`item.supersede`): the journal wins before anyone hears otherwise."""
        order_id, status = str(claimed[item.ORDER_ID]), str(claimed[item.STATUS])
        now = self.tools.clock()
        logger.warning("the compensation journal supersedes an unpublished outcome",
                       extra={"recorded": status, "journaled": entry.message.event_id})
        guard = item.Leased(self.steps.token, status)
        if entry.target is JournalTarget.CANCELLING:
            if entry.intent is None:
                raise RuntimeError("a journaled cancel must carry its intent")
            transition = item.supersede(
                order_id, guard, history=self.steps.history, now=to_iso(now), target=OrderStatus.CANCELLING,
                event_id=entry.message.event_id, cancel=entry.intent.to_item(),
            )
            if self.steps.write(transition, what="journal supersede").done:
                self._resolve(order_id)
            return True
        transition = item.supersede(
            order_id, guard, history=self.steps.history, now=to_iso(now), target=OrderStatus.REVIEW,
            event_id=entry.message.event_id, outcome=outcome_record(entry.message),
            publish_by=to_iso(now + self.tools.config.outbox_grace),
        )
        if self.steps.write(transition, what="journal supersede").done:
            self._resolve(order_id)
            self.tools.outbox.add(entry.message)
        return True

    def _resolve(self, order_id: str) -> None:
        try:
            self.tools.journal.resolve(order_id)
        except StoreError:
            logger.warning("journal entry not removed; it is consulted again after the next abandoned lease")
