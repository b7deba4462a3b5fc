"""KICC (EasyPay) global WeChat Pay: status queries and full cancellations.

Endpoints (all POST JSON on the KICC API domain):
- `/api/trades/wechatpay/find`: payment status by `pgCno`; with `cancelPgCno`, the status
  of a cancellation.
- `/api/trades/wechatpay/revise`: cancel (`reviseTypeCode` "40", full cancel).

Every request carries a `shopTransactionId` idempotency key: a fresh one for each status
query (KICC rejects a reused key the same day), and one stable key per cancellation, reused
with the initial `cancelReqDate` on every retry, as the cancel documentation requires.

KICC's names stay here and in `kicc_profile`: the order's `pgCno` (a required reference of the
profile), the references its outcomes publish (`pgCno`, `approvalDate`, `cancelPgCno`), and
its own setting, `CANCEL_NOTIFY_URL` (the cancel's optional `notifyUrl`), read by
`KiccWechatPayAdapter.from_environment`.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import unquote_plus

import kicc_assumptions as assume
from kicc_profile import APPROVAL_DATE, CANCEL_PG_CNO, PG_CNO, PROFILE
from paysweep.domain.answers import (
    CancelAnswer,
    CancelIntent,
    CancelState,
    PaymentAnswer,
    PaymentState,
    ReportedAmount,
)
from paysweep.domain.clock import to_iso
from paysweep.domain.orders import Order
from paysweep.provider.accounts import account_of
from paysweep.provider.client import ProviderClient, SecretUnavailable, http_failure_kind, is_transient_http
from paysweep.provider.http import HttpReply

FIND_PATH = "/api/trades/wechatpay/find"
REVISE_PATH = "/api/trades/wechatpay/revise"
SUCCESS = "0000"
FULL_CANCEL_TYPE = "40"
MAX_KEY_LENGTH = 60
NOTIFY_URL_SETTING = "CANCEL_NOTIFY_URL"

# statusCd of a payment lookup (and cancelStatus of a cancellation lookup).
STATUS_STATES: dict[str, PaymentState] = {
    "TS01": PaymentState.APPROVED,
    "TS02": PaymentState.CANCELLED,  # full cancel
    "TS06": PaymentState.PARTIALLY_CANCELLED,
    "TS12": PaymentState.CANCELLED,  # network cancel (void)
}


class BadAnswer(ValueError):
    """A KICC answer that breaks the documented format."""


def pg_cno(order: Order) -> str | None:
    """The order's KICC payment id (a required reference: the sweep validated it)."""
    return order.refs.get(PG_CNO)


def new_query_key() -> str:
    """A fresh `shopTransactionId` for one status query (35 chars, KICC allows 60)."""
    return "PSQ" + uuid.uuid4().hex


def cancel_key(order: Order) -> str:
    """The one `shopTransactionId` of an order's cancellation, the same on every retry.

    Derived from the order rather than random, so even a sweep that could not record
    its cancel intent (the table refusing writes) never sends a second cancel under a
    different key.
    """
    digest = hashlib.sha256(f"{order.order_id}|{pg_cno(order)}|{order.generation}".encode()).hexdigest()
    return "PSC" + digest[:40]


def decode_detail(text: object) -> str | None:
    """`resDetailMsg` is URL-encoded by KICC; decode it wherever it is shown."""
    if not isinstance(text, str) or not text:
        return None
    return unquote_plus(text)


def _credentials(secret: Mapping[str, Any]) -> tuple[str, str]:
    mall_id, secret_key = secret.get("mallId"), secret.get("secretKey")
    if not isinstance(mall_id, str) or not 1 <= len(mall_id) <= 8:
        raise SecretUnavailable("KICC secret: mallId must be a string of 1..8 chars")
    if not isinstance(secret_key, str) or not secret_key:
        raise SecretUnavailable("KICC secret: secretKey must be a non-empty string")
    return mall_id, secret_key


def _parse_body(reply: HttpReply) -> dict[str, Any]:
    try:
        body = json.loads(reply.body.decode("utf-8"), parse_float=Decimal)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise BadAnswer(f"answer is not JSON (HTTP {reply.status}, {len(reply.body)} bytes)") from None
    if not isinstance(body, dict):
        raise BadAnswer("answer is not a JSON object")
    return body


