"""KICC (EasyPay) global WeChat Pay simulator: payment lookups, full cancels, cancel lookups.

Written from KICC's documentation and paysweep's documented assumptions, never from the
product's code, so a product bug shows up as a refused request instead of being mirrored.

Endpoints (POST JSON, `Content-type: application/json; charset=utf-8`):
- `/api/trades/wechatpay/find`: payment status; with `cancelPgCno`, a cancellation's status.
- `/api/trades/wechatpay/revise`: full cancel (`reviseTypeCode` "40").

Checks, in this order; each failure answers HTTP 200 with its own `resCd`:
1. Content-Type JSON, body a JSON object, required fields non-blank strings within their
   lengths                                                       -> RES_BAD_REQUEST
2. `mallId` is the configured mall                               -> RES_BAD_MALL
3. `shopTransactionId` unused today (KST), across both endpoints -> RES_DUPLICATE_KEY
   (a /revise retry with the same key and an identical body replays the stored answer)
4. `pgCno` known                                                 -> RES_UNKNOWN_PGCNO
/find with `cancelPgCno`: the cancel accepted for that payment   -> RES_UNKNOWN_CANCEL
/revise only:
5. `reviseTypeCode` "40" (partial cancel "32" is not simulated)  -> RES_UNSUPPORTED_REVISE
6. `msgAuthValue` = hex(HMAC-SHA256(secretKey, pgCno|key))       -> RES_BAD_AUTH
7. `cancelReqDate` = KST date of the key's first attempt (first attempt: today or
   yesterday, KST)                                               -> RES_BAD_DATE
8. payment not cancelled and no cancel accepted under another key -> RES_ALREADY_CANCELLED
9. payment approved (TS01)                                       -> RES_NOT_APPROVED

Scripting (factory functions of this module, all taking `times=n`):
- payment script, one step per accepted /find payment lookup: `pending()`,
  `approved(amount=None, currency=None, omit_amount=False)`, `cancelled("TS02"|"TS12")`,
  `partial_cancel()`, `error(res_cd, res_msg, detail)`, `wrong_key()` and
  `other_payment()` (an approval with another echo / about another payment),
  `unknown_status("TS99")`, and the generic `http_error`, `non_json`, `empty_body`, `raw`,
  `slow`, `oversized`. Status steps move the payment's `.status`; once an accepted cancel
  has settled, /find answers TS02 whatever the script says.
- cancel script, one step per /revise that passes every check: `accept()` (default),
  `refuse(res_cd, res_msg)`, `retryable("A211")`, `timeout(seconds)` (accepted and stored,
  answered late), plus the generic steps. Accepted and refused answers are stored under
  the key: an identical retry replays them byte for byte. Retryable and generic answers
  are not stored, so the retry is processed afresh (the cancel never happened).
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import quote_plus

from paysweep_local.simulators.base import (
    Clock,
    Incoming,
    Reply,
    Script,
    SimulatorBase,
    Slow,
    Step,
    empty_body,
    http_error,
    is_json_content_type,
    json_reply,
    kst,
    non_json,
    oversized,
    raw,
    slow,
)

FIND_PATH = "/api/trades/wechatpay/find"
REVISE_PATH = "/api/trades/wechatpay/revise"
DEFAULT_MALL_ID = "M0000001"
DEFAULT_SECRET_KEY = "paysweep-local-kicc-secret-key"

RES_SUCCESS = "0000"
RES_BAD_REQUEST = "E101"
RES_BAD_MALL = "E102"
RES_DUPLICATE_KEY = "E103"
RES_UNKNOWN_PGCNO = "E104"
RES_BAD_AUTH = "E105"
RES_BAD_DATE = "E106"
RES_ALREADY_CANCELLED = "E107"
RES_NOT_APPROVED = "E108"
RES_UNKNOWN_CANCEL = "E109"
RES_UNSUPPORTED_REVISE = "E110"

PENDING = "PENDING"
TS_APPROVED = "TS01"
TS_CANCELLED = "TS02"
TS_PARTIAL_CANCEL = "TS06"
TS_VOIDED = "TS12"
FULL_CANCEL = "40"

_MESSAGES = {
    RES_BAD_REQUEST: "Invalid request",
    RES_BAD_MALL: "Invalid merchant",
    RES_DUPLICATE_KEY: "Duplicate request",
    RES_UNKNOWN_PGCNO: "Transaction not found",
    RES_BAD_AUTH: "Message authentication failed",
    RES_BAD_DATE: "Invalid cancel request date",
    RES_ALREADY_CANCELLED: "Already cancelled",
    RES_NOT_APPROVED: "Transaction not approved",
    RES_UNKNOWN_CANCEL: "Cancellation not found",
    RES_UNSUPPORTED_REVISE: "Unsupported revise type",
}

_FIND_REQUIRED = {"mallId": 8, "shopTransactionId": 60, "pgCno": 60}
_FIND_OPTIONAL: dict[str, int | None] = {"cancelPgCno": 60}
_REVISE_REQUIRED = {
    "mallId": 8,
    "shopTransactionId": 60,
    "pgCno": 60,
    "reviseTypeCode": 2,
    "cancelReqDate": 8,
    "msgAuthValue": 256,
}
_REVISE_OPTIONAL: dict[str, int | None] = {"notifyUrl": 256, "memo": None, "regId": None}


def msg_auth_value(secret_key: str, pg_cno: str, shop_transaction_id: str) -> str:
    """What /revise's `msgAuthValue` must be: lowercase hex HMAC-SHA256 of `pgCno|key`."""
    message = f"{pg_cno}|{shop_transaction_id}".encode()
    return hmac.new(secret_key.encode("utf-8"), message, hashlib.sha256).hexdigest()


