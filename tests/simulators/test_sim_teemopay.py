"""The TeemoPay simulator enforces TeemoPay's headers, replay rules and signature."""

from __future__ import annotations

import base64
import json
import secrets
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from paysweep_local.simulators import ManualClock, TeemoPaySimulator
from paysweep_local.simulators import teemopay as t
from paysweep_local.simulators.keys import generate_rsa_keypair, merchant_keys
from simtest_support import QUERY, post, teemo_headers, teemo_query, teemo_sign

DOCS = Path(__file__).parents[1] / "fixtures" / "provider_docs"


@pytest.fixture
def order(teemo_sim: TeemoPaySimulator) -> str:
    teemo_sim.add_order("ORD1", 1000)
    return "ORD1"


def query(
    sim: TeemoPaySimulator, clock: ManualClock, key: RSAPrivateKey, order_no: str = "ORD1", **kwargs
) -> dict:
    return teemo_query(sim.base_url, order_no, key, clock(), **kwargs)


def assert_refused(answer: dict, code: int, msg_part: str) -> None:
    assert answer["code"] == code, answer
    assert msg_part.lower() in answer["msg"].lower(), answer
    assert answer["data"] is None
    assert set(answer) == {"code", "data", "msg", "traceId"}


def test_success_has_the_documented_shape(
    teemo_sim: TeemoPaySimulator, clock: ManualClock, signing_key: RSAPrivateKey, order: str
) -> None:
    example = json.loads((DOCS / "teemopay-query-response.json").read_text())
    answer = query(teemo_sim, clock, signing_key)
    assert list(answer) == list(example)
    assert list(answer["data"]) == list(example["data"])
    assert list(answer["data"]["statementList"][0]) == list(example["data"]["statementList"][0])
    for name, value in example["data"].items():
        assert type(answer["data"][name]) is type(value), name
    for name, value in example["data"]["statementList"][0].items():
        assert type(answer["data"]["statementList"][0][name]) is type(value), name
    data = answer["data"]
    assert answer["code"] == 200 and answer["msg"] == "success" and isinstance(answer["traceId"], str)
    assert data["merchantOrderNo"] == "ORD1" and data["status"] == 2 and data["paymentType"] == 801
    assert data["amount"] == data["transactionAmount"] == "1000.00"
    statement = data["statementList"][0]
    assert statement["paymentStatementAmount"] == "1000.00" and statement["paymentStatementStatus"] == 2
    assert statement["paymentStatementStatusName"] == "代收成功"
    assert statement["completeTime"] == "2026-03-12 12:00:00"  # 03:00 UTC in Korean time
    assert len(data["tradeNo"]) == len(example["data"]["tradeNo"]) and data["tradeNo"].startswith("TS")
    assert teemo_sim.order("ORD1").queries == 1 and teemo_sim.order("ORD1").status == 2


def test_trace_ids_differ(
    teemo_sim: TeemoPaySimulator, clock: ManualClock, signing_key: RSAPrivateKey, order: str
) -> None:
    assert query(teemo_sim, clock, signing_key)["traceId"] != query(teemo_sim, clock, signing_key)["traceId"]


@pytest.mark.parametrize(
    ("headers", "msg_part"),
    [
        ({"timestamp": None}, "timestamp"),
        ({"timestamp": "1741000000"}, "timestamp"),  # seconds, not milliseconds
        ({"timestamp": "17410000000000"}, "timestamp"),
        ({"timestamp": "174100000000x"}, "timestamp"),
        ({"nonce": None}, "nonce"),
        ({"nonce": "a" * 31}, "nonce"),
        ({"nonce": "a" * 33}, "nonce"),
        ({"country": None}, "country"),
        ({"app_code": None}, "app_code"),
        ({"country": "PK"}, "country"),
    ],
)
def test_bad_headers_are_refused(
    teemo_sim: TeemoPaySimulator,
    clock: ManualClock,
    signing_key: RSAPrivateKey,
    order: str,
    headers: dict,
    msg_part: str,
) -> None:
    assert_refused(query(teemo_sim, clock, signing_key, headers=headers), 414, msg_part)
    assert teemo_sim.order(order).queries == 0


def test_unknown_application(
    teemo_sim: TeemoPaySimulator, clock: ManualClock, signing_key: RSAPrivateKey, order: str
) -> None:
    answer = query(teemo_sim, clock, signing_key, headers={"app_code": "APP0002"})
    assert_refused(answer, 416, "Application not found")


def test_app_code_is_checked_before_the_country(
    teemo_sim: TeemoPaySimulator, clock: ManualClock, signing_key: RSAPrivateKey, order: str
) -> None:
    answer = query(teemo_sim, clock, signing_key, headers={"app_code": "APP0002", "country": "PK"})
    assert answer["code"] == 416


