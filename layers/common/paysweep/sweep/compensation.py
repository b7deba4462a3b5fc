"""The compensation protocol: what a sweep does when an approval cannot be recorded.

The integrity rule is absolute: an approval our database cannot record must be cancelled (where
a provider has no cancel API, a person must look: REVIEW). Cancelling a payment that another
sweep correctly recorded is as bad as approving a wrong one, so the order is re-read first.

When the orders table takes no writes at all, the sweep still cancels (under the order's one
stable cancel key), publishes the outcome, and writes what it did into the compensation
journal. The next sweep to claim the order finds the lease abandoned, reads the journal
first, and converges the order to it instead of asking the provider afresh.

The protocol writes the order only through its lease (`lease.OrderLease`) and calls nothing of
the order's flow: a cancel it recorded goes back to the flow as a `Cancel`, to send or confirm.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import NamedTuple

from paysweep.domain import item
from paysweep.domain.answers import CancelAnswer, CancelIntent, CancelState, PaymentAnswer
from paysweep.domain.clock import to_iso
from paysweep.domain.orders import InvalidOrder, Order, OrderStatus
from paysweep.domain.outcomes import Outcome, OutcomeMessage, Reason, outcome_record
from paysweep.observability import logger
from paysweep.sweep.lease import OrderLease
from paysweep.sweep.ports import (
    Canceller,
    Compensation,
    ConditionFailed,
    JournalTarget,
    StoreError,
    StoreUnavailable,
)
from paysweep.sweep.steps import Cancel, Written, check_of, new_intent, outcome_message, required
from paysweep.sweep.tools import SweepTools

JOURNAL_RETENTION = timedelta(days=14)
"""How long a journal entry outlives the order's expiry (DynamoDB TTL)."""


class Converged(NamedTuple):
    """The journal held a compensation and the order followed it: nothing more for this sweep,
    or the cancel the flow confirms next."""

    cancel: Cancel | None = None