def _text(body: Mapping[str, Any], name: str, *, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise BadAnswer(f"{name} must be a string, got {type(value).__name__}")
    return value


def _summary(body: Mapping[str, Any]) -> str:
    parts = [f"resCd {body.get('resCd')}", str(body.get("resMsg") or "")]
    detail = decode_detail(body.get("resDetailMsg"))
    if detail:
        parts.append(detail)
    return ": ".join(p for p in parts if p)[:500]


def _check_echo(body: Mapping[str, Any], *, key: str, mall_id: str, order: Order) -> None:
    """The answer must be about our request and our payment, or it is not trusted."""
    if _text(body, "shopTransactionId", required=True) != key:
        raise BadAnswer("answer echoes another shopTransactionId")
    if _text(body, "mallId") not in (None, mall_id):
        raise BadAnswer("answer is for another mallId")
    if _text(body, "pgCno") not in (None, pg_cno(order)):
        raise BadAnswer("answer is about another pgCno")
    if _text(body, "shopOrderNo") not in (None, order.order_id):
        raise BadAnswer("answer is about another shopOrderNo")


def _reported_amount(body: Mapping[str, Any]) -> ReportedAmount:
    info = body.get("amountInfo")
    if info is None:
        return ReportedAmount(None, None)
    if not isinstance(info, dict):
        raise BadAnswer("amountInfo must be an object")
    currency = _text(info, "currency")
    tot = info.get("totAmount")
    if tot is None:
        return ReportedAmount(None, currency)
    if isinstance(tot, bool) or not isinstance(tot, (int, Decimal)):
        raise BadAnswer(f"amountInfo.totAmount must be a number, got {type(tot).__name__}")
    return ReportedAmount(assume.reported_major_amount(Decimal(tot), currency or ""), currency)


def parse_payment_answer(order: Order, key: str, mall_id: str, reply: HttpReply) -> PaymentAnswer:
    """Normalise a /find payment lookup (the documented response, section 1.2)."""
    if reply.status != 200:
        state = PaymentState.RETRY_LATER if is_transient_http(reply.status) else PaymentState.UNRECOGNISED
        return PaymentAnswer(state, detail=f"HTTP {reply.status}", error_kind=http_failure_kind(reply.status))
    try:
        body = _parse_body(reply)
        res_cd = _text(body, "resCd", required=True)
        if res_cd != SUCCESS:
            return PaymentAnswer(PaymentState.RETRY_LATER, detail=_summary(body), error_kind="provider_error")
        _check_echo(body, key=key, mall_id=mall_id, order=order)
        status = body.get("statusCd")
        refs = {name: body[name] for name in (PG_CNO, APPROVAL_DATE) if isinstance(body.get(name), str)}
        refs.setdefault(PG_CNO, pg_cno(order) or "")
        if assume.is_unpaid_answer(status):
            return PaymentAnswer(PaymentState.IN_PROGRESS, refs=refs, detail=_summary(body))
        if not isinstance(status, str) or status not in STATUS_STATES:
            raise BadAnswer(f"unknown statusCd {status!r}")
        return PaymentAnswer(
            STATUS_STATES[status],
            provider_status=status,
            paid=_reported_amount(body),
            refs=refs,
            detail=_summary(body),
        )
    except BadAnswer as error:
        return PaymentAnswer(PaymentState.UNRECOGNISED, detail=str(error), error_kind="bad_answer")


def parse_cancel_request_answer(order: Order, intent: CancelIntent, mall_id: str, reply: HttpReply) -> CancelAnswer:
    """Normalise a /revise answer: accepted (with `cancelPgCno`), retry, or refused."""
    if reply.status != 200:
        state = CancelState.RETRY_LATER if is_transient_http(reply.status) else CancelState.UNRECOGNISED
        return CancelAnswer(state, detail=f"HTTP {reply.status}", error_kind=http_failure_kind(reply.status))
    try:
        body = _parse_body(reply)
        res_cd = _text(body, "resCd", required=True)
        if res_cd in assume.CANCEL_RETRY_CODES:
            return CancelAnswer(CancelState.RETRY_LATER, detail=_summary(body), error_kind="provider_error")
        if res_cd != SUCCESS:
            return CancelAnswer(CancelState.REFUSED, provider_status=res_cd, detail=_summary(body))
        _check_echo(body, key=intent.key, mall_id=mall_id, order=order)
        return CancelAnswer(CancelState.ACCEPTED, reference=_text(body, "cancelPgCno") or None, detail=_summary(body))
    except BadAnswer as error:
        return CancelAnswer(CancelState.UNRECOGNISED, detail=str(error), error_kind="bad_answer")


def parse_cancel_status_answer(order: Order, key: str, mall_id: str, reply: HttpReply) -> CancelAnswer:
    """Normalise a /find cancellation lookup (`cancelPgCno` given, section 1.4)."""
    if reply.status != 200:
        state = CancelState.RETRY_LATER if is_transient_http(reply.status) else CancelState.UNRECOGNISED
        return CancelAnswer(state, detail=f"HTTP {reply.status}", error_kind=http_failure_kind(reply.status))
    try:
        body = _parse_body(reply)
        if _text(body, "resCd", required=True) != SUCCESS:
            return CancelAnswer(CancelState.RETRY_LATER, detail=_summary(body), error_kind="provider_error")
        _check_echo(body, key=key, mall_id=mall_id, order=order)
        status = body.get("cancelStatus")
        if status in (None, ""):
            return CancelAnswer(CancelState.PENDING, detail=_summary(body))
        if not isinstance(status, str) or status not in STATUS_STATES:
            raise BadAnswer(f"unknown cancelStatus {status!r}")
        state = {
            PaymentState.CANCELLED: CancelState.CONFIRMED,
            PaymentState.APPROVED: CancelState.PENDING,
            PaymentState.PARTIALLY_CANCELLED: CancelState.REFUSED,  # we asked for a full cancel
        }[STATUS_STATES[status]]
        return CancelAnswer(state, reference=_text(body, "cancelPgCno"), provider_status=status, detail=_summary(body))
    except BadAnswer as error:
        return CancelAnswer(CancelState.UNRECOGNISED, detail=str(error), error_kind="bad_answer")


class KiccWechatPayAdapter:
    """The KICC WeChat Pay provider: status queries and full cancels."""

    profile = PROFILE

    def __init__(self, client: ProviderClient, *, cancel_notify_url: str | None = None) -> None:
        self._client = client
        self._notify_url = cancel_notify_url
        self.canceller = self

    @classmethod
    def from_environment(cls, client: ProviderClient, environ: Mapping[str, str]) -> KiccWechatPayAdapter:
        """The function's adapter (`app.py`): KICC's own setting from the function's environment
        ([GAP KICC-NOTIFY]: a blank `CANCEL_NOTIFY_URL` sends no `notifyUrl`)."""
        return cls(client, cancel_notify_url=environ.get(NOTIFY_URL_SETTING, "").strip() or None)

    def check_payment(self, order: Order) -> PaymentAnswer:
        mall_id, _ = _credentials(account_of(self._client.credentials(), order.merchant_id))
        key = new_query_key()
        reply = self._client.post(FIND_PATH, {"mallId": mall_id, "shopTransactionId": key, "pgCno": pg_cno(order)})
        return parse_payment_answer(order, key, mall_id, reply)

    # -- Canceller -----------------------------------------------------------------------

    def new_intent(self, order: Order, reason: str, now: datetime, deadline: datetime) -> CancelIntent:
        return CancelIntent(
            key=cancel_key(order),
            request_date=assume.cancel_request_date(now),
            reason=reason,
            requested_at=to_iso(now),
            deadline=to_iso(deadline),
        )

    def request_cancel(self, order: Order, intent: CancelIntent) -> CancelAnswer:
        mall_id, secret_key = _credentials(account_of(self._client.credentials(), order.merchant_id))
        payload: dict[str, Any] = {
            "mallId": mall_id,
            "shopTransactionId": intent.key,
            "pgCno": pg_cno(order),
            "reviseTypeCode": FULL_CANCEL_TYPE,
            "cancelReqDate": intent.request_date,
            "msgAuthValue": assume.msg_auth_value(secret_key, pg_cno(order) or "", intent.key),
            "memo": f"paysweep integrity cancel: {intent.reason}",
        }
        if self._notify_url:
            payload["notifyUrl"] = self._notify_url
        reply = self._client.post(REVISE_PATH, payload)
        return parse_cancel_request_answer(order, intent, mall_id, reply)

    def confirm_cancel(self, order: Order, intent: CancelIntent) -> CancelAnswer:
        """Ask whether the cancellation is done.

        With the `cancelPgCno` the cancel answer gave, this is the cancellation lookup.
        Without one (the cancel answer was lost or carried none), the payment lookup
        tells: TS02/TS12 means cancelled, TS01 means the cancel must be sent again.
        """
        mall_id, _ = _credentials(account_of(self._client.credentials(), order.merchant_id))
        key = new_query_key()
        payload = {"mallId": mall_id, "shopTransactionId": key, "pgCno": pg_cno(order)}
        if intent.reference:
            payload["cancelPgCno"] = intent.reference
            return parse_cancel_status_answer(order, key, mall_id, self._client.post(FIND_PATH, payload))
        payment = parse_payment_answer(order, key, mall_id, self._client.post(FIND_PATH, payload))
        return _cancel_answer_from_payment(payment)

    def cancel_refs(self, reference: str) -> Mapping[str, str]:
        """A cancelled order's messages name KICC's cancellation `cancelPgCno`."""
        return {CANCEL_PG_CNO: reference}


def _cancel_answer_from_payment(payment: PaymentAnswer) -> CancelAnswer:
    state = {
        PaymentState.CANCELLED: CancelState.CONFIRMED,
        PaymentState.APPROVED: CancelState.PENDING,
        PaymentState.PARTIALLY_CANCELLED: CancelState.REFUSED,
        PaymentState.IN_PROGRESS: CancelState.PENDING,
        PaymentState.MISCONFIGURED: CancelState.MISCONFIGURED,
        PaymentState.UNRECOGNISED: CancelState.UNRECOGNISED,
    }.get(payment.state, CancelState.RETRY_LATER)
    return CancelAnswer(state, provider_status=payment.provider_status, detail=payment.detail, error_kind=payment.error_kind)