@pytest.mark.parametrize(
    ("skew", "accepted"), [(29, True), (-29, True), (31, False), (-31, False), (3600, False)]
)
def test_timestamp_must_be_within_30_seconds(
    teemo_sim: TeemoPaySimulator,
    clock: ManualClock,
    signing_key: RSAPrivateKey,
    order: str,
    skew: int,
    accepted: bool,
) -> None:
    stamp = str(int((clock() + timedelta(seconds=skew)).timestamp() * 1000))
    answer = query(teemo_sim, clock, signing_key, headers={"timestamp": stamp})
    if accepted:
        assert answer["code"] == 200
    else:
        assert_refused(answer, 414, "request expired")


def test_nonce_cannot_repeat_within_24_hours(
    teemo_sim: TeemoPaySimulator, clock: ManualClock, signing_key: RSAPrivateKey, order: str
) -> None:
    nonce = secrets.token_hex(16)
    assert query(teemo_sim, clock, signing_key, headers={"nonce": nonce})["code"] == 200
    clock.advance(hours=23, minutes=59)
    assert_refused(query(teemo_sim, clock, signing_key, headers={"nonce": nonce}), 414, "nonce repeated")
    clock.advance(minutes=2)
    assert query(teemo_sim, clock, signing_key, headers={"nonce": nonce})["code"] == 200
    assert nonce in teemo_sim.nonces_seen
    assert teemo_sim.order(order).queries == 2


def test_a_refused_signature_still_burns_the_nonce(
    teemo_sim: TeemoPaySimulator, clock: ManualClock, signing_key: RSAPrivateKey, order: str
) -> None:
    headers = teemo_headers(clock())
    bad = post(teemo_sim.base_url, QUERY, {"merchantOrderNo": order, "sign": "AAAA"}, headers).json()
    assert_refused(bad, 414, "sign verify failed")
    again = query(teemo_sim, clock, signing_key, headers={"nonce": headers["nonce"]})
    assert_refused(again, 414, "nonce repeated")


@pytest.mark.parametrize(
    "body",
    [
        {"sign": "AAAA"},
        {"merchantOrderNo": "", "sign": "AAAA"},
        {"merchantOrderNo": "X" * 33, "sign": "AAAA"},
        {"merchantOrderNo": 12, "sign": "AAAA"},
        {"merchantOrderNo": "ORD1"},
        {"merchantOrderNo": "ORD1", "sign": ""},
        {"merchantOrderNo": "ORD1", "sign": None},
    ],
)
def test_missing_or_invalid_body_fields(
    teemo_sim: TeemoPaySimulator, clock: ManualClock, order: str, body: dict
) -> None:
    answer = post(teemo_sim.base_url, QUERY, body, teemo_headers(clock())).json()
    assert answer["code"] == 414 and answer["data"] is None
    assert "sign verify" not in answer["msg"]  # refused for the field, before any signature check


def test_body_must_be_a_json_object(teemo_sim: TeemoPaySimulator, clock: ManualClock, order: str) -> None:
    headers = {**teemo_headers(clock()), "Content-Type": "application/json"}
    response = requests.post(
        teemo_sim.base_url + QUERY, data=b"merchantOrderNo=ORD1", headers=headers, timeout=5
    )
    assert response.json()["code"] == 414


def _signed_with(sim: TeemoPaySimulator, clock: ManualClock, body: dict, sign: str, nonce: str) -> dict:
    headers = teemo_headers(clock(), nonce=nonce)
    return post(sim.base_url, QUERY, {**body, "sign": sign}, headers).json()


def test_signature_errors_are_refused(
    teemo_sim: TeemoPaySimulator, clock: ManualClock, signing_key: RSAPrivateKey, order: str
) -> None:
    body = {"merchantOrderNo": order}
    other_key = generate_rsa_keypair().private_key()
    nonce = lambda: secrets.token_hex(16)
    n1, n2, n3, n4, n5 = nonce(), nonce(), nonce(), nonce(), nonce()
    cases = {
        "another key": _signed_with(teemo_sim, clock, body, teemo_sign(body, n1, other_key), n1),
        "SHA-256": _signed_with(
            teemo_sim, clock, body, teemo_sign(body, n2, signing_key, hashes.SHA256()), n2
        ),
        "another nonce": _signed_with(teemo_sim, clock, body, teemo_sign(body, "x" * 32, signing_key), n3),
        "another order": _signed_with(
            teemo_sim, clock, body, teemo_sign({"merchantOrderNo": "ORD2"}, n4, signing_key), n4
        ),
        "not base64": _signed_with(teemo_sim, clock, body, "not base64 !!", n5),
    }
    for case, answer in cases.items():
        assert answer["code"] == 414 and answer["msg"] == t.MSG_SIGN_FAILED, case
    assert teemo_sim.order(order).queries == 0


