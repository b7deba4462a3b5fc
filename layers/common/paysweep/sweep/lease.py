"""One claimed order under one lease: the only writer of that order for its sweep.

Every write goes through `OrderLease.write`, and every write is this order's and carries this
lease's guard: a transition of another order, or under another token, is refused before it
reaches the store. Its provider calls are made here too, and only while the lease covers them.
The flow, the compensation protocol and the audits each get the lease, not one another, so an
order's work runs one way: flow -> compensation or audit -> lease -> store.

The one write that may not hold the lease belongs to the compensation protocol: after the very
write that would have kept the lease failed, it may re-take a lease that is free or expired
(`guard_or_free`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from paysweep.domain import item
from paysweep.domain.answers import CancelAnswer, CancelState, PaymentAnswer, PaymentState, ReportedAmount
from paysweep.domain.clock import parse_iso, to_iso
from paysweep.domain.decisions import AUDITED
from paysweep.domain.money import format_amount
from paysweep.domain.outcomes import OutcomeMessage, outcome_record
from paysweep.observability import logger
from paysweep.sweep.ports import ConditionFailed, OrderStore, StoreError
from paysweep.sweep.steps import LeaseLapsed, Written
from paysweep.sweep.tools import SweepTools


class NotThisLease(ValueError):
    """A write of another order, or under another lease: a bug, refused before the store."""


class OrderLease:
    """This sweep's hold on one order: its writes, its provider calls, its record of both."""

    def __init__(self, tools: SweepTools, store: OrderStore, claimed: item.StoredOrder, token: str) -> None:
        self._tools = tools
        self._store = store
        self._current = claimed
        self.order_id = claimed.order_id
        self.token = token
        self.calls = 0
        """Provider calls made for the order under this lease (added to its `attempts`)."""

    @property
    def current(self) -> item.StoredOrder:
        """The order as this lease last wrote (or claimed) it."""
        return self._current

    @property
    def history(self) -> list[str]:
        """The order's history as this lease last wrote (or claimed) it."""
        return self._current.history

    @property
    def leased_until(self) -> str:
        """Until when this sweep holds the order: every provider call must end before it."""
        return self._current.lease_until

    # -- guards ----------------------------------------------------------------------------

    def guard(self, status: str | None) -> item.Leased:
        """This lease holds the order (in `status`, unless None)."""
        return item.Leased(self.token, status)

    def guard_or_free(self, status: str, now: datetime) -> item.LeasedOrFree:
        """This lease, or none live at `now`: only for a compensation after a failed write."""
        return item.LeasedOrFree(self.token, status, to_iso(now))

    def lease_until(self, now: datetime) -> str:
        """The end of a lease taken (or renewed) at `now`, for one more provider call."""
        return to_iso(now + self._tools.config.lease)

    # -- provider calls --------------------------------------------------------------------

    def call[Answer: (PaymentAnswer, CancelAnswer)](
        self, call: Callable[[], Answer], answer_type: type[Answer], *, under_lease: bool = True
    ) -> Answer:
        """One provider call, rate-limited, timed and counted; never raises, but for a lease that
        can no longer cover the call (`LeaseLapsed`): the sweep may have been frozen past it, and
        another sweep may be asking about this order right now."""
        tools = self._tools
        tools.rate_limiter.acquire(self._current.merchant_id)
        if under_lease and to_iso(tools.clock() + tools.config.call_budget) > self.leased_until:
            raise LeaseLapsed(f"the lease ended at {self.leased_until}, too soon for another provider call")
        started = time.monotonic()
        try:
            answer = call()
        except Exception:  # noqa: BLE001 - an adapter bug is this order's problem only
            logger.exception("the provider adapter failed unexpectedly; the answer is treated as unrecognised")
            answer = answer_type(_unrecognised(answer_type), detail="adapter error", error_kind="adapter_error")
        self.calls += 1
        _count(tools, answer, int((time.monotonic() - started) * 1000))
        return answer

    # -- reads and writes -----------------------------------------------------------------

    def reread(self) -> item.StoredOrder | None:
        """The order as the table holds it now (strongly consistent); `StoreUnavailable` if the
        table does not answer."""
        return self._store.read(self.order_id)

    def write(self, transition: item.Transition, *, what: str, log: Mapping[str, Any] | None = None) -> Written:
        """Apply one of this order's transitions under this lease; whether it happened, and if
        its guard refused it, the order as it was (counted and logged when it did not happen)."""
        self._check_is_mine(transition)
        try:
            self._store.apply(transition)
        except StoreError as error:
            self._tools.summary.count_error("record")
            logger.warning(f"{what} not recorded; the order is due again when its lease expires",
                           extra={**(log or {}), "error": str(error)})
            return Written(done=False, refusal=error if isinstance(error, ConditionFailed) else None)
        self._current = self._current.after(transition)
        return Written(done=True)

    def record(
        self, message: OutcomeMessage, check: item.Check, *, attempts: int, guard: item.Leased | item.LeasedOrFree
    ) -> Written:
        """The terminal transition, the order staying in the due index until published (the
        outbox); once written, its outcome is queued for publishing.

        The `outcome` record keeps the message's inputs (CONTRACT.md section 2), so the message
        is rebuilt exactly whenever it is published again (a later sweep, `paysweep republish`).
        """
        config = self._tools.config
        transition = item.decide(
            self.order_id, guard, check=check, history=self.history, attempts=attempts,
            status=message.outcome.value, outcome=outcome_record(message),
            publish_by=to_iso(parse_iso(check.at) + config.outbox_grace), audit=self._first_audit(message, check.at),
        )
        written = self.write(transition, what="outcome", log={"outcome": message.outcome.value})
        if written.done:
            self._tools.summary.count_outcome(message.outcome.value)
            logger.info("outcome recorded",
                        extra={"outcome": message.outcome.value, "reason": message.reason, "eventId": message.event_id})
            self._tools.outbox.add(message)
        return written

    def _first_audit(self, message: OutcomeMessage, decided_at: str) -> tuple[str, str] | None:
        """`auditKey`, `auditAt` for a decision the provider's books can still overturn
        (`decisions.AUDITED`), when audits are on."""
        schedule, shard = self._tools.config.audit_schedule, self._current.sweep_key
        if not schedule or (message.outcome, message.reason) not in AUDITED or shard is None:
            return None
        return shard, to_iso(parse_iso(decided_at) + timedelta(seconds=schedule[0]))

    def _check_is_mine(self, transition: item.Transition) -> None:
        token = getattr(transition.guard, "token", None)
        if transition.order_id != self.order_id or token != self.token:
            raise NotThisLease(
                f"the lease on {self.order_id} ({self.token}) refuses a write of {transition.order_id} "
                f"under {type(transition.guard).__name__} {token}"
            )


def _count(tools: SweepTools, answer: PaymentAnswer | CancelAnswer, milliseconds: int) -> None:
    summary = tools.summary
    summary.add_latency(milliseconds)
    if answer.error_kind:
        summary.count_provider_error(answer.error_kind)
    if answer.state.value == "MISCONFIGURED":
        summary.count("misconfigured")
        logger.error(
            "the provider refuses our configuration: check the provider secret and base URL; "
            "the order stays due and is not decided",
            extra={"answer": answer_log(answer)},
        )


def answer_log(answer: PaymentAnswer | CancelAnswer) -> dict[str, Any]:
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


def _unrecognised(answer_type: type) -> Any:
    return PaymentState.UNRECOGNISED if answer_type is PaymentAnswer else CancelState.UNRECOGNISED
