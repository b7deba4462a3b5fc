"""Audits: a published decision the provider's books can still overturn, asked again.

An order decided FAILED `EXPIRED` (a WeChat QR paid at the last moment, a deposit into an
expired virtual account) or REVIEW `UNKNOWN_PROVIDER_STATE` (the provider gave no answer in
time), or whose follow-up REVIEW says the provider now reports it unpaid (`EXPIRED`), enters the sparse audit index when it is decided (`item.decide`), apart from the due
index, and is audited once its outcome is published. After the due orders, a sweep claims the
audits that are due under the same lease, rate limit and deadline rules as any order, and asks
the provider again (`decisions.decide_audit`):
- nothing changed: the next audit of AUDIT_SCHEDULE_SECONDS, or out of the schedule for good;
- no usable answer: asked again soon, for a day past the last audit (a doubt is never a finding);
- a late payment the provider can cancel: the order reopens as a cancelling order of its next
  generation (`item.reopen_for_cancel`) and goes the usual way of a cancel (intent recorded
  before the call, one key, confirmed by polling); its outcome supersedes the decision;
- anything else worth saying: a REVIEW correction (`item.correct`) superseding the decision;
  a follow-up REVIEW `EXPIRED` is audited in turn, on the schedule from its own time.

An audit reads the order as a `StoredOrder`, writes it only through its lease, and hands a late
payment's cancel back to the order's flow (a `Cancel`) to send: it calls nothing of the flow.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial

from paysweep.domain import item
from paysweep.domain.answers import PaymentAnswer
from paysweep.domain.clock import to_iso
from paysweep.domain.decisions import AUDITED, AuditAction, decide_audit
from paysweep.domain.orders import InvalidOrder, Order, OrderStatus
from paysweep.domain.outcomes import Outcome, Reason, outcome_record
from paysweep.domain.schedule import audit_retry_at, next_audit_at
from paysweep.observability import logger
from paysweep.sweep.lease import OrderLease
from paysweep.sweep.steps import Cancel, check_of, new_intent, outcome_message, required
from paysweep.sweep.tools import SweepTools

RETRY_WINDOW = timedelta(days=1)
"""How long after its last scheduled audit an order whose provider gives no usable answer is
still asked (at the backoff's longest step), before it leaves the schedule unanswered."""


class Auditor:
    """One claimed audit, on the order's lease."""

    def __init__(self, tools: SweepTools, lease: OrderLease, claimed: item.StoredOrder) -> None:
        self.tools = tools
        self.lease = lease
        self.claimed = claimed
        self.audit_key = str(claimed.audit_key)
        self.status = str(claimed.status)

    def run(self) -> Cancel | None:
        """Ask the provider again and record what it says; a late payment to cancel comes back
        as the cancel for the flow to send."""
        found = self.claimed.decision
        try:
            order = self.claimed.order(self.tools.adapter.profile, self.tools.config.expiry_window)
        except InvalidOrder as error:
            self._leave(f"the order is no longer valid: {error}")
            return None
        if found is None or (found.outcome, found.reason) not in AUDITED:
            self._leave("the order's recorded outcome is not one audits question")
            return None
        self.tools.summary.count("audited")
        self.tools.summary.count("checked")
        adapter = self.tools.adapter
        answer = self.lease.call(partial(adapter.check_payment, order), PaymentAnswer)
        now = self.tools.clock()
        decision = decide_audit(
            (found.outcome, found.reason), answer,
            can_cancel=answer.can_cancel(adapter.canceller), cancel_late=self.tools.config.cancel_late_payments,
        )
        logger.info("order audited", extra={"decided": found.event_id, "state": answer.state.value,
                                            "action": decision.action.value})
        check = check_of(now, "audit", answer)
        schedule = self.tools.config.audit_schedule
        if decision.action is AuditAction.NOTHING:
            self._next(order, check, next_audit_at(found.at, now, schedule))
        elif decision.action is AuditAction.RETRY:
            retry = timedelta(seconds=self.tools.config.backoff[-1])
            self._next(order, check, audit_retry_at(found.at, now, schedule, retry_after=retry, give_up_after=RETRY_WINDOW))
        elif decision.action is AuditAction.CANCEL:
            return self._cancel(order, answer, check, now, found.event_id)
        else:
            reason = required(decision.reason, "a correction's reason")  # the table gives every correction one
            self._correct(order, answer, check, now, found.event_id, reason)
        return None

    def _next(self, order: Order, check: item.Check, at: datetime | None) -> None:
        lease = self.lease
        transition = item.audited(
            order.order_id, lease.guard(self.status), check=check, history=lease.history,
            attempts=order.attempts + lease.calls, next_audit_at=to_iso(at) if at else None,
        )
        if lease.write(transition, what="audit").done and at is None:
            logger.info("the order leaves the audit schedule")

    def _leave(self, why: str) -> None:
        """An order the audit cannot question: out of the schedule, nothing else changed."""
        logger.warning("audit skipped; the order leaves the audit schedule", extra={"problem": why})
        lease = self.lease
        check = item.Check(to_iso(self.tools.clock()), "audit", "SKIPPED", detail=why)
        lease.write(
            item.audited(self.claimed.order_id, lease.guard(self.status), check=check, history=lease.history,
                         attempts=self.claimed.attempts, next_audit_at=None),
            what="audit",
        )

    def _cancel(self, order: Order, answer: PaymentAnswer, check: item.Check, now: datetime, supersedes: str) -> Cancel | None:
        """Record the late payment's cancel intent as the order's next generation; the flow then
        sends the cancel."""
        lease = self.lease
        canceller = required(self.tools.adapter.canceller, "a canceller (only providers with one cancel late payments)")
        reopened = order._replace(status=OrderStatus.CANCELLING, generation=order.generation + 1, sweep_key=self.audit_key)
        intent = new_intent(canceller, reopened, Reason.LATE_PAYMENT, answer.paid, now, self.tools.config)
        intent = intent._replace(supersedes=supersedes)
        transition = item.reopen_for_cancel(
            order.order_id, lease.guard(self.status), check=check, history=lease.history,
            attempts=order.attempts + lease.calls, generation=reopened.generation, cancel=intent.to_item(),
            sweep_key=self.audit_key, lease_until=lease.lease_until(now),
        )
        if not lease.write(transition, what="late payment's cancel intent").done:
            return None  # the audit stays due: the next sweep finds the payment again
        self.tools.summary.count("late_payments")
        self.tools.summary.count("cancels_requested")
        logger.warning("late payment: cancelling it", extra={"supersedes": supersedes, "cancelKey": intent.key})
        return Cancel(reopened._replace(cancel=intent), send=True)

    def _correct(
        self, order: Order, answer: PaymentAnswer, check: item.Check, now: datetime, supersedes: str, reason: Reason
    ) -> None:
        """A REVIEW that supersedes the decision, published like any outcome (the due index as
        the outbox, under the next generation's eventId)."""
        lease = self.lease
        corrected = order._replace(generation=order.generation + 1)
        message = outcome_message(
            corrected, Outcome.REVIEW, reason, now, answer.paid, answer.provider_status, answer.refs,
            attempts=order.attempts + lease.calls, supersedes=supersedes,
        )
        schedule = self.tools.config.audit_schedule
        audit = None
        if (Outcome.REVIEW, reason) in AUDITED and schedule:
            audit = (self.audit_key, to_iso(now + timedelta(seconds=schedule[0])))
        transition = item.correct(
            order.order_id, lease.guard(self.status), check=check, history=lease.history,
            attempts=order.attempts + lease.calls, generation=corrected.generation, status=Outcome.REVIEW.value,
            outcome=outcome_record(message), sweep_key=self.audit_key,
            publish_by=to_iso(now + self.tools.config.outbox_grace), audit=audit,
        )
        if not lease.write(transition, what="audit correction").done:
            return
        if reason is Reason.LATE_PAYMENT:
            self.tools.summary.count("late_payments")
        self.tools.summary.count_outcome(Outcome.REVIEW.value)
        logger.warning("audit found a change: publishing a correction",
                       extra={"reason": reason.value, "supersedes": supersedes, "eventId": message.event_id})
        self.tools.outbox.add(message)