def test_signature_without_the_nonce_is_refused(
    teemo_sim: TeemoPaySimulator, clock: ManualClock, signing_key: RSAPrivateKey, order: str
) -> None:
    nonce = secrets.token_hex(16)
    signature = signing_key.sign(b"merchantOrderNo=ORD1", padding.PKCS1v15(), hashes.SHA1())
    sign = base64.b64encode(signature).decode()
    assert _signed_with(teemo_sim, clock, {"merchantOrderNo": order}, sign, nonce)["msg"] == t.MSG_SIGN_FAILED


def test_signature_covers_extra_fields_and_skips_blank_ones(
    teemo_sim: TeemoPaySimulator, clock: ManualClock, signing_key: RSAPrivateKey, order: str
) -> None:
    n1, n2 = secrets.token_hex(16), secrets.token_hex(16)
    # Blank and null fields are left out of the string to sign:
    body = {"merchantOrderNo": order, "remark": " ", "attach": None}
    sign = teemo_sign({"merchantOrderNo": order}, n1, signing_key)
    assert _signed_with(teemo_sim, clock, body, sign, n1)["code"] == 200
    # A non-blank extra field is signed, in ASCII order of the names:
    body = {"merchantOrderNo": order, "Zeta": "z", "attach": "a"}
    sign = teemo_sign({"merchantOrderNo": order}, n2, signing_key)
    assert _signed_with(teemo_sim, clock, body, sign, n2)["msg"] == t.MSG_SIGN_FAILED
    n3 = secrets.token_hex(16)
    assert _signed_with(teemo_sim, clock, body, teemo_sign(body, n3, signing_key), n3)["code"] == 200


def test_string_to_sign_matches_the_documentation() -> None:
    body = {"merchantOrderNo": "ORD1", "sign": "ignored", "b": "", "a": None, "Z": "1"}
    assert t.string_to_sign(body, "N" * 32) == "Z=1&merchantOrderNo=ORD1&nonce=" + "N" * 32


def test_pem_public_key_works_too(clock: ManualClock, signing_key: RSAPrivateKey) -> None:
    with TeemoPaySimulator(merchant_public_key=merchant_keys().public_pem, clock=clock) as sim:
        sim.add_order("ORD1", "1000")
        assert query(sim, clock, signing_key)["code"] == 200
    with pytest.raises(ValueError):
        TeemoPaySimulator(merchant_public_key="not a key")


def test_unknown_order(teemo_sim: TeemoPaySimulator, clock: ManualClock, signing_key: RSAPrivateKey) -> None:
    assert_refused(query(teemo_sim, clock, signing_key, order_no="NOPE"), 434, "Merchant order not exist")


# -- scripts ----------------------------------------------------------------------------------


def test_pending_then_paid(
    teemo_sim: TeemoPaySimulator, clock: ManualClock, signing_key: RSAPrivateKey
) -> None:
    teemo_sim.add_order("ORD1", 1000, script=[t.pending(times=2), t.paid()])
    first = query(teemo_sim, clock, signing_key)["data"]
    assert first["status"] == 1 and first["amount"] == "0.00" and first["statementList"] == []
    assert first["transactionAmount"] == "1000.00" and "errorMessage" not in first
    assert teemo_sim.order("ORD1").status == 1
    assert [query(teemo_sim, clock, signing_key)["data"]["status"] for _ in range(3)] == [1, 2, 2]
    assert teemo_sim.order("ORD1").status == 2 and teemo_sim.order("ORD1").queries == 4


def test_a_deposit_after_the_decision_is_what_the_queries_that_follow_reveal(
    teemo_sim: TeemoPaySimulator, clock: ManualClock, signing_key: RSAPrivateKey
) -> None:
    teemo_sim.add_order("ORD1", 1000, script=[t.not_found()])
    assert query(teemo_sim, clock, signing_key)["code"] == 434
    teemo_sim.rescript("ORD1", [t.paid()])
    data = query(teemo_sim, clock, signing_key)["data"]
    assert data["status"] == 2 and data["transactionAmount"] == "1000.00"
    assert teemo_sim.order("ORD1").status == 2


def test_failed(teemo_sim: TeemoPaySimulator, clock: ManualClock, signing_key: RSAPrivateKey) -> None:
    teemo_sim.add_order("ORD1", 1000, script=[t.failed()])
    data = query(teemo_sim, clock, signing_key)["data"]
    assert data["status"] == 3 and data["amount"] is None
    assert data["errorMessage"] == "Transaction amount exceeds limit, kindly retry within allowed range."


