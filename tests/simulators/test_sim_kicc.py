"""The KICC WeChat Pay simulator enforces KICC's documented rules and answers in its format."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote_plus

import pytest
import requests
from paysweep_local.simulators import KiccSimulator, ManualClock
from paysweep_local.simulators import kicc as k
from simtest_support import (
    FIND,
    KST,
    MALL,
    REVISE,
    SECRET,
    find,
    find_body,
    hmac_hex,
    kst_day,
    new_key,
    post,
    post_bytes,
    revise_body,
)

DOCS = Path(__file__).parents[1] / "fixtures" / "provider_docs"

ERROR_CODES = [
    k.RES_BAD_REQUEST,
    k.RES_BAD_MALL,
    k.RES_DUPLICATE_KEY,
    k.RES_UNKNOWN_PGCNO,
    k.RES_BAD_AUTH,
    k.RES_BAD_DATE,
    k.RES_ALREADY_CANCELLED,
    k.RES_NOT_APPROVED,
    k.RES_UNKNOWN_CANCEL,
    k.RES_UNSUPPORTED_REVISE,
]


def revise(sim: KiccSimulator, body: dict, timeout: float = 5) -> requests.Response:
    response = post(sim.base_url, REVISE, body, timeout=timeout)
    assert response.status_code == 200
    return response


def cancel(sim: KiccSimulator, pg_cno: str, key: str, day: str, **overrides: str) -> str:
    """Send a cancel built from the documentation; the answer's resCd."""
    return revise(sim, revise_body(pg_cno, key, day, **overrides)).json()["resCd"]


def today(clock: ManualClock, days: int = 0) -> str:
    return kst_day(clock(), days)


@pytest.fixture
def approved_payment(kicc_sim: KiccSimulator) -> str:
    kicc_sim.add_payment("PG0001", "ORDER-1", 1000)
    return "PG0001"


def test_error_codes_are_distinct_and_never_success_or_retryable() -> None:
    assert len(set(ERROR_CODES)) == len(ERROR_CODES)
    assert k.RES_SUCCESS == "0000" and k.RES_SUCCESS not in ERROR_CODES
    assert not any(code.startswith("A21") for code in ERROR_CODES)  # those mean "retry the cancel"


# -- /find ------------------------------------------------------------------------------------


def test_approved_answer_has_the_documented_shape(kicc_sim: KiccSimulator, clock: ManualClock) -> None:
    example = json.loads((DOCS / "kicc-find-response.json").read_text())
    kicc_sim.add_payment("PG0001", "ORDER-1", 1000)
    answer = find(kicc_sim.base_url, "PG0001", key="KEY-1")
    assert list(answer) == list(example)  # same fields, same order
    assert list(answer["amountInfo"]) == list(example["amountInfo"])
    assert answer == {
        "resCd": "0000",
        "resMsg": "Success",
        "shopTransactionId": "KEY-1",
        "mallId": MALL,
        "shopOrderNo": "ORDER-1",
        "pgCno": "PG0001",
        "approvalDate": clock().astimezone(KST).strftime("%Y%m%d%H%M%S"),
        "statusCd": "TS01",
        "amountInfo": {"currency": "KRW", "totAmount": 1000},
    }
    assert answer["approvalDate"] == "20260312120000"  # KST, not UTC
    assert isinstance(answer["amountInfo"]["totAmount"], int)


def test_approval_date_stays_the_same_across_lookups(kicc_sim: KiccSimulator, clock: ManualClock) -> None:
    kicc_sim.add_payment("PG0001", "ORDER-1", 1000)
    first = find(kicc_sim.base_url, "PG0001")["approvalDate"]
    clock.advance(minutes=5)
    assert find(kicc_sim.base_url, "PG0001")["approvalDate"] == first


def test_usd_amount_is_in_cents(kicc_sim: KiccSimulator) -> None:
    kicc_sim.add_payment("PGUSD", "ORDER-USD", 1203, currency="USD")
    assert find(kicc_sim.base_url, "PGUSD")["amountInfo"] == {"currency": "USD", "totAmount": 1203}


def test_unpaid_answer_has_no_status_amount_or_date(kicc_sim: KiccSimulator) -> None:
    kicc_sim.add_payment("PG0001", "ORDER-1", 1000, script=[k.pending()])
    answer = find(kicc_sim.base_url, "PG0001", key="KEY-2")
    assert answer == {
        "resCd": "0000",
        "resMsg": "Success",
        "shopTransactionId": "KEY-2",
        "mallId": MALL,
        "shopOrderNo": "ORDER-1",
        "pgCno": "PG0001",
    }
    assert kicc_sim.payment("PG0001").status == "PENDING"