def kst_date(moment: datetime) -> str:
    """yyyyMMdd in Korea (UTC+9): KICC's calendar day for keys and `cancelReqDate`."""
    return kst(moment).strftime("%Y%m%d")


def kst_stamp(moment: datetime) -> str:
    """yyyyMMddHHmmss in Korea, KICC's date-time format."""
    return kst(moment).strftime("%Y%m%d%H%M%S")


# -- steps ----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Pending(Step):
    pass


@dataclass(frozen=True, kw_only=True)
class Approved(Step):
    amount: int | None = None
    currency: str | None = None
    omit_amount: bool = False


@dataclass(frozen=True, kw_only=True)
class Cancelled(Step):
    code: str = TS_CANCELLED


@dataclass(frozen=True, kw_only=True)
class PartialCancel(Step):
    pass


@dataclass(frozen=True, kw_only=True)
class Error(Step):
    res_cd: str = "W002"
    res_msg: str = "Payment failed"
    detail: str | None = "사용자 결제 취소"


@dataclass(frozen=True, kw_only=True)
class WrongKey(Step):
    pass


@dataclass(frozen=True, kw_only=True)
class OtherPayment(Step):
    pass


@dataclass(frozen=True, kw_only=True)
class UnknownStatus(Step):
    code: str = "TS99"


@dataclass(frozen=True, kw_only=True)
class Accept(Step):
    pass


@dataclass(frozen=True, kw_only=True)
class Refuse(Step):
    res_cd: str = "C001"
    res_msg: str = "Cancellation refused"
    detail: str | None = None


@dataclass(frozen=True, kw_only=True)
class Retryable(Step):
    res_cd: str = "A211"
    res_msg: str = "Cancellation in progress, retry later"


@dataclass(frozen=True, kw_only=True)
class Timeout(Step):
    seconds: float = 35.0


def pending(times: int = 1) -> Pending:
    """Not paid yet: resCd "0000" without statusCd, approvalDate or amountInfo."""
    return Pending(times=times)


def approved(
    amount: int | None = None, currency: str | None = None, omit_amount: bool = False, *, times: int = 1
) -> Approved:
    """TS01. `amount` (minor units) / `currency` override the payment's to make a mismatch."""
    return Approved(amount=amount, currency=currency, omit_amount=omit_amount, times=times)


def cancelled(code: str = TS_CANCELLED, *, times: int = 1) -> Cancelled:
    """Cancelled at the provider: TS02 (full cancel) or TS12 (network cancel)."""
    return Cancelled(code=code, times=times)


def partial_cancel(*, times: int = 1) -> PartialCancel:
    return PartialCancel(times=times)


def error(
    res_cd: str = "W002",
    res_msg: str = "Payment failed",
    detail: str | None = "사용자 결제 취소",
    *,
    times: int = 1,
) -> Error:
    """A failure answer; `detail` goes into resDetailMsg URL-encoded (quote_plus)."""
    return Error(res_cd=res_cd, res_msg=res_msg, detail=detail, times=times)