@pytest.mark.parametrize(
    ("step", "amount", "transaction_amount"),
    [
        (t.paid(amount="999.00"), "999.00", "1000.00"),
        (t.paid(amount="1000.50"), "1000.50", "1000.00"),
        (t.paid(transaction_amount="999.00"), "1000.00", "999.00"),
        (t.paid(amount=t.NULL), None, "1000.00"),
        (t.paid(amount=Decimal("12.5")), "12.50", "1000.00"),
    ],
)
def test_paid_overrides(
    teemo_sim: TeemoPaySimulator,
    clock: ManualClock,
    signing_key: RSAPrivateKey,
    step,
    amount,
    transaction_amount,
) -> None:
    teemo_sim.add_order("ORD1", "1000", script=[step])
    data = query(teemo_sim, clock, signing_key)["data"]
    assert data["status"] == 2
    assert (data["amount"], data["transactionAmount"]) == (amount, transaction_amount)


@pytest.mark.parametrize(
    ("step", "code", "msg"),
    [
        (t.not_found(), 434, "Merchant order not exist"),
        (t.retry_later(), 412, "Please try again later"),
        (t.business_error(), 500, "Business Error"),
        (t.bad_parameter(), 414, "Bad parameter"),
        (t.app_not_found(), 416, "Application not found"),
    ],
)
def test_error_envelopes(
    teemo_sim: TeemoPaySimulator, clock: ManualClock, signing_key: RSAPrivateKey, step, code: int, msg: str
) -> None:
    teemo_sim.add_order("ORD1", 1000, script=[step])
    headers = teemo_headers(clock())
    response = post(teemo_sim.base_url, QUERY, _body("ORD1", signing_key, headers), headers)
    assert response.status_code == 200  # errors are envelopes, not HTTP statuses
    assert_refused(response.json(), code, msg)
    assert teemo_sim.order("ORD1").queries == 1


def _body(order_no: str, key: RSAPrivateKey, headers: dict) -> dict:
    body = {"merchantOrderNo": order_no}
    return {**body, "sign": teemo_sign(body, headers["nonce"], key)}


def test_other_order_string_status_and_unknown_status(
    teemo_sim: TeemoPaySimulator, clock: ManualClock, signing_key: RSAPrivateKey
) -> None:
    teemo_sim.add_order("ORD1", 1000, script=[t.other_order(), t.status_as_string(), t.unknown_status(7)])
    other = query(teemo_sim, clock, signing_key)["data"]
    assert other["merchantOrderNo"] != "ORD1" and other["status"] == 2
    assert query(teemo_sim, clock, signing_key)["data"]["status"] == "2"
    assert query(teemo_sim, clock, signing_key)["data"]["status"] == 7


def test_generic_steps_and_fail_next(
    teemo_sim: TeemoPaySimulator, clock: ManualClock, signing_key: RSAPrivateKey
) -> None:
    teemo_sim.add_order("ORD1", 1000, script=[t.non_json(), t.oversized(100_000), t.paid()])
    headers = teemo_headers(clock())
    first = post(teemo_sim.base_url, QUERY, _body("ORD1", signing_key, headers), headers)
    assert first.content == b"this is not json"
    headers = teemo_headers(clock())
    big = post(teemo_sim.base_url, QUERY, _body("ORD1", signing_key, headers), headers)
    assert len(big.content) == 100_000 and big.json()["data"]["merchantOrderNo"] == "ORD1"
    teemo_sim.fail_next(QUERY, t.business_error())
    assert query(teemo_sim, clock, signing_key)["code"] == 500
    assert query(teemo_sim, clock, signing_key)["data"]["status"] == 2
    assert teemo_sim.order("ORD1").queries == 3  # the injected fault reached no order


def test_completion_time_stays_fixed(
    teemo_sim: TeemoPaySimulator, clock: ManualClock, signing_key: RSAPrivateKey
) -> None:
    teemo_sim.add_order("ORD1", 1000)
    clock.set(datetime(2025, 1, 1, 0, 0, 0, tzinfo=UTC))
    first = query(teemo_sim, clock, signing_key)["data"]["statementList"][0]["completeTime"]
    clock.advance(minutes=10)
    assert first == "2025-01-01 09:00:00"
    assert query(teemo_sim, clock, signing_key)["data"]["statementList"][0]["completeTime"] == first


def test_amount_formats(teemo_sim: TeemoPaySimulator) -> None:
    teemo_sim.add_order("A", 1000)
    teemo_sim.add_order("B", "1000")
    teemo_sim.add_order("C", "12.5")
    assert [teemo_sim.order(n).amount for n in "ABC"] == ["1000.00", "1000.00", "12.50"]
    with pytest.raises(ValueError):
        teemo_sim.add_order("D", "ten")