@pytest.mark.parametrize(
    ("step", "status"),
    [
        (k.cancelled(), "TS02"),
        (k.cancelled("TS12"), "TS12"),
        (k.partial_cancel(), "TS06"),
        (k.unknown_status(), "TS99"),
    ],
)
def test_status_steps(kicc_sim: KiccSimulator, step: k.Step, status: str) -> None:
    kicc_sim.add_payment("PG0001", "ORDER-1", 1000, script=[step])
    answer = find(kicc_sim.base_url, "PG0001")
    assert answer["resCd"] == "0000" and answer["statusCd"] == status
    assert answer["amountInfo"] == {"currency": "KRW", "totAmount": 1000}
    assert kicc_sim.payment("PG0001").status == status


def test_approved_overrides_make_mismatches(kicc_sim: KiccSimulator) -> None:
    script = [k.approved(amount=999), k.approved(currency="USD"), k.approved(omit_amount=True)]
    kicc_sim.add_payment("PG0001", "ORDER-1", 1000, script=script)
    assert find(kicc_sim.base_url, "PG0001")["amountInfo"] == {"currency": "KRW", "totAmount": 999}
    assert find(kicc_sim.base_url, "PG0001")["amountInfo"] == {"currency": "USD", "totAmount": 1000}
    omitted = find(kicc_sim.base_url, "PG0001")
    assert omitted["statusCd"] == "TS01" and "amountInfo" not in omitted


def test_error_step_url_encodes_the_detail(kicc_sim: KiccSimulator) -> None:
    kicc_sim.add_payment("PG0001", "ORDER-1", 1000, script=[k.error()])
    answer = find(kicc_sim.base_url, "PG0001", key="KEY-3")
    assert answer["resCd"] == "W002" and answer["resMsg"] == "Payment failed"
    assert answer["resDetailMsg"] == "%EC%82%AC%EC%9A%A9%EC%9E%90+%EA%B2%B0%EC%A0%9C+%EC%B7%A8%EC%86%8C"
    assert unquote_plus(answer["resDetailMsg"]) == "사용자 결제 취소"
    assert "statusCd" not in answer


def test_wrong_key_and_other_payment_are_approvals_about_something_else(kicc_sim: KiccSimulator) -> None:
    kicc_sim.add_payment("PG0001", "ORDER-1", 1000, script=[k.wrong_key(), k.other_payment()])
    wrong = find(kicc_sim.base_url, "PG0001", key="MINE")
    assert wrong["statusCd"] == "TS01" and wrong["shopTransactionId"] != "MINE" and wrong["pgCno"] == "PG0001"
    other = find(kicc_sim.base_url, "PG0001", key="MINE2")
    assert other["statusCd"] == "TS01" and other["shopTransactionId"] == "MINE2"
    assert other["pgCno"] != "PG0001" and other["shopOrderNo"] != "ORDER-1"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ({"shopTransactionId": "K", "pgCno": "PG0001"}, "application/json"),  # mallId missing
        ({"mallId": MALL, "pgCno": "PG0001"}, "application/json"),  # key missing
        ({"mallId": MALL, "shopTransactionId": "K"}, "application/json"),  # pgCno missing
        ({"mallId": MALL, "shopTransactionId": "K", "pgCno": 1}, "application/json"),  # not a string
        ({"mallId": MALL, "shopTransactionId": "K" * 61, "pgCno": "PG0001"}, "application/json"),  # too long
        ({"mallId": MALL, "shopTransactionId": "K", "pgCno": "P" * 61}, "application/json"),
        ({"mallId": MALL, "shopTransactionId": " ", "pgCno": "PG0001"}, "application/json"),  # blank
        ({"mallId": MALL, "shopTransactionId": "K", "pgCno": "PG0001", "cancelPgCno": 5}, "application/json"),
        ({"mallId": MALL, "shopTransactionId": "K", "pgCno": "PG0001"}, "text/plain"),
        ({"mallId": MALL, "shopTransactionId": "K", "pgCno": "PG0001"}, "application/json; charset=euc-kr"),
        (["not", "an", "object"], "application/json"),
    ],
)
def test_malformed_find_requests_are_refused(
    kicc_sim: KiccSimulator, approved_payment: str, body: object, content_type: str
) -> None:
    response = post_bytes(kicc_sim.base_url, FIND, json.dumps(body).encode(), content_type)
    assert response.status_code == 200
    assert response.json()["resCd"] == k.RES_BAD_REQUEST
    assert kicc_sim.payment(approved_payment).lookups == 0


