"""Contract tests: the Toss Payments reference's own examples, parsed and sent by the product.

The fixtures (tests/fixtures/provider_docs/toss-*) are the examples of PROVIDERS-toss.md, each with
a `_source` (or `# Source:` header) naming where it comes from: the Payment objects (T.3), the error
object and the HTTP status of each code (T.1, T.5, T.6), and the cancel request (T.4). The requests
are checked on the wire: what the function's `ProviderClient` hands its HTTP session.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Self
from urllib.parse import urlsplit

import pytest
import toss_adapter as toss
from paysweep.domain.answers import CancelState, PaymentState
from paysweep.domain.decisions import Action, Phase, decide_payment
from paysweep.domain.outcomes import Outcome, Reason
from paysweep.provider.client import ProviderClient
from paysweep.provider.http import HttpReply
from support.factories import T0, order

DOCS = Path(__file__).resolve().parents[1] / "fixtures" / "provider_docs"
BASE_URL = "https://api.tosspayments.com"  # T.1: one host for test and live keys
SHARED_TEST_KEY = "test_sk_zXLkKEypNArWmo50nX3lmeaxYG5R"  # T.1: the docs' published test key


def load(name: str) -> Any:
    body = json.loads((DOCS / name).read_text(encoding="utf-8"))
    body.pop("_source", None)
    return body


def as_reply(body: Any, status: int = 200) -> HttpReply:
    return HttpReply(status, json.dumps(body, ensure_ascii=False).encode(), 1, "application/json")


EXAMPLE_1 = load("toss-payment.json")
EXAMPLE_2 = {**EXAMPLE_1, **load("toss-payment-partial-cancel.json")}
"""T.3 Example 2 shows only the fields the partial cancel changed: the rest is Example 1's."""
WAITING = {**EXAMPLE_1, "card": None, **load("toss-waiting-for-deposit.json")}
"""T.3 quotes the WAITING_FOR_DEPOSIT object only in part: the fields it leaves out are Example 1's."""
ERRORS = load("toss-errors.json")
ORDER = order(order_id="ORD-1001", provider="toss-payments", amount="15000", pg_cno=None)


def curl_request(name: str) -> tuple[str, str, dict[str, str], str]:
    """Method, URL, headers and body of the curl command on a fixture page (after its `#` header)."""
    text = "\n".join(line for line in (DOCS / name).read_text(encoding="utf-8").splitlines() if not line.startswith("#"))
    words = shlex.split(text.replace("\\\n", " "))
    assert words[0] == "curl"
    options = list(zip(words[1::2], words[2::2], strict=True))
    headers = dict(value.split(": ", 1) for option, value in options if option == "--header")
    found = dict(option_value for option_value in options if option_value[0] != "--header")
    return found["--request"], found["--url"], headers, found["--data"]


# -- the Payment examples -------------------------------------------------------------------------------


def test_example_1_is_an_approval_of_15000_won() -> None:
    answer, payment = toss.parse_lookup(ORDER, as_reply(EXAMPLE_1))
    assert answer.state is PaymentState.APPROVED and answer.provider_status == "DONE"
    assert answer.paid is not None and answer.paid.amount == Decimal(15000) and answer.paid.currency == "KRW"
    assert answer.refs == {"paymentKey": "5zJ4xY7m0kODnyRpQWGrN2xqGlNvLrKwv1M9ENjbeoPaZdL6",
                           "lastTransactionKey": "B7103F204998813B889C77C043D09502"}
    assert payment is not None and not payment.virtual_account
    assert decide_payment(ORDER, answer, phase=Phase.OPEN, can_cancel=True).outcome is Outcome.APPROVED
    one_won_off = order(order_id="ORD-1001", provider="toss-payments", amount="15001", pg_cno=None)
    decision = decide_payment(one_won_off, answer, phase=Phase.OPEN, can_cancel=True)
    assert (decision.action, decision.reason) == (Action.CANCEL, Reason.AMOUNT_MISMATCH)


