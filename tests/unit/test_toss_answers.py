"""Toss Payments answers normalised without any network: every status, error class, integrity
check and cancel answer, the exactness of amounts and the stability of the cancel's key."""

from __future__ import annotations

import base64
import importlib
import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Self

import pytest
import requests
import toss_adapter as toss
import toss_assumptions as assume
from paysweep.domain.answers import CancelIntent, CancelState, PaymentState, ReportedAmount
from paysweep.domain.decisions import Action, Phase, decide_cancel, decide_payment
from paysweep.domain.orders import OrderStatus
from paysweep.domain.outcomes import Outcome, Reason
from paysweep.provider.client import ProviderClient, SecretUnavailable
from paysweep.provider.guard import GuardedAdapter
from paysweep.provider.http import AnswerTooLarge, HttpReply, ProviderUnreachable
from support.factories import order as make_order

SECRET_KEY = "test_sk_zXLkKEypNArWmo50nX3lmeaxYG5R"
BASIC = "Basic dGVzdF9za196WExrS0V5cE5BcldtbzUwblgzbG1lYXhZRzVSOg=="  # T.1's worked value
PAYMENT_KEY = "5zJ4xY7m0kODnyRpQWGrN2xqGlNvLrKwv1M9ENjbeoPaZdL6"
ORDER = make_order(order_id="ORD-1001", provider="toss-payments", amount="15000", pg_cno=None)
T0 = datetime(2026, 11, 22, 3, 14, 15, tzinfo=UTC)


def payment(**changes: Any) -> dict[str, Any]:
    """An approved 15,000 KRW card payment (PROVIDERS-toss.md T.3, Example 1, the fields that matter)."""
    body: dict[str, Any] = {
        "mId": "tosspayments", "version": "2022-11-16", "paymentKey": PAYMENT_KEY, "orderId": "ORD-1001",
        "status": "DONE", "lastTransactionKey": "B7103F204998813B889C77C043D09502",
        "requestedAt": "2026-11-22T12:14:02+09:00", "approvedAt": "2026-11-22T12:14:15+09:00",
        "card": {"amount": 15000}, "virtualAccount": None, "cancels": None, "failure": None,
        "currency": "KRW", "totalAmount": 15000, "balanceAmount": 15000, "suppliedAmount": 13636, "vat": 1364,
        "taxFreeAmount": 0, "method": "카드",
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not ...}


VA = {"accountNumber": "X3790109057645", "accountType": "일반", "bankCode": "88", "dueDate": "2026-11-29T12:14:02+09:00",
      "expired": False, "settlementStatus": "INCOMPLETED", "refundStatus": "NONE", "refundReceiveAccount": None}


def cancel_entry(amount: Any = 15000, key: str = "A47A42AE50F68F5FFB62778C67153E36", status: str = "DONE") -> dict[str, Any]:
    return {"transactionKey": key, "cancelReason": "AMOUNT_MISMATCH", "canceledAt": "2026-11-22T13:02:11+09:00",
            "cancelStatus": status, "cancelAmount": amount, "refundableAmount": 0, "taxFreeAmount": 0}


def cancelled(**changes: Any) -> dict[str, Any]:
    return payment(**{"status": "CANCELED", "balanceAmount": 0, "suppliedAmount": 0, "vat": 0, "cancels": [cancel_entry()],
                      "lastTransactionKey": "A47A42AE50F68F5FFB62778C67153E36", **changes})


def reply(body: Any, status: int = 200) -> HttpReply:
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    return HttpReply(status=status, body=raw, elapsed_ms=5, content_type="application/json")


def error(code: str, status: int, message: str = "메시지") -> HttpReply:
    return reply({"code": code, "message": message}, status)


def lookup(body: Any, status: int = 200, o: Any = ORDER, mid: str | None = None) -> Any:
    return toss.parse_lookup(o, reply(body, status), mid)[0]


def decide(answer: Any, phase: Phase = Phase.OPEN, can_cancel: bool = True, o: Any = ORDER) -> tuple[Any, Any, Any]:
    decision = decide_payment(o, answer, phase=phase, can_cancel=can_cancel)
    return decision.action, decision.outcome, decision.reason


# -- payment statuses ------------------------------------------------------------------------------------


def test_done_with_the_orders_amount_and_currency_is_approved() -> None:
    answer = lookup(payment())
    assert answer.state is PaymentState.APPROVED and answer.provider_status == "DONE"
    assert answer.paid.amount == Decimal(15000) and answer.paid.currency == "KRW"
    assert answer.refs == {"paymentKey": PAYMENT_KEY, "lastTransactionKey": "B7103F204998813B889C77C043D09502"}
    assert decide(answer) == (Action.FINALISE, Outcome.APPROVED, None)


@pytest.mark.parametrize("changes, reason", [
    ({"totalAmount": 14999, "balanceAmount": 14999}, Reason.AMOUNT_MISMATCH),
    ({"totalAmount": 15001, "balanceAmount": 15001}, Reason.AMOUNT_MISMATCH),
    ({"currency": "USD", "totalAmount": 15000.5, "balanceAmount": 15000.5}, Reason.CURRENCY_MISMATCH),
    ({"currency": "MUSD", "totalAmount": 15000000000, "balanceAmount": 15000000000}, Reason.CURRENCY_MISMATCH),
])
def test_done_with_another_amount_or_currency_is_a_mismatch_to_cancel(changes: dict[str, Any], reason: Reason) -> None:
    answer = lookup(payment(**changes))
    assert answer.state is PaymentState.APPROVED
    assert decide(answer) == (Action.CANCEL, Outcome.CANCELLED, reason)