def test_limits_are_inclusive(kicc_sim: KiccSimulator) -> None:
    kicc_sim.add_payment("P" * 60, "ORDER-1", 1000)
    key = "K" * 60
    response = requests.post(
        kicc_sim.base_url + FIND,
        data=json.dumps({"mallId": MALL, "shopTransactionId": key, "pgCno": "P" * 60}).encode(),
        headers={"Content-Type": "application/json; charset=utf-8"},
        timeout=5,
    )
    assert response.json()["statusCd"] == "TS01"


def test_not_json_at_all_is_refused(kicc_sim: KiccSimulator) -> None:
    response = post_bytes(kicc_sim.base_url, FIND, b"mallId=M0000001")
    assert response.json()["resCd"] == k.RES_BAD_REQUEST


def test_wrong_mall_is_refused(kicc_sim: KiccSimulator, approved_payment: str) -> None:
    answer = post(kicc_sim.base_url, FIND, find_body(approved_payment, mall_id="M9999999")).json()
    assert answer["resCd"] == k.RES_BAD_MALL
    assert "statusCd" not in answer


def test_unknown_pgcno(kicc_sim: KiccSimulator) -> None:
    assert find(kicc_sim.base_url, "NOPE")["resCd"] == k.RES_UNKNOWN_PGCNO


def test_a_key_is_used_once_per_kst_day(
    kicc_sim: KiccSimulator, approved_payment: str, clock: ManualClock
) -> None:
    clock.set(datetime(2026, 3, 12, 14, 59, 0, tzinfo=UTC))  # 23:59 KST
    assert find(kicc_sim.base_url, approved_payment, key="DAILY")["resCd"] == "0000"
    duplicate = find(kicc_sim.base_url, approved_payment, key="DAILY")
    assert duplicate["resCd"] == k.RES_DUPLICATE_KEY and "statusCd" not in duplicate
    clock.set(datetime(2026, 3, 12, 15, 0, 0, tzinfo=UTC))  # midnight KST (still the 12th in UTC)
    assert find(kicc_sim.base_url, approved_payment, key="DAILY")["resCd"] == "0000"
    assert kicc_sim.payment(approved_payment).lookups == 2


def test_a_key_used_on_find_cannot_be_used_for_a_cancel(
    kicc_sim: KiccSimulator, approved_payment: str, clock: ManualClock
) -> None:
    find(kicc_sim.base_url, approved_payment, key="SHARED")
    answer = revise(kicc_sim, revise_body(approved_payment, "SHARED", today(clock))).json()
    assert answer["resCd"] == k.RES_DUPLICATE_KEY
    assert kicc_sim.payment(approved_payment).cancel_pg_cno is None


def test_a_cancel_key_cannot_be_used_for_a_lookup(
    kicc_sim: KiccSimulator, approved_payment: str, clock: ManualClock
) -> None:
    assert revise(kicc_sim, revise_body(approved_payment, "CANCEL-1", today(clock))).json()["resCd"] == "0000"
    assert find(kicc_sim.base_url, approved_payment, key="CANCEL-1")["resCd"] == k.RES_DUPLICATE_KEY


# -- /revise ----------------------------------------------------------------------------------


def test_cancel_is_accepted_with_the_documented_answer(
    kicc_sim: KiccSimulator, approved_payment: str, clock: ManualClock
) -> None:
    notify = "https://merchant.example/notify"
    body = revise_body(approved_payment, "CANCEL-1", today(clock), notifyUrl=notify, regId="ops")
    answer = revise(kicc_sim, body).json()
    fields = ["resCd", "resMsg", "shopTransactionId", "mallId", "pgCno", "cancelPgCno", "cancelDate"]
    assert list(answer) == fields
    assert answer["resCd"] == "0000" and answer["resMsg"] == "Success"
    assert answer["shopTransactionId"] == "CANCEL-1" and answer["mallId"] == MALL
    assert answer["pgCno"] == approved_payment
    assert answer["cancelDate"] == "20260312120000"
    assert answer["cancelPgCno"] and answer["cancelPgCno"] != approved_payment
    payment = kicc_sim.payment(approved_payment)
    assert payment.status == "TS02" and payment.cancel_pg_cno == answer["cancelPgCno"]
    assert payment.cancel_keys == ["CANCEL-1"] and payment.cancel_requests == 1


