"""KICC (EasyPay) global WeChat Pay simulator: payment lookups, full cancels, cancel lookups.

Written from KICC's documentation and paysweep's documented assumptions, never from the
product's code, so a product bug shows up as a refused request instead of being mirrored.

Endpoints (POST JSON, `Content-type: application/json; charset=utf-8`):
- `/api/trades/wechatpay/find`: payment status; with `cancelPgCno`, a cancellation's status.
- `/api/trades/wechatpay/revise`: full cancel (`reviseTypeCode` "40").

Checks, in this order; each failure answers HTTP 200 with its own `resCd`:
1. Content-Type JSON, body a JSON object, required fields non-blank strings within their
   lengths                                                       -> RES_BAD_REQUEST
2. `mallId` is a configured mall, not revoked                    -> RES_BAD_MALL
3. `shopTransactionId` unused today (KST) by that mall, across both endpoints
   (a /revise retry with the same key and an identical body replays the stored answer)
                                                                 -> RES_DUPLICATE_KEY
4. `pgCno` known and that mall's (KICC finds no payment of another mall under a mallId:
   the same "Transaction not found" as an unknown pgCno)         -> RES_UNKNOWN_PGCNO
/find with `cancelPgCno`: the cancel accepted for that payment   -> RES_UNKNOWN_CANCEL
/revise only:
5. `reviseTypeCode` "40" (partial cancel "32" is not simulated)  -> RES_UNSUPPORTED_REVISE
6. `msgAuthValue` = hex(HMAC-SHA256(that mall's secretKey, pgCno|key)) -> RES_BAD_AUTH
7. `cancelReqDate` = KST date of the key's first attempt (first attempt: today or
   yesterday, KST)                                               -> RES_BAD_DATE
8. payment not cancelled and no cancel accepted under another key -> RES_ALREADY_CANCELLED
9. payment approved (TS01)                                       -> RES_NOT_APPROVED

Malls: `mall_id`/`secret_key` are the default mall's; `accounts={mallId: secretKey}` adds others;
`add_payment(..., account=mallId)` gives a payment to one; a kept request's `.account` is its mallId.

Scripting (step factories of this module, all taking `times=n`):
- payment script, one step per accepted /find payment lookup: `pending()`,
  `approved(amount=None, currency=None, omit_amount=False)`, `cancelled("TS02"|"TS12")`,
  `partial_cancel()`, `error(res_cd, res_msg, detail)`, `wrong_key()` and
  `other_payment()` (an approval with another echo / about another payment),
  `unknown_status("TS99")`, and the generic `http_error`, `non_json`, `empty_body`, `raw`,
  `slow`, `oversized`. Status steps move the payment's `.status`; once an accepted cancel
  has settled, /find answers TS02 whatever the script says.
- cancel script, one step per /revise that passes every check: `accept()` (default),
  `refuse(res_cd, res_msg, detail)`, `retryable("A211")`, `timeout(seconds)` (accepted and
  stored, answered late), plus the generic steps. Accepted and refused answers are stored
  under the key: an identical retry replays them byte for byte. Retryable and generic
  answers are not stored, so the retry is processed afresh (the cancel never happened).
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import quote_plus

from paysweep_local.simulators.base import (
    Clock,
    Ctx,
    Incoming,
    Reply,
    Script,
    SimulatorBase,
    Step,
    Subject,
    empty_body,
    http_error,
    json_object_problem,
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

# Field -> its limit in bytes (None: no limit); optional fields are checked only when present.
_FIND_REQUIRED = {"mallId": 8, "shopTransactionId": 60, "pgCno": 60}
_FIND_OPTIONAL: dict[str, int | None] = {"cancelPgCno": 60}
_REVISE_REQUIRED = _FIND_REQUIRED | {"reviseTypeCode": 2, "cancelReqDate": 8, "msgAuthValue": 256}
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


@dataclass(frozen=True)
class Pending(Step):
    """Not paid yet: resCd "0000" without statusCd, approvalDate or amountInfo."""


@dataclass(frozen=True)
class Approved(Step):
    """TS01. `amount` (minor units) / `currency` override the payment's to make a mismatch."""

    amount: int | None = None
    currency: str | None = None
    omit_amount: bool = False