def test_another_currency_is_never_rescaled() -> None:
    """[GAP TOSS-AMOUNTS]: MUSD's micro-units are taken as given."""
    answer = lookup(payment(currency="MUSD", totalAmount=50000000000, balanceAmount=50000000000))
    assert answer.paid == (Decimal(50000000000), "MUSD")


@pytest.mark.parametrize("status, extra", [
    ("READY", {}), ("IN_PROGRESS", {}),
    ("WAITING_FOR_DEPOSIT", {"virtualAccount": VA, "method": "가상계좌"}),
    ("WAITING_FOR_DEPOSIT", {"virtualAccount": {**VA, "expired": True}}),
    ("EXPIRED", {"failure": {"code": "EXPIRED_PAYMENT", "message": "결제가 만료되었습니다."}, "method": None,
                 "lastTransactionKey": None}),
])
def test_unpaid_statuses_wait_for_the_orders_expiry_then_fail_expired(status: str, extra: dict[str, Any]) -> None:
    answer = lookup(payment(status=status, approvedAt=None, **extra))
    assert answer.state is PaymentState.IN_PROGRESS and answer.provider_status == status and answer.paid is None
    assert answer.refs["paymentKey"] == PAYMENT_KEY
    assert decide(answer) == (Action.POLL, None, None)
    assert decide(answer, Phase.FINAL) == (Action.FINALISE, Outcome.FAILED, Reason.EXPIRED)


def test_a_waiting_virtual_account_shows_its_due_date_in_the_detail() -> None:
    answer = lookup(payment(status="WAITING_FOR_DEPOSIT", approvedAt=None, virtualAccount={**VA, "expired": True}))
    assert "virtual account due 2026-11-29T12:14:02+09:00, expired" in answer.detail


def test_an_expired_payment_keeps_its_failure_in_the_detail() -> None:
    answer = lookup(payment(status="EXPIRED", approvedAt=None, failure={"code": "EXPIRED_PAYMENT", "message": "만료"}))
    assert "EXPIRED_PAYMENT" in answer.detail


def test_aborted_is_declined_with_its_failure_code() -> None:
    answer = lookup(payment(status="ABORTED", approvedAt=None,
                            failure={"code": "COMMON_ERROR", "message": "일시적인 오류가 발생했습니다."}))
    assert answer.state is PaymentState.DECLINED and answer.provider_status == "ABORTED"
    assert "COMMON_ERROR" in answer.detail and "일시적인 오류" in answer.detail
    assert decide(answer) == (Action.FINALISE, Outcome.FAILED, Reason.PROVIDER_DECLINED)


def test_canceled_not_by_us_is_the_providers_cancel() -> None:
    answer = lookup(cancelled())
    assert answer.state is PaymentState.CANCELLED and answer.provider_status == "CANCELED"
    assert answer.paid == (Decimal(15000), "KRW")
    assert answer.refs["lastTransactionKey"] == "A47A42AE50F68F5FFB62778C67153E36"
    assert decide(answer) == (Action.FINALISE, Outcome.CANCELLED, Reason.PROVIDER_CANCELLED)


def test_a_virtual_account_cancelled_before_its_deposit_is_the_providers_cancel() -> None:
    answer = lookup(payment(status="CANCELED", approvedAt=None, virtualAccount=VA, balanceAmount=30000, totalAmount=30000))
    assert decide(answer) == (Action.FINALISE, Outcome.CANCELLED, Reason.PROVIDER_CANCELLED)


def test_partial_cancel_goes_to_review_reporting_what_is_still_charged() -> None:
    answer = lookup(payment(status="PARTIAL_CANCELED", balanceAmount=10000, suppliedAmount=9091, vat=909,
                            cancels=[cancel_entry(5000, status="DONE")]))
    assert answer.state is PaymentState.PARTIALLY_CANCELLED
    assert answer.paid == (Decimal(10000), "KRW")
    assert "totalAmount 15000 KRW" in answer.detail and "cancelled 5000" in answer.detail
    assert decide(answer) == (Action.FINALISE, Outcome.REVIEW, Reason.PARTIAL_CANCEL)


def test_a_partial_cancel_whose_sums_disagree_still_goes_to_review_and_says_so() -> None:
    answer = lookup(payment(status="PARTIAL_CANCELED", balanceAmount=9000, cancels=[cancel_entry(5000)]))
    assert answer.state is PaymentState.PARTIALLY_CANCELLED and "not totalAmount less the cancels" in answer.detail


def test_a_virtual_account_approval_is_approved_and_noted() -> None:
    """[GAP TOSS-DONE-REVERSAL]: no delay window; the history says it was a virtual account."""
    answer = lookup(payment(virtualAccount={**VA, "settlementStatus": "COMPLETED"}, method="가상계좌"))
    assert answer.state is PaymentState.APPROVED and "virtual account" in answer.detail


@pytest.mark.parametrize("body, cancellable", [
    (payment(), True),  # a card
    (payment(totalAmount=14000, balanceAmount=14000), True),
    (payment(virtualAccount=VA, method="가상계좌"), False),  # deposited: its refund needs the customer's account
    (payment(totalAmount=14000, balanceAmount=14000, virtualAccount=VA), False),
    (payment(status="PARTIAL_CANCELED", balanceAmount=10000, cancels=[cancel_entry(5000)], virtualAccount=VA), False),
    (payment(status="PARTIAL_CANCELED", balanceAmount=10000, cancels=[cancel_entry(5000)]), True),
    (payment(status="WAITING_FOR_DEPOSIT", approvedAt=None, virtualAccount=VA), True),  # nothing deposited
])
def test_a_deposited_virtual_account_is_not_cancellable_and_a_card_is(body: dict[str, Any], cancellable: bool) -> None:
    """[GAP TOSS-VA-REFUND]: the engine must not decide to cancel what paysweep cannot refund."""
    answer = lookup(body)
    adapter = toss.TossPaymentsAdapter(FakeTransport())
    assert answer.cancellable is cancellable and answer.can_cancel(adapter.canceller) is cancellable


