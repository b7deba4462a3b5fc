"""Everything done to one claimed order, on one worker thread, under one lease.

The flow per order:
- an abandoned previous lease: consult the compensation journal first;
- an invalid item: REVIEW `INVALID_ORDER`, once;
- PENDING: query the provider, decide (pure table), then reschedule, finalise, or record a
  cancel intent and request the cancel;
- CANCELLING: confirm the cancel (re-sending it under the same key while the payment is
  still approved), then finalise or reschedule.

Every write requires this sweep's lease. The one exception is the integrity rule for an
approval that could not be recorded: the compensation may re-take a lease that is free
or expired, because the write it follows is exactly the one that failed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from paysweep.adapter import Canceller, guarded
from paysweep.answers import (
    CancelAnswer,
    CancelIntent,
    CancelState,
    PaymentAnswer,
    PaymentState,
    ReportedAmount,
)
from paysweep.clock import parse_iso, to_iso
from paysweep.decisions import Action, Decision, decide_cancel, decide_payment, phase_of
from paysweep.journal import Compensation, JournalTarget
from paysweep.money import fits_currency, format_amount
from paysweep.observability import logger
from paysweep.orders import TERMINAL_STATUSES, InvalidOrder, Order, OrderStatus, parse_order
from paysweep.outbox import OutboxBuffer
from paysweep.outcomes import Outcome, OutcomeMessage, Reason, build_message, outcome_record
from paysweep.schedule import next_check_at
from paysweep.store import Claimed, ConditionFailed, StoreError, StoreUnavailable, Transition, history_with
from paysweep.summary import SweepSummary

if TYPE_CHECKING:
    from paysweep.engine import SweepEngine

TERMINAL = {s.value for s in TERMINAL_STATUSES}
LEASE_FIELDS = ["leaseOwner", "leaseUntil"]
DETAIL_LIMIT = 120
"""Characters of a provider's message kept in the order's last check (the full text is logged):
keeps a pending order's writes at one DynamoDB write unit (a terminal item carrying its
outbox message is about 1.5 KB, two units: see the README's cost table)."""
JOURNAL_RETENTION = timedelta(days=14)
_Answer = TypeVar("_Answer", PaymentAnswer, CancelAnswer)


class SweepContext(NamedTuple):
    """What every order of one sweep shares."""

    engine: SweepEngine
    summary: SweepSummary
    outbox: OutboxBuffer
    out_of_time: Callable[[], bool]
    started_at: datetime
    """When the sweep began: backoff counts from here, so a one-minute wait on a one-minute
    schedule means the next sweep, not the one after."""


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


