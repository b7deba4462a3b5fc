"""TeemoPay signing and answers, without any network."""

import base64
import json
from decimal import Decimal

import pytest
import teemopay_adapter as teemo
import teemopay_signing as signing
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from paysweep.domain.answers import PaymentState
from paysweep.provider.client import SecretUnavailable
from paysweep.provider.http import HttpReply
from support.factories import order

ORDER = order(order_id="TP-1001", provider="teemopay", pg_cno=None)


@pytest.fixture(scope="module")
def key_pair():
    private = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    der = private.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return private, base64.b64encode(der).decode(), pem.decode()


def secret(private_b64, **overrides):
    base = {"appCode": "APP0001", "country": "KR", "privateKey": private_b64, "platformPublicKey": "unused"}
    base.update(overrides)
    return base


def test_string_to_sign_follows_the_documented_rules():
    assert signing.string_to_sign({"b": "2", "a": "1", "sign": "x"}, "123") == "a=1&b=2&nonce=123"
    body = {"merchantOrderNo": "ORD1", "blank": "  ", "empty": "", "none": None, "paymentType": 801, "Zeta": "z"}
    assert signing.string_to_sign(body, "N" * 32) == f"Zeta=z&merchantOrderNo=ORD1&paymentType=801&nonce={'N' * 32}"


def test_nested_values_are_refused_rather_than_guessed():
    with pytest.raises(ValueError, match="flat fields"):
        signing.string_to_sign({"a": {"b": 1}}, "n")


@pytest.mark.parametrize("form", ["b64", "pem"])
def test_signature_verifies_with_the_merchant_public_key(key_pair, form):
    private, b64, pem = key_pair
    nonce = teemo.new_nonce()
    headers, body = teemo.signed_query("TP-1001", secret(b64 if form == "b64" else pem), nonce=nonce, timestamp_ms=1_700_000_000_000)
    assert headers == {"timestamp": "1700000000000", "nonce": nonce, "country": "KR", "app_code": "APP0001"}
    assert set(body) == {"merchantOrderNo", "sign"}
    signed = f"merchantOrderNo=TP-1001&nonce={nonce}".encode()
    private.public_key().verify(base64.b64decode(body["sign"], validate=True), signed, padding.PKCS1v15(), hashes.SHA1())


def test_nonces_are_32_chars_and_never_repeat():
    nonces = {teemo.new_nonce() for _ in range(5000)}
    assert len(nonces) == 5000 and {len(n) for n in nonces} == {32}


@pytest.mark.parametrize(
    "overrides, problem",
    [({"appCode": ""}, "appCode"), ({"appCode": "x" * 33}, "appCode"), ({"country": "MX"}, "country"),
     ({"privateKey": ""}, "privateKey"), ({"privateKey": "not base64 !!"}, "neither PEM nor Base64"),
     ({"privateKey": base64.b64encode(b"garbage").decode()}, "PKCS#8")],
)
def test_a_bad_secret_is_a_configuration_error_that_names_the_field_not_the_value(key_pair, overrides, problem):
    with pytest.raises(SecretUnavailable, match=problem) as caught:
        teemo.signed_query("TP-1001", secret(key_pair[1], **overrides), nonce="n" * 32, timestamp_ms=1)
    assert key_pair[1][:40] not in str(caught.value)


def reply(body, status=200):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return HttpReply(status=status, body=raw, elapsed_ms=5, content_type="application/json")


def data(**fields):
    base = {"merchantOrderNo": "TP-1001", "amount": "1000.00", "transactionAmount": "1000.00", "tradeNo": "TS1",
            "paymentType": 801, "paymentInfo": "29900000000000", "status": 2, "serviceAmount": "30.00", "statementList": []}
    base.update(fields)
    return {"code": 200, "msg": "success", "data": base, "traceId": "t"}


def parse(body, status=200):
    return teemo.parse_query_answer(ORDER, "KR", reply(body, status))


def test_success_reports_received_and_order_amounts_exactly():
    answer = parse(data())
    assert answer.state is PaymentState.APPROVED and answer.provider_status == "2"
    assert answer.paid.amount == Decimal("1000.00") and answer.paid.currency == "KRW"
    assert answer.expected.amount == Decimal("1000.00") and answer.refs == {"tradeNo": "TS1"}


@pytest.mark.parametrize("status, state", [(1, PaymentState.IN_PROGRESS), (0, PaymentState.IN_PROGRESS),
                                           (3, PaymentState.DECLINED), ("2", PaymentState.APPROVED)])
def test_statuses(status, state):
    assert parse(data(status=status, amount=None if status == 3 else "1000.00")).state is state


def test_null_amount_on_success_reaches_the_integrity_check_as_missing():
    answer = parse(data(amount=None))
    assert answer.state is PaymentState.APPROVED and answer.paid.amount is None


@pytest.mark.parametrize(
    "code, state",
    [(412, PaymentState.RETRY_LATER), (500, PaymentState.RETRY_LATER), (434, PaymentState.NOT_FOUND),
     (414, PaymentState.MISCONFIGURED), (416, PaymentState.MISCONFIGURED)],
)
def test_documented_error_codes(code, state):
    answer = parse({"code": code, "msg": "m", "data": None, "traceId": "t"})
    assert answer.state is state and answer.provider_status == str(code)


@pytest.mark.parametrize(
    "body, why",
    [
        ({"code": 999, "msg": "?", "data": None}, "undocumented envelope"),
        ({"code": "200", "data": {}}, "envelope code must be an integer"),
        ({"code": True, "data": {}}, "envelope code must be an integer"),
        ({"code": 200, "data": None}, "without a data object"),
        (data(merchantOrderNo="TP-9"), "another merchantOrderNo"),
        (data(status=7), "unknown data.status"),
        (data(status=True), "unknown data.status"),
        (data(amount=1000), "must be a decimal string"),
        (data(amount="1,000.00"), "not a plain decimal"),
        (data(transactionAmount="-1000"), "not a plain decimal"),
        (b"<html>502</html>", "not JSON"),
        (b"", "not JSON"),
        (b'"ok"', "not a JSON object"),
    ],
)
def test_answers_that_break_the_documentation_are_never_trusted(body, why):
    answer = parse(body)
    assert answer.state is PaymentState.UNRECOGNISED and why in answer.detail


def test_http_failures():
    assert parse(b"<html>", status=502).state is PaymentState.RETRY_LATER
    assert parse(b"<html>", status=403).state is PaymentState.UNRECOGNISED


@pytest.mark.parametrize("status", [-1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, "2", "3", None, True])
@pytest.mark.parametrize("code", [200, 412, 414, 416, 434, 500, 999])
def test_no_teemopay_answer_is_a_cancellation(code, status):
    """Why the TeemoPay function may not publish to the cancelled topic (template.yaml: its
    OutcomeTopics statement): no answer is CANCELLED or PARTIALLY_CANCELLED, and with no cancel
    API an integrity failure goes to REVIEW."""
    body = data(status=status) | {"code": code}
    assert parse(body).state not in (PaymentState.CANCELLED, PaymentState.PARTIALLY_CANCELLED)
    assert teemo.TeemoPayAdapter.canceller is None