def test_unknown_fields_are_ignored() -> None:
    assert lookup(payment(brandNewField={"x": 1}, easyPay={"provider": "토스페이"})).state is PaymentState.APPROVED


# -- integrity: a DONE charging another amount than it approved ---------------------------------------


@pytest.mark.parametrize("balance", [14000, 16000])
def test_a_done_whose_balance_is_not_its_total_is_a_mismatch_reported_as_the_balance(balance: int) -> None:
    """T.9.1's integrity list has balanceAmount == totalAmount: what a DONE still charges is what is
    compared with the order ([GAP TOSS-INTEGRITY]), so the engine cancels a card payment."""
    answer = lookup(payment(balanceAmount=balance))
    assert (answer.state, answer.paid) == (PaymentState.APPROVED, ReportedAmount(Decimal(balance), "KRW"))
    assert decide(answer) == (Action.CANCEL, Outcome.CANCELLED, Reason.AMOUNT_MISMATCH)


# -- integrity: answers never trusted --------------------------------------------------------------------


@pytest.mark.parametrize("body, why", [
    (payment(orderId="ORD-9999"), "another orderId"),
    (payment(paymentKey=""), "paymentKey is missing"),
    (payment(paymentKey=None), "paymentKey is missing"),
    (payment(paymentKey="k" * 201), "paymentKey must be"),
    (payment(approvedAt=None), "DONE without approvedAt"),
    (payment(cancels=[cancel_entry(1)]), "DONE with cancels"),
    (payment(balanceAmount=None), "DONE with balanceAmount none"),
    (payment(status="SETTLED"), "unknown status"),
    (payment(status=None), "status is missing"),
    (payment(status=3), "status must be a string"),
    (payment(orderId=None), "orderId is missing"),
    (payment(currency=None), "currency is missing"),
    (payment(currency="krw"), "not a currency code"),
    (payment(currency="KRWKRWKRW"), "not a currency code"),
    (payment(totalAmount="15000"), "totalAmount must be a number"),
    (payment(totalAmount=True), "totalAmount must be a number"),
    (payment(totalAmount=None), "totalAmount is missing"),
    (payment(totalAmount=-15000), "finite amount >= 0"),
    (payment(totalAmount=15000.5, balanceAmount=15000.5), "fraction KRW does not have"),
    (payment(balanceAmount="15000"), "balanceAmount must be a number"),
    (payment(cancels={"cancelAmount": 1}), "cancels must be a list"),
    (payment(cancels=["x"]), "cancels[0] must be an object"),
    (payment(status="PARTIAL_CANCELED", cancels=[{"cancelStatus": "DONE"}]), "cancelAmount is missing"),
    (payment(status="PARTIAL_CANCELED", balanceAmount=None, cancels=[cancel_entry(5000)]), "without balanceAmount"),
    (payment(virtualAccount="X123"), "virtualAccount must be an object"),
    (b'{"status":"DONE","totalAmount":NaN}', "not JSON"),
    (b'{"status":"DONE","totalAmount":Infinity}', "not JSON"),
    (b"<html>oops</html>", "not JSON"),
    (b"", "not JSON"),
    (b"\xff\xfe", "not JSON"),
    (b"[1, 2]", "not a JSON object"),
])
def test_answers_that_break_the_reference_or_are_not_about_our_order_are_never_trusted(body: Any, why: str) -> None:
    answer = lookup(body)
    assert answer.state is PaymentState.UNRECOGNISED and why in answer.detail, answer.detail
    assert answer.error_kind == "bad_answer" and answer.provider_status is None
    assert decide(answer) == (Action.POLL, None, None)
    assert decide(answer, Phase.OVERDUE) == (Action.FINALISE, Outcome.REVIEW, Reason.UNKNOWN_PROVIDER_STATE)


def test_an_answer_for_another_shop_is_not_trusted_when_the_secret_names_ours() -> None:
    assert lookup(payment(mId="othershop"), mid="tosspayments").state is PaymentState.UNRECOGNISED
    assert lookup(payment(), mid="tosspayments").state is PaymentState.APPROVED
    assert lookup(payment(mId=None), mid="tosspayments").state is PaymentState.APPROVED
    assert lookup(payment(mId="othershop")).state is PaymentState.APPROVED  # no mId in the secret: not checked


# -- exact amounts ---------------------------------------------------------------------------------------


def test_amounts_are_exact_decimals_never_floats() -> None:
    raw = json.dumps(payment(currency="USD")).replace('"totalAmount": 15000', '"totalAmount": 726.10000000000000001')
    raw = raw.replace('"balanceAmount": 15000', '"balanceAmount": 726.10000000000000001')
    answer = lookup(raw.encode())
    assert isinstance(answer.paid.amount, Decimal) and answer.paid.amount == Decimal("726.10000000000000001")
    assert answer.paid.amount != Decimal("726.1")


def test_a_krw_fraction_too_small_for_a_float_is_still_refused() -> None:
    raw = json.dumps(payment()).replace('"totalAmount": 15000', '"totalAmount": 15000.000000000000000001')
    raw = raw.replace('"balanceAmount": 15000', '"balanceAmount": 15000.000000000000000001')
    assert lookup(raw.encode()).state is PaymentState.UNRECOGNISED


@pytest.mark.parametrize("written", ["15000.0", "15000.00", "1.5E4", "15000"])
def test_whole_krw_written_any_way_json_allows_is_the_same_amount(written: str) -> None:
    raw = json.dumps(payment()).replace('"totalAmount": 15000', f'"totalAmount": {written}')
    raw = raw.replace('"balanceAmount": 15000', f'"balanceAmount": {written}')
    answer = lookup(raw.encode())
    assert answer.state is PaymentState.APPROVED and decide(answer) == (Action.FINALISE, Outcome.APPROVED, None)