def test_after_a_settled_cancel_find_says_ts02_whatever_the_script(
    kicc_sim: KiccSimulator, approved_payment: str, clock: ManualClock
) -> None:
    revise(kicc_sim, revise_body(approved_payment, "CANCEL-1", today(clock)))
    answer = find(kicc_sim.base_url, approved_payment)
    assert answer["statusCd"] == "TS02" and answer["amountInfo"] == {"currency": "KRW", "totAmount": 1000}


def test_identical_retry_replays_the_original_answer(
    kicc_sim: KiccSimulator, approved_payment: str, clock: ManualClock
) -> None:
    body = revise_body(approved_payment, "CANCEL-1", today(clock))
    first = revise(kicc_sim, body)
    clock.advance(minutes=3)
    second = revise(kicc_sim, dict(reversed(list(body.items()))))  # same content, other field order
    assert second.content == first.content  # byte for byte, cancelDate included
    payment = kicc_sim.payment(approved_payment)
    assert payment.cancel_keys == ["CANCEL-1"] and payment.cancel_requests == 2


@pytest.mark.parametrize("change", [{"memo": "another memo"}, {"notifyUrl": "https://x.example/n"}])
def test_same_key_with_a_different_body_is_a_duplicate(
    kicc_sim: KiccSimulator, approved_payment: str, clock: ManualClock, change: dict
) -> None:
    body = revise_body(approved_payment, "CANCEL-1", today(clock))
    revise(kicc_sim, body)
    assert revise(kicc_sim, {**body, **change}).json()["resCd"] == k.RES_DUPLICATE_KEY


def test_second_cancel_under_a_new_key_is_refused(
    kicc_sim: KiccSimulator, approved_payment: str, clock: ManualClock
) -> None:
    first = revise(kicc_sim, revise_body(approved_payment, "CANCEL-1", today(clock))).json()
    second = revise(kicc_sim, revise_body(approved_payment, "CANCEL-2", today(clock))).json()
    assert second["resCd"] == k.RES_ALREADY_CANCELLED
    payment = kicc_sim.payment(approved_payment)
    assert payment.cancel_pg_cno == first["cancelPgCno"]
    assert payment.cancel_keys == ["CANCEL-1"] and payment.revise_keys == ["CANCEL-1", "CANCEL-2"]


def test_second_cancel_refused_even_before_settlement(kicc_sim: KiccSimulator, clock: ManualClock) -> None:
    kicc_sim.add_payment("PG0001", "ORDER-1", 1000, settle_after=3)
    revise(kicc_sim, revise_body("PG0001", "CANCEL-1", today(clock)))
    assert kicc_sim.payment("PG0001").status == "TS01"
    assert cancel(kicc_sim, "PG0001", "CANCEL-2", today(clock)) == k.RES_ALREADY_CANCELLED


@pytest.mark.parametrize(
    "auth",
    [
        hmac_hex("wrong-secret", "PG0001", "CANCEL-1"),
        hmac_hex(SECRET, "CANCEL-1", "PG0001"),  # fields swapped
        hmac_hex(SECRET, "PG0001", "CANCEL-1").upper(),  # must be lowercase hex
        hmac_hex(SECRET, "PG0001", "CANCEL-1")[:-1],
        "x",
    ],
)
def test_wrong_msg_auth_value_is_refused(
    kicc_sim: KiccSimulator, approved_payment: str, clock: ManualClock, auth: str
) -> None:
    assert cancel(kicc_sim, approved_payment, "CANCEL-1", today(clock), msgAuthValue=auth) == k.RES_BAD_AUTH
    payment = kicc_sim.payment(approved_payment)
    assert payment.status == "TS01" and payment.cancel_pg_cno is None
    # Not consumed: the correct request under the same key still goes through.
    assert revise(kicc_sim, revise_body(approved_payment, "CANCEL-1", today(clock))).json()["resCd"] == "0000"