@dataclass(frozen=True)
class Cancelled(Step):
    """Cancelled at the provider: TS02 (full cancel) or TS12 (network cancel)."""

    code: str = TS_CANCELLED


@dataclass(frozen=True)
class PartialCancel(Step):
    """Partly cancelled at the provider: TS06."""


@dataclass(frozen=True)
class UnknownStatus(Step):
    code: str = "TS99"


@dataclass(frozen=True)
class Error(Step):
    """A failure answer; `detail` goes into resDetailMsg URL-encoded (quote_plus)."""

    res_cd: str = "W002"
    res_msg: str = "Payment failed"
    detail: str | None = "사용자 결제 취소"


@dataclass(frozen=True)
class WrongKey(Step):
    """An approval that echoes another shopTransactionId (not an answer to this request)."""


@dataclass(frozen=True)
class OtherPayment(Step):
    """An approval about another pgCno and shopOrderNo."""


@dataclass(frozen=True)
class Accept(Step):
    """Cancel accepted: a new cancelPgCno; the payment settles to TS02 after settle_after."""


@dataclass(frozen=True)
class Refuse(Step):
    res_cd: str = "C001"
    res_msg: str = "Cancellation refused"
    detail: str | None = None


@dataclass(frozen=True)
class Retryable(Step):
    """A "retry later with the same key and date" code; the cancel did not happen."""

    res_cd: str = "A211"
    res_msg: str = "Cancellation in progress, retry later"


@dataclass(frozen=True)
class Timeout(Step):
    """The cancel is accepted and stored, but the answer comes `seconds` late."""

    seconds: float = 35.0


pending, approved, cancelled, partial_cancel = Pending, Approved, Cancelled, PartialCancel
unknown_status, error, wrong_key, other_payment = UnknownStatus, Error, WrongKey, OtherPayment
accept, refuse, retryable, timeout = Accept, Refuse, Retryable, Timeout


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


@dataclass(kw_only=True)
class _Payment(Subject):
    pg_cno: str
    order_id: str = ""
    amount: int = 0
    currency: str = "KRW"
    cancel_script: Script
    settle_after: int = 0
    cancel: _Cancel | None = None
    cancel_keys: list[str] = field(default_factory=list)
    revise_keys: list[str] = field(default_factory=list)
    cancel_requests: int = 0


@dataclass(frozen=True)
class PaymentView:
    """A snapshot of one payment, for assertions."""

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


