"""Contract tests: the providers' own documentation examples, parsed by the product.

The fixtures are the exact examples of the two API pages (tests/fixtures/provider_docs);
the first tests prove the fixtures are what the pages say.
"""

import base64
import json
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import kicc_adapter as kicc
import pytest
import teemopay_adapter as teemo
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from paysweep.domain.answers import PaymentState
from paysweep.domain.decisions import Action, Phase, decide_payment
from paysweep.domain.outcomes import Outcome, Reason
from paysweep.provider.http import HttpReply
from support.factories import order

DOCS = Path(__file__).resolve().parents[1] / "fixtures" / "provider_docs"


def load(name: str) -> Any:
    return json.loads((DOCS / name).read_text(encoding="utf-8"))


def json_after(page: str, marker: str) -> Any:
    """The first JSON object that follows `marker` on a documentation page."""
    text = (DOCS / page).read_text(encoding="utf-8")
    start = text.index("{", text.index(marker))
    value, _ = json.JSONDecoder().raw_decode(text[start:])
    return value


def test_fixtures_are_the_documented_examples():
    assert load("kicc-find-response.json") == json_after("kicc-wechatpay-check-payment-status.txt", "Response Example")
    page = (DOCS / "teemopay-payin-query.txt").read_text(encoding="utf-8").replace("ไปฃๆถๆๅ", "代收成功")
    start = page.index('{ "code": 200')
    assert load("teemopay-query-response.json") == json.JSONDecoder().raw_decode(page[start:])[0]
    assert load("teemopay-query-request.json") == json_after("teemopay-payin-query.txt", "Description |\n---|")


@dataclass
class RecordingClient:
    """A ProviderClient stand-in: records what the adapter sends and answers a fixed body."""

    answer: Any
    secret: dict[str, Any]
    sent: list[tuple[str, dict[str, Any], dict[str, str] | None]] = field(default_factory=list)
    cancel_notify_url: str | None = None

    def credentials(self) -> dict[str, Any]:
        return self.secret

    def post(self, path: str, payload: dict[str, Any], headers: dict[str, str] | None = None) -> HttpReply:
        self.sent.append((path, payload, headers))
        body = self.answer(payload) if callable(self.answer) else self.answer
        return HttpReply(200, json.dumps(body, ensure_ascii=False).encode(), 1, "application/json")


KICC_ORDER = order(order_id="{Merchant Order No}", pg_cno="{Original Payment Transaction ID}")


def test_kicc_example_response_is_an_approval_of_1000_won():
    answer = kicc.parse_payment_answer(KICC_ORDER, "{API Idempotency Key}", "{Merchant ID}", kicc.HttpReply(
        200, (DOCS / "kicc-find-response.json").read_bytes(), 1, "application/json"))
    assert answer.state is PaymentState.APPROVED and answer.provider_status == "TS01"
    assert answer.paid.amount == Decimal(1000) and answer.paid.currency == "KRW"
    assert answer.refs["approvalDate"] == "20230312000512"
    assert decide_payment(KICC_ORDER, answer, phase=Phase.OPEN, can_cancel=True).outcome is Outcome.APPROVED
    one_won_off = order(order_id="{Merchant Order No}", pg_cno="{Original Payment Transaction ID}", amount="1001")
    decision = decide_payment(one_won_off, answer, phase=Phase.OPEN, can_cancel=True)
    assert decision.action is Action.CANCEL and decision.reason is Reason.AMOUNT_MISMATCH


def test_kicc_adapter_sends_exactly_the_documented_request_fields():
    example = load("kicc-find-response.json")
    client = RecordingClient(lambda sent: {**example, "mallId": sent["mallId"], "shopTransactionId": sent["shopTransactionId"]},
                             {"mallId": "M0000001", "secretKey": "k"})
    answer = kicc.KiccWechatPayAdapter(client).check_payment(KICC_ORDER)  # type: ignore[arg-type]
    path, payload, _ = client.sent[0]
    assert path == "/api/trades/wechatpay/find"
    assert set(payload) == set(load("kicc-find-request.json"))
    assert payload["mallId"] == "M0000001" and payload["pgCno"] == "{Original Payment Transaction ID}"
    assert answer.state is PaymentState.APPROVED


@pytest.fixture(scope="module")
def merchant_key():
    private = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    der = private.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return base64.b64encode(der).decode()


TEEMO_ORDER = order(order_id="OrderNoExample", provider="teemopay", pg_cno=None)


def test_teemopay_example_response_is_a_success_of_1000_won():
    answer = teemo.parse_query_answer(TEEMO_ORDER, "KR", HttpReply(200, (DOCS / "teemopay-query-response.json").read_bytes(), 1, ""))
    assert answer.state is PaymentState.APPROVED and answer.provider_status == "2"
    assert answer.paid.amount == Decimal("1000.00") and answer.expected.amount == Decimal("1000.00")
    assert answer.refs == {"tradeNo": "TS2501010001KR0000000000000000"}
    assert decide_payment(TEEMO_ORDER, answer, phase=Phase.OPEN, can_cancel=False).outcome is Outcome.APPROVED
    decision = decide_payment(order(order_id="OrderNoExample", provider="teemopay", pg_cno=None, amount="999"), answer,
                              phase=Phase.OPEN, can_cancel=False)
    assert (decision.outcome, decision.reason) == (Outcome.REVIEW, Reason.AMOUNT_MISMATCH)


def test_teemopay_adapter_sends_the_documented_headers_and_body(merchant_key):
    client = RecordingClient(load("teemopay-query-response.json"),
                             {"appCode": "APP0001", "country": "KR", "privateKey": merchant_key, "platformPublicKey": "x"})
    answer = teemo.TeemoPayAdapter(client).check_payment(TEEMO_ORDER)  # type: ignore[arg-type]
    path, payload, headers = client.sent[0]
    assert path == "/api/pay/payment/query/v1"
    assert set(payload) == set(load("teemopay-query-request.json"))
    assert set(headers or {}) == {"timestamp", "nonce", "country", "app_code"}
    assert len(headers["timestamp"]) == 13 and len(headers["nonce"]) == 32
    assert answer.state is PaymentState.APPROVED
