"""KICC answers normalised without any network: every documented and undocumented shape."""

import hashlib
import hmac
import json
from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import quote_plus

import kicc_adapter as kicc
import kicc_assumptions as assume
import pytest
from paysweep.domain.answers import CancelIntent, CancelState, PaymentState
from paysweep.provider.http import HttpReply
from support.factories import order

KEY = "PSQ-key-1"
MALL = "M0000001"


def reply(body, status=200):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return HttpReply(status=status, body=raw, elapsed_ms=5, content_type="application/json")


def find(**fields):
    base = {"resCd": "0000", "resMsg": "Success", "shopTransactionId": KEY, "mallId": MALL, "shopOrderNo": "ORD-1001", "pgCno": "PG0001"}
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None}


def parse(body, status=200, o=None):
    return kicc.parse_payment_answer(o or order(), KEY, MALL, reply(body, status))


def test_approval_with_its_amount():
    answer = parse(find(statusCd="TS01", approvalDate="20261122031415", amountInfo={"currency": "KRW", "totAmount": 1000}))
    assert answer.state is PaymentState.APPROVED and answer.provider_status == "TS01"
    assert answer.paid.amount == Decimal(1000) and answer.paid.currency == "KRW"
    assert answer.refs == {"pgCno": "PG0001", "approvalDate": "20261122031415"}


def test_usd_minor_units_become_dollars_and_cents():
    answer = parse(find(statusCd="TS01", amountInfo={"currency": "USD", "totAmount": 1203}))
    assert answer.paid.amount == Decimal("12.03")


def test_a_fractional_number_stays_exact_and_never_becomes_a_float():
    answer = parse(b'{"resCd":"0000","resMsg":"ok","shopTransactionId":"PSQ-key-1","statusCd":"TS01",'
                   b'"amountInfo":{"currency":"KRW","totAmount":1000.10000000000000001}}')
    assert isinstance(answer.paid.amount, Decimal) and answer.paid.amount != Decimal(1000)


@pytest.mark.parametrize("status, state", [("TS02", PaymentState.CANCELLED), ("TS12", PaymentState.CANCELLED),
                                           ("TS06", PaymentState.PARTIALLY_CANCELLED)])
def test_cancellation_statuses(status, state):
    assert parse(find(statusCd=status)).state is state


@pytest.mark.parametrize("status", [None, ""])
def test_no_status_means_not_paid_yet(status):
    answer = parse(find(statusCd=status))
    assert answer.state is PaymentState.IN_PROGRESS and answer.paid is None


def test_an_error_code_is_retried_later_with_its_message_decoded():
    answer = parse(find(resCd="W002", resMsg="Payment failed", resDetailMsg=quote_plus("사용자 결제 취소 (cancelled)")))
    assert answer.state is PaymentState.RETRY_LATER
    assert "사용자 결제 취소 (cancelled)" in answer.detail and "W002" in answer.detail


@pytest.mark.parametrize(
    "body, why",
    [
        (find(statusCd="TS01", shopTransactionId="PSQ-other"), "another shopTransactionId"),
        (find(statusCd="TS01", pgCno="PG9999"), "another pgCno"),
        (find(statusCd="TS01", mallId="M9"), "another mallId"),
        (find(statusCd="TS01", shopOrderNo="ORD-9"), "another shopOrderNo"),
        (find(statusCd="TS99"), "unknown statusCd"),
        (find(statusCd=1), "unknown statusCd"),
        (find(statusCd="TS01", amountInfo={"currency": "KRW", "totAmount": "1000"}), "must be a number"),
        (find(statusCd="TS01", amountInfo={"currency": "KRW", "totAmount": True}), "must be a number"),
        (find(statusCd="TS01", amountInfo=[1000]), "amountInfo must be an object"),
        (find(resCd=None), "resCd must be a string"),
        (find(shopTransactionId=None, statusCd="TS01"), "shopTransactionId must be a string"),
        (b"<html>oops</html>", "not JSON"),
        (b"", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b"\xff\xfe", "not JSON"),
    ],
)
def test_answers_that_break_the_documentation_are_never_trusted(body, why):
    answer = parse(body)
    assert answer.state is PaymentState.UNRECOGNISED and why in answer.detail
    assert answer.error_kind == "bad_answer"


def test_approval_without_amount_reports_no_amount_for_the_integrity_check():
    answer = parse(find(statusCd="TS01"))
    assert answer.state is PaymentState.APPROVED and answer.paid.amount is None


@pytest.mark.parametrize("status, state", [(502, PaymentState.RETRY_LATER), (503, PaymentState.RETRY_LATER),
                                           (429, PaymentState.RETRY_LATER), (404, PaymentState.UNRECOGNISED)])
def test_http_failures(status, state):
    answer = parse(b"<html>Bad Gateway</html>", status=status)
    assert answer.state is state and answer.error_kind == f"http_{status // 100}xx"


