"""The decision table, row by row, and its integrity properties (hypothesis)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from paysweep.domain.answers import (
    CancelAnswer,
    CancelIntent,
    CancelState,
    PaymentAnswer,
    PaymentState,
    ReportedAmount,
)
from paysweep.domain.decisions import (
    AUDITED,
    CANCEL_TABLE,
    FOLLOW_UP_REASONS,
    PAYMENT_TABLE,
    Action,
    AuditAction,
    AuditDecision,
    Decision,
    Phase,
    decide_audit,
    decide_cancel,
    decide_payment,
    integrity_failure,
    phase_of,
)
from paysweep.domain.outcomes import Outcome, Reason
from support.factories import T0, approved, order

POLL = Decision(Action.POLL)


def final(outcome, reason=None):
    return Decision(Action.FINALISE, outcome, reason)


EXPIRED = final(Outcome.FAILED, Reason.EXPIRED)
UNKNOWN = final(Outcome.REVIEW, Reason.UNKNOWN_PROVIDER_STATE)
DECLINED = final(Outcome.FAILED, Reason.PROVIDER_DECLINED)
PROVIDER_CANCELLED = final(Outcome.CANCELLED, Reason.PROVIDER_CANCELLED)
PARTIAL = final(Outcome.REVIEW, Reason.PARTIAL_CANCEL)


@pytest.mark.parametrize(
    "state, open_, final_check, overdue",
    [
        (PaymentState.IN_PROGRESS, POLL, EXPIRED, EXPIRED),
        (PaymentState.NOT_FOUND, POLL, EXPIRED, EXPIRED),
        (PaymentState.DECLINED, DECLINED, DECLINED, DECLINED),
        (PaymentState.CANCELLED, PROVIDER_CANCELLED, PROVIDER_CANCELLED, PROVIDER_CANCELLED),
        (PaymentState.PARTIALLY_CANCELLED, PARTIAL, PARTIAL, PARTIAL),
        (PaymentState.RETRY_LATER, POLL, POLL, UNKNOWN),
        (PaymentState.UNRECOGNISED, POLL, POLL, UNKNOWN),
        (PaymentState.MISCONFIGURED, POLL, POLL, POLL),
    ],
)
def test_non_approval_rows(state, open_, final_check, overdue):
    answer = PaymentAnswer(state)
    for can_cancel in (True, False):
        assert decide_payment(order(), answer, phase=Phase.OPEN, can_cancel=can_cancel) == open_
        assert decide_payment(order(), answer, phase=Phase.FINAL, can_cancel=can_cancel) == final_check
        assert decide_payment(order(), answer, phase=Phase.OVERDUE, can_cancel=can_cancel) == overdue


def test_the_table_covers_every_state_but_approval():
    assert set(PAYMENT_TABLE) == set(PaymentState) - {PaymentState.APPROVED}
    assert set(CANCEL_TABLE) == set(CancelState) - {CancelState.CONFIRMED}


def test_configuration_errors_never_end_an_order():
    for row in PAYMENT_TABLE[PaymentState.MISCONFIGURED] + CANCEL_TABLE[CancelState.MISCONFIGURED]:
        assert row.action is Action.POLL


@pytest.mark.parametrize(
    "answer, reason",
    [
        (approved("1000"), None),
        (approved("1000.00"), None),
        (approved("1000.50"), Reason.AMOUNT_MISMATCH),
        (approved("999"), Reason.AMOUNT_MISMATCH),
        (approved("1001"), Reason.AMOUNT_MISMATCH),
        (approved(None), Reason.AMOUNT_MISMATCH),
        (approved("1000", currency="USD"), Reason.CURRENCY_MISMATCH),
        (approved("1000", currency=None), Reason.CURRENCY_MISMATCH),
        (approved("1000", expected="1000.00"), None),
        (approved("1000", expected="1500.00"), Reason.AMOUNT_MISMATCH),
        (approved("1000", expected=None), Reason.AMOUNT_MISMATCH),
        (PaymentAnswer(PaymentState.APPROVED), Reason.AMOUNT_MISMATCH),
    ],
)
def test_integrity_compares_amount_and_currency_exactly(answer, reason):
    assert integrity_failure(order(), answer) == reason


def test_usd_cents_are_compared_exactly():
    usd = order(amount="12.03", currency="USD")
    assert integrity_failure(usd, approved("12.03", currency="USD")) is None
    assert integrity_failure(usd, approved("12.02", currency="USD")) is Reason.AMOUNT_MISMATCH
    assert integrity_failure(usd, approved("1203", currency="USD")) is Reason.AMOUNT_MISMATCH


def test_matching_approval_is_approved_in_every_phase():
    for phase in Phase:
        assert decide_payment(order(), approved("1000"), phase=phase, can_cancel=True) == final(Outcome.APPROVED)


def test_mismatch_is_cancelled_where_the_provider_can_cancel_and_reviewed_where_it_cannot():
    mismatch = approved("999")
    assert decide_payment(order(), mismatch, phase=Phase.OPEN, can_cancel=True) == Decision(
        Action.CANCEL, Outcome.CANCELLED, Reason.AMOUNT_MISMATCH
    )
    assert decide_payment(order(), mismatch, phase=Phase.OPEN, can_cancel=False) == final(Outcome.REVIEW, Reason.AMOUNT_MISMATCH)


def intent(reason="AMOUNT_MISMATCH"):
    return CancelIntent(key="PSC1", request_date="20261122", reason=reason, requested_at="2026-11-22T03:20:00Z",
                        deadline="2026-11-22T09:20:00Z")


@pytest.mark.parametrize(
    "state, before, after",
    [
        (CancelState.ACCEPTED, POLL, final(Outcome.REVIEW, Reason.CANCEL_REFUSED)),
        (CancelState.PENDING, POLL, final(Outcome.REVIEW, Reason.CANCEL_REFUSED)),
        (CancelState.REFUSED, final(Outcome.REVIEW, Reason.CANCEL_REFUSED), final(Outcome.REVIEW, Reason.CANCEL_REFUSED)),
        (CancelState.RETRY_LATER, POLL, final(Outcome.REVIEW, Reason.CANCEL_REFUSED)),
        (CancelState.UNRECOGNISED, POLL, final(Outcome.REVIEW, Reason.CANCEL_REFUSED)),
        (CancelState.MISCONFIGURED, POLL, POLL),
    ],
)
def test_cancel_rows(state, before, after):
    cancelling = order()._replace(cancel=intent())
    assert decide_cancel(cancelling, CancelAnswer(state), deadline_passed=False) == before
    assert decide_cancel(cancelling, CancelAnswer(state), deadline_passed=True) == after


@pytest.mark.parametrize("reason", ["AMOUNT_MISMATCH", "CURRENCY_MISMATCH", "DB_UPDATE_FAILED"])
def test_a_confirmed_cancel_carries_the_reason_it_was_requested_for(reason):
    cancelling = order()._replace(cancel=intent(reason))
    for passed in (False, True):
        assert decide_cancel(cancelling, CancelAnswer(CancelState.CONFIRMED), deadline_passed=passed) == final(
            Outcome.CANCELLED, Reason(reason)
        )


def test_phases_follow_expiry_grace_and_final_retry():
    o = order(window=timedelta(hours=2))
    phase = lambda at: phase_of(o, T0 + at, grace=timedelta(minutes=5), final_retry=timedelta(minutes=15))
    assert phase(timedelta(hours=2, minutes=4, seconds=59)) is Phase.OPEN
    assert phase(timedelta(hours=2, minutes=5)) is Phase.FINAL
    assert phase(timedelta(hours=2, minutes=19, seconds=59)) is Phase.FINAL
    assert phase(timedelta(hours=2, minutes=20)) is Phase.OVERDUE


# -- properties -------------------------------------------------------------------------

amounts = st.decimals(min_value=Decimal(0), max_value=Decimal(100000000), places=2, allow_nan=False)
currencies = st.sampled_from(["KRW", "USD", "JPY", None])
states = st.sampled_from(list(PaymentState))
maybe_amount = st.one_of(st.none(), st.builds(ReportedAmount, st.one_of(st.none(), amounts), currencies))


@settings(max_examples=500, deadline=None)
@given(order_amount=st.decimals(min_value=Decimal("0.01"), max_value=Decimal(100000000), places=2),
       order_currency=st.sampled_from(["KRW", "USD"]), state=states, paid=maybe_amount, expected=maybe_amount,
       phase=st.sampled_from(list(Phase)), can_cancel=st.booleans())
def test_never_approved_unless_amount_and_currency_match_exactly(order_amount, order_currency, state, paid, expected,
                                                                 phase, can_cancel):
    o = order(amount=str(order_amount), currency=order_currency)
    answer = PaymentAnswer(state, paid=paid, expected=expected)
    decision = decide_payment(o, answer, phase=phase, can_cancel=can_cancel)
    if decision.outcome is Outcome.APPROVED and decision.action is Action.FINALISE:
        assert state is PaymentState.APPROVED
        assert paid is not None and paid.amount == o.amount and paid.currency == o.currency
        assert expected is None or (expected.amount == o.amount and expected.currency == o.currency)


@settings(max_examples=500, deadline=None)
@given(paid=maybe_amount, expected=maybe_amount, can_cancel=st.booleans(), phase=st.sampled_from(list(Phase)))
def test_every_mismatch_yields_a_cancel_intent_or_review(paid, expected, can_cancel, phase):
    o = order()
    answer = PaymentAnswer(PaymentState.APPROVED, paid=paid, expected=expected)
    reason = integrity_failure(o, answer)
    decision = decide_payment(o, answer, phase=phase, can_cancel=can_cancel)
    if reason is None:
        assert decision == final(Outcome.APPROVED)
    elif can_cancel:
        assert decision == Decision(Action.CANCEL, Outcome.CANCELLED, reason)
    else:
        assert decision == final(Outcome.REVIEW, reason)
    assert reason in (None, Reason.AMOUNT_MISMATCH, Reason.CURRENCY_MISMATCH)


# -- audits of decided orders -------------------------------------------------------------------

FAILED_EXPIRED = (Outcome.FAILED, Reason.EXPIRED)
REVIEW_UNKNOWN = (Outcome.REVIEW, Reason.UNKNOWN_PROVIDER_STATE)
REVIEW_EXPIRED = (Outcome.REVIEW, Reason.EXPIRED)
NOTHING = AuditDecision(AuditAction.NOTHING)
RETRY = AuditDecision(AuditAction.RETRY)


@pytest.mark.parametrize(
    "state, kicc_cancel, review_instead",
    [
        (PaymentState.APPROVED, AuditDecision(AuditAction.CANCEL, Reason.LATE_PAYMENT),
         AuditDecision(AuditAction.PUBLISH, Reason.LATE_PAYMENT)),
        (PaymentState.PARTIALLY_CANCELLED, AuditDecision(AuditAction.PUBLISH, Reason.LATE_PAYMENT),
         AuditDecision(AuditAction.PUBLISH, Reason.LATE_PAYMENT)),
        (PaymentState.IN_PROGRESS, NOTHING, NOTHING),
        (PaymentState.NOT_FOUND, NOTHING, NOTHING),
        (PaymentState.DECLINED, NOTHING, NOTHING),
        (PaymentState.CANCELLED, NOTHING, NOTHING),
        (PaymentState.RETRY_LATER, RETRY, RETRY),
        (PaymentState.UNRECOGNISED, RETRY, RETRY),
        (PaymentState.MISCONFIGURED, RETRY, RETRY),
    ],
)
def test_audit_rows_of_an_expired_order(state, kicc_cancel, review_instead):
    answer = PaymentAnswer(state)
    assert decide_audit(FAILED_EXPIRED, answer, can_cancel=True, cancel_late=True) == kicc_cancel
    assert decide_audit(FAILED_EXPIRED, answer, can_cancel=True, cancel_late=False) == review_instead
    assert decide_audit(FAILED_EXPIRED, answer, can_cancel=False, cancel_late=True) == review_instead


@pytest.mark.parametrize(
    "state, reason",
    [
        (PaymentState.APPROVED, Reason.LATE_PAYMENT),
        (PaymentState.PARTIALLY_CANCELLED, Reason.PARTIAL_CANCEL),
        (PaymentState.DECLINED, Reason.PROVIDER_DECLINED),
        (PaymentState.CANCELLED, Reason.PROVIDER_CANCELLED),
        (PaymentState.IN_PROGRESS, Reason.EXPIRED),
        (PaymentState.NOT_FOUND, Reason.EXPIRED),
    ],
)
def test_audit_rows_of_an_order_in_review_for_an_unknown_state(state, reason):
    for can_cancel in (True, False):
        decision = decide_audit(REVIEW_UNKNOWN, PaymentAnswer(state), can_cancel=can_cancel, cancel_late=True)
        assert decision == AuditDecision(AuditAction.PUBLISH, reason)


@pytest.mark.parametrize("state", list(PaymentState))
def test_a_follow_up_saying_unpaid_is_audited_like_an_expiry_but_never_cancelled(state):
    """A person holds an order in REVIEW: a late payment found then is theirs to settle."""
    expected = decide_audit(FAILED_EXPIRED, PaymentAnswer(state), can_cancel=False, cancel_late=True)
    for can_cancel in (True, False):
        assert decide_audit(REVIEW_EXPIRED, PaymentAnswer(state), can_cancel=can_cancel, cancel_late=True) == expected


def test_the_audit_table_covers_every_definite_state():
    definite = set(PaymentState) - {PaymentState.RETRY_LATER, PaymentState.UNRECOGNISED, PaymentState.MISCONFIGURED}
    assert set(FOLLOW_UP_REASONS) == definite
    assert AUDITED == {FAILED_EXPIRED, REVIEW_UNKNOWN, REVIEW_EXPIRED}


@given(decided=st.sampled_from(sorted(AUDITED)), state=states, paid=maybe_amount, expected=maybe_amount,
       can_cancel=st.booleans(), cancel_late=st.booleans())
def test_an_audit_never_approves_and_only_cancels_a_payment_where_it_may(decided, state, paid, expected, can_cancel,
                                                                         cancel_late):
    answer = PaymentAnswer(state, paid=paid, expected=expected)
    decision = decide_audit(decided, answer, can_cancel=can_cancel, cancel_late=cancel_late)
    assert decision.action in set(AuditAction)
    if decision.action is AuditAction.CANCEL:
        # only a payment found after FAILED, on a provider that can cancel, with the merchant's consent
        assert decided == FAILED_EXPIRED and state is PaymentState.APPROVED and can_cancel and cancel_late
        assert decision.reason is Reason.LATE_PAYMENT
    if decision.action is AuditAction.PUBLISH:
        assert decision.reason is not None
    if state in (PaymentState.RETRY_LATER, PaymentState.UNRECOGNISED, PaymentState.MISCONFIGURED):
        assert decision == RETRY  # a doubt is never a finding
    if state is PaymentState.APPROVED:
        # money taken after the decision is never left unreported, whatever the amount
        assert decision.action in (AuditAction.CANCEL, AuditAction.PUBLISH)
        assert decision.reason is Reason.LATE_PAYMENT


def test_a_payment_the_provider_cannot_refund_is_never_sent_to_cancel() -> None:
    """A canceller alone does not make a payment cancellable: the answer can say it is not (a
    deposited virtual account), and the flow, the audit and the compensation then decide as for a
    provider without a cancel API."""
    canceller = object()
    assert approved("990").can_cancel(canceller)
    assert not approved("990", cancellable=False).can_cancel(canceller)
    assert not approved("990").can_cancel(None)
