"""Everything done to one claimed order, on one worker, under one lease.

The flow per order:
- an abandoned previous lease: consult the compensation journal first (`compensation`);
- an invalid item: REVIEW `INVALID_ORDER`, once;
- PENDING: query the provider, decide (pure table), then reschedule, finalise, or record a
  cancel intent and request the cancel;
- CANCELLING: confirm the cancel (re-sending it under the same key while the payment is
  still approved), then finalise or reschedule.

Every write is a `paysweep.domain.item` transition guarded by this sweep's lease. The one
exception belongs to the compensation protocol: after the very write that would have kept
the lease failed, its compensation may re-take a lease that is free or expired.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from paysweep.domain import item
from paysweep.domain.answers import (
    CancelAnswer,
    CancelIntent,
    CancelState,
    PaymentAnswer,
    PaymentState,
    ReportedAmount,
)
from paysweep.domain.clock import parse_iso, to_iso
from paysweep.domain.decisions import AUDITED, Action, Decision, decide_cancel, decide_payment, phase_of
from paysweep.domain.money import fits_currency, format_amount
from paysweep.domain.orders import TERMINAL_STATUSES, InvalidOrder, Order, OrderStatus, parse_order
from paysweep.domain.outcomes import (
    IncompleteRecord,
    Outcome,
    OutcomeMessage,
    Reason,
    build_message,
    message_from_record,
    outcome_record,
)
from paysweep.domain.schedule import next_check_at
from paysweep.observability import logger
from paysweep.sweep.audit import Auditor
from paysweep.sweep.compensation import Compensator
from paysweep.sweep.ports import Canceller, ConditionFailed, StoreError
from paysweep.sweep.steps import LeaseLapsed, Written
from paysweep.sweep.tools import SweepTools


class OrderFlow:
    def __init__(self, tools: SweepTools, claimed: dict[str, Any], token: str, *, abandoned_lease: bool) -> None:
        self.tools = tools
        self.config = tools.config
        self.item = claimed
        self.abandoned_lease = abandoned_lease
        self.token = token
        self.calls = 0
        """Provider calls made for the order in this sweep (added to its `attempts`)."""
        self.history: list[str] = list(claimed.get(item.HISTORY) or [])
        self.leased_until = str(claimed.get(item.LEASE_UNTIL, ""))
        """Until when this sweep holds the order: every provider call must end before it."""
        self.order_id = str(claimed.get(item.ORDER_ID))
        self.compensation = Compensator(self, tools)

    # -- entry point ---------------------------------------------------------------------

    def run(self) -> None:
        self._under_lease(self._run)

    def audit(self) -> None:
        """A claimed audit of a decided order (`paysweep.sweep.audit`)."""
        self._under_lease(Auditor(self, self.tools, self.item).run)

    def _under_lease(self, work: Callable[[], None]) -> None:
        try:
            work()
        except LeaseLapsed as lapsed:
            self.tools.summary.count_error("lease_lapsed")
            logger.warning("stopped working on the order: its lease ran out; it is due again", extra={"detail": str(lapsed)})

    def _run(self) -> None:
        if self.abandoned_lease and self.compensation.converged_from_journal(self.item):
            return
        status = self.item.get(item.STATUS)
        if status in TERMINAL_STATUSES:
            self._publish_recorded(str(status))
            return
        try:
            order = parse_order(self.item, self.tools.adapter.profile, self.config.expiry_window)
        except InvalidOrder as error:
            self._reject(error)
            return
        self.tools.summary.count("checked")
        if order.status is OrderStatus.CANCELLING:
            self.continue_cancel(order)
        else:
            self._check_payment(order)

    # -- provider calls ------------------------------------------------------------------

    def call[Answer: (PaymentAnswer, CancelAnswer)](
        self, call: Callable[[], Answer], answer_type: type[Answer], *, under_lease: bool = True
    ) -> Answer:
        """One provider call, rate-limited, timed and counted; never raises, but for a lease that
        can no longer cover the call (`LeaseLapsed`): the sweep may have been frozen past it, and
        another sweep may be asking about this order right now."""
        self.tools.rate_limiter.acquire()
        if under_lease and to_iso(self.tools.clock() + self.config.call_budget) > self.leased_until:
            raise LeaseLapsed(f"the lease ended at {self.leased_until}, too soon for another provider call")
        started = time.monotonic()
        try:
            answer = call()
        except Exception:  # noqa: BLE001 - an adapter bug is this order's problem only
            logger.exception("the provider adapter failed unexpectedly; the answer is treated as unrecognised")
            answer = answer_type(_unrecognised(answer_type), detail="adapter error", error_kind="adapter_error")
        self.calls += 1
        summary = self.tools.summary
        summary.add_latency(int((time.monotonic() - started) * 1000))
        if answer.error_kind:
            summary.count_provider_error(answer.error_kind)
        if answer.state.value == "MISCONFIGURED":
            summary.count("misconfigured")
            logger.error(
                "the provider refuses our configuration: check the provider secret and base URL; "
                "the order stays due and is not decided",
                extra={"answer": _answer_log(answer)},
            )
        return answer

    # -- pending orders ------------------------------------------------------------------

    def _check_payment(self, order: Order) -> None:
        adapter = self.tools.adapter
        answer = self.call(partial(adapter.check_payment, order), PaymentAnswer)
        now = self.tools.clock()
        phase = phase_of(order, now, grace=self.config.expiry_grace, final_retry=self.config.final_retry)
        decision = decide_payment(order, answer, phase=phase, can_cancel=adapter.canceller is not None)
        logger.info("order checked", extra={"answer": _answer_log(answer), "decision": _decision_log(decision)})
        check = self.check(now, "status", answer)
        if decision.action is Action.POLL:
            final_check = order.expires_at + self.config.expiry_grace
            self._reschedule(order, check, now, final_check=final_check, give_up=final_check + self.config.final_retry)
        elif decision.action is Action.CANCEL:
            self._start_cancel(order, _required(decision.reason, "a cancel decision's reason"), answer.paid, check, now)
        else:
            outcome = _required(decision.outcome, "a final decision's outcome")
            message = self.message(order, outcome, decision.reason, now, answer.paid, answer.provider_status, answer.refs)
            recorded = self.record_terminal(order, message, check)
            if not recorded.done and outcome is Outcome.APPROVED:
                self.compensation.approval_not_recorded(order, answer, now, recorded)

    # -- cancellations -------------------------------------------------------------------

    @property
    def canceller(self) -> Canceller:
        return _required(self.tools.adapter.canceller, "a canceller (only providers with one get cancel decisions)")

    def _start_cancel(self, order: Order, reason: Reason, paid: ReportedAmount | None, check: item.Check, now: datetime) -> None:
        """Record the cancel intent (its stable key and date) before calling the provider."""
        intent = self.new_intent(order, reason, paid, now)
        recorded = self.write(
            item.keep_leased(
                order.order_id, item.Leased(self.token, OrderStatus.PENDING.value),
                check=check, history=self.history, attempts=order.attempts + self.calls,
                lease_until=self.lease_until(now), status=OrderStatus.CANCELLING, cancel=intent.to_item(),
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

    def new_intent(self, order: Order, reason: Reason, paid: ReportedAmount | None, now: datetime) -> CancelIntent:
        deadline = max(order.expires_at + self.config.expiry_grace, now + self.config.cancel_window)
        intent = self.canceller.new_intent(order, reason.value, now, deadline)
        if paid is not None and paid.amount is not None:
            intent = intent._replace(reported_amount=f"{paid.amount:f}", reported_currency=paid.currency)
        return intent

    def send_cancel(self, order: Order, intent: CancelIntent) -> None:
        if self.tools.out_of_time():
            logger.info("no time left for the cancel call: the next sweep sends it under the same key")
            return
        answer = self.call(partial(self.canceller.request_cancel, order, intent), CancelAnswer)
        intent = intent._replace(sends=intent.sends + 1, reference=answer.reference or intent.reference)
        self._after_cancel(order, intent, answer, "cancel")

    def continue_cancel(self, order: Order) -> None:
        intent = order.cancel
        if self.tools.adapter.canceller is None or intent is None:
            self._reject(InvalidOrder(order.order_id, ["status CANCELLING without a cancel record this provider can use"]))
            return
        answer = self.call(partial(self.canceller.confirm_cancel, order, intent), CancelAnswer)
        now = self.tools.clock()
        still_approved = answer.state is CancelState.PENDING and intent.reference is None
        if still_approved and now < parse_iso(intent.deadline) and not self.tools.out_of_time():
            # The payment is still approved: our cancel never took effect. Send it again with
            # the same key and the initial date, as a provider requires of a retried cancel.
            renewed = item.keep_leased(
                order.order_id, item.Leased(self.token, OrderStatus.CANCELLING.value),
                check=self.check(now, "cancel_confirm", answer), history=self.history,
                attempts=order.attempts + self.calls, lease_until=self.lease_until(now),
            )
            if self.write(renewed, what="lease renewal").done:
                self.send_cancel(order, intent)
            return
        intent = intent._replace(reference=answer.reference or intent.reference, confirms=intent.confirms + 1)
        self._after_cancel(order, intent, answer, "cancel_confirm")

    def _after_cancel(self, order: Order, intent: CancelIntent, answer: CancelAnswer, kind: str) -> None:
        now = self.tools.clock()
        order = order._replace(cancel=intent)
        decision = decide_cancel(order, answer, deadline_passed=now >= parse_iso(intent.deadline))
        logger.info("cancel answered", extra={"answer": _answer_log(answer), "decision": _decision_log(decision)})
        check = self.check(now, kind, answer)
        if decision.action is Action.POLL:
            self._reschedule(
                order, check, now, final_check=parse_iso(intent.deadline), cancel=intent,
                checks_done=intent.sends + intent.confirms,
            )
            return
        outcome = _required(decision.outcome, "a final cancel decision's outcome")
        refs = self.canceller.cancel_refs(intent.reference) if intent.reference else {}
        message = self.message(
            order, outcome, decision.reason, now, intent.reported(), answer.provider_status, refs, supersedes=intent.supersedes
        )
        self.record_terminal(order, message, check)

    # -- invalid and stale items -----------------------------------------------------------

    def _reject(self, error: InvalidOrder) -> None:
        """An order that breaks the contract ends in REVIEW once, with every problem logged."""
        self.tools.summary.count("invalid_orders")
        logger.warning("invalid order: a person must fix it", extra={"problems": error.problems})
        now = to_iso(self.tools.clock())
        attempts = item.whole(self.item.get(item.ATTEMPTS))
        message = build_message(
            order_id=self.order_id,
            provider=self.tools.adapter.profile.provider_id,
            outcome=Outcome.REVIEW,
            reason=Reason.INVALID_ORDER,
            requested=self._raw_requested(),
            reported=None,
            provider_status=None,
            provider_refs={},
            occurred_at=now,
            attempts=attempts,
            generation=item.whole(self.item.get(item.GENERATION)),
        )
        check = item.Check(now, "validation", "INVALID", detail="; ".join(error.problems))
        self._commit_terminal(message, check, item.Leased(self.token, None), attempts=attempts)

    def _raw_requested(self) -> ReportedAmount | None:
        """The invalid order's amount for its message, when it is at least a valid amount."""
        amount, currency = self.item.get("amount"), self.item.get("currency")
        if isinstance(amount, Decimal) and isinstance(currency, str) and amount > 0 and fits_currency(amount, currency):
            return ReportedAmount(amount, currency)
        return None

    def _publish_recorded(self, status: str) -> None:
        """A decided order still in the due index: its outcome was never confirmed published (the
        sweep that recorded it crashed, or SNS or the confirming write failed). Re-published under
        the same `eventId`, rebuilt from the order's `outcome` record."""
        try:
            message = message_from_record(self.order_id, item.whole(self.item.get(item.GENERATION)), self._record(status))
        except IncompleteRecord as error:
            self._heal_index(status, str(error))
            return
        logger.warning("re-publishing an outcome left unconfirmed", extra={"eventId": message.event_id})
        self.tools.summary.count("republished")
        self.tools.outbox.add(message)

    def _record(self, status: str) -> Mapping[str, Any]:
        record = self.item.get(item.OUTCOME)
        if not isinstance(record, Mapping) or record.get("outcome") != status:
            raise IncompleteRecord(f"no outcome record for the status {status}")
        return record

    def _heal_index(self, status: str, why: str) -> None:
        """A terminal order in the due index with no outcome of ours to publish (a writer's
        mistake): take it out, change nothing else."""
        logger.warning("terminal order found in the due index; removing it from the index",
                       extra={"status": status, "problem": why})
        try:
            self.tools.store.apply(item.leave_due_index(self.order_id, item.Leased(self.token, status)))
        except StoreError as error:
            logger.warning("could not remove the terminal order from the index", extra={"error": str(error)})

    # -- writes ----------------------------------------------------------------------------

    def check(self, now: datetime, kind: str, answer: PaymentAnswer | CancelAnswer) -> item.Check:
        return item.Check(to_iso(now), kind, answer.state.value, answer.provider_status, answer.detail)

    def lease_until(self, now: datetime) -> str:
        return to_iso(now + self.config.lease)

    def write(self, transition: item.Transition, *, what: str) -> Written:
        """Apply one of this order's transitions; whether it happened, and if its guard refused
        it, the item as it was (counted and logged when it did not happen)."""
        try:
            self.tools.store.apply(transition)
        except StoreError as error:
            self.tools.summary.count_error("record")
            logger.warning(f"{what} not recorded; the order is due again when its lease expires", extra={"error": str(error)})
            return Written(done=False, refusal=error if isinstance(error, ConditionFailed) else None)
        history = transition.set.get(item.HISTORY)
        if isinstance(history, list):
            self.history = history
        if item.LEASE_UNTIL in transition.set:
            self.leased_until = str(transition.set[item.LEASE_UNTIL])
        return Written(done=True)

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
        checks = checks_done if checks_done is not None else order.attempts + self.calls
        base = min(self.tools.started_at, now)
        next_at = next_check_at(checks, base, final_check, self.config.backoff, give_up)
        transition = item.reschedule(
            order.order_id, item.Leased(self.token, order.status.value),
            check=check, history=self.history, attempts=order.attempts + self.calls,
            next_check_at=to_iso(next_at), cancel=cancel.to_item() if cancel else None,
        )
        if self.write(transition, what="reschedule").done:
            self.tools.summary.count("rescheduled")

    def message(
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
        return build_message(
            order_id=order.order_id,
            provider=order.provider,
            outcome=outcome,
            reason=reason,
            requested=ReportedAmount(order.amount, order.currency),
            reported=reported,
            provider_status=provider_status,
            provider_refs={**order.refs, **{k: v for k, v in refs.items() if v}},
            occurred_at=to_iso(now),
            attempts=order.attempts + self.calls,
            generation=order.generation,
            supersedes=supersedes,
        )

    def record_terminal(
        self,
        order: Order,
        message: OutcomeMessage,
        check: item.Check,
        *,
        free_lease_ok: bool = False,
    ) -> Written:
        guard: item.Leased | item.LeasedOrFree = (
            item.LeasedOrFree(self.token, order.status.value, check.at)
            if free_lease_ok
            else item.Leased(self.token, order.status.value)
        )
        return self._commit_terminal(message, check, guard, attempts=order.attempts + self.calls)

    def _commit_terminal(
        self,
        message: OutcomeMessage,
        check: item.Check,
        guard: item.Leased | item.LeasedOrFree,
        *,
        attempts: int,
    ) -> Written:
        """The terminal transition, the order staying in the due index until published.

        The `outcome` record keeps the message's inputs (CONTRACT.md section 2), so the message
        is rebuilt exactly whenever it is published again (a later sweep, `paysweep republish`).
        """
        publish_by = to_iso(parse_iso(check.at) + self.config.outbox_grace)
        transition = item.decide(
            self.order_id, guard, check=check, history=self.history, attempts=attempts,
            status=message.outcome.value, outcome=outcome_record(message), publish_by=publish_by,
            audit=self._first_audit(message, check.at),
        )
        try:
            self.tools.store.apply(transition)
        except StoreError as error:
            self.tools.summary.count_error("record")
            logger.warning("outcome not recorded", extra={"outcome": message.outcome.value, "error": str(error)})
            return Written(done=False, refusal=error if isinstance(error, ConditionFailed) else None)
        self.history = list(transition.set[item.HISTORY])
        self.tools.summary.count_outcome(message.outcome.value)
        logger.info("outcome recorded", extra={"outcome": message.outcome.value, "reason": message.reason, "eventId": message.event_id})
        self.tools.outbox.add(message)
        return Written(done=True)


    def _first_audit(self, message: OutcomeMessage, decided_at: str) -> tuple[str, str] | None:
        """`auditKey`, `auditAt` for a decision the provider's books can still overturn
        (`decisions.AUDITED`), when audits are on."""
        schedule, shard = self.config.audit_schedule, self.item.get(item.SWEEP_KEY)
        if not schedule or (message.outcome, message.reason) not in AUDITED or not isinstance(shard, str):
            return None
        return shard, to_iso(parse_iso(decided_at) + timedelta(seconds=schedule[0]))


def _answer_log(answer: PaymentAnswer | CancelAnswer) -> dict[str, Any]:
    """The normalised answer for logs: states, codes, amounts as text, no secrets."""
    view: dict[str, Any] = {"state": answer.state.value, "providerStatus": answer.provider_status}
    if isinstance(answer, PaymentAnswer):
        for name, amount in (("paid", answer.paid), ("expected", answer.expected)):
            if amount is not None:
                view[name] = _amount_text(amount)
        if answer.refs:
            view["refs"] = dict(answer.refs)
    elif answer.reference:
        view["reference"] = answer.reference
    view["detail"] = answer.detail
    return view


def _amount_text(amount: ReportedAmount) -> str | None:
    if amount.amount is None:
        return None
    return f"{format_amount(amount.amount, amount.currency)} {amount.currency or '?'}"


def _decision_log(decision: Decision) -> dict[str, str | None]:
    return {
        "action": decision.action.value,
        "outcome": decision.outcome.value if decision.outcome else None,
        "reason": decision.reason.value if decision.reason else None,
    }


def _unrecognised(answer_type: type) -> Any:
    return PaymentState.UNRECOGNISED if answer_type is PaymentAnswer else CancelState.UNRECOGNISED


def _required[T](value: T | None, what: str) -> T:
    """A value the decision table guarantees (a CANCEL decision has a reason, a final one an
    outcome): its absence is a bug, reported as one rather than decided around."""
    if value is None:
        raise RuntimeError(f"missing {what}")
    return value
