"""The Toss Payments simulator enforces the reference's rules and answers in Toss's format.

Requests are built here from the provider reference (the examples copied into
tests/fixtures/provider_docs/toss-*), not from the simulator's constants, and go over HTTPS
(Toss serves TLS only) to the running simulator.
"""

from __future__ import annotations

import base64
import json
import shlex
import ssl
import time
from collections.abc import Iterator
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import requests
import trustme
from paysweep_local.simulators import ManualClock
from paysweep_local.simulators import toss as t
from paysweep_local.simulators.toss import TossSimulator

DOCS = Path(__file__).parents[1] / "fixtures" / "provider_docs"
SECRET = "test_sk_simulatorTestsKey0000000001"
HTTP_STATUS = json.loads((DOCS / "toss-errors.json").read_text())["httpStatus"]


def doc(name: str) -> dict[str, Any]:
    example = json.loads((DOCS / name).read_text())
    example.pop("_source")
    return example


def basic(text: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(text.encode()).decode()}


class Client:
    """Plain `requests` over HTTPS, trusting only the test CA, authenticated as the reference says.
    (`verify` goes with each request: a session's is overridden by REQUESTS_CA_BUNDLE.)"""

    def __init__(self, sim: TossSimulator, ca_file: str) -> None:
        self.sim, self.session = sim, requests.Session()
        self.session.request = partial(self.session.request, verify=ca_file)  # type: ignore[method-assign]

    def get(self, path: str, headers: dict[str, str] | None = None) -> requests.Response:
        return self.session.get(self.sim.base_url + path, headers=headers or basic(SECRET + ":"), timeout=5)

    def lookup(self, order_id: str) -> dict[str, Any]:
        response = self.get(f"/v1/payments/orders/{order_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def cancel(
        self, payment_key: str, body: Any, key: str | None = None, timeout: float = 5
    ) -> requests.Response:
        headers = basic(SECRET + ":") | ({"Idempotency-Key": key} if key is not None else {})
        url = f"{self.sim.base_url}/v1/payments/{payment_key}/cancel"
        return self.session.post(url, json=body, headers=headers, timeout=timeout)


def refused(response: requests.Response, code: str) -> bool:
    """The documented error object with the code's documented HTTP status."""
    assert list(response.json()) == list(doc("toss-errors.json")["errorObjectExample"]), response.text
    return response.status_code == HTTP_STATUS[code] and response.json()["code"] == code


def shape(value: Any) -> Any:
    """JSON types, recursively (numbers are numbers whether integral or not)."""
    if isinstance(value, dict):
        return {name: shape(item) for name, item in value.items()}
    if isinstance(value, list):
        return [shape(item) for item in value]
    if isinstance(value, bool):
        return "boolean"
    return "number" if isinstance(value, int | float) else "string" if isinstance(value, str) else repr(value)


@pytest.fixture(scope="module")
def tls() -> Iterator[tuple[ssl.SSLContext, str]]:
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    with ca.cert_pem.tempfile() as ca_file:
        yield server, ca_file


@pytest.fixture
def toss(clock: ManualClock, tls: tuple[ssl.SSLContext, str]) -> Iterator[Client]:
    sim = TossSimulator(secret_key=SECRET, clock=clock).start(tls[0])
    try:
        yield Client(sim, tls[1])
        assert not sim.errors, sim.errors
    finally:
        sim.stop()


@pytest.fixture
def card(toss: Client) -> str:
    return toss.sim.add_payment("ORD-1001", 15000)


# -- auth ---------------------------------------------------------------------------------------


def test_serves_https_only(toss: Client, card: str) -> None:
    assert toss.sim.base_url.startswith("https://127.0.0.1:")
    with pytest.raises(requests.exceptions.SSLError):  # a client that does not trust the test CA
        requests.get(toss.sim.base_url + "/v1/payments/orders/ORD-1001", timeout=5)


def test_the_key_and_a_colon_authenticate(toss: Client, card: str) -> None:
    assert toss.get("/v1/payments/orders/ORD-1001").status_code == 200


def test_a_key_without_the_colon_is_a_format_error(toss: Client, card: str) -> None:
    assert refused(toss.get("/v1/payments/orders/ORD-1001", basic(SECRET)), "INCORRECT_BASIC_AUTH_FORMAT")


