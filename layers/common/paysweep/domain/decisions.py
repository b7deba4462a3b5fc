"""The decision table: a pure function of (order, normalised provider answer, time).

Nothing here does I/O, so every branch is tested directly and by property-based tests.
The README's decision table is this module, row for row.

The integrity rules (a provider's documented "Critical Integrity Checks", applied to every one):
an approval whose amount or currency differs from the order is never APPROVED. It is
cancelled where the provider can cancel, and goes to REVIEW where it cannot. A missing
amount is a mismatch, not a pass.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import NamedTuple

from paysweep.domain.answers import CancelAnswer, CancelState, PaymentAnswer, PaymentState, ReportedAmount
from paysweep.domain.orders import Order
from paysweep.domain.outcomes import Outcome, Reason


class Action(StrEnum):
    POLL = "POLL"
    """Keep the order due and check again after the backoff."""
    FINALISE = "FINALISE"
    """Record the terminal outcome and publish it."""
    CANCEL = "CANCEL"
    """Record a cancel intent, then ask the provider to cancel the payment."""


class Decision(NamedTuple):
    action: Action
    outcome: Outcome | None = None
    reason: Reason | None = None


POLL = Decision(Action.POLL)


def _final(outcome: Outcome, reason: Reason | None = None) -> Decision:
    return Decision(Action.FINALISE, outcome, reason)


class Phase(StrEnum):
    """Where an order stands against its expiry."""

    OPEN = "OPEN"
    """Before the final check (`expiresAt` + EXPIRY_GRACE_SECONDS): keep polling."""
    FINAL = "FINAL"
    """The final check is due: definite answers decide; a doubtful answer is asked again."""
    OVERDUE = "OVERDUE"
    """FINAL_RETRY_SECONDS after the final check: a doubt still left goes to a person."""


_EXPIRED = _final(Outcome.FAILED, Reason.EXPIRED)
_UNKNOWN = _final(Outcome.REVIEW, Reason.UNKNOWN_PROVIDER_STATE)

# Answers other than an approval, by phase: (OPEN, FINAL, OVERDUE).
PAYMENT_TABLE: dict[PaymentState, tuple[Decision, Decision, Decision]] = {
    PaymentState.IN_PROGRESS: (POLL, _EXPIRED, _EXPIRED),
    PaymentState.NOT_FOUND: (POLL, _EXPIRED, _EXPIRED),
    PaymentState.DECLINED: (_final(Outcome.FAILED, Reason.PROVIDER_DECLINED),) * 3,
    PaymentState.CANCELLED: (_final(Outcome.CANCELLED, Reason.PROVIDER_CANCELLED),) * 3,
    PaymentState.PARTIALLY_CANCELLED: (_final(Outcome.REVIEW, Reason.PARTIAL_CANCEL),) * 3,
    # One timeout at the final check is no reason to page a person: ask again for a while.
    PaymentState.RETRY_LATER: (POLL, POLL, _UNKNOWN),
    PaymentState.UNRECOGNISED: (POLL, POLL, _UNKNOWN),
    # Our configuration is wrong, not the payment: never terminal, an operator must act.
    PaymentState.MISCONFIGURED: (POLL, POLL, POLL),
}
_PHASE_COLUMN = {Phase.OPEN: 0, Phase.FINAL: 1, Phase.OVERDUE: 2}

# Answers about a cancellation we requested: (before the cancel deadline, at or after it).
# CONFIRMED is absent: it finalises CANCELLED with the reason the cancel was requested for.
CANCEL_TABLE: dict[CancelState, tuple[Decision, Decision]] = {
    CancelState.ACCEPTED: (POLL, _final(Outcome.REVIEW, Reason.CANCEL_REFUSED)),
    CancelState.PENDING: (POLL, _final(Outcome.REVIEW, Reason.CANCEL_REFUSED)),
    CancelState.REFUSED: (_final(Outcome.REVIEW, Reason.CANCEL_REFUSED),) * 2,
    CancelState.RETRY_LATER: (POLL, _final(Outcome.REVIEW, Reason.CANCEL_REFUSED)),
    CancelState.UNRECOGNISED: (POLL, _final(Outcome.REVIEW, Reason.CANCEL_REFUSED)),
    CancelState.MISCONFIGURED: (POLL, POLL),
}


def _compare(order: Order, reported: ReportedAmount | None) -> Reason | None:
    if reported is None or reported.amount is None:
        return Reason.AMOUNT_MISMATCH
    if reported.currency != order.currency:
        return Reason.CURRENCY_MISMATCH
    if reported.amount != order.amount:  # exact Decimal comparison: "1000.00" == 1000
        return Reason.AMOUNT_MISMATCH
    return None


def integrity_failure(order: Order, answer: PaymentAnswer) -> Reason | None:
    """Why an approval cannot be accepted, or None when amount and currency match exactly.

    Checks what was paid and, where the provider echoes it, the order amount it holds.
    """
    reason = _compare(order, answer.paid)
    if reason is None and answer.expected is not None:
        reason = _compare(order, answer.expected)
    return reason


def decide_payment(order: Order, answer: PaymentAnswer, *, phase: Phase, can_cancel: bool) -> Decision:
    """What to do with a pending order after one status query."""
    if answer.state is PaymentState.APPROVED:
        reason = integrity_failure(order, answer)
        if reason is None:
            return _final(Outcome.APPROVED)
        if can_cancel:
            return Decision(Action.CANCEL, Outcome.CANCELLED, reason)
        return _final(Outcome.REVIEW, reason)
    return PAYMENT_TABLE[answer.state][_PHASE_COLUMN[phase]]


def decide_cancel(order: Order, answer: CancelAnswer, *, deadline_passed: bool) -> Decision:
    """What to do with a cancelling order after a cancel request or confirmation."""
    if answer.state is CancelState.CONFIRMED:
        if order.cancel is None:
            raise ValueError("a confirmed cancel needs the order's recorded cancel intent")
        return _final(Outcome.CANCELLED, Reason(order.cancel.reason))
    before, after = CANCEL_TABLE[answer.state]
    return after if deadline_passed else before


def phase_of(order: Order, now: datetime, *, grace: timedelta, final_retry: timedelta) -> Phase:
    final_check = order.expires_at + grace
    if now < final_check:
        return Phase.OPEN
    return Phase.FINAL if now < final_check + final_retry else Phase.OVERDUE


# -- audits: asking again after a decision ------------------------------------------------

AUDITED = {
    (Outcome.FAILED, Reason.EXPIRED),
    (Outcome.REVIEW, Reason.UNKNOWN_PROVIDER_STATE),
    (Outcome.REVIEW, Reason.EXPIRED),
}
"""Decisions the provider's books can still overturn: an order declared expired may be paid
late (a WeChat QR scanned at the last moment, a deposit into an expired virtual account); an
order sent to a person because the provider did not answer may get its answer later; and when
that answer is "unpaid" (the follow-up REVIEW `EXPIRED`), it may still be paid late too."""


class AuditAction(StrEnum):
    NOTHING = "NOTHING"
    """Nothing changed at the provider: the audit schedule goes on (or ends)."""
    RETRY = "RETRY"
    """No usable answer: ask again soon (a doubt is never a finding)."""
    CANCEL = "CANCEL"
    """A late payment on a provider that can cancel: cancel it, then publish CANCELLED."""
    PUBLISH = "PUBLISH"
    """Publish a correction (REVIEW) that supersedes the decision."""


class AuditDecision(NamedTuple):
    action: AuditAction
    reason: Reason | None = None
    """For CANCEL and PUBLISH: the correction's reason."""