class KiccSimulator(SimulatorBase):
    """KICC WeChat Pay over HTTP on 127.0.0.1 (see the module docstring)."""

    paths = frozenset({FIND_PATH, REVISE_PATH})
    subject_field = "pgCno"
    statuses: ClassVar[dict[type, Callable[[Any], Any]]] = {
        Pending: lambda step: PENDING,
        Approved: lambda step: TS_APPROVED,
        Cancelled: lambda step: step.code,
        PartialCancel: lambda step: TS_PARTIAL_CANCEL,
        UnknownStatus: lambda step: step.code,
    }
    paid_status = TS_APPROVED
    account_fields = ("mall_id", "secret_key")

    def __init__(
        self,
        mall_id: str = DEFAULT_MALL_ID,
        secret_key: str = DEFAULT_SECRET_KEY,
        clock: Clock | None = None,
        *,
        accounts: Mapping[str, str] | None = None,
    ) -> None:
        """`accounts`: the other malls, mallId -> secretKey."""
        super().__init__(clock, accounts)
        self.mall_id = mall_id
        self.secret_key = secret_key
        self._keys: dict[str, dict[tuple[str, str], _KeyUse]] = {}  # KST day -> (mallId, key) -> use
        self._first_dates: dict[tuple[str, str], str] = {}  # (mallId, cancel key) -> its first cancelReqDate
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
        account: str | None = None,
    ) -> None:
        """Register a payment of mall `account` (default: the default mall); `amount` is in minor
        units as KICC sends it (KRW won, USD cents)."""
        if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
            raise ValueError("amount must be a non-negative int in minor units")
        if settle_after < 0:
            raise ValueError("settle_after must be >= 0")
        steps = list(script) if script is not None else [approved()]
        with self._lock:
            self._subjects[pg_cno] = _Payment(
                pg_cno=pg_cno,
                order_id=order_id,
                amount=amount,
                currency=currency,
                script=Script(steps, f"payment {pg_cno} script"),
                cancel_script=Script(cancel_script or [accept()], f"payment {pg_cno} cancel_script"),
                settle_after=settle_after,
                status=self._first_status(steps) or PENDING,
                account=self._account_arg(account),
            )

    def payment(self, pg_cno: str) -> PaymentView:
        with self._lock:
            p: _Payment = self._subjects[pg_cno]
            return PaymentView(
                status=p.status,
                cancel_keys=list(p.cancel_keys),
                revise_keys=list(p.revise_keys),
                cancel_requests=p.cancel_requests,
                cancel_pg_cno=p.cancel.cancel_pg_cno if p.cancel else None,
                cancel_settled=bool(p.cancel and p.cancel.settled),
                lookups=p.queries,
            )

    def expected_auth(self, pg_cno: str, shop_transaction_id: str) -> str:
        """The msgAuthValue this simulator accepts for the payment (for tests building requests)."""
        with self._lock:
            mall = self._owner(self._subjects.get(pg_cno))
            return msg_auth_value(self._known(mall, even_revoked=True), pg_cno, shop_transaction_id)

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
        if self._known(body["mallId"]) is None:
            return body, self._refuse(RES_BAD_MALL, "mallId is not registered", body)
        return body, None

    def _payment(self, body: dict[str, Any]) -> _Payment | None:
        """The payment the request names if it is the requesting mall's: no other mall's is found."""
        payment: _Payment | None = self._subjects.get(body["pgCno"])
        return payment if payment is not None and self._owner(payment) == body["mallId"] else None

    def _named_account(self, headers: dict[str, str], body: dict[str, Any] | None) -> str | None:
        mall = (body or {}).get("mallId")
        return mall if isinstance(mall, str) else None

    def _find(self, request: Incoming) -> Reply:
        body, refusal = self._front_checks(request, _FIND_REQUIRED, _FIND_OPTIONAL)
        if refusal is not None:
            return refusal
        if self._key_use(body) is not None:
            return self._refuse(RES_DUPLICATE_KEY, "shopTransactionId already used today", body)
        self._remember_key(body, FIND_PATH, None)
        payment = self._payment(body)
        if payment is None:
            return self._refuse(RES_UNKNOWN_PGCNO, "unknown pgCno", body)
        self._progress_settlement(payment)
        if "cancelPgCno" in body:
            return self._cancel_lookup(payment, body)
        if payment.cancel is not None and payment.cancel.settled:
            return json_reply(self._payment_answer(payment, body, TS_CANCELLED))
        return self._query(payment, body, default=lambda: self._state_reply(payment, body))

    def _revise(self, request: Incoming) -> Reply:
        body, refusal = self._front_checks(request, _REVISE_REQUIRED, _REVISE_OPTIONAL)
        if refusal is not None:
            return refusal
        payment = self._payment(body)
        if payment is not None:
            payment.cancel_requests += 1
            _add_once(payment.revise_keys, body["shopTransactionId"])
        used = self._key_use(body)
        if used is not None:
            if used.path == REVISE_PATH and used.body == body and used.reply is not None:
                return self._replay(body, used.reply)
            return self._refuse(RES_DUPLICATE_KEY, "shopTransactionId already used today", body)
        if payment is None:
            return self._refuse(RES_UNKNOWN_PGCNO, "unknown pgCno", body)
        refusal = self._revise_checks(payment, body)
        if refusal is not None:
            return refusal
        ctx = Ctx(payment, body, scripted=True)
        return self._render(payment.cancel_script.next(), ctx, default=lambda: self._accept(payment, body))

    def _revise_checks(self, payment: _Payment, body: dict[str, Any]) -> Reply | None:
        key = body["shopTransactionId"]
        if body["reviseTypeCode"] != FULL_CANCEL:
            return self._refuse(RES_UNSUPPORTED_REVISE, "only full cancel (40) is simulated", body)
        expected = msg_auth_value(self._known(body["mallId"]), body["pgCno"], key)
        if not hmac.compare_digest(body["msgAuthValue"].encode(), expected.encode()):
            return self._refuse(RES_BAD_AUTH, "msgAuthValue mismatch", body)
        if not self._date_ok((body["mallId"], key), body["cancelReqDate"]):
            return self._refuse(RES_BAD_DATE, "cancelReqDate is not the first attempt's KST date", body)
        self._first_dates.setdefault((body["mallId"], key), body["cancelReqDate"])
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

    def _date_ok(self, key: tuple[str, str], requested: str) -> bool:
        first = self._first_dates.get(key)
        if first is not None:
            return requested == first
        now = self._clock()
        return requested in {kst_date(now), kst_date(now - timedelta(days=1))}

    def _replay(self, body: dict[str, Any], reply: Reply) -> Reply:
        """The stored answer, byte for byte and without the original's delay."""
        self._remember_key(body, REVISE_PATH, reply)
        return replace(reply, delay=0.0)

    def _accept(self, payment: _Payment, body: dict[str, Any]) -> Reply:
        now = self._clock()
        self._sequence += 1
        cancel_pg_cno, cancel_date = f"{kst(now):%y%m%d%H%M%S}{self._sequence:08d}", kst_stamp(now)
        fields = {"pgCno": payment.pg_cno, "cancelPgCno": cancel_pg_cno, "cancelDate": cancel_date}
        reply = json_reply(self._success(payment, body, **fields))
        settled = payment.settle_after == 0
        payment.cancel = _Cancel(
            body["shopTransactionId"], dict(body), reply, cancel_pg_cno, cancel_date, settled
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
        answer = self._success(
            payment, body, pgCno=payment.pg_cno, cancelPgCno=cancel.cancel_pg_cno,
            transactionDate=cancel.cancel_date,
        )
        if cancel.settled:
            answer["cancelStatus"] = TS_CANCELLED
        answer["amountInfo"] = {"currency": payment.currency, "totAmount": payment.amount}
        return json_reply(answer)

    # -- keys ---------------------------------------------------------------------------------

    def _today_keys(self) -> dict[tuple[str, str], _KeyUse]:
        """Keys expire at midnight KST: only today's are remembered."""
        today = kst_date(self._clock())
        if today not in self._keys:
            self._keys = {day: keys for day, keys in self._keys.items() if day >= today} | {today: {}}
        return self._keys[today]

    def _key_use(self, body: dict[str, Any]) -> _KeyUse | None:
        """What the request's key was used for today: keys are the mall's own."""
        return self._today_keys().get((body["mallId"], body["shopTransactionId"]))

    def _remember_key(self, body: dict[str, Any], path: str, reply: Reply | None) -> None:
        self._today_keys()[body["mallId"], body["shopTransactionId"]] = _KeyUse(path, dict(body), reply)

    # -- answers ------------------------------------------------------------------------------

    def _refuse(self, res_cd: str, detail: str, body: dict[str, Any]) -> Reply:
        """One of the simulator's own check failures."""
        return self._error(res_cd, _MESSAGES[res_cd], detail, body)

    def _success(self, payment: _Payment, body: dict[str, Any], **fields: Any) -> dict[str, Any]:
        """A success answer about the payment: the fields every one starts with, then `fields` in order."""
        head = {
            "resCd": RES_SUCCESS,
            "resMsg": "Success",
            "shopTransactionId": body.get("shopTransactionId", ""),
        }
        return {**head, "mallId": self._owner(payment), **fields}

    def _error(self, res_cd: str, res_msg: str, detail: str | None, body: dict[str, Any]) -> Reply:
        answer: dict[str, Any] = {"resCd": res_cd, "resMsg": res_msg}
        if detail:
            answer["resDetailMsg"] = quote_plus(detail)
        if isinstance(body.get("shopTransactionId"), str):
            answer["shopTransactionId"] = body["shopTransactionId"]
        return json_reply(answer)

    def _payment_answer(
        self, payment: _Payment, body: dict[str, Any], status_cd: str | None
    ) -> dict[str, Any]:
        """The documented /find answer; without `status_cd` the not-paid-yet answer."""
        answer = self._success(payment, body, shopOrderNo=payment.order_id, pgCno=payment.pg_cno)
        if status_cd is not None:
            answer["approvalDate"] = kst_stamp(payment.paid_at or self._clock())
            answer["statusCd"] = status_cd
            answer["amountInfo"] = {"currency": payment.currency, "totAmount": payment.amount}
        return answer

    def _state_reply(self, payment: _Payment, body: dict[str, Any]) -> Reply:
        """The answer for the payment's current state (a `slow()` without `then`)."""
        status = None if payment.status == PENDING else payment.status
        return json_reply(self._payment_answer(payment, body, status))

    def _render_specific(self, step: Step, ctx: Ctx, default: Callable[[], Reply]) -> Reply:
        payment, body = ctx.subject, ctx.body
        match step:
            case Pending():
                return json_reply(self._payment_answer(payment, body, None))
            case Approved(amount=amount, currency=currency, omit_amount=omit):
                answer = self._payment_answer(payment, body, TS_APPROVED)
                if omit:
                    del answer["amountInfo"]
                else:
                    answer["amountInfo"] = {
                        "currency": payment.currency if currency is None else currency,
                        "totAmount": payment.amount if amount is None else amount,
                    }
                return json_reply(answer)
            case Cancelled() | PartialCancel() | UnknownStatus():
                return json_reply(self._payment_answer(payment, body, self.statuses[type(step)](step)))
            case Error(res_cd=res_cd, res_msg=res_msg, detail=detail):
                return self._error(res_cd, res_msg, detail, body)
            case WrongKey():
                answer = self._payment_answer(payment, body, TS_APPROVED)
                return json_reply({**answer, "shopTransactionId": "SIM" + uuid.uuid4().hex})
            case OtherPayment():
                answer = self._payment_answer(payment, body, TS_APPROVED)
                answer.update(shopOrderNo=f"OTHER-{payment.order_id}"[:40], pgCno=("9" + payment.pg_cno)[:60])
                return json_reply(answer)
            case Accept():
                return default()
            case Timeout(seconds=seconds):
                return replace(default(), delay=seconds)
            case Refuse(res_cd=res_cd, res_msg=res_msg, detail=detail):
                reply = self._error(res_cd, res_msg, detail, body)
                if ctx.scripted:
                    self._remember_key(body, REVISE_PATH, reply)
                return reply
            case Retryable(res_cd=res_cd, res_msg=res_msg):
                return self._error(res_cd, res_msg, None, body)
        return super()._render_specific(step, ctx, default)

    def _sample_answer(self, ctx: Ctx) -> dict[str, Any]:
        return self._payment_answer(ctx.subject, ctx.body, TS_APPROVED)

    def _stand_in(self, key: str) -> _Payment:
        return _Payment(
            pg_cno=key, script=Script([pending()]), cancel_script=Script([accept()]), status=PENDING
        )


def _add_once(items: list[str], item: str) -> None:
    if item not in items:
        items.append(item)


def _validated(
    request: Incoming, required: dict[str, int], optional: dict[str, int | None]
) -> tuple[dict[str, Any], str | None]:
    """The body if it is a documented request; else what is wrong with it."""
    problem = json_object_problem(request)
    if problem is not None or request.body is None:
        return {}, problem
    body = request.body
    for name, limit in {**required, **optional}.items():
        if name in optional and name not in body:
            continue
        value = body.get(name)
        if not isinstance(value, str) or not value.strip():
            return body, f"{name} must be a non-empty string"
        if limit is not None and len(value.encode("utf-8")) > limit:
            return body, f"{name} is longer than {limit} bytes"
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