def wrong_key(*, times: int = 1) -> WrongKey:
    """An approval that echoes another shopTransactionId (not an answer to this request)."""
    return WrongKey(times=times)


def other_payment(*, times: int = 1) -> OtherPayment:
    """An approval about another pgCno and shopOrderNo."""
    return OtherPayment(times=times)


def unknown_status(code: str = "TS99", *, times: int = 1) -> UnknownStatus:
    return UnknownStatus(code=code, times=times)


def accept(*, times: int = 1) -> Accept:
    """Cancel accepted: a new cancelPgCno; the payment settles to TS02 after settle_after."""
    return Accept(times=times)


def refuse(
    res_cd: str = "C001", res_msg: str = "Cancellation refused", detail: str | None = None, *, times: int = 1
) -> Refuse:
    return Refuse(res_cd=res_cd, res_msg=res_msg, detail=detail, times=times)


def retryable(
    res_cd: str = "A211", res_msg: str = "Cancellation in progress, retry later", *, times: int = 1
) -> Retryable:
    """A "retry later with the same key and date" code; the cancel did not happen."""
    return Retryable(res_cd=res_cd, res_msg=res_msg, times=times)


def timeout(seconds: float = 35.0, *, times: int = 1) -> Timeout:
    """The cancel is accepted and stored, but the answer comes `seconds` late."""
    return Timeout(seconds=seconds, times=times)


_STATUS_OF: dict[type, Callable[[Any], str]] = {
    Pending: lambda step: PENDING,
    Approved: lambda step: TS_APPROVED,
    Cancelled: lambda step: step.code,
    PartialCancel: lambda step: TS_PARTIAL_CANCEL,
    UnknownStatus: lambda step: step.code,
}


def _first_status(steps: Iterable[Step]) -> str:
    """The payment's state before any lookup: what the script will first reveal."""
    for step in steps:
        while isinstance(step, Slow) and step.then is not None:
            step = step.then
        if type(step) in _STATUS_OF:
            return _STATUS_OF[type(step)](step)
    return PENDING


# -- state ----------------------------------------------------------------------------------


@dataclass
class _Cancel:
    key: str
    body: dict[str, Any]
    reply: Reply
    cancel_pg_cno: str
    cancel_date: str
    settled: bool
    finds_since: int = 0


@dataclass
class _Payment:
    pg_cno: str
    order_id: str
    amount: int
    currency: str
    script: Script
    cancel_script: Script
    settle_after: int
    status: str
    approval_date: str | None = None
    cancel: _Cancel | None = None
    cancel_keys: list[str] = field(default_factory=list)
    revise_keys: list[str] = field(default_factory=list)
    cancel_requests: int = 0
    lookups: int = 0


@dataclass(frozen=True)
class PaymentView:
    """A snapshot of one payment, for assertions."""

    pg_cno: str
    order_id: str
    amount: int
    currency: str
    status: str
    """"PENDING", "TS01", "TS02", "TS06", "TS12" or a scripted unknown code."""
    cancel_keys: list[str]
    """Distinct shopTransactionIds under which a cancel was accepted (replays add none)."""
    revise_keys: list[str]
    """Every distinct shopTransactionId sent to /revise for this payment, accepted or not."""
    cancel_requests: int
    """/revise requests naming this payment that passed the format and mall checks (replays too)."""
    cancel_pg_cno: str | None
    cancel_settled: bool
    lookups: int
    """/find payment lookups that reached this payment's script."""


@dataclass(frozen=True)
class _KeyUse:
    path: str
    body: dict[str, Any]
    reply: Reply | None  # stored /revise answer to replay; None for /find


@dataclass
class _Ctx:
    body: dict[str, Any]
    payment: _Payment
    scripted: bool  # only scripted steps move the payment's state