@pytest.mark.parametrize(
    "headers",
    [
        basic("test_sk_someoneElsesKey000000000000:"),
        basic(SECRET + ":password"),
        {"Authorization": "Bearer " + SECRET},
        {"Authorization": "Basic not*base64"},
        {},
    ],
)
def test_anything_else_is_an_unauthorized_key(toss: Client, card: str, headers: dict[str, str]) -> None:
    url = toss.sim.base_url + "/v1/payments/orders/ORD-1001"
    response = toss.session.get(url, headers=headers, timeout=5)
    assert refused(response, "UNAUTHORIZED_KEY")
    assert toss.sim.payment("ORD-1001").queries == 0


def test_auth_comes_before_everything_on_the_cancel(toss: Client, card: str) -> None:
    url = f"{toss.sim.base_url}/v1/payments/{card}/cancel"
    response = toss.session.post(url, json={"cancelReason": "x"}, headers=basic(SECRET), timeout=5)
    assert refused(response, "INCORRECT_BASIC_AUTH_FORMAT")
    assert toss.sim.payment("ORD-1001").status == "DONE"


def test_the_docs_cancel_example_is_accepted_as_written(
    clock: ManualClock, tls: tuple[ssl.SSLContext, str]
) -> None:
    """The reference's curl example, sent as it is to a simulator holding the docs' shared test key."""
    words = shlex.split((DOCS / "toss-cancel-request.txt").read_text(), comments=True)
    path = words[words.index("--url") + 1].removeprefix("https://api.tosspayments.com")
    headers = dict(words[i + 1].split(": ", 1) for i, word in enumerate(words) if word == "--header")
    data = words[words.index("--data") + 1]
    sim = TossSimulator(secret_key="test_sk_zXLkKEypNArWmo50nX3lmeaxYG5R", clock=clock).start(tls[0])
    try:
        sim.add_payment("ORD-1001", 15000, payment_key=path.split("/")[3])
        session = Client(sim, tls[1]).session
        first = session.post(sim.base_url + path, data=data, headers=headers, timeout=5)
        assert first.status_code == 200 and first.json()["status"] == "CANCELED", first.text
        assert first.json()["cancels"][0]["cancelReason"] == "AMOUNT_MISMATCH"
        again = session.post(sim.base_url + path, data=data, headers=headers, timeout=5)
        assert again.content == first.content
        assert not sim.errors
    finally:
        sim.stop()


# -- lookups ------------------------------------------------------------------------------------


def test_both_lookup_routes_answer_the_same_payment(toss: Client, card: str) -> None:
    by_order = toss.get("/v1/payments/orders/ORD-1001")
    by_key = toss.get(f"/v1/payments/{card}")
    assert by_order.status_code == by_key.status_code == 200
    assert by_order.json() == by_key.json()
    assert by_order.json()["paymentKey"] == card and by_order.json()["orderId"] == "ORD-1001"


def test_lookup_has_example_1s_fields_types_and_amounts(toss: Client, card: str) -> None:
    example, answer = doc("toss-payment.json"), toss.lookup("ORD-1001")
    differing = {name for name in example if shape(example[name]) != shape(answer.get(name, KeyError))}
    assert set(answer) == set(example)
    assert differing == {"card"}, differing  # card details ("Object, nullable") are not simulated: null
    assert answer["card"] is None
    for name in ("status", "version", "currency", "method", "type", "country", "totalAmount", "balanceAmount",
                 "suppliedAmount", "vat", "taxFreeAmount", "failure", "cancels", "virtualAccount", "secret"):
        assert answer[name] == example[name], name
    assert isinstance(answer["totalAmount"], int)  # JSON numbers, whole won
    assert answer["requestedAt"] == answer["approvedAt"] == "2026-03-12T12:00:00+09:00"  # ISO 8601, KST
    assert len(answer["lastTransactionKey"]) == 32 and answer["lastTransactionKey"].isupper()


def test_unknown_ids_are_not_found_on_both_routes(toss: Client, card: str) -> None:
    assert refused(toss.get("/v1/payments/orders/ORD-9999"), "NOT_FOUND_PAYMENT")
    assert refused(toss.get("/v1/payments/NoSuchPaymentKey"), "NOT_FOUND_PAYMENT")
    assert refused(toss.get(f"/v1/payments/orders/{card}"), "NOT_FOUND_PAYMENT")  # a key is not an orderId
    assert refused(toss.cancel("NoSuchPaymentKey", {"cancelReason": "x"}), "NOT_FOUND_PAYMENT")


