"""TeemoPay Korea payins: status queries (`POST /api/pay/payment/query/v1`).

TeemoPay has no cancel or refund API for payins, so this adapter has no canceller: the
engine sends integrity failures to REVIEW instead of cancelling them.

Each request carries the headers `timestamp` (ms), `nonce` (32 chars, never reused),
`country` and `app_code`, and a body signed with SHA1withRSA (see `teemopay_signing`).
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import teemopay_assumptions as assume
import teemopay_signing as signing
from paysweep.domain.answers import PaymentAnswer, PaymentState, ReportedAmount
from paysweep.domain.money import AmountError, parse_decimal_text
from paysweep.domain.orders import Order
from paysweep.provider.accounts import account_of
from paysweep.provider.client import ProviderClient, SecretUnavailable, http_failure_kind, is_transient_http
from paysweep.provider.http import HttpReply
from teemopay_profile import PROFILE, TRADE_NO

QUERY_PATH = "/api/pay/payment/query/v1"
OK = 200
RETRY_LATER_CODES = frozenset({412, 500})  # "Please try again later"; "Business Error"
ORDER_NOT_FOUND = 434
_APP_CODE = re.compile(r"[\x21-\x7e]{1,32}")


class BadAnswer(ValueError):
    """A TeemoPay answer that breaks the documented format."""


def new_nonce() -> str:
    """32 random hex characters: never repeats within TeemoPay's 24-hour window."""
    return secrets.token_hex(16)


def _settings(secret: Mapping[str, Any]) -> tuple[str, str, str]:
    app_code, country = secret.get("appCode"), secret.get("country", "KR")
    if not isinstance(app_code, str) or not _APP_CODE.fullmatch(app_code):
        raise SecretUnavailable("TeemoPay secret: appCode must be 1..32 printable chars")
    if country not in assume.COUNTRY_CURRENCIES:
        raise SecretUnavailable(f"TeemoPay secret: country must be one of {sorted(assume.COUNTRY_CURRENCIES)}")
    private_key = secret.get("privateKey")
    if not isinstance(private_key, str) or not private_key.strip():
        raise SecretUnavailable("TeemoPay secret: privateKey is missing")
    return app_code, country, private_key


def signed_query(order_id: str, secret: Mapping[str, Any], *, nonce: str, timestamp_ms: int) -> tuple[dict[str, str], dict[str, str]]:
    """Headers and signed body of one payin query."""
    app_code, country, private_key = _settings(secret)
    try:
        key = signing.load_private_key(private_key)
    except signing.KeyUnusable as error:
        raise SecretUnavailable(f"TeemoPay secret: {error}") from None
    body = {"merchantOrderNo": order_id}
    body["sign"] = signing.sign(body, nonce, key)
    headers = {"timestamp": str(timestamp_ms), "nonce": nonce, "country": country, "app_code": app_code}
    return headers, body


def _amount(data: Mapping[str, Any], name: str, currency: str) -> ReportedAmount:
    value = data.get(name)
    if value is None:
        return ReportedAmount(None, currency)
    if not isinstance(value, str):
        raise BadAnswer(f"data.{name} must be a decimal string, got {type(value).__name__}")
    try:
        return ReportedAmount(parse_decimal_text(value), currency)
    except AmountError:
        raise BadAnswer(f"data.{name} is not a plain decimal: {value[:40]!r}") from None


def _parse_envelope(reply: HttpReply) -> dict[str, Any]:
    try:
        body = json.loads(reply.body.decode("utf-8"), parse_float=Decimal)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise BadAnswer(f"answer is not JSON (HTTP {reply.status}, {len(reply.body)} bytes)") from None
    if not isinstance(body, dict):
        raise BadAnswer("answer is not a JSON object")
    code = body.get("code")
    if isinstance(code, bool) or not isinstance(code, int):
        raise BadAnswer(f"envelope code must be an integer, got {type(code).__name__}")
    return body


def _envelope_detail(body: Mapping[str, Any]) -> str:
    return f"code {body.get('code')}: {str(body.get('msg') or '')[:300]}"


def parse_query_answer(order: Order, country: str, reply: HttpReply) -> PaymentAnswer:
    """Normalise a payin query answer (envelope `code`, then `data.status`)."""
    if reply.status != 200:
        state = PaymentState.RETRY_LATER if is_transient_http(reply.status) else PaymentState.UNRECOGNISED
        return PaymentAnswer(state, detail=f"HTTP {reply.status}", error_kind=http_failure_kind(reply.status))
    try:
        body = _parse_envelope(reply)
        code = body["code"]
        if code != OK:
            return _error_answer(code, body)
        return _data_answer(order, assume.COUNTRY_CURRENCIES[country], body.get("data"))
    except BadAnswer as error:
        return PaymentAnswer(PaymentState.UNRECOGNISED, detail=str(error), error_kind="bad_answer")


def _error_answer(code: int, body: Mapping[str, Any]) -> PaymentAnswer:
    detail = _envelope_detail(body)
    if code == ORDER_NOT_FOUND:
        return PaymentAnswer(PaymentState.NOT_FOUND, provider_status=str(code), detail=detail)
    if code in RETRY_LATER_CODES:
        return PaymentAnswer(PaymentState.RETRY_LATER, provider_status=str(code), detail=detail, error_kind=f"code_{code}")
    if code in assume.MISCONFIGURATION_CODES:
        return PaymentAnswer(PaymentState.MISCONFIGURED, provider_status=str(code), detail=detail, error_kind=f"code_{code}")
    raise BadAnswer(f"undocumented envelope {detail}")


def _data_answer(order: Order, currency: str, data: object) -> PaymentAnswer:
    if not isinstance(data, dict):
        raise BadAnswer("code 200 without a data object")
    if data.get("merchantOrderNo") != order.order_id:
        raise BadAnswer("answer is about another merchantOrderNo")
    status = assume.status_number(data.get("status"))
    refs = {TRADE_NO: data["tradeNo"]} if isinstance(data.get("tradeNo"), str) else {}
    detail = str(data.get("errorMessage") or "")[:300] or None
    paid, expected = _amount(data, "amount", currency), _amount(data, "transactionAmount", currency)
    if status in assume.IN_PROGRESS_STATUSES:
        state = PaymentState.IN_PROGRESS
    elif status == assume.SUCCESS_STATUS:
        state = PaymentState.APPROVED
    elif status == assume.FAILED_STATUS:
        state = PaymentState.DECLINED
    else:
        raise BadAnswer(f"unknown data.status {data.get('status')!r}")
    return PaymentAnswer(state, provider_status=str(status), paid=paid, expected=expected, refs=refs, detail=detail)


class TeemoPayAdapter:
    """The TeemoPay Korea payin provider: status queries only (no cancel API exists)."""

    profile = PROFILE
    canceller = None

    def __init__(self, client: ProviderClient) -> None:
        self._client = client

    @classmethod
    def from_environment(cls, client: ProviderClient, environ: Mapping[str, str]) -> TeemoPayAdapter:
        """The function's adapter (`app.py`): TeemoPay has no settings of its own."""
        return cls(client)

    def check_payment(self, order: Order) -> PaymentAnswer:
        secret = account_of(self._client.credentials(), order.merchant_id)
        headers, body = signed_query(order.order_id, secret, nonce=new_nonce(), timestamp_ms=time.time_ns() // 1_000_000)
        reply = self._client.post(QUERY_PATH, body, headers)
        return parse_query_answer(order, headers["country"], reply)