def test_a_huge_amount_is_exact_and_a_mismatch() -> None:
    answer = lookup(payment(totalAmount=10**30 + 15000, balanceAmount=10**30 + 15000))
    assert answer.paid.amount == Decimal(10**30 + 15000) and decide(answer)[2] is Reason.AMOUNT_MISMATCH


# -- lookup errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("status, code, state, kind", [
    (404, "NOT_FOUND_PAYMENT", PaymentState.NOT_FOUND, None),
    (404, "NOT_FOUND", PaymentState.NOT_FOUND, None),
    (401, "UNAUTHORIZED_KEY", PaymentState.MISCONFIGURED, "config"),
    (403, "INCORRECT_BASIC_AUTH_FORMAT", PaymentState.MISCONFIGURED, "config"),
    (400, "INVALID_API_KEY", PaymentState.MISCONFIGURED, "config"),
    (400, "INVALID_REQUEST", PaymentState.MISCONFIGURED, "config"),
    (401, "SOME_NEW_AUTH_CODE", PaymentState.MISCONFIGURED, "config"),
    (403, "FORBIDDEN_CONSECUTIVE_REQUEST", PaymentState.RETRY_LATER, "throttled"),
    (409, "IDEMPOTENT_REQUEST_PROCESSING", PaymentState.RETRY_LATER, "provider_error"),
    (400, "PROVIDER_ERROR", PaymentState.RETRY_LATER, "provider_error"),
    (500, "FAILED_PAYMENT_INTERNAL_SYSTEM_PROCESSING", PaymentState.RETRY_LATER, "provider_error"),
    (500, "COMMON_ERROR", PaymentState.RETRY_LATER, "provider_error"),
    (503, "SOMETHING_NEW", PaymentState.RETRY_LATER, "unknown_code"),
    (400, "A_BRAND_NEW_CODE", PaymentState.RETRY_LATER, "unknown_code"),
])
def test_lookup_errors_by_code(status: int, code: str, state: PaymentState, kind: str | None) -> None:
    answer = toss.parse_lookup(ORDER, error(code, status))[0]
    assert answer.state is state and answer.error_kind == kind
    assert answer.provider_status == (code if len(code) <= 40 else None)  # the outcome's providerStatus holds 40
    assert code in answer.detail and f"HTTP {status}" in answer.detail


def test_not_found_is_pending_until_the_order_expires_then_failed_expired() -> None:
    answer = toss.parse_lookup(ORDER, error("NOT_FOUND_PAYMENT", 404))[0]
    assert decide(answer) == (Action.POLL, None, None)
    assert decide(answer, Phase.FINAL) == (Action.FINALISE, Outcome.FAILED, Reason.EXPIRED)


def test_misconfiguration_never_decides() -> None:
    answer = toss.parse_lookup(ORDER, error("UNAUTHORIZED_KEY", 401))[0]
    assert {decide(answer, phase)[0] for phase in Phase} == {Action.POLL}


def test_a_code_too_long_for_the_outcome_is_kept_in_the_detail_only() -> None:
    answer = toss.parse_lookup(ORDER, error("NOT_SUPPORTED_MONTHLY_INSTALLMENT_PLAN_BELOW_AMOUNT", 400))[0]
    assert answer.state is PaymentState.UNRECOGNISED and answer.provider_status is None
    assert "NOT_SUPPORTED_MONTHLY_INSTALLMENT_PLAN_BELOW_AMOUNT" in answer.detail


@pytest.mark.parametrize("status", [404, 429, 500, 502, 503, 504, 301])
def test_an_error_body_that_is_not_tosss_error_object_is_transient_and_never_not_found(status: int) -> None:
    """[GAP TOSS-ERRORS]: a gateway's page (or a wrong base URL's 404) never expires an order early."""
    for body in (b"<html>Bad Gateway</html>", b"", b'{"message": "no code"}', b'{"code": 7}'):
        answer = toss.parse_lookup(ORDER, reply(body, status))[0]
        assert answer.state is PaymentState.RETRY_LATER and answer.error_kind == f"http_{status // 100}xx"


# -- references ------------------------------------------------------------------------------------------


def test_a_key_longer_than_the_contracts_references_is_left_out_of_them_and_kept_in_the_detail() -> None:
    """[GAP TOSS-REF-LENGTH]."""
    long_key = "P" * 61
    answer = lookup(payment(paymentKey=long_key, lastTransactionKey="T" * 64))
    assert answer.state is PaymentState.APPROVED and answer.refs == {}
    assert long_key in answer.detail


def test_a_payment_without_a_last_transaction_key_publishes_its_payment_key() -> None:
    assert lookup(payment(status="READY", approvedAt=None, lastTransactionKey=None)).refs == {"paymentKey": PAYMENT_KEY}


# -- requests, credentials -------------------------------------------------------------------------------


class FakeTransport:
    """A Toss transport stand-in: records each request, answers from `answers` (path -> reply)."""

    def __init__(self, *answers: HttpReply, secret: dict[str, Any] | None = None) -> None:
        self.answers = list(answers)
        self.secret = {"secretKey": SECRET_KEY} if secret is None else secret
        self.sent: list[tuple[str, str, dict[str, Any] | None, dict[str, str]]] = []

    def credentials(self) -> dict[str, Any]:
        return self.secret

    def get(self, path: str, headers: dict[str, str] | None = None) -> HttpReply:
        self.sent.append(("GET", path, None, dict(headers or {})))
        return self.answers.pop(0)

    def post(self, path: str, payload: dict[str, Any], headers: dict[str, str] | None = None) -> HttpReply:
        self.sent.append(("POST", path, payload, dict(headers or {})))
        return self.answers.pop(0)