def test_a_percent_encoded_order_id_is_found(toss: Client) -> None:
    toss.sim.add_payment("ORD=1001", 1000)
    assert toss.get("/v1/payments/orders/ORD%3D1001").json()["orderId"] == "ORD=1001"


def test_not_found_until_the_payment_exists(toss: Client) -> None:
    toss.sim.add_payment("ORD-LATER", 1000, script=[t.not_found(), t.ready()])
    assert refused(toss.get("/v1/payments/orders/ORD-LATER"), "NOT_FOUND_PAYMENT")
    assert toss.lookup("ORD-LATER")["status"] == "READY"


def test_wrong_methods_and_paths(toss: Client, card: str) -> None:
    url = toss.sim.base_url
    assert toss.session.post(url + "/v1/payments/orders/ORD-1001", json={}, timeout=5).status_code == 404
    assert toss.session.get(f"{url}/v1/payments/{card}/cancel", timeout=5).status_code == 405
    assert toss.session.get(url + "/v1/nothing", timeout=5).status_code == 404
    assert toss.sim.payment("ORD-1001").queries == 0


@pytest.mark.parametrize(
    ("step", "status"),
    [
        (t.ready(), "READY"),
        (t.in_progress(), "IN_PROGRESS"),
        (t.waiting_for_deposit(), "WAITING_FOR_DEPOSIT"),
        (t.done(), "DONE"),
        (t.canceled(), "CANCELED"),
        (t.partial_canceled(), "PARTIAL_CANCELED"),
        (t.aborted(), "ABORTED"),
        (t.expired(), "EXPIRED"),
    ],
)
def test_each_status_is_reachable(toss: Client, step: t.Status, status: str) -> None:
    toss.sim.add_payment("ORD-2001", 15000, script=[step])
    answer = toss.lookup("ORD-2001")
    assert answer["status"] == status and answer["totalAmount"] == 15000
    assert (answer["approvedAt"] is not None) is (status in ("DONE", "CANCELED", "PARTIAL_CANCELED"))
    assert toss.sim.payment("ORD-2001").status == status


def test_a_script_progresses_one_step_per_lookup(toss: Client) -> None:
    script = [t.ready(), t.in_progress(times=2), t.done()]
    toss.sim.add_payment("ORD-2002", 1000, script=script)
    statuses = [toss.lookup("ORD-2002")["status"] for _ in range(5)]
    assert statuses == ["READY", "IN_PROGRESS", "IN_PROGRESS", "DONE", "DONE"]
    assert toss.sim.payment("ORD-2002").queries == 5


def test_failed_payments_carry_failure_and_no_approval(toss: Client) -> None:
    toss.sim.add_payment("ORD-2003", 1000, script=[t.aborted(), t.expired()])
    aborted, expired = toss.lookup("ORD-2003"), toss.lookup("ORD-2003")
    assert aborted["failure"]["code"] == "COMMON_ERROR" and aborted["approvedAt"] is None
    assert aborted["balanceAmount"] == 1000  # amounts stay present
    assert expired["failure"]["code"] == "EXPIRED_PAYMENT"
    assert expired["method"] is expired["lastTransactionKey"] is expired["approvedAt"] is None


def test_done_overrides_make_mismatches(toss: Client) -> None:
    musd = t.done(currency="MUSD", amount=15 * 10**9)  # the reference's unexplained micro-dollar oddity
    script = [t.done(amount=999), t.done(currency="USD"), t.done(balance=500), musd]
    toss.sim.add_payment("ORD-2004", 15000, script=script)
    amount, currency, balance, musd = (toss.lookup("ORD-2004") for _ in range(4))
    assert (amount["totalAmount"], amount["currency"]) == (999, "KRW")
    assert (currency["totalAmount"], currency["currency"]) == (15000, "USD")
    assert (balance["totalAmount"], balance["balanceAmount"]) == (15000, 500)
    assert (musd["currency"], musd["totalAmount"]) == ("MUSD", 15 * 10**9)