def intent(**fields):
    base = {"key": kicc.cancel_key(order()), "request_date": "20261122", "reason": "AMOUNT_MISMATCH",
                "requested_at": "2026-11-22T03:20:00Z", "deadline": "2026-11-22T09:20:00Z"}
    base.update(fields)
    return CancelIntent(**base)


def test_cancel_request_answers():
    i = intent()
    ok = {"resCd": "0000", "resMsg": "Success", "shopTransactionId": i.key, "pgCno": "PG0001", "cancelPgCno": "CPG1"}
    accepted = kicc.parse_cancel_request_answer(order(), i, MALL, reply(ok))
    assert accepted.state is CancelState.ACCEPTED and accepted.reference == "CPG1"
    retry = kicc.parse_cancel_request_answer(order(), i, MALL, reply({**ok, "resCd": "A213"}))
    assert retry.state is CancelState.RETRY_LATER
    refused = kicc.parse_cancel_request_answer(order(), i, MALL, reply({**ok, "resCd": "C001", "resMsg": "already"}))
    assert refused.state is CancelState.REFUSED and refused.provider_status == "C001"
    wrong = kicc.parse_cancel_request_answer(order(), i, MALL, reply({**ok, "shopTransactionId": "other"}))
    assert wrong.state is CancelState.UNRECOGNISED
    timeout_page = kicc.parse_cancel_request_answer(order(), i, MALL, reply(b"<html>", status=504))
    assert timeout_page.state is CancelState.RETRY_LATER


@pytest.mark.parametrize("status, state", [("TS02", CancelState.CONFIRMED), ("TS12", CancelState.CONFIRMED),
                                           (None, CancelState.PENDING), ("TS01", CancelState.PENDING),
                                           ("TS06", CancelState.REFUSED), ("TS77", CancelState.UNRECOGNISED)])
def test_cancellation_lookup(status, state):
    body = {"resCd": "0000", "resMsg": "Success", "shopTransactionId": KEY, "pgCno": "PG0001", "cancelPgCno": "CPG1"}
    if status:
        body["cancelStatus"] = status
    assert kicc.parse_cancel_status_answer(order(), KEY, MALL, reply(body)).state is state


def test_query_keys_are_fresh_and_fit_kicc_limits():
    keys = {kicc.new_query_key() for _ in range(1000)}
    assert len(keys) == 1000 and max(map(len, keys)) <= kicc.MAX_KEY_LENGTH


def test_cancel_key_is_the_same_on_every_retry_and_differs_per_order():
    assert kicc.cancel_key(order()) == kicc.cancel_key(order())
    assert kicc.cancel_key(order()) != kicc.cancel_key(order(order_id="ORD-1002"))
    assert len(kicc.cancel_key(order())) <= kicc.MAX_KEY_LENGTH


def test_msg_auth_value_is_lowercase_hex_hmac_sha256_of_pgcno_bar_key():
    value = assume.msg_auth_value("s3cret", "PG0001", "PSC123")
    assert value == hmac.new(b"s3cret", b"PG0001|PSC123", hashlib.sha256).hexdigest()
    assert len(value) == 64 and value == value.lower()


def test_cancel_request_date_is_the_korean_calendar_date():
    assert assume.cancel_request_date(datetime(2026, 11, 22, 14, 59, tzinfo=UTC)) == "20261122"
    assert assume.cancel_request_date(datetime(2026, 11, 22, 15, 0, tzinfo=UTC)) == "20261123"


def test_detail_is_url_decoded():
    assert kicc.decode_detail("%EA%B2%B0%EC%A0%9C+%EC%8B%A4%ED%8C%A8") == "결제 실패"
    assert kicc.decode_detail(None) is None


class RevisingClient:
    """A ProviderClient stand-in that keeps each /revise payload and accepts it."""

    def __init__(self):
        self.payloads = []

    def credentials(self):
        return {"mallId": MALL, "secretKey": "s3cret"}

    def post(self, path, payload, headers=None):
        self.payloads.append(payload)
        return reply({"resCd": "0000", "resMsg": "Success", "shopTransactionId": payload["shopTransactionId"],
                      "pgCno": payload["pgCno"], "cancelPgCno": "CPG1"})


@pytest.mark.parametrize("setting, sent", [({"CANCEL_NOTIFY_URL": "https://shop.example/kicc"}, "https://shop.example/kicc"),
                                           ({"CANCEL_NOTIFY_URL": " "}, None), ({}, None)])
def test_the_cancel_notify_url_is_the_adapters_own_setting(setting, sent):
    """[GAP KICC-NOTIFY] The adapter reads CANCEL_NOTIFY_URL from its function's environment; the
    engine's configuration knows nothing of it."""
    client = RevisingClient()
    adapter = kicc.KiccWechatPayAdapter.from_environment(client, setting)
    answer = adapter.request_cancel(order(), intent())
    assert answer.state is CancelState.ACCEPTED and client.payloads[0].get("notifyUrl") == sent
    assert adapter.cancel_refs("CPG1") == {"cancelPgCno": "CPG1"}
