"""Everything done to one claimed order, on one worker, under one lease.

The flow per order:
- an abandoned previous lease: consult the compensation journal first (`compensation`);
- a decided order still in the due index: re-publish its outcome (the outbox);
- an invalid item: REVIEW `INVALID_ORDER`, once;
- PENDING: query the provider, decide (pure table), then reschedule, finalise, or record a
  cancel intent and request the cancel;
- CANCELLING: confirm the cancel (re-sending it under the same key while the payment is
  still approved), then finalise or reschedule.
A claimed audit goes to its `audit.Auditor`.

The order is read as a `StoredOrder` and written only through its `OrderLease`. A compensation
or an audit gets the lease, never this flow: each returns what the flow carries on with (a
`Cancel` to send or confirm), so calls run one way, flow -> compensation or audit -> lease.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from functools import partial

from paysweep.domain import item
from paysweep.domain.answers import CancelAnswer, CancelIntent, CancelState, PaymentAnswer, ReportedAmount
from paysweep.domain.clock import parse_iso, to_iso
from paysweep.domain.decisions import Action, Decision, decide_cancel, decide_payment, phase_of
from paysweep.domain.orders import InvalidOrder, Order, OrderStatus
from paysweep.domain.outcomes import IncompleteRecord, Outcome, OutcomeMessage, Reason, build_message
from paysweep.domain.schedule import next_check_at
from paysweep.observability import logger, merchant_log_context
from paysweep.sweep.audit import Auditor
from paysweep.sweep.compensation import Compensator
from paysweep.sweep.lease import OrderLease, answer_log
from paysweep.sweep.ports import Canceller
from paysweep.sweep.steps import Cancel, LeaseLapsed, Written, check_of, new_intent, outcome_message, required
from paysweep.sweep.tools import SweepTools


class OrderFlow:
    def __init__(self, tools: SweepTools, lease: OrderLease, claimed: item.StoredOrder, *, abandoned_lease: bool) -> None:
        self.tools = tools
        self.config = tools.config
        self.lease = lease
        self.claimed = claimed
        self.abandoned_lease = abandoned_lease
        self.compensation = Compensator(tools, lease)

    # -- entry points --------------------------------------------------------------------

    def run(self) -> None:
        self._under_lease(self._run)

    def audit(self) -> None:
        """A claimed audit of a decided order (`paysweep.sweep.audit`)."""
        self._under_lease(lambda: self._carry_on(Auditor(self.tools, self.lease, self.claimed).run()))

    def _under_lease(self, work: Callable[[], None]) -> None:
        try:
            with merchant_log_context(self.claimed.merchant_id):
                work()
        except LeaseLapsed as lapsed:
            self.tools.summary.count_error("lease_lapsed")
            logger.warning("stopped working on the order: its lease ran out; it is due again", extra={"detail": str(lapsed)})

    def _run(self) -> None:
        if self.abandoned_lease:
            converged = self.compensation.converged_from_journal(self.claimed)
            if converged is not None:
                self._carry_on(converged.cancel)
                return
        if self.claimed.decided:
            self._publish_recorded()
            return
        try:
            order = self.claimed.order(self.tools.adapter.profile, self.config.expiry_window)
        except InvalidOrder as error:
            self._reject(error)
            return
        unusable = self.tools.accounts.account_problem(order.merchant_id)
        if unusable is not None:
            self._reject(InvalidOrder(order.order_id, [unusable]))
            return
        self.tools.summary.count("checked")
        if order.status is OrderStatus.CANCELLING:
            self.continue_cancel(order)
        else:
            self._check_payment(order)

    def _carry_on(self, cancel: Cancel | None) -> None:
        """The cancel a compensation or an audit recorded: sent, or confirmed."""
        if cancel is None:
            return
        if cancel.send and cancel.order.cancel is not None:
            self.send_cancel(cancel.order, cancel.order.cancel)
        else:
            self.continue_cancel(cancel.order)

    # -- pending orders ------------------------------------------------------------------

    def _check_payment(self, order: Order) -> None:
        adapter = self.tools.adapter
        answer = self.lease.call(partial(adapter.check_payment, order), PaymentAnswer)
        now = self.tools.clock()
        phase = phase_of(order, now, grace=self.config.expiry_grace, final_retry=self.config.final_retry)
        decision = decide_payment(order, answer, phase=phase, can_cancel=answer.can_cancel(adapter.canceller))
        logger.info("order checked", extra={"answer": answer_log(answer), "decision": _decision_log(decision)})
        check = check_of(now, "status", answer)
        if decision.action is Action.POLL:
            final_check = order.expires_at + self.config.expiry_grace
            self._reschedule(order, check, now, final_check=final_check, give_up=final_check + self.config.final_retry)
        elif decision.action is Action.CANCEL:
            self._start_cancel(order, required(decision.reason, "a cancel decision's reason"), answer.paid, check, now)
        else:
            outcome = required(decision.outcome, "a final decision's outcome")
            message = self._message(order, outcome, decision.reason, now, answer.paid, answer.provider_status, answer.refs)
            recorded = self._record(order, message, check)
            if not recorded.done and outcome is Outcome.APPROVED:
                self._carry_on(self.compensation.approval_not_recorded(order, answer, now, recorded))

    # -- cancellations -------------------------------------------------------------------

    @property
    def canceller(self) -> Canceller:
        return required(self.tools.adapter.canceller, "a canceller (only providers with one get cancel decisions)")

    def _start_cancel(self, order: Order, reason: Reason, paid: ReportedAmount | None, check: item.Check, now: datetime) -> None:
        """Record the cancel intent (its stable key and date) before calling the provider."""
        intent = new_intent(self.canceller, order, reason, paid, now, self.config)
        recorded = self.lease.write(
            item.keep_leased(
                order.order_id, self.lease.guard(OrderStatus.PENDING.value),
                check=check, history=self.lease.history, attempts=self._attempts(order),
                lease_until=self.lease.lease_until(now), status=OrderStatus.CANCELLING, cancel=intent.to_item(),
            ),
            what="cancel intent",
        )
        if not recorded.done:
            logger.error(
                "integrity failure found but the cancel intent could not be recorded; the next sweep finds it "
                "again and cancels under the same key",
                extra={"reason": reason.value},
            )
            return
        order = order._replace(status=OrderStatus.CANCELLING, cancel=intent)
        self.tools.summary.count("cancels_requested")
        logger.warning("integrity failure: cancelling the payment", extra={"reason": reason.value, "cancelKey": intent.key})
        self.send_cancel(order, intent)

    def send_cancel(self, order: Order, intent: CancelIntent) -> None:
        if self.tools.out_of_time():
            logger.info("no time left for the cancel call: the next sweep sends it under the same key")
            return
        answer = self.lease.call(partial(self.canceller.request_cancel, order, intent), CancelAnswer)
        intent = intent._replace(sends=intent.sends + 1, reference=answer.reference or intent.reference)
        self._after_cancel(order, intent, answer, "cancel")

    def continue_cancel(self, order: Order) -> None:
        intent = order.cancel
        if self.tools.adapter.canceller is None or intent is None:
            self._reject(InvalidOrder(order.order_id, ["status CANCELLING without a cancel record this provider can use"]))
            return
        answer = self.lease.call(partial(self.canceller.confirm_cancel, order, intent), CancelAnswer)
        now = self.tools.clock()
        still_approved = answer.state is CancelState.PENDING and intent.reference is None
        if still_approved and now < parse_iso(intent.deadline) and not self.tools.out_of_time():
            # The payment is still approved: our cancel never took effect. Send it again with
            # the same key and the initial date, as a provider requires of a retried cancel.
            renewed = item.keep_leased(
                order.order_id, self.lease.guard(OrderStatus.CANCELLING.value),
                check=check_of(now, "cancel_confirm", answer), history=self.lease.history,
                attempts=self._attempts(order), lease_until=self.lease.lease_until(now),
            )
            if self.lease.write(renewed, what="lease renewal").done:
                self.send_cancel(order, intent)
            return
        intent = intent._replace(reference=answer.reference or intent.reference, confirms=intent.confirms + 1)
        self._after_cancel(order, intent, answer, "cancel_confirm")

    def _after_cancel(self, order: Order, intent: CancelIntent, answer: CancelAnswer, kind: str) -> None:
        now = self.tools.clock()
        order = order._replace(cancel=intent)
        decision = decide_cancel(order, answer, deadline_passed=now >= parse_iso(intent.deadline))
        logger.info("cancel answered", extra={"answer": answer_log(answer), "decision": _decision_log(decision)})
        check = check_of(now, kind, answer)
        if decision.action is Action.POLL:
            self._reschedule(
                order, check, now, final_check=parse_iso(intent.deadline), cancel=intent,
                checks_done=intent.sends + intent.confirms,
            )
            return
        outcome = required(decision.outcome, "a final cancel decision's outcome")
        refs = self.canceller.cancel_refs(intent.reference) if intent.reference else {}
        message = self._message(
            order, outcome, decision.reason, now, intent.reported(), answer.provider_status, refs, supersedes=intent.supersedes
        )
        self._record(order, message, check)

    # -- invalid and stale items -----------------------------------------------------------

    def _reject(self, error: InvalidOrder) -> None:
        """An order that breaks the contract ends in REVIEW once, with every problem logged."""
        self.tools.summary.count("invalid_orders")
        logger.warning("invalid order: a person must fix it", extra={"problems": error.problems})
        now = to_iso(self.tools.clock())
        claimed = self.claimed
        message = build_message(
            order_id=claimed.order_id,
            provider=self.tools.adapter.profile.provider_id,
            outcome=Outcome.REVIEW,
            reason=Reason.INVALID_ORDER,
            requested=claimed.requested(),
            reported=None,
            provider_status=None,
            provider_refs={},
            occurred_at=now,
            attempts=claimed.attempts,
            generation=claimed.generation,
            merchant_id=claimed.merchant_id,
        )
        check = item.Check(now, "validation", "INVALID", detail="; ".join(error.problems))
        self.lease.record(message, check, attempts=claimed.attempts, guard=self.lease.guard(None))

    def _publish_recorded(self) -> None:
        """A decided order still in the due index: its outcome was never confirmed published (the
        sweep that recorded it crashed, or SNS or the confirming write failed). Re-published under
        the same `eventId`, rebuilt from the order's `outcome` record."""
        try:
            message = self.claimed.recorded_message()
        except IncompleteRecord as error:
            self._heal_index(str(error))
            return
        logger.warning("re-publishing an outcome left unconfirmed", extra={"eventId": message.event_id})
        self.tools.summary.count("republished")
        self.tools.outbox.add(message)

    def _heal_index(self, why: str) -> None:
        """A terminal order in the due index with no outcome of ours to publish (a writer's
        mistake): take it out, change nothing else."""
        status = str(self.claimed.status)
        logger.warning("terminal order found in the due index; removing it from the index",
                       extra={"status": status, "problem": why})
        self.lease.write(item.leave_due_index(self.claimed.order_id, self.lease.guard(status)), what="index repair")

    # -- writes ----------------------------------------------------------------------------

    def _attempts(self, order: Order) -> int:
        return order.attempts + self.lease.calls

    def _reschedule(
        self,
        order: Order,
        check: item.Check,
        now: datetime,
        *,
        final_check: datetime,
        cancel: CancelIntent | None = None,
        checks_done: int | None = None,
        give_up: datetime | None = None,
    ) -> None:
        """Release the order until its next check. A cancellation keeps its own pace (calls
        since the cancel was decided), so it is confirmed quickly even on an old order."""
        checks = checks_done if checks_done is not None else self._attempts(order)
        base = min(self.tools.started_at, now)
        next_at = next_check_at(checks, base, final_check, self.config.backoff, give_up)
        transition = item.reschedule(
            order.order_id, self.lease.guard(order.status.value),
            check=check, history=self.lease.history, attempts=self._attempts(order),
            next_check_at=to_iso(next_at), cancel=cancel.to_item() if cancel else None,
        )
        if self.lease.write(transition, what="reschedule").done:
            self.tools.summary.count("rescheduled")

    def _message(
        self,
        order: Order,
        outcome: Outcome,
        reason: Reason | None,
        now: datetime,
        reported: ReportedAmount | None,
        provider_status: str | None,
        refs: Mapping[str, str],
        *,
        supersedes: str | None = None,
    ) -> OutcomeMessage:
        return outcome_message(order, outcome, reason, now, reported, provider_status, refs,
                               attempts=self._attempts(order), supersedes=supersedes)

    def _record(self, order: Order, message: OutcomeMessage, check: item.Check) -> Written:
        return self.lease.record(message, check, attempts=self._attempts(order), guard=self.lease.guard(order.status.value))


def _decision_log(decision: Decision) -> dict[str, str | None]:
    return {
        "action": decision.action.value,
        "outcome": decision.outcome.value if decision.outcome else None,
        "reason": decision.reason.value if decision.reason else None,
    }