def test_the_lookup_is_a_get_by_order_id_with_basic_auth_of_the_key_and_a_colon() -> None:
    transport = FakeTransport(reply(payment()))
    answer = toss.TossPaymentsAdapter(transport).check_payment(ORDER)
    assert answer.state is PaymentState.APPROVED
    assert transport.sent == [("GET", "/v1/payments/orders/ORD-1001", None, {"Authorization": BASIC})]
    assert base64.b64decode(BASIC.removeprefix("Basic ")) == (SECRET_KEY + ":").encode()


def test_the_order_id_is_percent_encoded_in_the_path() -> None:
    other = make_order(order_id="ab=cd_12", provider="toss-payments", amount="15000", pg_cno=None)
    transport = FakeTransport(reply(payment(orderId="ab=cd_12")))
    toss.TossPaymentsAdapter(transport).check_payment(other)
    assert transport.sent[0][1] == "/v1/payments/orders/ab%3Dcd_12"


@pytest.mark.parametrize("secret", [
    {}, {"secretKey": ""}, {"secretKey": 12}, {"secretKey": "sk_zXLkKEypNArWmo50nX3lm"},
    {"secretKey": "test_sk_with:colon"}, {"secretKey": "test_sk_with space"}, {"secretKey": "test_"},
    {"secretKey": SECRET_KEY, "mId": ""}, {"secretKey": SECRET_KEY, "mId": "m" * 15}, {"secretKey": SECRET_KEY, "mId": 3},
])
def test_an_unusable_secret_is_a_misconfiguration_that_never_quotes_the_key(secret: dict[str, Any]) -> None:
    with pytest.raises(SecretUnavailable) as raised:
        toss.credentials(secret)
    assert SECRET_KEY not in str(raised.value) and "zXLkKEyp" not in str(raised.value)
    transport = FakeTransport(reply(payment()), secret=secret)
    answer = GuardedAdapter(toss.TossPaymentsAdapter(transport)).check_payment(ORDER)
    assert answer.state is PaymentState.MISCONFIGURED and answer.error_kind == "secret" and transport.sent == []


def test_live_and_test_keys_and_a_shop_id_are_accepted() -> None:
    assert toss.credentials({"secretKey": "live_sk_abc"}) == ("live_sk_abc", None)
    assert toss.credentials({"secretKey": "test_gsk_abc", "mId": "tosspayments"}) == ("test_gsk_abc", "tosspayments")


def test_the_adapter_is_its_own_canceller_and_the_function_builds_it_from_its_client() -> None:
    client = ProviderClient("https://api.tosspayments.com", requests.Session(), lambda: {"secretKey": SECRET_KEY},
                            5, 30, 65536)
    adapter = toss.TossPaymentsAdapter.from_environment(client, {})
    assert adapter.canceller is adapter and adapter.profile.provider_id == "toss-payments"


# -- cancels ---------------------------------------------------------------------------------------------


def intent(o: Any = ORDER, reason: str = "AMOUNT_MISMATCH") -> CancelIntent:
    return toss.TossPaymentsAdapter(FakeTransport()).new_intent(o, reason, T0, T0 + timedelta(hours=1))


def test_the_cancel_key_is_stable_per_order_and_decision_and_fits_tosss_limit() -> None:
    adapter = toss.TossPaymentsAdapter(FakeTransport())
    first = adapter.new_intent(ORDER, "AMOUNT_MISMATCH", T0, T0 + timedelta(hours=1))
    again = adapter.new_intent(ORDER, "DB_UPDATE_FAILED", T0 + timedelta(hours=3), T0 + timedelta(hours=4))
    assert first.key == again.key == "paysweep:ORD-1001:cancel:1"
    assert adapter.new_intent(ORDER._replace(generation=1), "LATE_PAYMENT", T0, T0).key == "paysweep:ORD-1001:cancel:2"
    assert adapter.new_intent(ORDER._replace(order_id="ORD-1002"), "AMOUNT_MISMATCH", T0, T0).key != first.key
    longest = ORDER._replace(order_id="A" * 40, generation=10**9)
    assert len(adapter.new_intent(longest, "AMOUNT_MISMATCH", T0, T0).key) <= assume.IDEMPOTENCY_KEY_MAX
    assert first.requested_at == first.request_date == "2026-11-22T03:14:15Z" and first.reason == "AMOUNT_MISMATCH"


def test_a_cancels_deadline_never_outlives_its_key() -> None:
    """[GAP TOSS-IDEMPOTENCY]: a key lives 15 days; retries stop at 14."""
    adapter = toss.TossPaymentsAdapter(FakeTransport())
    assert adapter.new_intent(ORDER, "AMOUNT_MISMATCH", T0, T0 + timedelta(hours=2)).deadline == "2026-11-22T05:14:15Z"
    assert adapter.new_intent(ORDER, "AMOUNT_MISMATCH", T0, T0 + timedelta(days=30)).deadline == "2026-12-06T03:14:15Z"


def test_a_card_payment_is_looked_up_then_fully_cancelled_under_the_intents_key() -> None:
    transport = FakeTransport(reply(payment(totalAmount=14000, balanceAmount=14000)), reply(cancelled(totalAmount=14000,
                              cancels=[cancel_entry(14000, key="CANCEL-TX-1")], lastTransactionKey="CANCEL-TX-1")))
    i = intent()
    answer = toss.TossPaymentsAdapter(transport).request_cancel(ORDER, i)
    assert answer.state is CancelState.ACCEPTED and answer.reference == "CANCEL-TX-1"
    (get, post) = transport.sent
    assert get[:2] == ("GET", "/v1/payments/orders/ORD-1001")
    assert post == ("POST", f"/v1/payments/{PAYMENT_KEY}/cancel", {"cancelReason": "AMOUNT_MISMATCH"},
                    {"Authorization": BASIC, "Idempotency-Key": "paysweep:ORD-1001:cancel:1"})
    assert decide_cancel(ORDER._replace(cancel=i), answer, deadline_passed=False).action is Action.POLL