def test_waiting_for_deposit_has_the_virtual_account_shape(toss: Client, clock: ManualClock) -> None:
    due = clock() + timedelta(days=3)
    toss.sim.add_payment("ORD-VA1", 30000, method=t.VIRTUAL_ACCOUNT, script=[t.waiting_for_deposit(due=due)])
    example, answer = doc("toss-waiting-for-deposit.json"), toss.lookup("ORD-VA1")
    for name, value in example.items():
        assert shape(answer[name]) == shape(value) or name == "virtualAccount", name
    for name, value in example["virtualAccount"].items():  # the reference quotes only part of it
        assert shape(answer["virtualAccount"][name]) == shape(value), name
    assert answer["status"] == "WAITING_FOR_DEPOSIT" and answer["method"] == "가상계좌"
    account = answer["virtualAccount"]
    assert account["accountNumber"].startswith("X")  # a test account
    assert account["dueDate"] == "2026-03-15T12:00:00+09:00" and account["expired"] is False
    assert answer["card"] is None and answer["secret"].startswith("ps_")


def test_a_virtual_account_past_its_due_date_is_expired(toss: Client, clock: ManualClock) -> None:
    due = clock() + timedelta(hours=1)
    toss.sim.add_payment("ORD-VA2", 30000, method=t.VIRTUAL_ACCOUNT, script=[t.waiting_for_deposit(due=due)])
    assert toss.lookup("ORD-VA2")["virtualAccount"]["expired"] is False
    clock.advance(hours=2)
    answer = toss.lookup("ORD-VA2")
    assert answer["status"] == "WAITING_FOR_DEPOSIT" and answer["virtualAccount"]["expired"] is True


def test_a_cancel_made_elsewhere_shows_in_cancels(toss: Client) -> None:
    script = [t.done(), t.partial_canceled(balance=12000), t.canceled()]
    key = toss.sim.add_payment("ORD-2005", 15000, script=script)
    assert toss.lookup("ORD-2005")["cancels"] is None
    partial = toss.lookup("ORD-2005")
    assert (partial["status"], partial["balanceAmount"]) == ("PARTIAL_CANCELED", 12000)
    assert [c["cancelAmount"] for c in partial["cancels"]] == [3000]
    full = toss.lookup("ORD-2005")
    assert (full["status"], full["balanceAmount"], full["totalAmount"]) == ("CANCELED", 0, 15000)
    assert [c["refundableAmount"] for c in full["cancels"]] == [12000, 0]
    assert full["lastTransactionKey"] == full["cancels"][-1]["transactionKey"]
    assert refused(toss.cancel(key, {"cancelReason": "integrity"}), "ALREADY_CANCELED_PAYMENT")


def test_generic_steps_and_fail_next(toss: Client, card: str) -> None:
    script = [t.http_error(status=503), t.non_json(), t.slow(0.3), t.done()]
    toss.sim.add_payment("ORD-2006", 1000, script=script)
    assert toss.get("/v1/payments/orders/ORD-2006").status_code == 503
    assert toss.get("/v1/payments/orders/ORD-2006").content == b"this is not json"
    started = time.monotonic()
    assert toss.lookup("ORD-2006")["status"] == "DONE" and time.monotonic() - started >= 0.3
    toss.sim.fail_next("/v1/payments/orders/ORD-1001", t.http_error())
    assert toss.get("/v1/payments/orders/ORD-1001").status_code == 502
    assert toss.lookup("ORD-1001")["status"] == "DONE"
    assert toss.sim.payment("ORD-1001").queries == 1  # the fault stood in front of Toss


def test_every_answer_carries_a_trace_id(toss: Client, card: str) -> None:
    toss.sim.fail_next("/v1/payments/orders/ORD-1001", t.http_error())
    answers = [
        toss.get("/v1/payments/orders/ORD-1001"),  # a fault
        toss.get("/v1/payments/orders/ORD-1001"),
        toss.get("/v1/payments/orders/NOPE00"),
        toss.get("/v1/payments/orders/ORD-1001", basic("x:")),
        toss.cancel(card, {"cancelReason": "x"}),
        toss.session.get(toss.sim.base_url + "/nothing", timeout=5),
    ]
    traces = [answer.headers.get("X-TossPayments-Trace-Id") for answer in answers]
    assert [answer.status_code for answer in answers] == [502, 200, 404, 401, 200, 404]
    assert all(trace and len(trace) == 32 for trace in traces) and len(set(traces)) == len(traces)
    assert all(list(answer.headers).count("X-TossPayments-Trace-Id") == 1 for answer in answers)


