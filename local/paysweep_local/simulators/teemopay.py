"""TeemoPay Korea payin simulator: `POST /api/pay/payment/query/v1`.

Written from TeemoPay's documentation (docs.teemopay.com: authentication guide, payin
query page), never from the product's code, so a signing bug is refused, not mirrored.

Every answer is HTTP 200 with the envelope {"code", "data", "msg", "traceId"}. Checks, in
the documented order:
1. headers `timestamp` (13 digits, ms), `nonce` (32 chars), `country`, `app_code` present
   and well-formed                                          -> 414 naming the header
2. `app_code` is a configured application, not revoked     -> 416 "Application not found"
3. `country` is the configured country                      -> 414
4. `timestamp` within 30 s of the simulator clock           -> 414 "request expired"
5. `nonce` not seen in the last 24 h (then remembered)      -> 414 "nonce repeated"
6. JSON body with `merchantOrderNo` (<= 32 chars) and `sign` -> 414
7. `sign` verifies: Base64 SHA1withRSA (PKCS#1 v1.5) with the merchant public key over
   the sorted non-blank body fields without `sign`, joined `name=value` with `&`, plus
   `&nonce=<nonce>`, with that application's key            -> 414 "sign verify failed"
8. the order exists and is that application's               -> 434 "Merchant order not exist"

Applications: `app_code`/`merchant_public_key` are the default one's; `accounts={app_code: merchant
public key}` (PEM or Base64) adds others; `add_order(..., account=app_code)` gives an order to one; a
kept request's `.account` is its `app_code` header. Answers are not signed (no platform key here).

Scripting (step factories of this module, all taking `times=n`), one step per query
that passes every check: `pending()`, `paid(amount=None, transaction_amount=None)` (pass
`NULL` for a JSON null), `failed(error_message)`, `not_found()` (434), `retry_later()`
(412), `business_error()` (500), `bad_parameter()` (414), `app_not_found()` (416),
`other_order()` (a success about another merchantOrderNo), `status_as_string()` (status
"2"), `unknown_status(7)`, and the generic `http_error`, `non_json`, `empty_body`, `raw`,
`slow`, `oversized`.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import partial
from typing import Any, ClassVar

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

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

QUERY_PATH = "/api/pay/payment/query/v1"
DEFAULT_APP_CODE = "APP0001"
DEFAULT_COUNTRY = "KR"

CODE_OK = 200
CODE_RETRY_LATER = 412
CODE_BAD_PARAMETER = 414
CODE_APP_NOT_FOUND = 416
CODE_ORDER_NOT_FOUND = 434
CODE_BUSINESS_ERROR = 500

MSG_SUCCESS = "success"
MSG_APP_NOT_FOUND = "Application not found"
MSG_REQUEST_EXPIRED = "request expired"
MSG_NONCE_REPEATED = "nonce repeated"
MSG_SIGN_FAILED = "sign verify failed"
MSG_ORDER_NOT_FOUND = "Merchant order not exist"
DEFAULT_FAILURE = "Transaction amount exceeds limit, kindly retry within allowed range."

STATUS_IN_PROGRESS = 1
STATUS_SUCCESS = 2
STATUS_FAILED = 3

TIMESTAMP_TOLERANCE = timedelta(seconds=30)
NONCE_WINDOW = timedelta(hours=24)
MAX_ORDER_NO = 32
PAYMENT_TYPE_VA = 801
SERVICE_RATE = Decimal("0.0100")
FIXED_SERVICE = Decimal("5.00")
_TIMESTAMP = re.compile(r"[0-9]{13}")


class _Null:
    """Sentinel: send JSON null where a value would otherwise be defaulted."""

    def __repr__(self) -> str:
        return "NULL"


NULL = _Null()
Money = str | int | Decimal | _Null | None


def money_text(value: str | int | Decimal) -> str:
    """TeemoPay amounts are strings with two decimals: 1000 -> "1000.00"."""
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"not an amount: {value!r}") from None
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"not an amount: {value!r}")
    return f"{amount.quantize(Decimal('0.01')):f}"


def string_to_sign(body: dict[str, Any], nonce: str) -> str:
    """The documented string to sign: sorted non-blank fields without `sign`, then the nonce."""
    names = [name for name in sorted(body) if name != "sign" and _present(body[name])]
    pairs = [f"{name}={_sign_text(body[name])}" for name in names]
    return "&".join([*pairs, f"nonce={nonce}"])


def _present(value: Any) -> bool:
    """Nulls and blank strings are left out of the string to sign."""
    return value is not None and not (isinstance(value, str) and not value.strip())


def _sign_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def load_public_key(text: str) -> rsa.RSAPublicKey:
    """An X.509 SubjectPublicKeyInfo RSA key, PEM or bare Base64 (as the dashboard shows it)."""
    try:
        if "-----BEGIN" in text:
            key = serialization.load_pem_public_key(text.encode("ascii"))
        else:
            key = serialization.load_der_public_key(base64.b64decode("".join(text.split()), validate=True))
    except (ValueError, TypeError, binascii.Error, UnsupportedAlgorithm) as error:
        raise ValueError("merchant_public_key is not a PEM or Base64 X.509 RSA public key") from error
    if not isinstance(key, rsa.RSAPublicKey):
        raise TypeError("merchant_public_key is not an RSA key")
    return key


# -- steps ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pending(Step):
    """Status 1, payment in progress: amount "0.00", empty statementList."""


@dataclass(frozen=True)
class Paid(Step):
    """Status 2. Defaults to the order amount; override either for a mismatch (NULL: null)."""

    amount: Money = None
    transaction_amount: Money = None


@dataclass(frozen=True)
class Failed(Step):
    """Status 3: amount null, errorMessage set."""

    error_message: str = DEFAULT_FAILURE


@dataclass(frozen=True)
class Envelope(Step):
    """An error envelope (no data)."""

    code: int
    msg: str


@dataclass(frozen=True)
class OtherOrder(Step):
    """A success answer whose data is about another merchantOrderNo."""


@dataclass(frozen=True)
class StatusAsString(Step):
    """A success answer with `status` "2" (a string, as the field table types it)."""


@dataclass(frozen=True)
class UnknownStatus(Step):
    status: int = 7


pending, paid, failed, other_order = Pending, Paid, Failed, OtherOrder
status_as_string, unknown_status = StatusAsString, UnknownStatus
not_found = partial(Envelope, CODE_ORDER_NOT_FOUND, MSG_ORDER_NOT_FOUND)
retry_later = partial(Envelope, CODE_RETRY_LATER, "Please try again later")
business_error = partial(Envelope, CODE_BUSINESS_ERROR, "Business Error")
bad_parameter = partial(Envelope, CODE_BAD_PARAMETER, "Bad parameter")
app_not_found = partial(Envelope, CODE_APP_NOT_FOUND, MSG_APP_NOT_FOUND)


# -- state ----------------------------------------------------------------------------------


@dataclass(kw_only=True)
class _Order(Subject):
    merchant_order_no: str
    amount: str = "0.00"
    trade_no: str = "TS" + "0" * 28


@dataclass(frozen=True)
class OrderView:
    """A snapshot of one order, for assertions."""

    amount: str
    trade_no: str
    status: int | None
    """1, 2, 3 (or a scripted unknown) as last revealed; None when the script has none."""
    queries: int
    """Queries that passed every check and reached this order's script."""