def test_every_retry_of_a_cancel_sends_the_same_key() -> None:
    transport = FakeTransport(reply(payment()), error("IDEMPOTENT_REQUEST_PROCESSING", 409),
                              reply(payment()), reply(b"<html>504</html>", 504),
                              reply(payment()), reply(cancelled()))
    adapter, i = toss.TossPaymentsAdapter(transport), intent()
    states = [adapter.request_cancel(ORDER, i).state for _ in range(3)]
    assert states == [CancelState.RETRY_LATER, CancelState.RETRY_LATER, CancelState.ACCEPTED]
    keys = {headers["Idempotency-Key"] for method, _, _, headers in transport.sent if method == "POST"}
    assert keys == {"paysweep:ORD-1001:cancel:1"}


def test_a_deposited_virtual_account_is_never_sent_to_cancel_and_goes_to_review() -> None:
    """[GAP TOSS-VA-REFUND]: the refund needs the customer's bank account. The engine does not decide
    to cancel one (its answer is not cancellable); should a cancel reach the canceller anyway, it
    refuses on its lookup: the second line of defence."""
    transport = FakeTransport(reply(payment(totalAmount=14000, balanceAmount=14000, virtualAccount=VA, method="가상계좌")))
    i = intent()
    answer = toss.TossPaymentsAdapter(transport).request_cancel(ORDER, i)
    assert answer.state is CancelState.REFUSED and "bank account" in answer.detail
    assert [method for method, *_ in transport.sent] == ["GET"]
    decision = decide_cancel(ORDER._replace(cancel=i), answer, deadline_passed=False)
    assert (decision.outcome, decision.reason) == (Outcome.REVIEW, Reason.CANCEL_REFUSED)


def test_a_card_mismatch_is_cancelled_and_a_virtual_account_mismatch_reviewed() -> None:
    """The same mismatch, two outcomes: the engine cancels the card's and sends the virtual account's
    to REVIEW AMOUNT_MISMATCH (not cancellable); were it cancelled anyway, the canceller would refuse."""
    card, va = payment(totalAmount=14000, balanceAmount=14000), payment(totalAmount=14000, balanceAmount=14000, virtualAccount=VA)
    adapter = toss.TossPaymentsAdapter(FakeTransport())
    card_answer, va_answer = lookup(card), lookup(va)
    assert decide(card_answer, can_cancel=card_answer.can_cancel(adapter.canceller))[0] is Action.CANCEL
    assert decide(va_answer, can_cancel=va_answer.can_cancel(adapter.canceller))[1:] == (Outcome.REVIEW, Reason.AMOUNT_MISMATCH)
    for body, sent, state in ((card, ["GET", "POST"], CancelState.ACCEPTED), (va, ["GET"], CancelState.REFUSED)):
        transport = FakeTransport(reply(body), reply(cancelled()))
        assert toss.TossPaymentsAdapter(transport).request_cancel(ORDER, intent()).state is state
        assert [method for method, *_ in transport.sent] == sent


@pytest.mark.parametrize("found, state", [
    (payment(status="PARTIAL_CANCELED", balanceAmount=10000, cancels=[cancel_entry(5000)]), CancelState.REFUSED),
    (payment(status="WAITING_FOR_DEPOSIT", approvedAt=None, virtualAccount=VA), CancelState.REFUSED),
    (payment(status="IN_PROGRESS", approvedAt=None), CancelState.REFUSED),
    (payment(status="ABORTED", approvedAt=None), CancelState.REFUSED),
    (cancelled(), CancelState.CONFIRMED),
    (cancelled(balanceAmount=5000), CancelState.UNRECOGNISED),
])
def test_what_the_lookup_before_a_cancel_settles_without_sending_it(found: dict[str, Any], state: CancelState) -> None:
    transport = FakeTransport(reply(found))
    answer = toss.TossPaymentsAdapter(transport).request_cancel(ORDER, intent())
    assert answer.state is state and [method for method, *_ in transport.sent] == ["GET"]


def test_a_payment_cancelled_before_our_cancel_was_sent_is_confirmed_with_its_cancel() -> None:
    transport = FakeTransport(reply(cancelled()))
    answer = toss.TossPaymentsAdapter(transport).request_cancel(ORDER, intent())
    assert answer.state is CancelState.CONFIRMED and answer.reference == "A47A42AE50F68F5FFB62778C67153E36"


@pytest.mark.parametrize("lookup_reply, state", [
    (reply(b"<html>503</html>", 503), CancelState.RETRY_LATER),
    (error("FORBIDDEN_CONSECUTIVE_REQUEST", 403), CancelState.RETRY_LATER),
    (error("UNAUTHORIZED_KEY", 401), CancelState.MISCONFIGURED),
    (error("NOT_FOUND_PAYMENT", 404), CancelState.UNRECOGNISED),
    (reply(payment(orderId="ORD-9")), CancelState.UNRECOGNISED),
    (reply(payment(cancels=[cancel_entry(1)])), CancelState.UNRECOGNISED),
])
def test_a_cancel_whose_lookup_fails_is_not_sent(lookup_reply: HttpReply, state: CancelState) -> None:
    transport = FakeTransport(lookup_reply)
    answer = toss.TossPaymentsAdapter(transport).request_cancel(ORDER, intent())
    assert answer.state is state and [method for method, *_ in transport.sent] == ["GET"]
    if state is CancelState.UNRECOGNISED:
        assert answer.error_kind == "bad_answer"