# -- cancel -------------------------------------------------------------------------------------


def test_a_full_cancel_updates_status_balance_and_cancels(
    toss: Client, card: str, clock: ManualClock
) -> None:
    clock.advance(minutes=5)
    response = toss.cancel(card, {"cancelReason": "AMOUNT_MISMATCH"})
    assert response.status_code == 200
    answer = response.json()
    assert (answer["status"], answer["totalAmount"], answer["balanceAmount"]) == ("CANCELED", 15000, 0)
    assert (answer["suppliedAmount"], answer["vat"]) == (0, 0)
    [entry] = answer["cancels"]
    assert shape(entry) == shape(doc("toss-payment-partial-cancel.json")["cancels"][0])
    assert (entry["cancelAmount"], entry["refundableAmount"], entry["cancelStatus"]) == (15000, 0, "DONE")
    assert entry["cancelReason"] == "AMOUNT_MISMATCH" and entry["canceledAt"] == "2026-03-12T12:05:00+09:00"
    assert answer["lastTransactionKey"] == entry["transactionKey"]
    assert toss.lookup("ORD-1001") == answer  # lookups now show the cancel, on both routes
    assert toss.get(f"/v1/payments/{card}").json() == answer
    payment = toss.sim.payment("ORD-1001")
    assert payment.status == "CANCELED" and payment.cancel_requests == 1 and payment.cancel_keys == []


def test_a_partial_cancel_matches_example_2(toss: Client, card: str) -> None:
    example = doc("toss-payment-partial-cancel.json")
    answer = toss.cancel(card, {"cancelReason": "x", "cancelAmount": 5000}).json()
    for name in ("status", "totalAmount", "balanceAmount", "suppliedAmount", "vat"):
        assert answer[name] == example[name], name
    assert [(c["cancelAmount"], c["refundableAmount"]) for c in answer["cancels"]] == [(5000, 10000)]
    assert refused(toss.cancel(card, {"cancelReason": "x", "cancelAmount": 10001}), "NOT_CANCELABLE_AMOUNT")
    rest = toss.cancel(card, {"cancelReason": "the rest"}).json()  # no amount: what is left
    assert (rest["status"], rest["balanceAmount"]) == ("CANCELED", 0)
    assert [c["refundableAmount"] for c in rest["cancels"]] == [10000, 0]


def test_dollar_amounts_keep_their_cents(toss: Client) -> None:
    key = toss.sim.add_payment("ORD-USD", 726.24, "USD")
    answer = toss.cancel(key, {"cancelReason": "x", "cancelAmount": 100.1}).json()
    assert (answer["currency"], answer["totalAmount"], answer["balanceAmount"]) == ("USD", 726.24, 626.14)
    assert answer["suppliedAmount"] + answer["vat"] == pytest.approx(626.14)


def test_cancelling_more_than_the_balance_is_refused(toss: Client, card: str) -> None:
    assert refused(toss.cancel(card, {"cancelReason": "x", "cancelAmount": 15001}), "NOT_CANCELABLE_AMOUNT")
    assert toss.sim.payment("ORD-1001").cancels == []


def test_a_second_cancel_is_already_cancelled(toss: Client, card: str) -> None:
    assert toss.cancel(card, {"cancelReason": "x"}).status_code == 200
    assert refused(toss.cancel(card, {"cancelReason": "x"}), "ALREADY_CANCELED_PAYMENT")
    assert len(toss.sim.payment("ORD-1001").cancels) == 1


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"cancelReason": ""},
        {"cancelReason": "   "},
        {"cancelReason": 5},
        {"cancelReason": "x" * 201},
        {"cancelReason": "x", "cancelAmount": 0},
        {"cancelReason": "x", "cancelAmount": "100"},
        {"cancelReason": "x", "cancelAmount": None},
        ["cancelReason"],
    ],
)
def test_malformed_cancels_are_invalid_requests(toss: Client, card: str, body: Any) -> None:
    assert refused(toss.cancel(card, body), "INVALID_REQUEST")
    assert toss.sim.payment("ORD-1001").status == "DONE"