def test_msg_auth_value_covers_the_key(
    kicc_sim: KiccSimulator, approved_payment: str, clock: ManualClock
) -> None:
    auth = hmac_hex(SECRET, approved_payment, "OTHER")
    assert cancel(kicc_sim, approved_payment, "CANCEL-1", today(clock), msgAuthValue=auth) == k.RES_BAD_AUTH


@pytest.mark.parametrize(("days", "accepted"), [(0, True), (-1, True), (-2, False), (1, False)])
def test_first_attempt_date_is_today_or_yesterday_kst(
    kicc_sim: KiccSimulator, approved_payment: str, clock: ManualClock, days: int, accepted: bool
) -> None:
    answer = revise(kicc_sim, revise_body(approved_payment, "CANCEL-1", today(clock, days))).json()
    assert (answer["resCd"] == "0000") is accepted
    if not accepted:
        assert answer["resCd"] == k.RES_BAD_DATE


@pytest.mark.parametrize("day", ["2026-03-12", "2026312", "", "20261312"])
def test_malformed_dates_are_refused(
    kicc_sim: KiccSimulator, approved_payment: str, clock: ManualClock, day: str
) -> None:
    answer = revise(kicc_sim, revise_body(approved_payment, "CANCEL-1", day)).json()
    assert answer["resCd"] in (k.RES_BAD_DATE, k.RES_BAD_REQUEST)


def test_kst_date_is_used_not_utc(kicc_sim: KiccSimulator, approved_payment: str, clock: ManualClock) -> None:
    clock.set(datetime(2026, 3, 11, 16, 0, tzinfo=UTC))  # 01:00 KST on the 12th
    tomorrow_utc = datetime(2026, 3, 13, tzinfo=UTC).strftime("%Y%m%d")
    assert cancel(kicc_sim, approved_payment, "CANCEL-0", tomorrow_utc) == k.RES_BAD_DATE
    assert revise(kicc_sim, revise_body(approved_payment, "CANCEL-1", "20260312")).json()["resCd"] == "0000"


def test_retries_must_keep_the_first_attempts_date(kicc_sim: KiccSimulator, clock: ManualClock) -> None:
    kicc_sim.add_payment("PG0001", "ORDER-1", 1000, cancel_script=[k.retryable(), k.accept()])
    first_day = today(clock)
    assert revise(kicc_sim, revise_body("PG0001", "CANCEL-1", first_day)).json()["resCd"] == "A211"
    clock.advance(days=2)
    moved = revise(kicc_sim, revise_body("PG0001", "CANCEL-1", today(clock))).json()
    assert moved["resCd"] == k.RES_BAD_DATE  # a retry that re-dates itself is refused
    assert revise(kicc_sim, revise_body("PG0001", "CANCEL-1", first_day)).json()["resCd"] == "0000"


def test_retryable_answer_does_not_consume_the_key(kicc_sim: KiccSimulator, clock: ManualClock) -> None:
    kicc_sim.add_payment("PG0001", "ORDER-1", 1000, cancel_script=[k.retryable("A213"), k.accept()])
    body = revise_body("PG0001", "CANCEL-1", today(clock))
    first = revise(kicc_sim, body).json()
    assert first["resCd"] == "A213" and first["shopTransactionId"] == "CANCEL-1"
    assert kicc_sim.payment("PG0001").status == "TS01"
    second = revise(kicc_sim, body).json()
    assert second["resCd"] == "0000" and kicc_sim.payment("PG0001").status == "TS02"


def test_refusal_is_stored_and_replayed(kicc_sim: KiccSimulator, clock: ManualClock) -> None:
    cancel_script = [k.refuse("C012", "Not cancellable"), k.accept()]
    kicc_sim.add_payment("PG0001", "ORDER-1", 1000, cancel_script=cancel_script)
    body = revise_body("PG0001", "CANCEL-1", today(clock))
    first = revise(kicc_sim, body)
    assert first.json()["resCd"] == "C012" and first.json()["resMsg"] == "Not cancellable"
    assert revise(kicc_sim, body).content == first.content
    payment = kicc_sim.payment("PG0001")
    assert payment.status == "TS01" and payment.cancel_keys == [] and payment.cancel_pg_cno is None