@pytest.mark.parametrize("status, code, state", [
    (409, "IDEMPOTENT_REQUEST_PROCESSING", CancelState.RETRY_LATER),
    (400, "ALREADY_CANCELED_PAYMENT", CancelState.ACCEPTED),
    (400, "ALREADY_REFUND_PAYMENT", CancelState.ACCEPTED),
    (403, "NOT_CANCELABLE_PAYMENT", CancelState.REFUSED),
    (403, "NOT_CANCELABLE_AMOUNT", CancelState.REFUSED),
    (403, "EXCEED_MAX_REFUND_DUE", CancelState.REFUSED),
    (400, "INVALID_REFUND_ACCOUNT_INFO", CancelState.REFUSED),
    (400, "REFUND_REJECTED", CancelState.REFUSED),
    (403, "EXCEED_CANCEL_LIMIT", CancelState.REFUSED),
    (401, "UNAUTHORIZED_KEY", CancelState.MISCONFIGURED),
    (403, "INCORRECT_BASIC_AUTH_FORMAT", CancelState.MISCONFIGURED),
    (400, "INVALID_IDEMPOTENCY_KEY", CancelState.MISCONFIGURED),
    (400, "INVALID_REQUEST", CancelState.MISCONFIGURED),
    (400, "PROVIDER_ERROR", CancelState.RETRY_LATER),
    (403, "FORBIDDEN_CONSECUTIVE_REQUEST", CancelState.RETRY_LATER),
    (403, "NOT_AVAILABLE_BANK", CancelState.RETRY_LATER),
    (500, "FAILED_INTERNAL_SYSTEM_PROCESSING", CancelState.RETRY_LATER),
    (500, "FAILED_REFUND_PROCESS", CancelState.RETRY_LATER),
    (500, "COMMON_ERROR", CancelState.RETRY_LATER),
    (404, "NOT_FOUND_PAYMENT", CancelState.RETRY_LATER),
    (400, "NOT_MATCHES_REFUNDABLE_AMOUNT", CancelState.RETRY_LATER),
    (400, "A_BRAND_NEW_CODE", CancelState.RETRY_LATER),
])
def test_cancel_answers_by_code(status: int, code: str, state: CancelState) -> None:
    answer = toss.parse_cancel(ORDER, error(code, status))
    assert answer.state is state and answer.provider_status == code and code in answer.detail
    assert answer.reference is None


def test_already_cancelled_is_accepted_and_then_confirmed_by_lookup_only() -> None:
    answer = toss.parse_cancel(ORDER, error("ALREADY_CANCELED_PAYMENT", 400))
    assert answer.state is CancelState.ACCEPTED and "confirmed by lookup" in answer.detail
    i = intent()
    assert decide_cancel(ORDER._replace(cancel=i), answer, deadline_passed=False).action is Action.POLL


@pytest.mark.parametrize("body, status", [(b"<html>Gateway Timeout</html>", 504), (b"", 502), (b"nope", 400)])
def test_a_cancel_answered_by_a_gateway_is_retried_under_the_same_key(body: bytes, status: int) -> None:
    answer = toss.parse_cancel(ORDER, reply(body, status))
    assert answer.state is CancelState.RETRY_LATER and answer.error_kind == f"http_{status // 100}xx"


@pytest.mark.parametrize("body", [b"<html>ok</html>", json.dumps(cancelled(orderId="ORD-9")).encode(),
                                  json.dumps(cancelled(totalAmount="x")).encode()])
def test_a_cancel_success_we_cannot_read_is_unrecognised_and_confirmed_later(body: bytes) -> None:
    answer = toss.parse_cancel(ORDER, reply(body))
    assert answer.state is CancelState.UNRECOGNISED and answer.error_kind == "bad_answer"


@pytest.mark.parametrize("found, state", [
    (cancelled(), CancelState.CONFIRMED),
    (cancelled(cancels=[cancel_entry(5000, key="C1"), cancel_entry(10000, key="C2")]), CancelState.CONFIRMED),
    (cancelled(balanceAmount=1), CancelState.UNRECOGNISED),
    (cancelled(balanceAmount=None), CancelState.UNRECOGNISED),
    (cancelled(cancels=[cancel_entry(14000)]), CancelState.CONFIRMED),  # refunded what a DONE charged (14000 of 15000)
    (cancelled(cancels=[cancel_entry(15000, status="IN_PROGRESS")]), CancelState.UNRECOGNISED),
    (cancelled(cancels=None), CancelState.UNRECOGNISED),
    (payment(), CancelState.PENDING),
    (payment(virtualAccount=VA), CancelState.PENDING),
    (payment(status="WAITING_FOR_DEPOSIT", approvedAt=None, virtualAccount=VA), CancelState.PENDING),
    (payment(status="PARTIAL_CANCELED", balanceAmount=10000, cancels=[cancel_entry(5000)]), CancelState.REFUSED),
    (payment(status="ABORTED", approvedAt=None), CancelState.UNRECOGNISED),
    (payment(status="EXPIRED", approvedAt=None), CancelState.UNRECOGNISED),
])
def test_a_cancel_is_confirmed_by_lookup_only_when_nothing_is_left_charged(found: dict[str, Any], state: CancelState) -> None:
    """[GAP TOSS-AMOUNTS], [GAP TOSS-CANCEL-STATUS]: CANCELED, balanceAmount 0, at least one DONE cancel."""
    transport = FakeTransport(reply(found))
    answer = toss.TossPaymentsAdapter(transport).confirm_cancel(ORDER, intent())
    assert answer.state is state, answer.detail
    assert [method for method, *_ in transport.sent] == ["GET"]