def test_example_2_the_partial_cancel_goes_to_review_with_what_is_still_charged() -> None:
    answer, _ = toss.parse_lookup(ORDER, as_reply(EXAMPLE_2))
    assert answer.state is PaymentState.PARTIALLY_CANCELLED and answer.provider_status == "PARTIAL_CANCELED"
    assert answer.paid is not None and answer.paid.amount == Decimal(10000)
    assert answer.refs["lastTransactionKey"] == "A47A42AE50F68F5FFB62778C67153E36"
    assert "not totalAmount less the cancels" not in (answer.detail or "")  # 15000 - 5000 == 10000
    decision = decide_payment(ORDER, answer, phase=Phase.OPEN, can_cancel=True)
    assert (decision.outcome, decision.reason) == (Outcome.REVIEW, Reason.PARTIAL_CANCEL)


def test_the_waiting_for_deposit_example_is_pending_on_a_virtual_account() -> None:
    thirty = order(order_id="ORD-1001", provider="toss-payments", amount="30000", pg_cno=None)
    answer, payment = toss.parse_lookup(thirty, as_reply(WAITING))
    assert answer.state is PaymentState.IN_PROGRESS and answer.provider_status == "WAITING_FOR_DEPOSIT"
    assert payment is not None and payment.virtual_account and "virtual account" in (answer.detail or "")
    assert decide_payment(thirty, answer, phase=Phase.OPEN, can_cancel=True).action is Action.POLL


def test_the_examples_amounts_are_exact_decimals() -> None:
    payment = toss.parse_payment(toss.load_json(as_reply(EXAMPLE_2)))
    assert isinstance(payment.total, Decimal) and isinstance(payment.balance, Decimal)
    assert payment.cancelled_total() == Decimal(5000) and payment.total - payment.cancelled_total() == payment.balance


# -- the error examples ---------------------------------------------------------------------------------


def test_the_error_object_example_is_not_found() -> None:
    answer, _ = toss.parse_lookup(ORDER, as_reply(ERRORS["errorObjectExample"], ERRORS["httpStatus"]["NOT_FOUND_PAYMENT"]))
    assert answer.state is PaymentState.NOT_FOUND and answer.provider_status == "NOT_FOUND_PAYMENT"
    assert "존재하지 않는 결제 입니다." in (answer.detail or "")


LOOKUP_STATES = {
    "UNAUTHORIZED_KEY": PaymentState.MISCONFIGURED, "INCORRECT_BASIC_AUTH_FORMAT": PaymentState.MISCONFIGURED,
    "NOT_FOUND_PAYMENT": PaymentState.NOT_FOUND, "INVALID_REQUEST": PaymentState.MISCONFIGURED,
}
CANCEL_STATES = {
    "UNAUTHORIZED_KEY": CancelState.MISCONFIGURED, "INCORRECT_BASIC_AUTH_FORMAT": CancelState.MISCONFIGURED,
    "NOT_FOUND_PAYMENT": CancelState.RETRY_LATER, "INVALID_REQUEST": CancelState.MISCONFIGURED,
    "ALREADY_CANCELED_PAYMENT": CancelState.ACCEPTED, "NOT_CANCELABLE_AMOUNT": CancelState.REFUSED,
    "NOT_CANCELABLE_PAYMENT": CancelState.REFUSED, "INVALID_IDEMPOTENCY_KEY": CancelState.MISCONFIGURED,
    "IDEMPOTENT_REQUEST_PROCESSING": CancelState.RETRY_LATER,
}


@pytest.mark.parametrize("code", sorted(ERRORS["httpStatus"]))
def test_every_documented_code_with_its_http_status(code: str) -> None:
    error = as_reply({"code": code, "message": "..."}, ERRORS["httpStatus"][code])
    assert toss.parse_cancel(ORDER, error).state is CANCEL_STATES[code]
    if code in LOOKUP_STATES:
        assert toss.parse_lookup(ORDER, error)[0].state is LOOKUP_STATES[code]


