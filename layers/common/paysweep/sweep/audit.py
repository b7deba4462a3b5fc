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
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from paysweep.domain import item
from paysweep.domain.answers import PaymentAnswer
from paysweep.domain.clock import parse_iso, to_iso
from paysweep.domain.decisions import AUDITED, AuditAction, decide_audit
from paysweep.domain.orders import InvalidOrder, Order, OrderStatus, parse_order
from paysweep.domain.outcomes import Outcome, Reason, outcome_record
from paysweep.domain.schedule import audit_retry_at, next_audit_at
from paysweep.observability import logger
from paysweep.sweep.steps import OrderSteps
from paysweep.sweep.tools import SweepTools

RETRY_WINDOW = timedelta(days=1)
"""How long after its last scheduled audit an order whose provider gives no usable answer is
still asked (at the backoff's longest step), before it leaves the schedule unanswered."""


def decided_of(claimed: Mapping[str, Any]) -> tuple[tuple[Outcome, Reason | None], str, datetime] | None:
    """The published decision in the order's `outcome` record, if it is one audits question."""
    record = claimed.get(item.OUTCOME)
    if not isinstance(record, Mapping) or record.get("outcome") != claimed.get(item.STATUS):
        return None
    try:
        decided = (Outcome(str(record["outcome"])), Reason(str(record["reason"])) if record.get("reason") else None)
        return decided, str(record["eventId"]), parse_iso(record["occurredAt"])
    except (KeyError, ValueError):
        return None


class Auditor:
    """One claimed audit, on the steps of the order's flow."""

    def __init__(self, steps: OrderSteps, tools: SweepTools, claimed: Mapping[str, Any]) -> None:
        self.steps = steps
        self.tools = tools
        self.claimed = claimed
        self.audit_key = str(claimed.get(item.AUDIT_KEY))
        self.status = str(claimed.get(item.STATUS))

    def run(self) -> None:
        found = decided_of(self.claimed)
        try:
            order = parse_order(self.claimed, self.tools.adapter.profile, self.tools.config.expiry_window)
        except InvalidOrder as error:
            self._leave(f"the order is no longer valid: {error}")
            return
        if found is None or found[0] not in AUDITED:
            self._leave("the order's recorded outcome is not one audits question")
            return
        decided, event_id, decided_at = found
        self.tools.summary.count("audited")
        self.tools.summary.count("checked")
        adapter = self.tools.adapter
        answer = self.steps.call(partial(adapter.check_payment, order), PaymentAnswer)
        now = self.tools.clock()
        decision = decide_audit(
            decided, answer, can_cancel=adapter.canceller is not None, cancel_late=self.tools.config.cancel_late_payments
        )
        logger.info("order audited", extra={"decided": event_id, "state": answer.state.value,
                                            "action": decision.action.value})
        check = self.steps.check(now, "audit", answer)
        schedule = self.tools.config.audit_schedule
        if decision.action is AuditAction.NOTHING:
            self._next(order, check, next_audit_at(decided_at, now, schedule))
        elif decision.action is AuditAction.RETRY:
            retry = timedelta(seconds=self.tools.config.backoff[-1])
            self._next(order, check, audit_retry_at(decided_at, now, schedule, retry_after=retry, give_up_after=RETRY_WINDOW))
        elif decision.action is AuditAction.CANCEL:
            self._cancel(order, answer, check, now, event_id)
        elif decision.reason is None:
            raise RuntimeError("missing a correction's reason")  # the table gives every correction one
        else:
            self._correct(order, answer, check, now, event_id, decision.reason)

    def _guard(self) -> item.Leased:
        return item.Leased(self.steps.token, self.status)

    def _next(self, order: Order, check: item.Check, at: datetime | None) -> None:
        transition = item.audited(
            order.order_id, self._guard(), check=check, history=self.steps.history,
            attempts=order.attempts + self.steps.calls, next_audit_at=to_iso(at) if at else None,
        )
        if self.steps.write(transition, what="audit").done and at is None:
            logger.info("the order leaves the audit schedule")

    def _leave(self, why: str) -> None:
        """An order the audit cannot question: out of the schedule, nothing else changed."""
        logger.warning("audit skipped; the order leaves the audit schedule", extra={"problem": why})
        check = item.Check(to_iso(self.tools.clock()), "audit", "SKIPPED", detail=why)
        self.steps.write(
            item.audited(str(self.claimed.get(item.ORDER_ID)), self._guard(), check=check,
                         history=self.steps.history, attempts=item.whole(self.claimed.get(item.ATTEMPTS)),
                         next_audit_at=None),
            what="audit",
        )

    def _cancel(self, order: Order, answer: PaymentAnswer, check: item.Check, now: datetime, supersedes: str) -> None:
        """Record the late payment's cancel intent as the order's next generation, then cancel."""
        steps = self.steps
        reopened = order._replace(status=OrderStatus.CANCELLING, generation=order.generation + 1, sweep_key=self.audit_key)
        intent = steps.new_intent(reopened, Reason.LATE_PAYMENT, answer.paid, now)._replace(supersedes=supersedes)
        transition = item.reopen_for_cancel(
            order.order_id, self._guard(), check=check, history=steps.history,
            attempts=order.attempts + steps.calls, generation=reopened.generation, cancel=intent.to_item(),
            sweep_key=self.audit_key, lease_until=steps.lease_until(now),
        )
        if not steps.write(transition, what="late payment's cancel intent").done:
            return  # the audit stays due: the next sweep finds the payment again
        self.tools.summary.count("late_payments")
        self.tools.summary.count("cancels_requested")
        logger.warning("late payment: cancelling it", extra={"supersedes": supersedes, "cancelKey": intent.key})
        steps.send_cancel(reopened._replace(cancel=intent), intent)

    def _correct(
        self, order: Order, answer: PaymentAnswer, check: item.Check, now: datetime, supersedes: str, reason: Reason
    ) -> None:
        """A REVIEW that supersedes the decision, published like any outcome (the due index as
        the outbox, under the next generation's eventId)."""
        steps = self.steps
        corrected = order._replace(generation=order.generation + 1)
        message = steps.message(
            corrected, Outcome.REVIEW, reason, now, answer.paid, answer.provider_status, answer.refs, supersedes=supersedes
        )
        schedule = self.tools.config.audit_schedule
        audit = None
        if (Outcome.REVIEW, reason) in AUDITED and schedule:
            audit = (self.audit_key, to_iso(now + timedelta(seconds=schedule[0])))
        transition = item.correct(
            order.order_id, self._guard(), check=check, history=steps.history,
            attempts=order.attempts + steps.calls, generation=corrected.generation, status=Outcome.REVIEW.value,
            outcome=outcome_record(message), sweep_key=self.audit_key,
            publish_by=to_iso(now + self.tools.config.outbox_grace), audit=audit,
        )
        if not steps.write(transition, what="audit correction").done:
            return
        if reason is Reason.LATE_PAYMENT:
            self.tools.summary.count("late_payments")
        self.tools.summary.count_outcome(Outcome.REVIEW.value)
        logger.warning("audit found a change: publishing a correction",
                       extra={"reason": reason.value, "supersedes": supersedes, "eventId": message.event_id})
        self.tools.outbox.add(message)
