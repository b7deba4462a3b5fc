"""Toss Payments (core API, version 2022-11-16): payment lookups by order id and full cancels.

Endpoints (PROVIDERS-toss.md T.2, T.4), on `https://api.tosspayments.com`:
- `GET /v1/payments/orders/{orderId}`: the Payment object of the merchant's order (no stored
  reference needed); its `paymentKey` names the payment for a cancel.
- `POST /v1/payments/{paymentKey}/cancel` with `{"cancelReason": ...}` (no `cancelAmount`: a full
  cancel) and an `Idempotency-Key`, one per cancel intent, reused on every retry (T.5, T.9.3).

Every request authenticates with `Authorization: Basic base64(secretKey + ":")` (T.1), the key from
the function's secret `{"secretKey": "test_sk_…|live_sk_…"}` (optionally with the shop's `mId`).
A deposited virtual account has no refund account we could give (T.9.3 step 2): its answers say
`cancellable=False`, so the engine decides as for a provider without a cancel (REVIEW with the real
reason). A cancel needs the `paymentKey`, which the order does not carry: the canceller looks the
order up first, and uses that same lookup to refuse what it must not cancel (a deposited virtual
account again, as a second line of defence). A cancel is believed only once a lookup shows it
(T.9.3 step 6).

Toss's names stay here and in `toss_profile`; what the reference leaves open is in
`toss_assumptions` ([GAP TOSS-...]).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple, Protocol
from urllib.parse import quote

import toss_assumptions as assume
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
from paysweep.provider.client import ProviderClient, SecretUnavailable, http_failure_kind
from paysweep.provider.http import HttpReply
from toss_profile import CANCEL_TRANSACTION_KEY, LAST_TRANSACTION_KEY, PAYMENT_KEY, PROFILE

LOOKUP_PATH = "/v1/payments/orders/{order_id}"
CANCEL_PATH = "/v1/payments/{payment_key}/cancel"
CANCEL_REASON_MAX = 200
_PRINTABLE = frozenset(chr(c) for c in range(0x21, 0x7F))


class BadAnswer(ValueError):
    """A Toss answer that breaks the documented format, or is not about our order."""


class Credentials(NamedTuple):
    secret_key: str
    mid: str | None

    def authorization(self) -> str:
        """`Basic base64(secretKey + ":")`: the key is the user, the password empty (T.1)."""
        token = base64.b64encode(f"{self.secret_key}:".encode("ascii")).decode("ascii")
        return f"Basic {token}"


def credentials(secret: Mapping[str, Any]) -> Credentials:
    """The secret's key (and optional shop id), checked without ever quoting it ([GAP TOSS-SECRET])."""
    key, mid = secret.get("secretKey"), secret.get("mId")
    if not isinstance(key, str) or not assume.SECRET_KEY.fullmatch(key):
        raise SecretUnavailable("Toss secret: secretKey must be a test_… or live_… key of printable ASCII without ':'")
    if mid is not None and (not isinstance(mid, str) or not assume.MID.fullmatch(mid)):
        raise SecretUnavailable("Toss secret: mId, when given, must be 1..14 printable ASCII chars")
    return Credentials(key, mid)


# -- the Payment object (T.3) -----------------------------------------------------------------


class CancelEntry(NamedTuple):
    transaction_key: str | None
    amount: Decimal
    status: str | None


class TossPayment(NamedTuple):
    """The fields of a Payment object a decision rests on, parsed exactly."""

    status: str
    payment_key: str
    order_id: str
    currency: str
    total: Decimal
    balance: Decimal | None
    approved_at: str | None
    last_transaction_key: str | None
    cancels: tuple[CancelEntry, ...]
    virtual_account: bool
    """`virtualAccount` is non-null: a virtual-account payment ([GAP TOSS-ACCEPT-LANGUAGE]: never `method`)."""
    account_note: str | None
    """The virtual account's `dueDate` and `expired`, for the history (no decision rests on them)."""
    failure: str | None
    """`failure` as `code: message`, for ABORTED and EXPIRED."""
    mid: str | None

    def cancelled_total(self) -> Decimal:
        """Money cancelled: the entries with `cancelStatus` DONE ([GAP TOSS-CANCEL-STATUS])."""
        return sum((c.amount for c in self.cancels if c.status == assume.CANCEL_DONE), Decimal(0))

    def last_cancel_key(self) -> str | None:
        """The `transactionKey` of the latest cancel that went through: it names the cancellation."""
        done = [c.transaction_key for c in self.cancels if c.status == assume.CANCEL_DONE and c.transaction_key]
        return done[-1] if done else None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number Toss sends")