class OrderWork:
    def __init__(self, context: SweepContext, claimed: Claimed, token: str) -> None:
        self.ctx = context
        self.engine = context.engine
        self.config = context.engine.config
        self.store = context.engine.store
        self.item = claimed.item
        self.abandoned_lease = claimed.abandoned_lease
        self.token = token
        self.calls = 0
        self.history: list[str] = list(self.item.get("history") or [])
        self.order_id = str(self.item.get("orderId"))

    # -- entry point ---------------------------------------------------------------------

    def run(self) -> None:
        if self.abandoned_lease and self._handled_by_journal():
            return
        status = self.item.get("status")
        if status in TERMINAL:
            self._heal_index(str(status))
            return
        try:
            order = parse_order(self.item, self.config.expiry_window)
            if order.provider != self.engine.provider_id:
                raise InvalidOrder(order.order_id, [f"provider {order.provider} does not match sweepKey {order.sweep_key}"])
        except InvalidOrder as error:
            self._reject(error)
            return
        self.ctx.summary.count("checked")
        if order.status is OrderStatus.CANCELLING:
            self._continue_cancel(order)
        else:
            self._check_payment(order)

    # -- provider calls ------------------------------------------------------------------

    def _call(self, call: Callable[[], _Answer], answer_type: type[_Answer]) -> _Answer:
        self.engine.rate_limiter.acquire()
        started = time.monotonic()
        try:
            answer = guarded(call, answer_type)
        except Exception:  # noqa: BLE001 - an adapter bug is this order's problem only
            logger.exception("the provider adapter failed unexpectedly; the answer is treated as unrecognised")
            answer = answer_type(_unrecognised(answer_type), detail="adapter error", error_kind="adapter_error")
        self.calls += 1
        self.ctx.summary.add_latency(int((time.monotonic() - started) * 1000))
        if answer.error_kind:
            self.ctx.summary.count_provider_error(answer.error_kind)
        if answer.state.value == "MISCONFIGURED":
            self.ctx.summary.count("misconfigured")
            logger.error(
                "the provider refuses our configuration: check the provider secret and base URL; "
                "the order stays due and is not decided",
                extra={"answer": _answer_log(answer)},
            )
        return answer

    # -- pending orders ------------------------------------------------------------------

    def _check_payment(self, order: Order) -> None:
        answer = self._call(lambda: self.engine.adapter.check_payment(order), PaymentAnswer)
        now = self.engine.clock()
        phase = phase_of(order, now, grace=self.config.expiry_grace, final_retry=self.config.final_retry)
        decision = decide_payment(order, answer, phase=phase, can_cancel=self.engine.adapter.canceller is not None)
        logger.info("order checked", extra={"answer": _answer_log(answer), "decision": _decision_log(decision)})
        entry = self._entry(now, "status", answer)
        if decision.action is Action.POLL:
            final_check = order.expires_at + self.config.expiry_grace
            self._reschedule(order, entry, now, final_check=final_check, give_up=final_check + self.config.final_retry)
        elif decision.action is Action.CANCEL:
            assert decision.reason is not None  # nosec B101  # type-narrowing invariant; Lambda never runs python -O
            self._start_cancel(order, decision.reason, answer.paid, entry, now)
        else:
            assert decision.outcome is not None  # nosec B101  # type-narrowing invariant; Lambda never runs python -O
            message = self._message(order, decision.outcome, decision.reason, now, answer.paid, answer.provider_status, answer.refs)
            recorded = self._record_terminal(order, message, entry, now)
            if not recorded and decision.outcome is Outcome.APPROVED:
                self._approval_not_recorded(order, answer, now)

    # -- cancellations -------------------------------------------------------------------

    @property
    def _canceller(self) -> Canceller:
        canceller = self.engine.adapter.canceller
        assert canceller is not None  # nosec B101  # type-narrowing invariant; Lambda never runs python -O
        return canceller

    def _start_cancel(
        self, order: Order, reason: Reason, paid: ReportedAmount | None, entry: dict[str, Any], now: datetime
    ) -> None:
        """Record the cancel intent (its stable key and date) before calling the provider."""
        intent = self._new_intent(order, reason, paid, now)
        lease_until = to_iso(now + self.config.lease)
        changes = {"status": OrderStatus.CANCELLING.value, "cancel": intent.to_item(), "leaseUntil": lease_until, "nextCheckAt": lease_until}
        if not self._write(order, OrderStatus.PENDING, entry, now, changes, what="cancel intent"):
            logger.error(
                "integrity failure found but the cancel intent could not be recorded; the next sweep finds it "
                "again and cancels under the same key",
                extra={"reason": reason.value},
            )
            return
        order = order._replace(status=OrderStatus.CANCELLING, cancel=intent)
        self.ctx.summary.count("cancels_requested")
        logger.warning("integrity failure: cancelling the payment", extra={"reason": reason.value, "cancelKey": intent.key})
        self._send_cancel(order, intent)

    def _new_intent(self, order: Order, reason: Reason, paid: ReportedAmount | None, now: datetime) -> CancelIntent:
        deadline = max(order.expires_at + self.config.expiry_grace, now + self.config.cancel_window)
        intent = self._canceller.new_intent(order, reason.value, now, deadline)
        if paid is not None and paid.amount is not None:
            intent = intent._replace(reported_amount=f"{paid.amount:f}", reported_currency=paid.currency)
        return intent

    def _send_cancel(self, order: Order, intent: CancelIntent) -> None:
        if self.ctx.out_of_time():
            logger.info("no time left for the cancel call: the next sweep sends it under the same key")
            return
        answer = self._call(lambda: self._canceller.request_cancel(order, intent), CancelAnswer)
        intent = intent._replace(sends=intent.sends + 1, reference=answer.reference or intent.reference)
        self._after_cancel(order, intent, answer, "cancel")

    def _continue_cancel(self, order: Order) -> None:
        intent = order.cancel
        if self.engine.adapter.canceller is None or intent is None:
            self._reject(InvalidOrder(order.order_id, ["status CANCELLING without a cancel record this provider can use"]))
            return
        answer = self._call(partial(self._canceller.confirm_cancel, order, intent), CancelAnswer)
        now = self.engine.clock()
        still_approved = answer.state is CancelState.PENDING and intent.reference is None
        if still_approved and now < parse_iso(intent.deadline) and not self.ctx.out_of_time():
            # The payment is still approved: our cancel never took effect. Send it again with
            # the same key and the initial date, as KICC requires for retries.
            if self._write(order, OrderStatus.CANCELLING, self._entry(now, "cancel_confirm", answer), now, self._lease_changes(now), what="lease renewal"):
                self._send_cancel(order, intent)
            return
        intent = intent._replace(reference=answer.reference or intent.reference, confirms=intent.confirms + 1)
        self._after_cancel(order, intent, answer, "cancel_confirm")

    def _after_cancel(self, order: Order, intent: CancelIntent, answer: CancelAnswer, kind: str) -> None:
        now = self.engine.clock()
        order = order._replace(cancel=intent)
        decision = decide_cancel(order, answer, deadline_passed=now >= parse_iso(intent.deadline))
        logger.info("cancel answered", extra={"answer": _answer_log(answer), "decision": _decision_log(decision)})
        entry = self._entry(now, kind, answer)
        if decision.action is Action.POLL:
            self._reschedule(
                order,
                entry,
                now,
                final_check=parse_iso(intent.deadline),
                extra={"cancel": intent.to_item()},
                checks_done=intent.sends + intent.confirms,
            )
            return
        assert decision.outcome is not None  # nosec B101  # type-narrowing invariant; Lambda never runs python -O
        refs = {"pgCno": order.pg_cno or "", "cancelPgCno": intent.reference or ""}
        message = self._message(order, decision.outcome, decision.reason, now, intent.reported(), answer.provider_status, refs)
        self._record_terminal(order, message, entry, now, extra={"cancel": intent.to_item()})

    # -- the approval that could not be recorded -------------------------------------------

    def _approval_not_recorded(self, order: Order, answer: PaymentAnswer, now: datetime) -> None:
        """KICC's rule: an approval our database cannot record must be cancelled.

        First re-read: if another sweep recorded this approval, or owns the order now,
        there is nothing to compensate, and cancelling would destroy a correct approval.
        """
        current: dict[str, Any] | None = None
        try:
            current = self.store.read(order.order_id)
        except StoreUnavailable:
            logger.warning("cannot re-read the order after the failed approval write")
        if current is not None and self._someone_else_decides(current, now):
            return
        self.ctx.summary.count_error("db_update_failed")
        logger.error("the approval could not be recorded: compensating (DB_UPDATE_FAILED)")
        if self.engine.adapter.canceller is None:
            self._compensate_without_cancel(order, answer, now)
        else:
            self._compensate_with_cancel(order, answer, now)

    def _someone_else_decides(self, current: dict[str, Any], now: datetime) -> bool:
        status = current.get("status")
        if status == OrderStatus.APPROVED.value:
            logger.info("another sweep already recorded this approval: nothing to compensate")
            return True
        if status != OrderStatus.PENDING.value:
            logger.info("another sweep has moved this order on: nothing to compensate", extra={"status": status})
            return True
        owner, until = current.get("leaseOwner"), current.get("leaseUntil")
        if owner and owner != self.token and isinstance(until, str) and until > to_iso(now):
            logger.info("another sweep holds this order's lease and will decide it: nothing to compensate")
            return True
        return False

    def _compensate_with_cancel(self, order: Order, answer: PaymentAnswer, now: datetime) -> None:
        intent = self._new_intent(order, Reason.DB_UPDATE_FAILED, answer.paid, now)
        changes = {
            "status": OrderStatus.CANCELLING.value,
            "cancel": intent.to_item(),
            "leaseOwner": self.token,
            **self._lease_changes(now),
        }
        entry = self._entry(now, "status", answer)
        if self._write(order, OrderStatus.PENDING, entry, now, changes, what="compensation", free_lease_ok=True):
            self.ctx.summary.count("cancels_requested")
            self._send_cancel(order._replace(status=OrderStatus.CANCELLING, cancel=intent), intent)
            return
        # The table takes no writes at all. Cancel anyway, under the order's one cancel key,
        # tell subscribers now, and journal it so the table converges later.
        self.ctx.summary.count("cancels_requested")
        cancelling = order._replace(status=OrderStatus.CANCELLING, cancel=intent)
        reply = self._call(lambda: self._canceller.request_cancel(cancelling, intent), CancelAnswer)
        intent = intent._replace(sends=1, reference=reply.reference)
        refs = {"pgCno": order.pg_cno or "", "cancelPgCno": intent.reference or ""}
        if reply.state is CancelState.REFUSED:
            message = self._message(order, Outcome.REVIEW, Reason.CANCEL_REFUSED, now, answer.paid, reply.provider_status, refs)
            self._publish_unrecorded(order, message, JournalTarget.REVIEW, None, now)
        else:
            message = self._message(order, Outcome.CANCELLED, Reason.DB_UPDATE_FAILED, now, answer.paid, answer.provider_status, refs)
            self._publish_unrecorded(order, message, JournalTarget.CANCELLING, intent, now)

    def _compensate_without_cancel(self, order: Order, answer: PaymentAnswer, now: datetime) -> None:
        """No cancel API (TeemoPay payins): a person must look. REVIEW, never APPROVED."""
        message = self._message(order, Outcome.REVIEW, Reason.DB_UPDATE_FAILED, now, answer.paid, answer.provider_status, answer.refs)
        if self._record_terminal(order, message, self._entry(now, "status", answer), now, free_lease_ok=True):
            return
        self._publish_unrecorded(order, message, JournalTarget.REVIEW, None, now)

    def _publish_unrecorded(
        self, order: Order, message: OutcomeMessage, target: JournalTarget, intent: CancelIntent | None, now: datetime
    ) -> None:
        entry = Compensation(
            order_id=order.order_id,
            target=target,
            message=message,
            intent=intent,
            created_at=to_iso(now),
            expires_at_epoch=int((max(order.expires_at, now) + JOURNAL_RETENTION).timestamp()),
        )
        try:
            self.engine.journal.record(entry)
        except ConditionFailed:
            logger.warning("a compensation for this order is already journaled; keeping the first")
        except StoreUnavailable as error:
            self.ctx.summary.count_error("journal_unwritable")
            logger.critical(
                "compensation could not be journaled: the published outcome is the only record; an operator "
                "must reconcile this order",
                extra={"eventId": message.event_id, "error": error.code},
            )
        self.ctx.summary.count_outcome(message.outcome.value)
        self.ctx.outbox.publish([message], recorded=False)

    def _handled_by_journal(self) -> bool:
        """After an abandoned lease: converge to what the journal says, if it says anything."""
        try:
            entry = self.engine.journal.find(self.order_id)
        except StoreUnavailable as error:
            self.ctx.summary.count_error("journal_read")
            logger.warning("cannot read the compensation journal; the order waits for the next sweep", extra={"error": error.code})
            return True
        if entry is None:
            return False
        status = self.item.get("status")
        if status != OrderStatus.PENDING.value:
            self._resolve_journal()
            return False
        try:
            order = parse_order(self.item, self.config.expiry_window)
        except InvalidOrder:
            return False
        now = self.engine.clock()
        logger.warning("converging the order to its journaled compensation", extra={"target": entry.target.value})
        journal_entry = {"at": to_iso(now), "kind": "journal", "state": entry.target.value, "providerStatus": None, "detail": entry.message.event_id}
        if entry.target is JournalTarget.REVIEW:
            if self._record_terminal(order, entry.message, journal_entry, now):
                self._resolve_journal()
            return True
        assert entry.intent is not None  # nosec B101  # type-narrowing invariant; Lambda never runs python -O
        changes = {"status": OrderStatus.CANCELLING.value, "cancel": entry.intent.to_item(), **self._lease_changes(now)}
        if self._write(order, OrderStatus.PENDING, journal_entry, now, changes, what="journal convergence", count_attempt=False):
            self._resolve_journal()
            self._continue_cancel(order._replace(status=OrderStatus.CANCELLING, cancel=entry.intent))
        return True

    def _resolve_journal(self) -> None:
        try:
            self.engine.journal.resolve(self.order_id)
        except StoreError:
            logger.warning("journal entry not removed; it is consulted again after the next abandoned lease")

    # -- invalid and stale items -----------------------------------------------------------

    def _reject(self, error: InvalidOrder) -> None:
        """An order that breaks the contract ends in REVIEW once, with every problem logged."""
        self.ctx.summary.count("invalid_orders")
        logger.warning("invalid order: a person must fix it", extra={"problems": error.problems})
        now = self.engine.clock()
        requested = self._raw_requested()
        message = build_message(
            order_id=self.order_id,
            provider=self.engine.provider_id,
            outcome=Outcome.REVIEW,
            reason=Reason.INVALID_ORDER,
            requested=requested,
            reported=None,
            provider_status=None,
            provider_refs={},
            occurred_at=to_iso(now),
            attempts=_whole(self.item.get("attempts")),
            generation=_whole(self.item.get("generation")),
        )
        entry = {"at": to_iso(now), "kind": "validation", "state": "INVALID", "providerStatus": None, "detail": "; ".join(error.problems)[:DETAIL_LIMIT]}
        self._commit_terminal(message, entry, now, expected=None, outbox_key=str(self.item.get("sweepKey", "")), attempts=_whole(self.item.get("attempts")))

    def _raw_requested(self) -> ReportedAmount | None:
        """The invalid order's amount for its message, when it is at least a valid amount."""
        amount, currency = self.item.get("amount"), self.item.get("currency")
        if isinstance(amount, Decimal) and isinstance(currency, str) and amount > 0 and fits_currency(amount, currency):
            return ReportedAmount(amount, currency)
        return None

    def _heal_index(self, status: str) -> None:
        """A terminal order still in the due index (a writer's mistake): take it out, change nothing else."""
        logger.warning("terminal order found in the due index; removing it from the index", extra={"status": status})
        transition = Transition(self.order_id, self.token, status, remove=["sweepKey", "nextCheckAt", *LEASE_FIELDS])
        try:
            self.store.apply(transition)
        except StoreError as error:
            logger.warning("could not remove the terminal order from the index", extra={"error": str(error)})

    # -- writes ----------------------------------------------------------------------------

    def _entry(self, now: datetime, kind: str, answer: PaymentAnswer | CancelAnswer) -> dict[str, Any]:
        return {
            "at": to_iso(now),
            "kind": kind,
            "state": answer.state.value,
            "providerStatus": answer.provider_status,
            "detail": (answer.detail or "")[:DETAIL_LIMIT] or None,
        }

    def _lease_changes(self, now: datetime) -> dict[str, Any]:
        lease_until = to_iso(now + self.config.lease)
        return {"leaseUntil": lease_until, "nextCheckAt": lease_until}

    def _write(
        self,
        order: Order,
        expected: OrderStatus,
        entry: dict[str, Any],
        now: datetime,
        changes: dict[str, Any],
        *,
        what: str,
        remove: list[str] | None = None,
        free_lease_ok: bool = False,
        count_attempt: bool = True,
    ) -> bool:
        history = history_with(self.history, entry)
        values = {
            **changes,
            "lastCheck": entry,
            "history": history,
            "updatedAt": to_iso(now),
        }
        if count_attempt:
            values["attempts"] = order.attempts + self.calls
        transition = Transition(
            order.order_id,
            self.token,
            expected,
            set=values,
            remove=remove or [],
            free_lease_ok_at=to_iso(now) if free_lease_ok else None,
        )
        try:
            self.store.apply(transition)
        except StoreError as error:
            self.ctx.summary.count_error("record")
            logger.warning(f"{what} not recorded; the order is due again when its lease expires", extra={"error": str(error)})
            return False
        self.history = history
        return True

    def _reschedule(
        self,
        order: Order,
        entry: dict[str, Any],
        now: datetime,
        *,
        final_check: datetime,
        extra: dict[str, Any] | None = None,
        checks_done: int | None = None,
        give_up: datetime | None = None,
    ) -> None:
        """Release the order until its next check. A cancellation keeps its own pace (calls
        since the cancel was decided), so it is confirmed quickly even on an old order."""
        checks = checks_done if checks_done is not None else order.attempts + self.calls
        base = min(self.ctx.started_at, now)
        next_at = next_check_at(checks, base, final_check, self.config.backoff, give_up)
        changes = {"nextCheckAt": to_iso(next_at), **(extra or {})}
        if self._write(order, order.status, entry, now, changes, what="reschedule", remove=list(LEASE_FIELDS)):
            self.ctx.summary.count("rescheduled")

    def _message(
        self,
        order: Order,
        outcome: Outcome,
        reason: Reason | None,
        now: datetime,
        reported: ReportedAmount | None,
        provider_status: str | None,
        refs: Mapping[str, str],
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
        )

    def _record_terminal(
        self,
        order: Order,
        message: OutcomeMessage,
        entry: dict[str, Any],
        now: datetime,
        *,
        extra: dict[str, Any] | None = None,
        free_lease_ok: bool = False,
    ) -> bool:
        return self._commit_terminal(
            message,
            entry,
            now,
            expected=order.status,
            outbox_key=order.sweep_key,
            attempts=order.attempts + self.calls,
            extra=extra,
            free_lease_ok=free_lease_ok,
        )

    def _commit_terminal(
        self,
        message: OutcomeMessage,
        entry: dict[str, Any],
        now: datetime,
        *,
        expected: OrderStatus | None,
        outbox_key: str,
        attempts: int,
        extra: dict[str, Any] | None = None,
        free_lease_ok: bool = False,
    ) -> bool:
        """The terminal transition and its outbox marker, in one conditional write.

        The `outcome` record keeps the message's inputs (CONTRACT.md section 2), so the message
        can be rebuilt exactly after the outbox marker is cleared (`paysweep republish`).
        """
        history = history_with(self.history, entry)
        values = {
            "status": message.outcome.value,
            "outcome": outcome_record(message),
            "outbox": {**message.to_item(), "since": to_iso(now)},
            "outboxKey": outbox_key,
            "outboxSince": to_iso(now),
            "attempts": attempts,
            "lastCheck": entry,
            "history": history,
            "updatedAt": to_iso(now),
            **(extra or {}),
        }
        transition = Transition(
            self.order_id,
            self.token,
            expected,
            set=values,
            remove=["sweepKey", "nextCheckAt", *LEASE_FIELDS],
            free_lease_ok_at=to_iso(now) if free_lease_ok else None,
        )
        try:
            self.store.apply(transition)
        except StoreError as error:
            self.ctx.summary.count_error("record")
            logger.warning("outcome not recorded", extra={"outcome": message.outcome.value, "error": str(error)})
            return False
        self.history = history
        self.ctx.summary.count_outcome(message.outcome.value)
        logger.info("outcome recorded", extra={"outcome": message.outcome.value, "reason": message.reason, "eventId": message.event_id})
        self.ctx.outbox.add(message)
        return True


def _decision_log(decision: Decision) -> dict[str, str | None]:
    return {
        "action": decision.action.value,
        "outcome": decision.outcome.value if decision.outcome else None,
        "reason": decision.reason.value if decision.reason else None,
    }


def _unrecognised(answer_type: type) -> Any:
    return PaymentState.UNRECOGNISED if answer_type is PaymentAnswer else CancelState.UNRECOGNISED


def _whole(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        return 0
    return max(0, int(value))
