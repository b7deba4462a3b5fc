"""Every provider's sweep on the stack `sam deploy` created: real functions, real roles, HTTPS providers.

Orders are written with `paysweep register`; MiniStack runs the functions (its Invoke API, or
its scheduler in the schedule test); the simulators answer over HTTPS with a test CA the
functions trust (`AllowInsecureHttp=false`); outcomes are read from the subscribers' queues and
each one is checked against the schema and its message attributes.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator
from typing import Any

import pytest
import trustme
from e2e.deployed import KICC, PROVIDER_IDS, TEEMO, TOSS, E2EStack
from e2e.outcomes import Subscriber
from paysweep_local.providers import BY_ID
from paysweep_local.simulators import KiccSimulator, Step, kicc, teemopay, toss

DELIVERY_SECONDS = 15


def add_kicc(stack: E2EStack, order_id: str, script: list[Step], amount: int = 1000) -> str:
    pg_cno = f"PG-{order_id}"
    stack.kicc.add_payment(pg_cno, order_id, amount, "KRW", script=script)
    stack.register(order_id, KICC, str(amount), pg_cno=pg_cno)
    return pg_cno


def add_teemopay(stack: E2EStack, order_id: str, script: list[Step], amount: str = "1000") -> None:
    stack.teemopay.add_order(order_id, amount, script=script)
    stack.register(order_id, TEEMO, amount)


def add_toss(stack: E2EStack, order_id: str, script: list[Step], paid: int = 1000, amount: str = "1000") -> str:
    """A Toss card payment of `paid` won for an order of `amount`; returns its paymentKey."""
    payment_key = stack.toss.add_payment(order_id, paid, script=script)
    stack.register(order_id, TOSS, amount)
    return payment_key


def test_the_stack_was_deployed_with_the_readme_commands_and_https_only(stack: E2EStack) -> None:
    build, deploy = stack.deployment.commands
    assert build[:2] == ["make", "build"] and deploy[1:2] == ["deploy"]
    config = stack.client("lambda").get_function_configuration(FunctionName=stack.function_name(KICC))
    variables = config["Environment"]["Variables"]
    assert variables["ALLOW_INSECURE_HTTP"] == "false"
    assert variables["PROVIDER_BASE_URL"].startswith("https://127.0.0.1:")
    assert config["Architectures"] == ["x86_64"]


def test_kicc_approval_over_https_is_recorded_and_published(stack: E2EStack, subscriber: Subscriber) -> None:
    pg_cno = add_kicc(stack, "E2E-K-OK", [kicc.approved()])
    summary = stack.invoke(KICC).summary
    assert summary["outcomes"] == {"APPROVED": 1} and summary["errors"] == {}, summary
    message = subscriber.wait_for("E2E-K-OK", DELIVERY_SECONDS)
    assert (message["outcome"], message["eventId"]) == ("APPROVED", "E2E-K-OK:APPROVED")
    assert message["requested"] == message["reported"] == {"amount": "1000", "currency": "KRW"}
    assert message["providerRefs"]["pgCno"] == pg_cno
    assert stack.order("E2E-K-OK")["status"] == "APPROVED"
    (request,) = [r for r in stack.kicc.requests_for(kicc.FIND_PATH) if r.body and r.body.get("pgCno") == pg_cno]
    assert request.body["mallId"] == "M0000001"


def test_teemopay_payment_over_https_is_recorded_and_published(stack: E2EStack, subscriber: Subscriber) -> None:
    add_teemopay(stack, "E2E-T-OK", [teemopay.paid()])
    summary = stack.invoke(TEEMO).summary
    assert summary["outcomes"] == {"APPROVED": 1} and summary["errors"] == {}, summary
    message = subscriber.wait_for("E2E-T-OK", DELIVERY_SECONDS)
    assert (message["outcome"], message["provider"]) == ("APPROVED", TEEMO)
    assert stack.order("E2E-T-OK")["status"] == "APPROVED"


def test_toss_card_approval_over_https_is_recorded_and_published(stack: E2EStack, subscriber: Subscriber) -> None:
    payment_key = add_toss(stack, "E2E-TOSS-OK", [toss.done()])
    summary = stack.invoke(TOSS).summary
    assert summary["outcomes"] == {"APPROVED": 1} and summary["errors"] == {}, summary
    message = subscriber.wait_for("E2E-TOSS-OK", DELIVERY_SECONDS)
    assert (message["outcome"], message["provider"], message["providerStatus"]) == ("APPROVED", TOSS, "DONE")
    assert message["requested"] == message["reported"] == {"amount": "1000", "currency": "KRW"}
    assert message["providerRefs"]["paymentKey"] == payment_key and message["providerRefs"]["lastTransactionKey"]
    assert stack.order("E2E-TOSS-OK")["status"] == "APPROVED"
    (request,) = stack.toss.requests_for("/v1/payments/orders/E2E-TOSS-OK")
    assert request.headers["authorization"].startswith("Basic ") and request.response_status == 200  # the secret's key


def test_kicc_amount_mismatch_is_cancelled_and_the_cancel_confirmed(stack: E2EStack, subscriber: Subscriber) -> None:
    pg_cno = add_kicc(stack, "E2E-K-OFF", [kicc.approved(amount=999)])
    first = stack.invoke(KICC).summary
    assert first["cancelsRequested"] == 1 and first["outcomes"] == {}, first
    assert stack.order("E2E-K-OFF")["status"] == "CANCELLING"
    assert [r.body["pgCno"] for r in stack.kicc.requests_for(kicc.REVISE_PATH) if r.body] == [pg_cno]
    assert subscriber.for_order("E2E-K-OFF") == []  # never APPROVED, not CANCELLED before confirmation

    stack.cli("redrive", "E2E-K-OFF")  # the confirmation check is due now instead of in a minute
    second = stack.invoke(KICC).summary
    assert second["outcomes"] == {"CANCELLED": 1}, second
    message = subscriber.wait_for("E2E-K-OFF", DELIVERY_SECONDS)
    assert (message["outcome"], message["reason"]) == ("CANCELLED", "AMOUNT_MISMATCH")
    assert message["requested"]["amount"] == "1000" and message["reported"]["amount"] == "999"


def test_toss_card_amount_mismatch_is_cancelled_and_the_cancel_confirmed(
    stack: E2EStack, subscriber: Subscriber
) -> None:
    """Charged 1100 for a 1000 order: a full cancel under one Idempotency-Key, then CANCELLED
    AMOUNT_MISMATCH once a lookup shows it."""
    add_toss(stack, "E2E-TOSS-OFF", [toss.done()], paid=1100)
    first = stack.invoke(TOSS).summary
    assert first["cancelsRequested"] == 1 and first["outcomes"] == {}, first
    assert stack.order("E2E-TOSS-OFF")["status"] == "CANCELLING"
    sent = stack.toss.payment("E2E-TOSS-OFF")
    assert (sent.cancel_requests, sent.cancel_keys, sent.status) == (1, ["paysweep:E2E-TOSS-OFF:cancel:1"], "CANCELED")
    assert subscriber.for_order("E2E-TOSS-OFF") == []  # never APPROVED, not CANCELLED before confirmation

    stack.cli("redrive", "E2E-TOSS-OFF")  # the confirmation check is due now instead of in a minute
    second = stack.invoke(TOSS).summary
    assert second["outcomes"] == {"CANCELLED": 1}, second
    message = subscriber.wait_for("E2E-TOSS-OFF", DELIVERY_SECONDS)
    assert (message["outcome"], message["reason"]) == ("CANCELLED", "AMOUNT_MISMATCH")
    assert message["requested"]["amount"] == "1000" and message["reported"]["amount"] == "1100"
    assert message["providerRefs"] == {"cancelTransactionKey": sent.cancels[0]["transactionKey"]}  # the cancel's
    assert stack.toss.payment("E2E-TOSS-OFF").cancel_requests == 1  # confirmed by lookup, not sent again


def test_teemopay_amount_mismatch_goes_to_review(stack: E2EStack, subscriber: Subscriber) -> None:
    add_teemopay(stack, "E2E-T-OFF", [teemopay.paid(amount="900")])
    summary = stack.invoke(TEEMO).summary
    assert summary["outcomes"] == {"REVIEW": 1}, summary
    message = subscriber.wait_for("E2E-T-OFF", DELIVERY_SECONDS)
    assert (message["outcome"], message["reason"]) == ("REVIEW", "AMOUNT_MISMATCH")
    assert stack.order("E2E-T-OFF")["status"] == "REVIEW"


def test_a_provider_outage_loses_nothing(stack: E2EStack, subscriber: Subscriber) -> None:
    """5xx answers and timeouts: every order stays PENDING and due, nothing is published; once
    the providers answer again, the next sweeps decide every one of them."""
    add_kicc(stack, "E2E-K-5XX", [kicc.approved()])
    add_kicc(stack, "E2E-K-SLOW", [kicc.approved()])
    add_teemopay(stack, "E2E-T-5XX", [teemopay.paid()])
    add_teemopay(stack, "E2E-T-SLOW", [teemopay.paid()])
    add_toss(stack, "E2E-TOSS-5XX", [toss.done()])
    add_toss(stack, "E2E-TOSS-SLOW", [toss.done()])
    stack.kicc.fail_next(kicc.FIND_PATH, kicc.http_error(503), count=1)
    stack.kicc.fail_next(kicc.FIND_PATH, kicc.slow(6), count=1)  # past the 3 s HttpTimeoutSeconds
    stack.teemopay.fail_next(teemopay.QUERY_PATH, teemopay.http_error(502), count=1)
    stack.teemopay.fail_next(teemopay.QUERY_PATH, teemopay.slow(6), count=1)
    stack.toss.fail_next("/v1/payments/orders/E2E-TOSS-5XX", toss.http_error(502), count=1)
    stack.toss.fail_next("/v1/payments/orders/E2E-TOSS-SLOW", toss.slow(6), count=1)

    outage = {provider: stack.invoke(provider).summary for provider in PROVIDER_IDS}
    for provider, summary in outage.items():
        assert summary["outcomes"] == {} and summary["rescheduled"] == 2, (provider, summary)
        assert summary["providerErrors"] == {"http_5xx": 1, "timeout": 1}, (provider, summary)
    time.sleep(2)
    assert subscriber.collect() == []
    orders = ("E2E-K-5XX", "E2E-K-SLOW", "E2E-T-5XX", "E2E-T-SLOW", "E2E-TOSS-5XX", "E2E-TOSS-SLOW")
    for order_id in orders:
        item = stack.order(order_id)
        assert item["status"] == "PENDING" and item.get("nextCheckAt"), item  # still in the due index

    for order_id in orders:
        stack.cli("redrive", order_id)
    for provider in PROVIDER_IDS:
        assert stack.invoke(provider).summary["outcomes"] == {"APPROVED": 2}
    for order_id in orders:
        assert subscriber.wait_for(order_id, DELIVERY_SECONDS)["outcome"] == "APPROVED"


@pytest.fixture
def kicc_schedule(stack: E2EStack) -> Iterator[None]:
    stack.set_schedule(KICC, "ENABLED")
    yield
    stack.set_schedule(KICC, "DISABLED")


def test_the_deployed_schedule_fires_the_sweep(stack: E2EStack, subscriber: Subscriber, kicc_schedule: None) -> None:
    """`sam deploy` created the EventBridge Scheduler schedule, and MiniStack fires it (rate(1
    minute), counted from the stack's creation: within a minute of being enabled)."""
    add_kicc(stack, "E2E-K-TICK", [kicc.approved()])
    message = subscriber.wait_for("E2E-K-TICK", timeout_seconds=90)
    assert message["outcome"] == "APPROVED"


def untrusted_tls() -> ssl.SSLContext:
    """A server certificate from a CA of its own, which nothing the functions trust signed."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trustme.CA().issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture
def kicc_behind_an_untrusted_certificate(stack: E2EStack) -> Iterator[KiccSimulator]:
    """The KICC function pointed at a KICC simulator (the same credentials) whose certificate no
    trusted CA signed."""
    lambda_client = stack.client("lambda")
    name = stack.function_name(KICC)
    variables = lambda_client.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
    rogue = BY_ID[KICC].simulator(stack.local.credentials[KICC], stack.local.now, {})
    assert isinstance(rogue, KiccSimulator)
    rogue.start(untrusted_tls())
    try:
        update_variables(lambda_client, name, {**variables, "PROVIDER_BASE_URL": rogue.base_url})
        yield rogue
    finally:
        update_variables(lambda_client, name, variables)
        rogue.stop()


def update_variables(lambda_client: Any, name: str, variables: dict[str, str]) -> None:
    lambda_client.update_function_configuration(FunctionName=name, Environment={"Variables": variables})
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})


def test_tls_is_verified_an_untrusted_certificate_is_refused(
    stack: E2EStack, kicc_behind_an_untrusted_certificate: KiccSimulator
) -> None:
    """HTTPS with verification, not HTTPS alone: the same sweep against a server whose certificate
    the test CA did not sign fails the handshake; the order stays due and the server never sees
    a request."""
    rogue = kicc_behind_an_untrusted_certificate
    rogue.add_payment("PG-E2E-K-MITM", "E2E-K-MITM", 1000, "KRW", script=[kicc.approved()])
    stack.register("E2E-K-MITM", KICC, "1000", pg_cno="PG-E2E-K-MITM")
    summary = stack.invoke(KICC).summary
    assert summary["outcomes"] == {} and summary["providerErrors"] == {"connection": 1}, summary
    assert rogue.requests == []
    assert stack.order("E2E-K-MITM")["status"] == "PENDING"