def load_json(reply: HttpReply) -> Any:
    """The answer's JSON with every number an exact `Decimal` (T.8: never a binary float)."""
    try:
        return json.loads(reply.body.decode("utf-8"), parse_float=Decimal, parse_int=Decimal, parse_constant=_no_constant)
    except ValueError:  # UnicodeDecodeError and JSONDecodeError are ValueErrors too
        raise BadAnswer(f"answer is not JSON (HTTP {reply.status}, {len(reply.body)} bytes)") from None


def _text(body: Mapping[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise BadAnswer(f"{name} must be a string, got {type(value).__name__}")
    return value


def _required_text(body: Mapping[str, Any], name: str) -> str:
    value = _text(body, name)
    if not value:
        raise BadAnswer(f"{name} is missing")
    return value


def _number(value: object, name: str, currency: str) -> Decimal:
    """An amount as Toss sent it, exactly ([GAP TOSS-AMOUNTS])."""
    if isinstance(value, bool) or not isinstance(value, Decimal):
        raise BadAnswer(f"{name} must be a number, got {type(value).__name__}")
    if not value.is_finite() or value < 0:
        raise BadAnswer(f"{name} must be a finite amount >= 0, got {value}")
    if not assume.fits_reported_currency(value, currency):
        raise BadAnswer(f"{name} {value:f} has a fraction {currency} does not have")
    return value


def _amount(body: Mapping[str, Any], name: str, currency: str) -> Decimal | None:
    value = body.get(name)
    return None if value is None else _number(value, name, currency)


def _required_amount(body: Mapping[str, Any], name: str, currency: str) -> Decimal:
    if body.get(name) is None:
        raise BadAnswer(f"{name} is missing")
    return _number(body[name], name, currency)


def _cancels(body: Mapping[str, Any], currency: str) -> tuple[CancelEntry, ...]:
    raw = body.get("cancels")
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise BadAnswer("cancels must be a list or null")
    entries = []
    for index, entry in enumerate(raw):
        if not isinstance(entry, dict):
            raise BadAnswer(f"cancels[{index}] must be an object")
        amount = _required_amount(entry, "cancelAmount", currency)
        entries.append(CancelEntry(_text(entry, "transactionKey"), amount, _text(entry, "cancelStatus")))
    return tuple(entries)


def _failure(body: Mapping[str, Any]) -> str | None:
    failure = body.get("failure")
    if not isinstance(failure, dict):
        return None
    return ": ".join(str(failure[k]) for k in ("code", "message") if failure.get(k))[:300] or None


def parse_payment(body: object) -> TossPayment:
    """A Payment object (T.3): `paymentKey`, `orderId`, `status`, `totalAmount` and `currency`
    required, everything else optional, unknown fields ignored (T.1: new fields come unannounced)."""
    if not isinstance(body, dict):
        raise BadAnswer("answer is not a JSON object")
    currency = _required_text(body, "currency")
    if not assume.CURRENCY_CODE.fullmatch(currency):
        raise BadAnswer(f"currency is not a currency code: {currency[:20]!r}")
    payment_key = _required_text(body, "paymentKey")
    if len(payment_key) > 200 or not set(payment_key) <= _PRINTABLE:
        raise BadAnswer("paymentKey must be 1..200 printable ASCII chars")
    total = _required_amount(body, "totalAmount", currency)
    account = body.get("virtualAccount")
    if account is not None and not isinstance(account, dict):
        raise BadAnswer("virtualAccount must be an object or null")
    note = None
    if account is not None:
        due, expired = account.get("dueDate"), account.get("expired")
        note = "virtual account" + (f" due {str(due)[:40]}" if due else "") + (", expired" if expired is True else "")
    return TossPayment(
        status=_required_text(body, "status"),
        payment_key=payment_key,
        order_id=_required_text(body, "orderId"),
        currency=currency,
        total=total,
        balance=_amount(body, "balanceAmount", currency),
        approved_at=_text(body, "approvedAt"),
        last_transaction_key=_text(body, "lastTransactionKey"),
        cancels=_cancels(body, currency),
        virtual_account=account is not None,
        account_note=note,
        failure=_failure(body),
        mid=_text(body, "mId"),
    )


def _fits_ref(value: str | None) -> bool:
    return bool(value) and len(value or "") <= assume.REF_MAX_LENGTH and set(value or "") <= _PRINTABLE


def published_refs(payment: TossPayment) -> dict[str, str]:
    """`paymentKey` and `lastTransactionKey` (T.9.1), each where it fits the contract ([GAP TOSS-REF-LENGTH])."""
    refs = {PAYMENT_KEY: payment.payment_key, LAST_TRANSACTION_KEY: payment.last_transaction_key}
    return {name: value for name, value in refs.items() if value is not None and _fits_ref(value)}


def _amounts_text(payment: TossPayment) -> str:
    text = f"totalAmount {payment.total:f} {payment.currency}"
    if payment.balance is not None and payment.balance != payment.total:
        text += f", balanceAmount {payment.balance:f}"
    if payment.cancels:
        text += f", cancelled {payment.cancelled_total():f} in {len(payment.cancels)} cancel(s)"
    return text


def _detail(payment: TossPayment, *notes: str) -> str:
    parts = [payment.status, *notes]
    if payment.account_note:
        parts.append(payment.account_note)
    if not _fits_ref(payment.payment_key):
        parts.append(f"paymentKey {payment.payment_key}")
    return "; ".join(parts)[:500]


def refundable_by_cancel(payment: TossPayment) -> bool:
    """Whether our cancel could refund this payment: not a virtual account holding a deposit
    (DONE, or PARTIAL_CANCELED with a balance), whose refund needs the customer's bank account,
    which paysweep does not have ([GAP TOSS-VA-REFUND], T.9.3 step 2)."""
    return not (payment.virtual_account and payment.status in assume.DEPOSITED_STATUSES)


def payment_answer(order: Order, payment: TossPayment, mid: str | None) -> PaymentAnswer:
    """Normalise a Payment object about `order` (T.9.1)."""
    if payment.order_id != order.order_id:
        raise BadAnswer("answer is about another orderId")  # [GAP TOSS-ATTEMPTS]
    if mid is not None and payment.mid not in (None, mid):
        raise BadAnswer("answer is about another shop (mId)")  # [GAP TOSS-SECRET]
    status, refs = payment.status, published_refs(payment)
    paid = ReportedAmount(payment.total, payment.currency)
    if status == assume.APPROVED_STATUS and payment.total == order.amount and payment.balance is not None:
        # A DONE still charging another amount than it approved fails the integrity check on
        # balanceAmount == totalAmount (T.9.1): what is charged is what is compared, so the
        # difference is a mismatch, cancelled like any other ([GAP TOSS-INTEGRITY]).
        paid = ReportedAmount(payment.balance, payment.currency)
    cancellable = refundable_by_cancel(payment)  # an integrity failure, refused write or late deposit: REVIEW
    if status in assume.PENDING_STATUSES or status in assume.UNPAID_FINAL_STATUSES:
        # Not paid: pending until the order's expiry, then FAILED EXPIRED ([GAP TOSS-VA-EXPIRY]).
        notes = [payment.failure] if payment.failure else []
        return PaymentAnswer(PaymentState.IN_PROGRESS, provider_status=status, refs=refs, detail=_detail(payment, *notes))
    if status == assume.APPROVED_STATUS:
        _check_approval(payment)  # [GAP TOSS-INTEGRITY]
        return PaymentAnswer(PaymentState.APPROVED, provider_status=status, paid=paid, refs=refs,
                             detail=_detail(payment, _amounts_text(payment)),  # [GAP TOSS-DONE-REVERSAL]
                             cancellable=cancellable)
    if status == assume.CANCELED_STATUS:
        return PaymentAnswer(PaymentState.CANCELLED, provider_status=status, paid=paid, refs=refs,
                             detail=_detail(payment, _amounts_text(payment)))
    if status == assume.PARTIAL_CANCELED_STATUS:
        if payment.balance is None:
            raise BadAnswer("PARTIAL_CANCELED without balanceAmount")
        # What is still charged is what a person has to decide about (T.9.1).
        notes = [_amounts_text(payment)]
        if payment.balance != payment.total - payment.cancelled_total():
            notes.append("balanceAmount is not totalAmount less the cancels")
        return PaymentAnswer(PaymentState.PARTIALLY_CANCELLED, provider_status=status,
                             paid=ReportedAmount(payment.balance, payment.currency), refs=refs,
                             detail=_detail(payment, *notes), cancellable=cancellable)
    if status == assume.DECLINED_STATUS:
        return PaymentAnswer(PaymentState.DECLINED, provider_status=status, refs=refs,
                             detail=_detail(payment, f"failure {payment.failure}" if payment.failure else "no failure given"))
    raise BadAnswer(f"unknown status {status[:40]!r}")  # [GAP TOSS-STATUSES]


def _check_approval(payment: TossPayment) -> None:
    """A DONE that contradicts itself is not an approval we can act on ([GAP TOSS-INTEGRITY])."""
    if payment.approved_at is None:
        raise BadAnswer("DONE without approvedAt")
    if payment.cancels:
        raise BadAnswer("DONE with cancels listed")
    if payment.balance is None:
        raise BadAnswer("DONE with balanceAmount none")


def _error_object(reply: HttpReply) -> tuple[str, str] | None:
    """Toss's error object `{code, message}` (T.6), or None when the body is not one."""
    try:
        body = load_json(reply)
    except BadAnswer:
        return None
    code = body.get("code") if isinstance(body, dict) else None
    if not isinstance(code, str) or not code:
        return None
    return code, str(body.get("message") or "")


def _error_detail(reply: HttpReply, code: str, message: str) -> str:
    return f"HTTP {reply.status} {code}: {message}"[:300]


def _status_code(code: str) -> str | None:
    """An error code as the answer's provider status, where it fits the outcome's `providerStatus`."""
    return code if len(code) <= 40 else None


def parse_lookup(order: Order, reply: HttpReply, mid: str | None = None) -> tuple[PaymentAnswer, TossPayment | None]:
    """Normalise a lookup (T.9.1): the answer, and the Payment when the answer rests on one."""
    if reply.status == 200:
        try:
            payment = parse_payment(load_json(reply))
            return payment_answer(order, payment, mid), payment
        except BadAnswer as error:
            return PaymentAnswer(PaymentState.UNRECOGNISED, detail=str(error), error_kind="bad_answer"), None
    found = _error_object(reply)
    if found is None:  # a gateway's page, not Toss's error object ([GAP TOSS-ERRORS])
        return PaymentAnswer(PaymentState.RETRY_LATER, detail=f"HTTP {reply.status} without an error object",
                             error_kind=http_failure_kind(reply.status)), None
    code, message = found
    detail, status = _error_detail(reply, code, message), _status_code(code)
    match assume.lookup_error_class(reply.status, code):
        case assume.NOT_FOUND:  # [GAP TOSS-NOT-FOUND]
            return PaymentAnswer(PaymentState.NOT_FOUND, provider_status=status, detail=detail), None
        case assume.CONFIG:
            return PaymentAnswer(PaymentState.MISCONFIGURED, provider_status=status, detail=detail, error_kind="config"), None
        case assume.UNKNOWN:
            return PaymentAnswer(PaymentState.UNRECOGNISED, provider_status=status, detail=detail, error_kind="bad_answer"), None
        case _:
            return PaymentAnswer(PaymentState.RETRY_LATER, provider_status=status, detail=detail,
                                 error_kind=_retry_kind(code)), None


def _retry_kind(code: str) -> str:
    if code in assume.THROTTLED_CODES:  # [GAP TOSS-RATE]
        return "throttled"
    return "provider_error" if code in assume.RETRY_CODES else "unknown_code"


# -- cancels ---------------------------------------------------------------------------------


def confirmation(payment: TossPayment) -> CancelAnswer:
    """Is a CANCELED payment fully cancelled (T.9.3 step 6)? Nothing is still charged:
    `balanceAmount` 0, with at least one DONE cancel ([GAP TOSS-AMOUNTS]); otherwise an answer we do
    not understand. The cancels need not add up to `totalAmount`: a DONE that was charging less than
    it approved (a balance mismatch) is cancelled by refunding what it charged."""
    if payment.balance != 0 or not payment.cancelled_total():
        balance = "none" if payment.balance is None else f"{payment.balance:f}"
        return CancelAnswer(CancelState.UNRECOGNISED, provider_status=payment.status, error_kind="bad_answer",
                            detail=f"CANCELED, but balanceAmount {balance} and {_amounts_text(payment)}")
    notes = [_amounts_text(payment)]
    if payment.cancelled_total() != payment.total:
        notes.append("the cancels do not add up to totalAmount")
    return CancelAnswer(CancelState.CONFIRMED, reference=payment.last_cancel_key(), provider_status=payment.status,
                        detail=_detail(payment, *notes))


def before_cancel(payment: TossPayment) -> CancelAnswer | None:
    """What the lookup before a cancel already settles; None when the payment is to be cancelled."""
    status = payment.status
    if status == assume.CANCELED_STATUS:  # cancelled already: by an earlier send whose answer was lost?
        return confirmation(payment)
    if status == assume.APPROVED_STATUS and payment.virtual_account:  # [GAP TOSS-VA-REFUND]
        # The answer said cancellable=False, so the engine does not cancel it: a second line of defence.
        return CancelAnswer(CancelState.REFUSED, provider_status=status, detail=_detail(
            payment, "a deposited virtual account is refunded only to the customer's bank account, which paysweep "
                     "does not have: not sent to Toss"))
    if status != assume.APPROVED_STATUS:  # [GAP TOSS-CANCEL-EDGE]
        return CancelAnswer(CancelState.REFUSED, provider_status=status, detail=_detail(
            payment, "not an approved payment paysweep can fully cancel: not sent to Toss"))
    return None


def parse_cancel(order: Order, reply: HttpReply) -> CancelAnswer:
    """Normalise a cancel's answer (T.4, T.9.3 step 4): accepted (to be confirmed by lookup), retry
    later under the same key, refused, or our configuration."""
    if reply.status == 200:
        try:
            payment = parse_payment(load_json(reply))
            if payment.order_id != order.order_id:
                raise BadAnswer("answer is about another orderId")
        except BadAnswer as error:
            return CancelAnswer(CancelState.UNRECOGNISED, detail=str(error), error_kind="bad_answer")
        return CancelAnswer(CancelState.ACCEPTED, reference=payment.last_cancel_key(), provider_status=payment.status,
                            detail=_detail(payment, _amounts_text(payment)))
    found = _error_object(reply)
    if found is None:  # [GAP TOSS-ERRORS]: the cancel may have happened; the next sweep looks
        return CancelAnswer(CancelState.RETRY_LATER, detail=f"HTTP {reply.status} without an error object",
                            error_kind=http_failure_kind(reply.status))
    code, message = found
    detail, status = _error_detail(reply, code, message), _status_code(code)
    match assume.cancel_error_class(reply.status, code):
        case assume.ALREADY_CANCELLED:
            return CancelAnswer(CancelState.ACCEPTED, provider_status=status, detail=detail + " (to be confirmed by lookup)")
        case assume.REFUSED:
            return CancelAnswer(CancelState.REFUSED, provider_status=status, detail=detail)
        case assume.CONFIG:
            return CancelAnswer(CancelState.MISCONFIGURED, provider_status=status, detail=detail, error_kind="config")
        case _:  # RETRY, REQUERY: the same key later, after the engine's confirming lookup
            return CancelAnswer(CancelState.RETRY_LATER, provider_status=status, detail=detail, error_kind=_retry_kind(code))


_FAILED_LOOKUP_STATES = {
    PaymentState.RETRY_LATER: CancelState.RETRY_LATER,
    PaymentState.MISCONFIGURED: CancelState.MISCONFIGURED,
}


def _cancel_answer_from_failed_lookup(answer: PaymentAnswer) -> CancelAnswer:
    """A lookup that gave no Payment: the cancel waits. A payment decided on and now not found is
    an answer we do not understand."""
    state = _FAILED_LOOKUP_STATES.get(answer.state, CancelState.UNRECOGNISED)
    detail = answer.detail
    if answer.state is PaymentState.NOT_FOUND:
        detail = f"the payment to cancel is no longer found ({answer.detail})"
    return CancelAnswer(state, provider_status=answer.provider_status, detail=detail,
                        error_kind=answer.error_kind or ("bad_answer" if state is CancelState.UNRECOGNISED else None))


def confirm_answer(payment: TossPayment) -> CancelAnswer:
    """What a lookup says of a cancel we requested (T.9.3 step 6)."""
    status = payment.status
    if status == assume.CANCELED_STATUS:
        return confirmation(payment)
    if status == assume.APPROVED_STATUS or status in assume.PENDING_STATUSES:
        # Still charged (or back to awaiting a deposit): not cancelled. Without the cancel's own
        # reference the engine sends the cancel again, under the same key.
        return CancelAnswer(CancelState.PENDING, provider_status=status, detail=_detail(payment, _amounts_text(payment)))
    if status == assume.PARTIAL_CANCELED_STATUS:  # we asked for a full cancel
        return CancelAnswer(CancelState.REFUSED, provider_status=status, detail=_detail(payment, _amounts_text(payment)))
    return CancelAnswer(CancelState.UNRECOGNISED, provider_status=None, error_kind="bad_answer",
                        detail=_detail(payment, "not a state a cancelled payment can be in"))


class Transport(Protocol):
    """What the adapter needs to reach Toss: the secret, a GET (the lookups) and a JSON POST (the
    cancel). The function's `ProviderClient` is one; the unit tests give a scripted one."""

    def credentials(self) -> Mapping[str, Any]: ...

    def get(self, path: str, headers: dict[str, str] | None = None) -> HttpReply: ...

    def post(self, path: str, payload: dict[str, Any], headers: dict[str, str] | None = None) -> HttpReply: ...


class TossPaymentsAdapter:
    """The Toss Payments provider: lookups by order id, full cancels confirmed by lookup."""

    profile = PROFILE

    def __init__(self, transport: Transport) -> None:
        self._transport = transport
        self.canceller = self

    @classmethod
    def from_environment(cls, client: ProviderClient, environ: Mapping[str, str]) -> TossPaymentsAdapter:
        """The function's adapter (`app.py`): Toss has no settings beyond its secret."""
        return cls(client)

    def _lookup(self, order: Order) -> tuple[PaymentAnswer, TossPayment | None]:
        creds = credentials(account_of(self._transport.credentials(), order.merchant_id))
        # No Accept-Language ([GAP TOSS-ACCEPT-LANGUAGE]); the id percent-encoded anyway (T.2).
        path = LOOKUP_PATH.format(order_id=quote(order.order_id, safe=""))
        reply = self._transport.get(path, {"Authorization": creds.authorization()})
        return parse_lookup(order, reply, creds.mid)

    def check_payment(self, order: Order) -> PaymentAnswer:
        return self._lookup(order)[0]

    # -- Canceller -----------------------------------------------------------------------

    def new_intent(self, order: Order, reason: str, now: datetime, deadline: datetime) -> CancelIntent:
        """The cancel's one `Idempotency-Key`, and a deadline the key outlives ([GAP TOSS-IDEMPOTENCY])."""
        return CancelIntent(
            key=assume.cancel_key(order.order_id, order.generation),
            request_date=to_iso(now),  # Toss has no request date: when the key was first meant to be used
            reason=reason,
            requested_at=to_iso(now),
            deadline=to_iso(min(deadline, now + assume.CANCEL_DEADLINE_CAP)),
        )

    def request_cancel(self, order: Order, intent: CancelIntent) -> CancelAnswer:
        """Look the order up (for its `paymentKey`, and to refuse what must not be cancelled), then
        ask Toss for a full cancel under the intent's key."""
        answer, payment = self._lookup(order)
        if payment is None:
            return _cancel_answer_from_failed_lookup(answer)
        settled = before_cancel(payment)
        if settled is not None:
            return settled
        creds = credentials(account_of(self._transport.credentials(), order.merchant_id))
        path = CANCEL_PATH.format(payment_key=quote(payment.payment_key, safe=""))
        headers = {"Authorization": creds.authorization(), "Idempotency-Key": intent.key}
        reply = self._transport.post(path, {"cancelReason": intent.reason[:CANCEL_REASON_MAX]}, headers)
        return parse_cancel(order, reply)

    def confirm_cancel(self, order: Order, intent: CancelIntent) -> CancelAnswer:
        """Look the order up: CANCELED with nothing left is confirmed; still DONE is pending (the
        engine sends the cancel again under the same key when it holds no cancellation reference)."""
        answer, payment = self._lookup(order)
        if payment is None:
            return _cancel_answer_from_failed_lookup(answer)
        return confirm_answer(payment)

    def cancel_refs(self, reference: str) -> Mapping[str, str]:
        """A cancelled order's messages name the cancel's `transactionKey` ([GAP TOSS-REF-LENGTH])."""
        return {CANCEL_TRANSACTION_KEY: reference} if _fits_ref(reference) else {}