_NOTHING = AuditDecision(AuditAction.NOTHING)
_RETRY = AuditDecision(AuditAction.RETRY)
_DOUBTFUL = (PaymentState.RETRY_LATER, PaymentState.UNRECOGNISED, PaymentState.MISCONFIGURED)

# A definite answer about an order in REVIEW UNKNOWN_PROVIDER_STATE: the follow-up REVIEW says
# what the provider now reports, in the reason that answer would have decided.
FOLLOW_UP_REASONS: dict[PaymentState, Reason] = {
    PaymentState.APPROVED: Reason.LATE_PAYMENT,
    PaymentState.PARTIALLY_CANCELLED: Reason.PARTIAL_CANCEL,
    PaymentState.DECLINED: Reason.PROVIDER_DECLINED,
    PaymentState.CANCELLED: Reason.PROVIDER_CANCELLED,
    PaymentState.IN_PROGRESS: Reason.EXPIRED,
    PaymentState.NOT_FOUND: Reason.EXPIRED,
}


def decide_audit(
    decided: tuple[Outcome, Reason | None], answer: PaymentAnswer, *, can_cancel: bool, cancel_late: bool
) -> AuditDecision:
    """What an audit of a decided order does with the provider's answer (README, the decision
    table: audits). Never APPROVED: a payment made after the decision is not the order's to keep
    without a person (or, where the provider can cancel and the merchant wants it, a cancel)."""
    if answer.state in _DOUBTFUL:
        return _RETRY
    if decided == (Outcome.REVIEW, Reason.UNKNOWN_PROVIDER_STATE):
        return AuditDecision(AuditAction.PUBLISH, FOLLOW_UP_REASONS[answer.state])
    if answer.state is PaymentState.APPROVED:
        # In REVIEW already, a person holds the order: it is theirs to cancel, not ours.
        if can_cancel and cancel_late and decided[0] is Outcome.FAILED:
            return AuditDecision(AuditAction.CANCEL, Reason.LATE_PAYMENT)
        return AuditDecision(AuditAction.PUBLISH, Reason.LATE_PAYMENT)
    if answer.state is PaymentState.PARTIALLY_CANCELLED:
        # Paid late, then partly refunded: money is held; a person decides about the rest.
        return AuditDecision(AuditAction.PUBLISH, Reason.LATE_PAYMENT)
    return _NOTHING