class KiccSimulator(SimulatorBase):
    """KICC WeChat Pay over HTTP on 127.0.0.1 (see the module docstring)."""

    paths = frozenset({FIND_PATH, REVISE_PATH})

    def __init__(
        self, mall_id: str = DEFAULT_MALL_ID, secret_key: str = DEFAULT_SECRET_KEY, clock: Clock | None = None
    ) -> None:
        super().__init__(clock)
        self.mall_id = mall_id
        self.secret_key = secret_key
        self._payments: dict[str, _Payment] = {}
        self._keys: dict[str, dict[str, _KeyUse]] = {}  # KST day -> key -> use
        self._first_dates: dict[str, str] = {}  # cancel key -> cancelReqDate of its first attempt
        self._sequence = 0

    # -- scripting and introspection ----------------------------------------------------------

    def add_payment(
        self,
        pg_cno: str,
        order_id: str,
        amount: int,
        currency: str = "KRW",
        script: Iterable[Step] | None = None,
        cancel_script: Iterable[Step] | None = None,
        settle_after: int = 0,
    ) -> None:
        """Register a payment; `amount` is in minor units as KICC sends it (KRW won, USD cents)."""
        if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
            raise ValueError("amount must be a non-negative int in minor units")
        if settle_after < 0:
            raise ValueError("settle_after must be >= 0")
        steps = list(script) if script is not None else [approved()]
        with self._lock:
            self._payments[pg_cno] = _Payment(
                pg_cno=pg_cno,
                order_id=order_id,
                amount=amount,
                currency=currency,
                script=Script(steps, f"payment {pg_cno} script"),
                cancel_script=Script(cancel_script or [accept()], f"payment {pg_cno} cancel_script"),
                settle_after=settle_after,
                status=_first_status(steps),
            )

    def rescript(self, pg_cno: str, script: Iterable[Step]) -> None:
        """Replace what the payment's lookups answer from now on: the customer pays (or the
        merchant cancels) after paysweep has decided the order. Its state moves when a lookup
        reveals it, as with `add_payment`."""
        with self._lock:
            self._payments[pg_cno].script = Script(list(script), f"payment {pg_cno} script")

    def payment(self, pg_cno: str) -> PaymentView:
        with self._lock:
            p = self._payments[pg_cno]
            return PaymentView(
                pg_cno=p.pg_cno,
                order_id=p.order_id,
                amount=p.amount,
                currency=p.currency,
                status=p.status,
                cancel_keys=list(p.cancel_keys),
                revise_keys=list(p.revise_keys),
                cancel_requests=p.cancel_requests,
                cancel_pg_cno=p.cancel.cancel_pg_cno if p.cancel else None,
                cancel_settled=bool(p.cancel and p.cancel.settled),
                lookups=p.lookups,
            )

    def expected_auth(self, pg_cno: str, shop_transaction_id: str) -> str:
        """The msgAuthValue this simulator accepts (for tests building requests)."""
        return msg_auth_value(self.secret_key, pg_cno, shop_transaction_id)

    # -- request handling -----------------------------------------------------------------------

    def _handle(self, request: Incoming) -> Reply:
        if request.path == FIND_PATH:
            return self._find(request)
        return self._revise(request)

    def _front_checks(
        self, request: Incoming, required: dict[str, int], optional: dict[str, int | None]
    ) -> tuple[dict[str, Any], Reply | None]:
        """Format and mall checks shared by both endpoints."""
        body, problem = _validated(request, required, optional)
        if problem is not None:
            return body, self._refuse(RES_BAD_REQUEST, problem, body)
        if body["mallId"] != self.mall_id:
            return body, self._refuse(RES_BAD_MALL, "mallId is not registered", body)
        return body, None

    def _find(self, request: Incoming) -> Reply:
        body, refusal = self._front_checks(request, _FIND_REQUIRED, _FIND_OPTIONAL)
        if refusal is not None:
            return refusal
        if self._key_use(body["shopTransactionId"]) is not None:
            return self._refuse(RES_DUPLICATE_KEY, "shopTransactionId already used today", body)
        self._remember_key(body, FIND_PATH, None)
        payment = self._payments.get(body["pgCno"])
        if payment is None:
            return self._refuse(RES_UNKNOWN_PGCNO, "unknown pgCno", body)
        self._progress_settlement(payment)
        if "cancelPgCno" in body:
            return self._cancel_lookup(payment, body)
        if payment.cancel is not None and payment.cancel.settled:
            return json_reply(self._payment_answer(payment, body, TS_CANCELLED))
        payment.lookups += 1
        ctx = _Ctx(body, payment, scripted=True)
        return self._render(payment.script.next(), ctx, default=lambda: self._state_reply(payment, body))

    def _revise(self, request: Incoming) -> Reply:
        body, refusal = self._front_checks(request, _REVISE_REQUIRED, _REVISE_OPTIONAL)
        if refusal is not None:
            return refusal
        payment = self._payments.get(body["pgCno"])
        if payment is not None:
            payment.cancel_requests += 1
            _add_once(payment.revise_keys, body["shopTransactionId"])
        used = self._key_use(body["shopTransactionId"])
        if used is not None:
            if used.path == REVISE_PATH and used.body == body and used.reply is not None:
                return self._replay(body, used.reply)
            return self._refuse(RES_DUPLICATE_KEY, "shopTransactionId already used today", body)
        if payment is None:
            return self._refuse(RES_UNKNOWN_PGCNO, "unknown pgCno", body)
        refusal = self._revise_checks(payment, body)
        if refusal is not None:
            return refusal
        ctx = _Ctx(body, payment, scripted=True)
        return self._render(payment.cancel_script.next(), ctx, default=lambda: self._accept(payment, body))

    def _revise_checks(self, payment: _Payment, body: dict[str, Any]) -> Reply | None:
        key = body["shopTransactionId"]
        if body["reviseTypeCode"] != FULL_CANCEL:
            return self._refuse(RES_UNSUPPORTED_REVISE, "only full cancel (40) is simulated", body)
        expected = msg_auth_value(self.secret_key, body["pgCno"], key)
        if not hmac.compare_digest(body["msgAuthValue"].encode(), expected.encode()):
            return self._refuse(RES_BAD_AUTH, "msgAuthValue mismatch", body)
        if not self._date_ok(key, body["cancelReqDate"]):
            return self._refuse(RES_BAD_DATE, "cancelReqDate is not the first attempt's KST date", body)
        self._first_dates.setdefault(key, body["cancelReqDate"])
        cancel = payment.cancel
        if cancel is not None:
            if cancel.key == key and cancel.body == body:
                return self._replay(body, cancel.reply)  # a retry on a later day
            if cancel.key == key:
                return self._refuse(RES_DUPLICATE_KEY, "different request under the same key", body)
            return self._refuse(RES_ALREADY_CANCELLED, "a cancel was already accepted", body)
        if payment.status in (TS_CANCELLED, TS_VOIDED, TS_PARTIAL_CANCEL):
            return self._refuse(RES_ALREADY_CANCELLED, f"payment status {payment.status}", body)
        if payment.status != TS_APPROVED:
            return self._refuse(RES_NOT_APPROVED, f"payment status {payment.status}", body)
        return None

    def _date_ok(self, key: str, requested: str) -> bool:
        first = self._first_dates.get(key)
        if first is not None:
            return requested == first
        today = kst(self._clock()).date()
        return requested in {_yyyymmdd(today), _yyyymmdd(today - timedelta(days=1))}

    def _replay(self, body: dict[str, Any], reply: Reply) -> Reply:
        """The stored answer, byte for byte and without the original's delay."""
        self._remember_key(body, REVISE_PATH, reply)
        return replace_delay(reply)

    def _accept(self, payment: _Payment, body: dict[str, Any]) -> Reply:
        now = self._clock()
        self._sequence += 1
        cancel_pg_cno = f"{kst(now):%y%m%d%H%M%S}{self._sequence:08d}"
        answer = {
            "resCd": RES_SUCCESS,
            "resMsg": "Success",
            "shopTransactionId": body["shopTransactionId"],
            "mallId": self.mall_id,
            "pgCno": payment.pg_cno,
            "cancelPgCno": cancel_pg_cno,
            "cancelDate": kst_stamp(now),
        }
        reply = json_reply(answer)
        settled = payment.settle_after == 0
        payment.cancel = _Cancel(
            body["shopTransactionId"], dict(body), reply, cancel_pg_cno, answer["cancelDate"], settled
        )
        if settled:
            payment.status = TS_CANCELLED
        _add_once(payment.cancel_keys, body["shopTransactionId"])
        self._remember_key(body, REVISE_PATH, reply)
        return reply

    def _progress_settlement(self, payment: _Payment) -> None:
        """An accepted cancel shows as TS02 after `settle_after` further lookups."""
        cancel = payment.cancel
        if cancel is None or cancel.settled:
            return
        if cancel.finds_since >= payment.settle_after:
            cancel.settled = True
            payment.status = TS_CANCELLED
        else:
            cancel.finds_since += 1

    def _cancel_lookup(self, payment: _Payment, body: dict[str, Any]) -> Reply:
        cancel = payment.cancel
        if cancel is None or cancel.cancel_pg_cno != body["cancelPgCno"]:
            return self._refuse(RES_UNKNOWN_CANCEL, "unknown cancelPgCno", body)
        answer: dict[str, Any] = {
            "resCd": RES_SUCCESS,
            "resMsg": "Success",
            "shopTransactionId": body["shopTransactionId"],
            "mallId": self.mall_id,
            "pgCno": payment.pg_cno,
            "cancelPgCno": cancel.cancel_pg_cno,
            "transactionDate": cancel.cancel_date,
        }
        if cancel.settled:
            answer["cancelStatus"] = TS_CANCELLED
        answer["amountInfo"] = {"currency": payment.currency, "totAmount": payment.amount}
        return json_reply(answer)

    # -- keys ---------------------------------------------------------------------------------

    def _today_keys(self) -> dict[str, _KeyUse]:
        """Keys expire at midnight KST: only today's are remembered."""
        today = kst_date(self._clock())
        if today not in self._keys:
            self._keys = {day: keys for day, keys in self._keys.items() if day >= today} | {today: {}}
        return self._keys[today]

    def _key_use(self, key: str) -> _KeyUse | None:
        return self._today_keys().get(key)

    def _remember_key(self, body: dict[str, Any], path: str, reply: Reply | None) -> None:
        self._today_keys()[body["shopTransactionId"]] = _KeyUse(path, dict(body), reply)

    # -- answers ------------------------------------------------------------------------------

    def _refuse(self, res_cd: str, detail: str, body: dict[str, Any]) -> Reply:
        """One of the simulator's own check failures."""
        return self._error(res_cd, _MESSAGES[res_cd], detail, body)

    def _error(self, res_cd: str, res_msg: str, detail: str | None, body: dict[str, Any]) -> Reply:
        answer: dict[str, Any] = {"resCd": res_cd, "resMsg": res_msg}
        if detail:
            answer["resDetailMsg"] = quote_plus(detail)
        if isinstance(body.get("shopTransactionId"), str):
            answer["shopTransactionId"] = body["shopTransactionId"]
        return json_reply(answer)

    def _payment_answer(
        self,
        payment: _Payment,
        body: dict[str, Any],
        status_cd: str | None,
        *,
        amount: int | None = None,
        currency: str | None = None,
        omit_amount: bool = False,
        key: str | None = None,
        pg_cno: str | None = None,
        order_id: str | None = None,
    ) -> dict[str, Any]:
        """The documented /find answer; without `status_cd` the not-paid-yet answer."""
        answer: dict[str, Any] = {
            "resCd": RES_SUCCESS,
            "resMsg": "Success",
            "shopTransactionId": key if key is not None else body.get("shopTransactionId", ""),
            "mallId": self.mall_id,
            "shopOrderNo": order_id if order_id is not None else payment.order_id,
            "pgCno": pg_cno if pg_cno is not None else payment.pg_cno,
        }
        if status_cd is None:
            return answer
        answer["approvalDate"] = payment.approval_date or kst_stamp(self._clock())
        answer["statusCd"] = status_cd
        if not omit_amount:
            answer["amountInfo"] = {
                "currency": currency if currency is not None else payment.currency,
                "totAmount": amount if amount is not None else payment.amount,
            }
        return answer

    def _state_reply(self, payment: _Payment, body: dict[str, Any]) -> Reply:
        """The answer for the payment's current state (a `slow()` without `then`)."""
        status = None if payment.status == PENDING else payment.status
        return json_reply(self._payment_answer(payment, body, status))

    def _move(self, ctx: _Ctx, status: str) -> None:
        if not ctx.scripted:
            return
        ctx.payment.status = status
        if status == TS_APPROVED and ctx.payment.approval_date is None:
            ctx.payment.approval_date = kst_stamp(self._clock())

    def _render_specific(self, step: Step, ctx: _Ctx, default: Callable[[], Reply]) -> Reply:
        payment, body = ctx.payment, ctx.body
        if type(step) in _STATUS_OF:
            self._move(ctx, _STATUS_OF[type(step)](step))
        match step:
            case Pending():
                return json_reply(self._payment_answer(payment, body, None))
            case Approved(amount=amount, currency=currency, omit_amount=omit):
                answer = self._payment_answer(
                    payment, body, TS_APPROVED, amount=amount, currency=currency, omit_amount=omit
                )
                return json_reply(answer)
            case Cancelled(code=code) | UnknownStatus(code=code):
                return json_reply(self._payment_answer(payment, body, code))
            case PartialCancel():
                return json_reply(self._payment_answer(payment, body, TS_PARTIAL_CANCEL))
            case Error(res_cd=res_cd, res_msg=res_msg, detail=detail):
                return self._error(res_cd, res_msg, detail, body)
            case WrongKey():
                stranger = "SIM" + uuid.uuid4().hex
                return json_reply(self._payment_answer(payment, body, TS_APPROVED, key=stranger))
            case OtherPayment():
                other_pg, other_order = _other_identity(payment)
                answer = self._payment_answer(
                    payment, body, TS_APPROVED, pg_cno=other_pg, order_id=other_order
                )
                return json_reply(answer)
            case Accept():
                return default()
            case Timeout(seconds=seconds):
                return replace_delay(default(), seconds)
            case Refuse(res_cd=res_cd, res_msg=res_msg, detail=detail):
                reply = self._error(res_cd, res_msg, detail, body)
                if ctx.scripted:
                    self._remember_key(body, REVISE_PATH, reply)
                return reply
            case Retryable(res_cd=res_cd, res_msg=res_msg):
                return self._error(res_cd, res_msg, None, body)
        return super()._render_specific(step, ctx, default)

    def _sample_answer(self, ctx: _Ctx) -> dict[str, Any]:
        return self._payment_answer(ctx.payment, ctx.body, TS_APPROVED)

    def _override_context(self, request: Incoming) -> _Ctx:
        body = request.body or {}
        pg_cno = body.get("pgCno") if isinstance(body.get("pgCno"), str) else ""
        payment = self._payments.get(pg_cno) or _Payment(
            pg_cno=pg_cno,
            order_id="",
            amount=0,
            currency="KRW",
            script=Script([pending()]),
            cancel_script=Script([accept()]),
            settle_after=0,
            status=PENDING,
        )
        return _Ctx(body, payment, scripted=False)