class TeemoPaySimulator(SimulatorBase):
    """TeemoPay's payin query over HTTP on 127.0.0.1 (see the module docstring)."""

    paths = frozenset({QUERY_PATH})
    subject_field = "merchantOrderNo"
    statuses: ClassVar[dict[type, Callable[[Any], Any]]] = {
        Pending: lambda step: STATUS_IN_PROGRESS,
        Paid: lambda step: STATUS_SUCCESS,
        StatusAsString: lambda step: STATUS_SUCCESS,
        Failed: lambda step: STATUS_FAILED,
        UnknownStatus: lambda step: step.status,
    }
    paid_status = STATUS_SUCCESS
    account_fields = ("app_code", "_public_key")

    def __init__(
        self,
        app_code: str = DEFAULT_APP_CODE,
        merchant_public_key: str | None = None,
        country: str = DEFAULT_COUNTRY,
        clock: Clock | None = None,
        *,
        accounts: Mapping[str, str] | None = None,
    ) -> None:
        """`merchant_public_key` defaults to `paysweep_local.simulators.keys.merchant_keys().public_b64`;
        `accounts`: the other applications, app_code -> merchant public key (held loaded)."""
        super().__init__(clock, {code: load_public_key(key) for code, key in (accounts or {}).items()})
        if merchant_public_key is None:
            from paysweep_local.simulators.keys import merchant_keys

            merchant_public_key = merchant_keys().public_b64
        self.app_code = app_code
        self.country = country
        self._public_key = load_public_key(merchant_public_key)
        self._nonces: dict[str, datetime] = {}
        self._trade_numbers = itertools.count(1)
        self._trace_numbers = itertools.count(1)

    # -- scripting and introspection ----------------------------------------------------------

    def add_order(
        self,
        merchant_order_no: str,
        amount: str | int | Decimal,
        script: Iterable[Step] | None = None,
        account: str | None = None,
    ) -> None:
        """Register an order of application `account` (default: the default one); `amount` in KRW
        whole won ("1000" or 1000)."""
        steps = list(script) if script is not None else [paid()]
        with self._lock:
            number = next(self._trade_numbers)
            self._subjects[merchant_order_no] = _Order(
                merchant_order_no=merchant_order_no,
                amount=money_text(amount),
                script=Script(steps, f"order {merchant_order_no} script"),
                trade_no=f"TS{kst(self._clock()):%y%m%d}{number % 10000:04d}KR{number:016d}",
                status=self._first_status(steps),
                account=self._account_arg(account),
            )

    def order(self, merchant_order_no: str) -> OrderView:
        with self._lock:
            o: _Order = self._subjects[merchant_order_no]
            return OrderView(o.amount, o.trade_no, o.status, o.queries)

    @property
    def nonces_seen(self) -> set[str]:
        """Nonces of requests that got as far as the nonce check (remembered for 24 h)."""
        with self._lock:
            return set(self._nonces)

    # -- request handling -----------------------------------------------------------------------

    def _handle(self, request: Incoming) -> Reply:
        refusal = self._check_headers(request.headers) or self._check_freshness(request.headers)
        if refusal is not None:
            return refusal
        body, problem = _body_problem(request)
        if problem is not None:
            return self._envelope(CODE_BAD_PARAMETER, problem)
        app_code = request.headers["app_code"]
        if not self._signature_ok(body, request.headers["nonce"], self._known(app_code)):
            return self._envelope(CODE_BAD_PARAMETER, MSG_SIGN_FAILED)
        order: _Order | None = self._subjects.get(body["merchantOrderNo"])
        if order is None or self._owner(order) != app_code:  # no other application's order is found
            return self._envelope(CODE_ORDER_NOT_FOUND, MSG_ORDER_NOT_FOUND)
        return self._query(order, body, default=lambda: self._state_reply(order))

    def _check_headers(self, headers: dict[str, str]) -> Reply | None:
        """Presence and form of the four headers, then the application and country."""
        timestamp, nonce = headers.get("timestamp"), headers.get("nonce")
        if timestamp is None:
            return self._envelope(CODE_BAD_PARAMETER, "timestamp header is missing")
        if not _TIMESTAMP.fullmatch(timestamp):
            return self._envelope(CODE_BAD_PARAMETER, "timestamp must be 13 digits (milliseconds)")
        if nonce is None or len(nonce) != 32:
            return self._envelope(CODE_BAD_PARAMETER, "nonce must be a 32-character string")
        for name in ("country", "app_code"):
            if not headers.get(name, "").strip():
                return self._envelope(CODE_BAD_PARAMETER, f"{name} header is missing")
        if self._known(headers["app_code"]) is None:
            return self._envelope(CODE_APP_NOT_FOUND, MSG_APP_NOT_FOUND)
        if headers["country"] != self.country:
            return self._envelope(CODE_BAD_PARAMETER, f"country {headers['country'][:8]} is not supported")
        return None

    def _check_freshness(self, headers: dict[str, str]) -> Reply | None:
        """Replay protection: a recent timestamp and a nonce unseen for 24 h."""
        now = self._clock()
        skew_ms = abs(int(headers["timestamp"]) - int(now.timestamp() * 1000))
        if skew_ms > TIMESTAMP_TOLERANCE.total_seconds() * 1000:
            return self._envelope(CODE_BAD_PARAMETER, MSG_REQUEST_EXPIRED)
        nonce = headers["nonce"]
        if len(self._nonces) > 100_000:  # long demo runs: forget nonces past the window
            self._nonces = {n: at for n, at in self._nonces.items() if now - at < NONCE_WINDOW}
        seen = self._nonces.get(nonce)
        if seen is not None and now - seen < NONCE_WINDOW:
            return self._envelope(CODE_BAD_PARAMETER, MSG_NONCE_REPEATED)
        self._nonces[nonce] = now
        return None

    def _signature_ok(self, body: dict[str, Any], nonce: str, public_key: rsa.RSAPublicKey) -> bool:
        try:
            signature = base64.b64decode(body["sign"], validate=True)
            message = string_to_sign(body, nonce).encode("utf-8")
            public_key.verify(signature, message, padding.PKCS1v15(), hashes.SHA1())
        except (binascii.Error, ValueError, InvalidSignature):
            return False
        return True

    def _named_account(self, headers: dict[str, str], body: dict[str, Any] | None) -> str | None:
        return headers.get("app_code")

    # -- answers ------------------------------------------------------------------------------

    def _envelope(self, code: int, msg: str, data: dict[str, Any] | None = None) -> Reply:
        return json_reply({"code": code, "data": data, "msg": msg, "traceId": self._trace_id()})

    def _trace_id(self) -> str:
        millis = int(self._clock().timestamp() * 1000)
        return f"{uuid.uuid4().hex}.94.{millis}{next(self._trace_numbers) % 10000:04d}"

    def _data(self, order: _Order, status: int | str) -> dict[str, Any]:
        """The documented data object as in progress; `_paid_data` and `_failed_data` amend it."""
        return {
            "merchantOrderNo": order.merchant_order_no,
            "amount": "0.00",
            "transactionAmount": order.amount,
            "tradeNo": order.trade_no,
            "paymentType": PAYMENT_TYPE_VA,
            "paymentInfo": "29900000000000",
            "status": status,
            "serviceAmount": "0.00",
            "statementList": [],
        }

    def _paid_data(self, order: _Order, step: Paid = Paid()) -> dict[str, Any]:
        amount = _money_field(step.amount, order.amount)
        transaction_amount = _money_field(step.transaction_amount, order.amount)
        fee = _service_amount(order.amount)
        data = self._data(order, STATUS_SUCCESS)
        data.update(amount=amount, transactionAmount=transaction_amount, serviceAmount=fee)
        data["statementList"] = [
            {
                "paymentSingleOrderNo": "TSO" + order.trade_no[2:],
                "paymentStatementAmount": amount if amount is not None else order.amount,
                "paymentStatementStatus": STATUS_SUCCESS,
                "paymentStatementStatusName": "代收成功",
                "completeTime": kst(order.paid_at or self._clock()).strftime("%Y-%m-%d %H:%M:%S"),
                "serviceAmount": fee,
                "serviceRate": f"{SERVICE_RATE:f}",
                "immService": f"{FIXED_SERVICE:f}",
                "paymentType": PAYMENT_TYPE_VA,
            }
        ]
        return data

    def _failed_data(self, order: _Order, message: str) -> dict[str, Any]:
        data = self._data(order, STATUS_FAILED)
        data.update(amount=None, errorMessage=message)
        return data

    def _state_reply(self, order: _Order) -> Reply:
        """The answer for the order's current state (a `slow()` without `then`)."""
        if order.status == STATUS_SUCCESS:
            return self._envelope(CODE_OK, MSG_SUCCESS, self._paid_data(order))
        if order.status == STATUS_FAILED:
            return self._envelope(CODE_OK, MSG_SUCCESS, self._failed_data(order, DEFAULT_FAILURE))
        return self._envelope(CODE_OK, MSG_SUCCESS, self._data(order, order.status or STATUS_IN_PROGRESS))

    def _render_specific(self, step: Step, ctx: Ctx, default: Callable[[], Reply]) -> Reply:
        order = ctx.subject
        match step:
            case Pending():
                return self._envelope(CODE_OK, MSG_SUCCESS, self._data(order, STATUS_IN_PROGRESS))
            case Paid():
                return self._envelope(CODE_OK, MSG_SUCCESS, self._paid_data(order, step))
            case Failed(error_message=message):
                return self._envelope(CODE_OK, MSG_SUCCESS, self._failed_data(order, message))
            case Envelope(code=code, msg=msg):
                return self._envelope(code, msg)
            case OtherOrder():
                other = f"OTHER{order.merchant_order_no}"[:MAX_ORDER_NO]
                data = self._paid_data(order)
                data["merchantOrderNo"] = other if other != order.merchant_order_no else "OTHER-ORDER"
                return self._envelope(CODE_OK, MSG_SUCCESS, data)
            case StatusAsString():
                data = self._paid_data(order)
                data["status"] = str(STATUS_SUCCESS)
                return self._envelope(CODE_OK, MSG_SUCCESS, data)
            case UnknownStatus(status=status):
                return self._envelope(CODE_OK, MSG_SUCCESS, self._data(order, status))
        return super()._render_specific(step, ctx, default)

    def _sample_answer(self, ctx: Ctx) -> dict[str, Any]:
        data = self._paid_data(ctx.subject)
        return {"code": CODE_OK, "data": data, "msg": MSG_SUCCESS, "traceId": self._trace_id()}

    def _stand_in(self, key: str) -> _Order:
        return _Order(merchant_order_no=key, script=Script([pending()]))