# -- the requests, on the wire ----------------------------------------------------------------------------


@dataclass
class WireResponse:
    status_code: int
    body: bytes
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def iter_content(self, chunk_size: int) -> list[bytes]:
        return [self.body]


@dataclass
class WireSession:
    """A `requests.Session` stand-in: keeps every request as it would go out, answers in turn."""

    answers: list[WireResponse]
    sent: list[dict[str, Any]] = field(default_factory=list)

    def request(self, method: str, url: str, **kwargs: Any) -> WireResponse:
        """What the layer's `ProviderClient` calls (`paysweep.provider.http.request_json`)."""
        self.sent.append({"method": method, "url": url, **kwargs})
        return self.answers.pop(0)


def adapter_on(session: WireSession) -> toss.TossPaymentsAdapter:
    client = ProviderClient(BASE_URL, session, lambda: {"secretKey": SHARED_TEST_KEY}, 5, 30, 1 << 20)  # type: ignore[arg-type]
    return toss.TossPaymentsAdapter.from_environment(client, {})


def wire(body: Any, status: int = 200) -> WireResponse:
    return WireResponse(status, json.dumps(body, ensure_ascii=False).encode())


def test_the_cancel_is_exactly_the_documented_request() -> None:
    """T.4's example: POST to the paymentKey's cancel URL with Basic auth of the key and a colon, JSON,
    the Idempotency-Key of the order's first cancel, and a full cancel's body (no cancelAmount)."""
    method, url, headers, data = curl_request("toss-cancel-request.txt")
    cancelled = {**EXAMPLE_1, "status": "CANCELED", "balanceAmount": 0, "cancels": [
        {"transactionKey": "C1", "cancelAmount": 15000, "cancelStatus": "DONE", "refundableAmount": 0}]}
    session = WireSession([wire(EXAMPLE_1), wire(cancelled)])
    adapter = adapter_on(session)
    intent = adapter.new_intent(ORDER, "AMOUNT_MISMATCH", T0, T0 + timedelta(hours=1))
    answer = adapter.request_cancel(ORDER, intent)
    assert answer.state is CancelState.ACCEPTED and answer.reference == "C1"
    lookup, sent = session.sent
    assert (sent["method"], sent["url"]) == (method, url)
    assert sent["data"] == data.encode()  # byte for byte: {"cancelReason":"AMOUNT_MISMATCH"}
    assert sent["headers"]["Authorization"] == headers["Authorization"]
    assert sent["headers"]["Idempotency-Key"] == headers["Idempotency-Key"]
    assert sent["headers"]["Content-Type"].split(";")[0] == headers["Content-Type"]
    assert set(sent["headers"]) == {"Authorization", "Idempotency-Key", "Content-Type", "Accept"}
    assert lookup["method"] == "GET"


def test_the_lookup_is_a_get_of_the_orders_route_with_the_same_authorization() -> None:
    """T.2: `GET /v1/payments/orders/{orderId}`, no body, no query, only `Authorization` needed (T.1's
    worked value of the shared test key); no Accept-Language (T-GAP 13)."""
    _, _, headers, _ = curl_request("toss-cancel-request.txt")
    session = WireSession([wire(EXAMPLE_1)])
    assert adapter_on(session).check_payment(ORDER).state is PaymentState.APPROVED
    (sent,) = session.sent
    assert sent["method"] == "GET" and sent["url"] == f"{BASE_URL}/v1/payments/orders/ORD-1001"
    assert urlsplit(sent["url"]).query == "" and sent.get("data") is None and "json" not in sent  # no body
    assert sent["headers"] == {"Authorization": headers["Authorization"], "Accept": "application/json"}
    assert sent["timeout"] == (5, 30)


def test_the_documented_not_found_reaches_the_engine_as_not_found_on_the_wire() -> None:
    session = WireSession([wire(ERRORS["errorObjectExample"], 404)])
    assert adapter_on(session).check_payment(ORDER).state is PaymentState.NOT_FOUND