class Compensator:
    """The compensation protocol for one claimed order, on its lease."""

    def __init__(self, tools: SweepTools, lease: OrderLease) -> None:
        self.tools = tools
        self.lease = lease

    # -- an approval the table did not take -----------------------------------------------

    def approval_not_recorded(self, order: Order, answer: PaymentAnswer, now: datetime, written: Written) -> Cancel | None:
        """First look at the order as it is: if the approval was recorded after all (the write
        happened and only its answer was lost), or another sweep recorded it or owns the order
        now, there is nothing to compensate, and cancelling would destroy a correct approval.
        A refused write already says how the order is; otherwise it is read again.

        Returns the cancel the flow sends, when the compensation recorded one."""
        current = written.refusal.current if written.refusal is not None else None
        if current is None:
            try:
                current = self.lease.reread()
            except StoreUnavailable:
                logger.warning("cannot re-read the order after the failed approval write")
        if current is not None and self._someone_else_decides(current, now):
            return None
        self.tools.summary.count_error("db_update_failed")
        logger.error("the approval could not be recorded: compensating (DB_UPDATE_FAILED)")
        canceller = self.tools.adapter.canceller
        if canceller is None or not answer.can_cancel(canceller):
            self._without_cancel(order, answer, now)
            return None
        return self._with_cancel(canceller, order, answer, now)

    def _someone_else_decides(self, current: item.StoredOrder, now: datetime) -> bool:
        status = current.status
        if status == OrderStatus.APPROVED.value:
            logger.info("another sweep already recorded this approval: nothing to compensate")
            return True
        if status != OrderStatus.PENDING.value:
            logger.info("another sweep has moved this order on: nothing to compensate", extra={"status": status})
            return True
        if current.lease_owner != self.lease.token and current.live_lease(to_iso(now)):
            logger.info("another sweep holds this order's lease and will decide it: nothing to compensate")
            return True
        return False

    def _with_cancel(self, canceller: Canceller, order: Order, answer: PaymentAnswer, now: datetime) -> Cancel | None:
        lease = self.lease
        intent = new_intent(canceller, order, Reason.DB_UPDATE_FAILED, answer.paid, now, self.tools.config)
        cancelling = order._replace(status=OrderStatus.CANCELLING, cancel=intent)
        recorded = lease.write(
            item.keep_leased(
                order.order_id, lease.guard_or_free(OrderStatus.PENDING.value, now),
                check=check_of(now, "status", answer), history=lease.history,
                attempts=self._attempts(order), lease_until=lease.lease_until(now),
                status=OrderStatus.CANCELLING, cancel=intent.to_item(),
            ),
            what="compensation",
        )
        if self._refused(recorded, now):
            return None
        self.tools.summary.count("cancels_requested")
        if recorded.done:
            return Cancel(cancelling, send=True)
        # The table takes no writes at all. Cancel anyway, under the order's one cancel key, and
        # tell subscribers now. The journal hears of the cancel before the provider does: a crash
        # after the cancel still leaves the record the next sweep converges the table to. No
        # lease covers this call: the write that would have kept it is the one that failed.
        journaled = self._message(order, Outcome.CANCELLED, Reason.DB_UPDATE_FAILED, now, answer, {})
        self._journal(order, journaled, JournalTarget.CANCELLING, intent, now)
        reply = lease.call(lambda: canceller.request_cancel(cancelling, intent), CancelAnswer, under_lease=False)
        refs = canceller.cancel_refs(reply.reference) if reply.reference else {}
        if reply.state is CancelState.REFUSED:
            # The journaled intent converges to this same REVIEW: the cancel, re-sent under its
            # key, is refused again.
            message = self._message(order, Outcome.REVIEW, Reason.CANCEL_REFUSED, now, answer, refs, refused=reply)
        else:
            message = self._message(order, Outcome.CANCELLED, Reason.DB_UPDATE_FAILED, now, answer, refs)
        self._publish_unrecorded(message)
        return None

    def _without_cancel(self, order: Order, answer: PaymentAnswer, now: datetime) -> None:
        """No cancel API: a person must look. REVIEW, never APPROVED."""
        message = self._message(order, Outcome.REVIEW, Reason.DB_UPDATE_FAILED, now, answer, answer.refs)
        recorded = self.lease.record(message, check_of(now, "status", answer), attempts=self._attempts(order),
                                     guard=self.lease.guard_or_free(order.status.value, now))
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
            extra={"status": current.status if current else None},
        )
        return True

    def _attempts(self, order: Order) -> int:
        return order.attempts + self.lease.calls

    def _message(
        self, order: Order, outcome: Outcome, reason: Reason, now: datetime, answer: PaymentAnswer,
        refs: Mapping[str, str], *, refused: CancelAnswer | None = None,
    ) -> OutcomeMessage:
        """A compensation's outcome: what the provider reported paid, with the approval's status
        (a refused cancel's, for the REVIEW it ends in), and the provider's references."""
        status = refused.provider_status if refused is not None else answer.provider_status
        return outcome_message(order, outcome, reason, now, answer.paid, status, refs, attempts=self._attempts(order))

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

    def converged_from_journal(self, claimed: item.StoredOrder) -> Converged | None:
        """After an abandoned lease: converge to what the journal says, if it says anything.
        None when it says nothing and the order goes its usual way; else what the flow still
        does (a cancel to confirm), if anything."""
        order_id = claimed.order_id
        try:
            entry = self.tools.journal.find(order_id)
        except StoreUnavailable as error:
            self.tools.summary.count_error("journal_read")
            logger.warning("cannot read the compensation journal; the order waits for the next sweep", extra={"error": error.code})
            return Converged()
        if entry is None:
            return None
        if claimed.unpublished and claimed.recorded_event_id != entry.message.event_id:
            self._supersede(claimed, entry)
            return Converged()
        if claimed.status != OrderStatus.PENDING.value:
            self._resolve(order_id)
            return None
        try:
            order = claimed.order(self.tools.adapter.profile, self.tools.config.expiry_window)
        except InvalidOrder:
            return None
        return self._converge(order, entry)

    def _converge(self, order: Order, entry: Compensation) -> Converged:
        """A pending order to its journaled compensation: REVIEW recorded, or CANCELLING with the
        journaled intent (whose cancel the flow confirms next)."""
        lease, now = self.lease, self.tools.clock()
        logger.warning("converging the order to its journaled compensation", extra={"target": entry.target.value})
        check = item.Check(to_iso(now), "journal", entry.target.value, detail=entry.message.event_id)
        if entry.target is JournalTarget.REVIEW:
            if lease.record(entry.message, check, attempts=self._attempts(order), guard=lease.guard(order.status.value)).done:
                self._resolve(order.order_id)
            return Converged()
        intent = required(entry.intent, "a journaled cancel's intent")
        converged = item.keep_leased(
            order.order_id, lease.guard(OrderStatus.PENDING.value),
            check=check, history=lease.history, attempts=None,
            lease_until=lease.lease_until(now), status=OrderStatus.CANCELLING, cancel=intent.to_item(),
        )
        if not lease.write(converged, what="journal convergence").done:
            return Converged()
        self._resolve(order.order_id)
        return Converged(Cancel(order._replace(status=OrderStatus.CANCELLING, cancel=intent), send=False))

    def _supersede(self, claimed: item.StoredOrder, entry: Compensation) -> None:
        """A decided order whose outcome was never published, while the journal holds what the
        sweep did instead (`item.supersede`): the journal wins before anyone hears otherwise."""
        lease, now = self.lease, self.tools.clock()
        order_id, status = claimed.order_id, str(claimed.status)
        logger.warning("the compensation journal supersedes an unpublished outcome",
                       extra={"recorded": status, "journaled": entry.message.event_id})
        if entry.target is JournalTarget.CANCELLING:
            transition = item.supersede(
                order_id, lease.guard(status), history=lease.history, now=to_iso(now), target=OrderStatus.CANCELLING,
                event_id=entry.message.event_id, cancel=required(entry.intent, "a journaled cancel's intent").to_item(),
            )
            if lease.write(transition, what="journal supersede").done:
                self._resolve(order_id)
            return
        transition = item.supersede(
            order_id, lease.guard(status), history=lease.history, now=to_iso(now), target=OrderStatus.REVIEW,
            event_id=entry.message.event_id, outcome=outcome_record(entry.message),
            publish_by=to_iso(now + self.tools.config.outbox_grace),
        )
        if lease.write(transition, what="journal supersede").done:
            self._resolve(order_id)
            self.tools.outbox.add(entry.message)

    def _resolve(self, order_id: str) -> None:
        try:
            self.tools.journal.resolve(order_id)
        except StoreError:
            logger.warning("journal entry not removed; it is consulted again after the next abandoned lease")