def test_timeout_accepts_then_a_retry_replays_the_success(
    kicc_sim: KiccSimulator, clock: ManualClock
) -> None:
    kicc_sim.add_payment("PG0001", "ORDER-1", 1000, cancel_script=[k.timeout(1.0)])
    body = revise_body("PG0001", "CANCEL-1", today(clock))
    with pytest.raises(requests.ReadTimeout):
        post(kicc_sim.base_url, REVISE, body, timeout=0.3)
    payment = kicc_sim.payment("PG0001")
    assert payment.cancel_pg_cno is not None and payment.status == "TS02"  # accepted although unanswered
    started = time.monotonic()
    retry = revise(kicc_sim, body).json()
    assert time.monotonic() - started < 0.5  # the replay is not delayed
    assert retry["resCd"] == "0000" and retry["cancelPgCno"] == payment.cancel_pg_cno
    assert kicc_sim.payment("PG0001").cancel_keys == ["CANCEL-1"]
    time.sleep(0.8)
    assert [r.response_status for r in kicc_sim.requests_for(REVISE)] == [200, 200]


def test_retry_on_a_later_day_replays_the_accepted_cancel(
    kicc_sim: KiccSimulator, approved_payment: str, clock: ManualClock
) -> None:
    body = revise_body(approved_payment, "CANCEL-1", today(clock))
    first = revise(kicc_sim, body)
    clock.advance(days=3)
    assert revise(kicc_sim, body).content == first.content


def test_cancel_of_an_unpaid_payment_is_refused(kicc_sim: KiccSimulator, clock: ManualClock) -> None:
    kicc_sim.add_payment("PG0001", "ORDER-1", 1000, script=[k.pending()])
    assert cancel(kicc_sim, "PG0001", "CANCEL-1", today(clock)) == k.RES_NOT_APPROVED


def test_cancel_of_a_payment_cancelled_at_the_provider_is_refused(
    kicc_sim: KiccSimulator, clock: ManualClock
) -> None:
    kicc_sim.add_payment("PG0001", "ORDER-1", 1000, script=[k.cancelled("TS12")])
    assert cancel(kicc_sim, "PG0001", "CANCEL-1", today(clock)) == k.RES_ALREADY_CANCELLED


def test_status_moves_with_the_script_before_a_cancel(kicc_sim: KiccSimulator, clock: ManualClock) -> None:
    kicc_sim.add_payment("PG0001", "ORDER-1", 1000, script=[k.pending(), k.approved()])
    find(kicc_sim.base_url, "PG0001")
    assert cancel(kicc_sim, "PG0001", "CANCEL-1", today(clock)) == k.RES_NOT_APPROVED
    find(kicc_sim.base_url, "PG0001")
    assert kicc_sim.payment("PG0001").status == "TS01"
    assert revise(kicc_sim, revise_body("PG0001", "CANCEL-1", today(clock))).json()["resCd"] == "0000"


def test_partial_cancel_type_is_not_supported(
    kicc_sim: KiccSimulator, approved_payment: str, clock: ManualClock
) -> None:
    answer = cancel(kicc_sim, approved_payment, "CANCEL-1", today(clock), reviseTypeCode="32")
    assert answer == k.RES_UNSUPPORTED_REVISE


@pytest.mark.parametrize(
    "missing", ["mallId", "shopTransactionId", "pgCno", "reviseTypeCode", "cancelReqDate", "msgAuthValue"]
)
def test_revise_requires_every_documented_field(
    kicc_sim: KiccSimulator, approved_payment: str, clock: ManualClock, missing: str
) -> None:
    body = revise_body(approved_payment, "CANCEL-1", today(clock))
    del body[missing]
    assert revise(kicc_sim, body).json()["resCd"] == k.RES_BAD_REQUEST
    assert kicc_sim.payment(approved_payment).cancel_pg_cno is None


def test_revise_checks_mall_and_payment(
    kicc_sim: KiccSimulator, approved_payment: str, clock: ManualClock
) -> None:
    assert cancel(kicc_sim, approved_payment, "C1", today(clock), mallId="M0000002") == k.RES_BAD_MALL
    assert revise(kicc_sim, revise_body("NOPE", "C2", today(clock))).json()["resCd"] == k.RES_UNKNOWN_PGCNO


# -- settlement and the cancellation lookup ----------------------------------------------------