def test_a_reason_of_200_characters_is_accepted(toss: Client, card: str) -> None:
    assert toss.cancel(card, {"cancelReason": "x" * 200}).status_code == 200


def test_a_cancel_must_be_json(toss: Client, card: str) -> None:
    url = f"{toss.sim.base_url}/v1/payments/{card}/cancel"
    headers = basic(SECRET + ":") | {"Content-Type": "text/plain"}
    response = toss.session.post(url, data=b'{"cancelReason":"x"}', headers=headers, timeout=5)
    assert refused(response, "INVALID_REQUEST")


@pytest.mark.parametrize("step", [t.ready(), t.in_progress(), t.aborted(), t.expired()])
def test_unapproved_payments_are_not_cancelable(toss: Client, step: t.Status) -> None:
    key = toss.sim.add_payment("ORD-3001", 1000, script=[step])
    assert refused(toss.cancel(key, {"cancelReason": "x"}), "NOT_CANCELABLE_PAYMENT")


def test_a_deposited_virtual_account_needs_a_refund_account(toss: Client) -> None:
    key = toss.sim.add_payment("ORD-VA3", 30000, method=t.VIRTUAL_ACCOUNT, script=[t.done()])
    assert refused(toss.cancel(key, {"cancelReason": "x"}), "INVALID_REQUEST")
    partial_account = {"bank": "88", "accountNumber": "12345678901234"}
    without_holder = {"cancelReason": "x", "refundReceiveAccount": partial_account}
    assert refused(toss.cancel(key, without_holder), "INVALID_REQUEST")
    account = partial_account | {"holderName": "김토스"}
    answer = toss.cancel(key, {"cancelReason": "x", "refundReceiveAccount": account}).json()
    assert answer["status"] == "CANCELED" and answer["virtualAccount"]["refundStatus"] == "COMPLETED"


def test_a_virtual_account_awaiting_deposit_cancels_without_one(toss: Client) -> None:
    key = toss.sim.add_payment("ORD-VA4", 30000, method=t.VIRTUAL_ACCOUNT, script=[t.waiting_for_deposit()])
    answer = toss.cancel(key, {"cancelReason": "x"}).json()
    assert answer["status"] == "CANCELED" and answer["approvedAt"] is None
    assert answer["virtualAccount"]["refundStatus"] == "NONE"


# -- idempotency ------------------------------------------------------------------------------------


def test_a_key_replays_the_first_answer_whatever_the_body(
    toss: Client, card: str, clock: ManualClock
) -> None:
    first = toss.cancel(card, {"cancelReason": "x"}, key="paysweep:ORD-1001:cancel:1")
    clock.advance(minutes=1)
    other_body = {"cancelReason": "something else", "cancelAmount": 1}
    again = toss.cancel(card, other_body, key="paysweep:ORD-1001:cancel:1")
    assert again.status_code == 200 and again.content == first.content
    payment = toss.sim.payment("ORD-1001")
    assert len(payment.cancels) == 1 and payment.cancel_requests == 2
    assert payment.cancel_keys == ["paysweep:ORD-1001:cancel:1"]


def test_a_key_lives_15_days(toss: Client, card: str, clock: ManualClock) -> None:
    first = toss.cancel(card, {"cancelReason": "x"}, key="K-15")
    clock.advance(days=15, seconds=-1)
    assert toss.cancel(card, {"cancelReason": "x"}, key="K-15").content == first.content
    clock.advance(seconds=1)
    afresh = toss.cancel(card, {"cancelReason": "x"}, key="K-15")  # the key is forgotten: processed again
    assert refused(afresh, "ALREADY_CANCELED_PAYMENT")


def test_a_refusal_is_replayed_too(toss: Client, card: str) -> None:
    too_much = toss.cancel(card, {"cancelReason": "x", "cancelAmount": 99999}, key="K-R")
    assert refused(too_much, "NOT_CANCELABLE_AMOUNT")
    assert refused(toss.cancel(card, {"cancelReason": "x"}, key="K-R"), "NOT_CANCELABLE_AMOUNT")
    assert toss.cancel(card, {"cancelReason": "x"}, key="K-R2").json()["status"] == "CANCELED"