# -- helpers ----------------------------------------------------------------------------------


def _money_field(value: Money, default: str) -> str | None:
    if value is None:
        return default
    if isinstance(value, _Null):
        return None
    if isinstance(value, str):
        return value  # exactly as given, so tests can send odd spellings
    return money_text(value)


def _service_amount(amount: str) -> str:
    """Service fee = fixed fee + amount x rate, as the field table defines it."""
    return f"{(FIXED_SERVICE + Decimal(amount) * SERVICE_RATE).quantize(Decimal('0.01')):f}"


def _body_problem(request: Incoming) -> tuple[dict[str, Any], str | None]:
    problem = json_object_problem(request)
    if problem is not None or request.body is None:
        return {}, problem
    number = request.body.get("merchantOrderNo")
    if not isinstance(number, str) or not number.strip() or len(number) > MAX_ORDER_NO:
        return request.body, f"merchantOrderNo is required (string of at most {MAX_ORDER_NO} characters)"
    sign = request.body.get("sign")
    if not isinstance(sign, str) or not sign.strip():
        return request.body, "sign is required"
    return request.body, None


__all__ = [
    "CODE_APP_NOT_FOUND",
    "CODE_BAD_PARAMETER",
    "CODE_BUSINESS_ERROR",
    "CODE_OK",
    "CODE_ORDER_NOT_FOUND",
    "CODE_RETRY_LATER",
    "DEFAULT_APP_CODE",
    "DEFAULT_COUNTRY",
    "MSG_APP_NOT_FOUND",
    "MSG_NONCE_REPEATED",
    "MSG_ORDER_NOT_FOUND",
    "MSG_REQUEST_EXPIRED",
    "MSG_SIGN_FAILED",
    "NULL",
    "QUERY_PATH",
    "OrderView",
    "TeemoPaySimulator",
    "app_not_found",
    "bad_parameter",
    "business_error",
    "empty_body",
    "failed",
    "http_error",
    "load_public_key",
    "money_text",
    "non_json",
    "not_found",
    "other_order",
    "oversized",
    "paid",
    "pending",
    "raw",
    "retry_later",
    "slow",
    "status_as_string",
    "string_to_sign",
    "unknown_status",
]