def test_settle_after_delays_ts02(kicc_sim: KiccSimulator, clock: ManualClock) -> None:
    kicc_sim.add_payment("PG0001", "ORDER-1", 1000, settle_after=2)
    accepted = revise(kicc_sim, revise_body("PG0001", "CANCEL-1", today(clock))).json()
    cancel_pg_cno = accepted["cancelPgCno"]
    first = find(kicc_sim.base_url, "PG0001", key="L1", cancelPgCno=cancel_pg_cno)
    assert first["resCd"] == "0000" and "cancelStatus" not in first
    assert find(kicc_sim.base_url, "PG0001")["statusCd"] == "TS01"
    assert kicc_sim.payment("PG0001").status == "TS01" and not kicc_sim.payment("PG0001").cancel_settled
    assert find(kicc_sim.base_url, "PG0001")["statusCd"] == "TS02"
    settled = find(kicc_sim.base_url, "PG0001", key="L2", cancelPgCno=cancel_pg_cno)
    assert settled == {
        "resCd": "0000",
        "resMsg": "Success",
        "shopTransactionId": "L2",
        "mallId": MALL,
        "pgCno": "PG0001",
        "cancelPgCno": cancel_pg_cno,
        "transactionDate": accepted["cancelDate"],
        "cancelStatus": "TS02",
        "amountInfo": {"currency": "KRW", "totAmount": 1000},
    }
    assert list(settled) == list(settled.keys())
    assert kicc_sim.payment("PG0001").cancel_settled


def test_cancellation_lookup_with_an_unknown_cancel_pgcno(
    kicc_sim: KiccSimulator, approved_payment: str, clock: ManualClock
) -> None:
    assert find(kicc_sim.base_url, approved_payment, cancelPgCno="NOPE")["resCd"] == k.RES_UNKNOWN_CANCEL
    revise(kicc_sim, revise_body(approved_payment, "CANCEL-1", today(clock)))
    assert find(kicc_sim.base_url, approved_payment, cancelPgCno="NOPE")["resCd"] == k.RES_UNKNOWN_CANCEL


def test_cancellation_lookup_does_not_consume_the_payment_script(
    kicc_sim: KiccSimulator, clock: ManualClock
) -> None:
    kicc_sim.add_payment("PG0001", "ORDER-1", 1000, script=[k.approved(), k.error("W500")], settle_after=5)
    find(kicc_sim.base_url, "PG0001")
    cancel_pg_cno = revise(kicc_sim, revise_body("PG0001", "CANCEL-1", today(clock))).json()["cancelPgCno"]
    find(kicc_sim.base_url, "PG0001", cancelPgCno=cancel_pg_cno)
    assert kicc_sim.payment("PG0001").lookups == 1


def test_concurrent_cancels_under_different_keys_accept_exactly_one(
    kicc_sim: KiccSimulator, approved_payment: str, clock: ManualClock
) -> None:
    day = today(clock)
    results: list[str] = []

    def one(n: int) -> None:
        results.append(revise(kicc_sim, revise_body(approved_payment, f"CANCEL-{n}", day)).json()["resCd"])

    threads = [threading.Thread(target=one, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["0000"] + [k.RES_ALREADY_CANCELLED] * 15
    assert len(kicc_sim.payment(approved_payment).cancel_keys) == 1


def test_fail_next_timeout_on_revise_processes_the_cancel_late(
    kicc_sim: KiccSimulator, approved_payment: str, clock: ManualClock
) -> None:
    kicc_sim.fail_next(REVISE, k.timeout(0.6))
    body = revise_body(approved_payment, new_key("C"), today(clock))
    with pytest.raises(requests.ReadTimeout):
        post(kicc_sim.base_url, REVISE, body, timeout=0.2)
    assert kicc_sim.payment(approved_payment).status == "TS02"
    assert revise(kicc_sim, body).json()["resCd"] == "0000"


def test_a_rescripted_payment_answers_its_new_story_and_can_then_be_cancelled(
    kicc_sim: KiccSimulator, clock: ManualClock
) -> None:
    """A payment made after the order was decided (a late payment): the lookups that follow
    reveal it, and only then is it approved, so only then can it be cancelled."""
    kicc_sim.add_payment("PG0001", "ORDER-1", 1000, script=[k.pending()])
    assert "statusCd" not in find(kicc_sim.base_url, "PG0001")
    kicc_sim.rescript("PG0001", [k.approved()])
    assert kicc_sim.payment("PG0001").status == "PENDING", "nothing moves before a lookup reveals it"
    assert find(kicc_sim.base_url, "PG0001")["statusCd"] == "TS01"
    assert cancel(kicc_sim, "PG0001", "CANCEL-1", today(clock)) == "0000"
