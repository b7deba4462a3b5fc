"""TeemoPay Korea payins, end to end: the real handler over real HTTP (emulator + TeemoPay simulator)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from paysweep_local.simulators import teemopay
from paysweep_local.simulators.keys import generate_rsa_keypair, teemopay_secret
from paysweep_local.stack import LocalStack
from support.invariants import check_all
from support.outcomes import Published
from support.scenarios import TEEMO, add_teemopay, emf

add = add_teemopay


def test_success_and_the_signed_request(stack: LocalStack, published: Published) -> None:
    add(stack, "TI-PAID", [teemopay.paid()])
    run = stack.sweep(TEEMO)
    assert run.ok, run.error
    message = published.only("TI-PAID")
    assert (message["outcome"], message["reported"]) == ("APPROVED", {"amount": "1000", "currency": "KRW"})
    assert message["providerStatus"] == "2" and message["providerRefs"]["tradeNo"]
    request = stack.teemopay.requests_for(teemopay.QUERY_PATH)[-1]
    assert request.response_json()["code"] == 200  # the simulator verified headers, nonce and signature
    assert set(request.body) == {"merchantOrderNo", "sign"}
    assert emf(run, "OutcomeApproved") == [1.0] or emf(run, "OutcomeApproved") == [1]


def test_pending_then_paid_with_a_new_nonce_every_time(stack: LocalStack, published: Published) -> None:
    add(stack, "TI-LATE", [teemopay.pending(times=2), teemopay.paid()])
    for _ in range(3):
        assert stack.sweep(TEEMO).ok
        stack.advance(60)
    assert published.only("TI-LATE")["outcome"] == "APPROVED"
    nonces = [r.headers["nonce"] for r in stack.teemopay.requests_for(teemopay.QUERY_PATH)]
    assert len(nonces) == 3 == len(set(nonces)) and {len(n) for n in nonces} == {32}


@pytest.mark.parametrize(
    "received, transaction, outcome",
    [
        ("1000.00", "1000.00", ("APPROVED", None)),
        ("1000.50", "1000.00", ("REVIEW", "AMOUNT_MISMATCH")),
        ("1500.00", "1000.00", ("REVIEW", "AMOUNT_MISMATCH")),
        ("1000.00", "999.00", ("REVIEW", "AMOUNT_MISMATCH")),
        (teemopay.NULL, "1000.00", ("REVIEW", "AMOUNT_MISMATCH")),
    ],
)
def test_amounts_are_compared_exactly_and_teemopay_has_no_cancel(stack: LocalStack, published: Published,
                                                                  received, transaction, outcome) -> None:
    add(stack, "TI-AMOUNT", [teemopay.paid(amount=received, transaction_amount=transaction)])
    assert stack.sweep(TEEMO).ok
    message = published.only("TI-AMOUNT")
    assert (message["outcome"], message["reason"]) == outcome


def test_declined_and_not_found_until_expiry(stack: LocalStack, published: Published) -> None:
    expires = stack.now() + timedelta(minutes=1)
    add(stack, "TI-DECLINED", [teemopay.failed()])
    add(stack, "TI-NOWHERE", [teemopay.not_found()], expires_at=expires)
    add(stack, "TI-BUSY", [teemopay.retry_later()], expires_at=expires)
    for _ in range(22):  # expiry, the settling grace, then 15 minutes of final retries
        assert stack.sweep(TEEMO).ok
        stack.advance(60)
    assert (published.only("TI-DECLINED")["outcome"], published.only("TI-DECLINED")["reason"]) == ("FAILED", "PROVIDER_DECLINED")
    assert published.only("TI-NOWHERE")["reason"] == "EXPIRED"
    assert (published.only("TI-BUSY")["outcome"], published.only("TI-BUSY")["reason"]) == ("REVIEW", "UNKNOWN_PROVIDER_STATE")
    check_all(stack.orders(), [d.message for d in published.all])


@pytest.fixture
def wrong_merchant_key(stack: LocalStack) -> Iterator[None]:
    """The secret holds a key TeemoPay does not know: every signature is refused."""
    def put(secret: dict[str, str]) -> None:
        stack.client("secretsmanager").put_secret_value(SecretId=stack.parameters["TeemoPaySecretArn"],
                                                        SecretString=json.dumps(secret))
        stack.functions[TEEMO].kill()  # the next sweep is a cold start: it reads the secret anew

    put(teemopay_secret(generate_rsa_keypair()))
    yield
    put(stack.credentials[TEEMO])  # the stack's own secret again, its merchant accounts included


def test_a_refused_signature_never_ends_an_order_and_says_what_is_wrong(stack: LocalStack, published: Published,
                                                                        wrong_merchant_key: None) -> None:
    add(stack, "TI-SIGNED", [teemopay.paid()], expires_at=stack.now() + timedelta(minutes=1))
    runs = []
    for _ in range(8):  # well past expiry and grace
        runs.append(stack.sweep(TEEMO))
        stack.advance(60)
    assert all(run.ok for run in runs)
    assert published.for_order("TI-SIGNED") == []
    item = stack.order("TI-SIGNED")
    assert item["status"] == "PENDING" and item["sweepKey"] and item["lastCheck"]["state"] == "MISCONFIGURED"
    assert "sign" in item["lastCheck"]["detail"]
    assert runs[0].result["misconfigured"] == 1 and emf(runs[0], "ProviderMisconfigured") in ([1], [1.0])
    errors = [r for r in runs[0].log_records() if r.get("level") == "ERROR" and "configuration" in r["message"]]
    assert errors and errors[0]["orderId"] == "TI-SIGNED"


def test_an_unknown_app_code_is_a_configuration_error_too(stack: LocalStack, published: Published) -> None:
    add(stack, "TI-APP", [teemopay.app_not_found(), teemopay.paid()])
    run = stack.sweep(TEEMO)
    assert run.result["misconfigured"] == 1 and stack.order("TI-APP")["status"] == "PENDING"
    stack.advance(60)
    stack.sweep(TEEMO)
    assert published.only("TI-APP")["outcome"] == "APPROVED"


def test_answers_that_break_the_docs(stack: LocalStack, published: Published) -> None:
    scripts = {"TI-HTML": teemopay.http_error(502), "TI-TEXT": teemopay.non_json(), "TI-OTHER": teemopay.other_order(),
               "TI-STATUS": teemopay.unknown_status(7), "TI-500": teemopay.business_error()}
    for order_id, step in scripts.items():
        add(stack, order_id, [step, teemopay.paid()])
    run = stack.sweep(TEEMO)
    assert run.ok and run.result["outcomes"] == {} and run.result["rescheduled"] == len(scripts)
    stack.advance(60)
    assert stack.sweep(TEEMO).result["outcomes"] == {"APPROVED": len(scripts)}


def test_status_as_a_string_is_accepted(stack: LocalStack, published: Published) -> None:
    add(stack, "TI-STRING", [teemopay.status_as_string()])
    stack.sweep(TEEMO)
    assert published.only("TI-STRING")["outcome"] == "APPROVED"