def test_a_key_is_scoped_to_its_path(toss: Client, card: str) -> None:
    other = toss.sim.add_payment("ORD-1002", 2000)
    assert toss.cancel(card, {"cancelReason": "x"}, key="SHARED").json()["paymentKey"] == card
    assert toss.cancel(other, {"cancelReason": "x"}, key="SHARED").json()["paymentKey"] == other
    assert toss.sim.payment("ORD-1002").status == "CANCELED"


def test_without_a_key_nothing_is_replayed(toss: Client, card: str) -> None:
    assert toss.cancel(card, {"cancelReason": "x"}).status_code == 200
    assert refused(toss.cancel(card, {"cancelReason": "x"}), "ALREADY_CANCELED_PAYMENT")


def test_a_key_over_300_characters_is_refused(toss: Client, card: str) -> None:
    assert refused(toss.cancel(card, {"cancelReason": "x"}, key="k" * 301), "INVALID_IDEMPOTENCY_KEY")
    assert toss.sim.payment("ORD-1001").status == "DONE"
    assert toss.cancel(card, {"cancelReason": "x"}, key="k" * 300).status_code == 200


def test_gets_ignore_the_key(toss: Client) -> None:
    toss.sim.add_payment("ORD-4001", 1000, script=[t.ready(), t.done()])
    headers = basic(SECRET + ":") | {"Idempotency-Key": "SAME"}
    first = toss.get("/v1/payments/orders/ORD-4001", headers).json()
    second = toss.get("/v1/payments/orders/ORD-4001", headers).json()
    assert (first["status"], second["status"]) == ("READY", "DONE")


def test_accepted_then_late_409_while_in_flight_then_replayed(toss: Client) -> None:
    """The cancel happens but its answer is late: the reconciler's "look up, then retry with the
    same key" path. A retry while the first is still on its way is 409, then it is replayed."""
    key = toss.sim.add_payment("ORD-5001", 1000, cancel_script=[t.accept_then_timeout(1.0)])
    with pytest.raises(requests.exceptions.ReadTimeout):
        toss.cancel(key, {"cancelReason": "x"}, key="K-LATE", timeout=0.3)
    assert toss.lookup("ORD-5001")["status"] == "CANCELED"  # the state changed already
    assert refused(toss.cancel(key, {"cancelReason": "x"}, key="K-LATE"), "IDEMPOTENT_REQUEST_PROCESSING")
    time.sleep(1.0)
    started = time.monotonic()
    replay = toss.cancel(key, {"cancelReason": "x"}, key="K-LATE")
    assert time.monotonic() - started < 0.5  # the replay is not delayed
    assert replay.status_code == 200 and replay.json()["status"] == "CANCELED"
    assert len(toss.sim.payment("ORD-5001").cancels) == 1


def test_a_scripted_refusal_changes_nothing_and_is_kept(toss: Client) -> None:
    error = t.raw({"code": "FAILED_INTERNAL_SYSTEM_PROCESSING", "message": "내부 시스템 처리 작업이 실패했습니다."}, 500)
    key = toss.sim.add_payment("ORD-5002", 1000, cancel_script=[error, t.accept()])
    first = toss.cancel(key, {"cancelReason": "x"}, key="K-500")
    assert first.status_code == 500 and first.json()["code"] == "FAILED_INTERNAL_SYSTEM_PROCESSING"
    assert toss.lookup("ORD-5002")["status"] == "DONE"
    again = toss.cancel(key, {"cancelReason": "x"}, key="K-500")
    assert again.content == first.content  # Toss's own answer: kept for the key
    assert toss.cancel(key, {"cancelReason": "x"}, key="K-501").json()["status"] == "CANCELED"


def test_a_gateway_fault_in_front_of_toss_is_not_kept(toss: Client, card: str) -> None:
    toss.sim.fail_next(f"/v1/payments/{card}/cancel", t.http_error(status=504))
    assert toss.cancel(card, {"cancelReason": "x"}, key="K-GW").status_code == 504
    assert toss.sim.payment("ORD-1001").status == "DONE"  # the fault stood in front of Toss
    assert toss.cancel(card, {"cancelReason": "x"}, key="K-GW").json()["status"] == "CANCELED"