# -- helpers ----------------------------------------------------------------------------------


def replace_delay(reply: Reply, delay: float = 0.0) -> Reply:
    return Reply(reply.status, reply.body, reply.content_type, delay)


def _add_once(items: list[str], item: str) -> None:
    if item not in items:
        items.append(item)


def _yyyymmdd(day: date) -> str:
    return day.strftime("%Y%m%d")


def _other_identity(payment: _Payment) -> tuple[str, str]:
    """A pgCno and order number that are certainly not this payment's."""
    return ("9" + payment.pg_cno)[:60] if payment.pg_cno else "99999999", f"OTHER-{payment.order_id}"[:40]


def _validated(
    request: Incoming, required: dict[str, int], optional: dict[str, int | None]
) -> tuple[dict[str, Any], str | None]:
    """The body if it is a documented request; else what is wrong with it."""
    if not is_json_content_type(request.headers.get("content-type")):
        return {}, "Content-Type must be application/json; charset=utf-8"
    body = request.body
    if body is None:
        return {}, "body must be a JSON object"
    for name, limit in required.items():
        value = body.get(name)
        if not isinstance(value, str) or not value.strip():
            return body, f"{name} is required (non-empty string)"
        if len(value.encode("utf-8")) > limit:
            return body, f"{name} is longer than {limit} bytes"
    for name, max_len in optional.items():
        if name not in body:
            continue
        value = body[name]
        if not isinstance(value, str) or not value.strip():
            return body, f"{name} must be a non-empty string when present"
        if max_len is not None and len(value.encode("utf-8")) > max_len:
            return body, f"{name} is longer than {max_len} bytes"
    return body, None


__all__ = [
    "DEFAULT_MALL_ID",
    "DEFAULT_SECRET_KEY",
    "FIND_PATH",
    "RES_ALREADY_CANCELLED",
    "RES_BAD_AUTH",
    "RES_BAD_DATE",
    "RES_BAD_MALL",
    "RES_BAD_REQUEST",
    "RES_DUPLICATE_KEY",
    "RES_NOT_APPROVED",
    "RES_SUCCESS",
    "RES_UNKNOWN_CANCEL",
    "RES_UNKNOWN_PGCNO",
    "RES_UNSUPPORTED_REVISE",
    "REVISE_PATH",
    "KiccSimulator",
    "PaymentView",
    "accept",
    "approved",
    "cancelled",
    "empty_body",
    "error",
    "http_error",
    "kst_date",
    "msg_auth_value",
    "non_json",
    "other_payment",
    "oversized",
    "partial_cancel",
    "pending",
    "raw",
    "refuse",
    "retryable",
    "slow",
    "timeout",
    "unknown_status",
    "wrong_key",
]