def test_a_confirmed_cancel_names_the_last_cancel_that_went_through() -> None:
    found = cancelled(cancels=[cancel_entry(5000, key="C1"), cancel_entry(10000, key="C2"),
                               cancel_entry(0, key="C3", status="ABORTED")])
    answer = toss.confirm_answer(toss.parse_payment(toss.load_json(reply(found))))
    assert answer.state is CancelState.CONFIRMED and answer.reference == "C2"
    i = intent()
    decision = decide_cancel(ORDER._replace(status=OrderStatus.CANCELLING, cancel=i), answer, deadline_passed=False)
    assert (decision.outcome, decision.reason) == (Outcome.CANCELLED, Reason.AMOUNT_MISMATCH)


@pytest.mark.parametrize("lookup_reply, state", [
    (reply(b"<html>503</html>", 503), CancelState.RETRY_LATER),
    (error("UNAUTHORIZED_KEY", 401), CancelState.MISCONFIGURED),
    (error("NOT_FOUND_PAYMENT", 404), CancelState.UNRECOGNISED),
    (reply(b"garbage"), CancelState.UNRECOGNISED),
])
def test_a_confirmation_without_a_payment(lookup_reply: HttpReply, state: CancelState) -> None:
    assert toss.TossPaymentsAdapter(FakeTransport(lookup_reply)).confirm_cancel(ORDER, intent()).state is state


def test_cancel_refs_name_the_cancels_transaction_key_where_it_fits() -> None:
    adapter = toss.TossPaymentsAdapter(FakeTransport())
    assert adapter.cancel_refs("A47A42AE50F68F5FFB62778C67153E36") == {"cancelTransactionKey": "A47A42AE50F68F5FFB62778C67153E36"}
    assert adapter.cancel_refs("K" * 61) == {}


# -- the GET transport -----------------------------------------------------------------------------------


class FakeResponse:
    def __init__(self, status: int, chunks: list[bytes], headers: dict[str, str]) -> None:
        self.status_code, self.chunks, self.headers = status, chunks, headers

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def iter_content(self, chunk_size: int) -> list[bytes]:
        return self.chunks


class FakeSession:
    def __init__(self, outcome: FakeResponse | Exception) -> None:
        self.outcome = outcome
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def request(self, method: str, url: str, **kwargs: Any) -> FakeResponse:
        self.calls.append((url, {"method": method, **kwargs}))
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


def client_with(session: FakeSession, max_bytes: int = 1000) -> ProviderClient:
    return ProviderClient("https://api.tosspayments.com", session, lambda: {"secretKey": SECRET_KEY},  # type: ignore[arg-type]
                          5, 30, max_bytes)


def test_the_get_uses_the_clients_base_url_timeouts_and_no_redirects() -> None:
    session = FakeSession(FakeResponse(200, [b'{"a":', b"1}"], {"Content-Type": "application/json"}))
    got = client_with(session).get("/v1/payments/orders/ORD-1001", {"Authorization": BASIC})
    assert (got.status, got.body, got.content_type) == (200, b'{"a":1}', "application/json")
    url, kwargs = session.calls[0]
    assert url == "https://api.tosspayments.com/v1/payments/orders/ORD-1001"
    assert kwargs["method"] == "GET" and kwargs["data"] is None
    assert kwargs["timeout"] == (5, 30) and kwargs["allow_redirects"] is False and kwargs["verify"] is True
    assert kwargs["headers"] == {"Accept": "application/json", "Authorization": BASIC}


@pytest.mark.parametrize("failure, kind", [(requests.ConnectTimeout(), "timeout"), (requests.ReadTimeout(), "timeout"),
                                           (requests.ConnectionError(), "connection"), (requests.TooManyRedirects(), "request")])
def test_a_get_that_gets_no_answer_is_unreachable(failure: Exception, kind: str) -> None:
    with pytest.raises(ProviderUnreachable) as raised:
        client_with(FakeSession(failure)).get("/x")
    assert raised.value.kind == kind


@pytest.mark.parametrize("response", [FakeResponse(200, [b"x" * 600, b"x" * 600], {}),
                                      FakeResponse(200, [], {"Content-Length": "5000"})])
def test_a_get_answer_over_the_cap_is_refused(response: FakeResponse) -> None:
    with pytest.raises(AnswerTooLarge):
        client_with(FakeSession(response)).get("/x")


def test_transport_failures_of_every_call_come_back_as_answers() -> None:
    class Unreachable(FakeTransport):
        def get(self, path: str, headers: dict[str, str] | None = None) -> HttpReply:
            raise ProviderUnreachable("timed out after 30s", "timeout")

    guarded = GuardedAdapter(toss.TossPaymentsAdapter(Unreachable()))
    assert guarded.check_payment(ORDER).state is PaymentState.RETRY_LATER
    assert guarded.canceller is not None
    assert guarded.canceller.request_cancel(ORDER, intent()).state is CancelState.RETRY_LATER
    assert guarded.canceller.confirm_cancel(ORDER, intent()).state is CancelState.RETRY_LATER


# -- the assumptions -------------------------------------------------------------------------------------

FOLDER = Path(toss.__file__).resolve().parent


def test_every_assumption_names_code_that_exists_and_marks_it() -> None:
    """Each [GAP TOSS-...] is listed once, and each place it names exists and carries its mark."""
    names = [gap.name for gap in assume.GAPS]
    assert len(names) == len(set(names)) and all(re.fullmatch(r"TOSS-[A-Z-]+", name) for name in names)
    for gap in assume.GAPS:
        assert gap.used_in and gap.assumption and gap.reference
        for place in gap.used_in:
            module_name, _, attribute = place.partition(".")
            target: Any = importlib.import_module(module_name)
            for part in attribute.split("."):
                target = getattr(target, part)
        marked = [path.name for path in FOLDER.glob("*.py") if f"GAP {gap.name}]" in path.read_text(encoding="utf-8")]
        assert marked, f"[GAP {gap.name}] is marked nowhere in the code"
