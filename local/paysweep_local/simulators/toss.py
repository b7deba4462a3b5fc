"""Toss Payments core API (2022-11-16) simulator: the two payment lookups and the cancel.

From the provider reference (PROVIDERS-toss.md T.1-T.9.5), never the product: a product bug is refused, not
mirrored. `[GAP]` marks an assumption it left open. A lookup reveals the next step of the payment's `script`; a
cancel that passes Toss's checks, the next of its `cancel_script` (`accept()`, `accept_then_timeout(s)`, `raw()`),
Toss's answer, kept for its Idempotency-Key. A `fail_next` fault stands in front of Toss: nothing is kept.

Shops: `secret_key`/`mid` are the default shop's, `accounts={secretKey: mId}` adds others. A payment
(`add_payment(..., account=secretKey)`) is found with its own shop's key only: another shop's key gets
NOT_FOUND_PAYMENT as any unknown id (T.6: "wrong key or environment?"; T-GAP 16). A kept request's
`.account` is the key it authenticated with.
"""

from __future__ import annotations

import base64
import copy
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any, ClassVar
from urllib.parse import unquote

from paysweep_local.simulators import base
from paysweep_local.simulators.base import Ctx, Incoming, Reply, Script, Step, Subject, json_reply

VERSION, TRACE_HEADER, MID = "2022-11-16", "X-TossPayments-Trace-Id", "tosspayments"
DEFAULT_SECRET_KEY, CARD, VIRTUAL_ACCOUNT = "test_sk_paysweepLocalTossSim01", "카드", "가상계좌"
STATUSES = ("READY", "IN_PROGRESS", "WAITING_FOR_DEPOSIT", "DONE", "CANCELED", "PARTIAL_CANCELED", "ABORTED", "EXPIRED")
READY, IN_PROGRESS, WAITING_FOR_DEPOSIT, DONE, CANCELED, PARTIAL_CANCELED, ABORTED, EXPIRED = STATUSES
KEY_LIFETIME = timedelta(days=15)  # [GAP] 15 x 24 h of the simulator clock, not KST calendar days
_APPROVED, _CANCELABLE = {DONE, CANCELED, PARTIAL_CANCELED}, {DONE, PARTIAL_CANCELED, WAITING_FOR_DEPOSIT}
_CANCEL, _LOOKUP = re.compile(r"/v1/payments/([^/]+)/cancel"), re.compile(r"/v1/payments/(orders/)?([^/]+)")
ERRORS = {"INCORRECT_BASIC_AUTH_FORMAT": (403, "잘못된 요청입니다. ':' 를 포함해 인코딩해주세요."), "INVALID_REQUEST": (400, "잘못된 요청입니다."),
          "UNAUTHORIZED_KEY": (401, "인증되지 않은 시크릿 키 혹은 클라이언트 키 입니다."), "NOT_FOUND_PAYMENT": (404, "존재하지 않는 결제 정보 입니다."),
          "ALREADY_CANCELED_PAYMENT": (400, "이미 취소된 결제 입니다."), "NOT_CANCELABLE_AMOUNT": (403, "취소 할 수 없는 금액 입니다."),
          "NOT_CANCELABLE_PAYMENT": (403, "취소 할 수 없는 결제 입니다."), "INVALID_IDEMPOTENCY_KEY": (400, "멱등키는 300자 이하여야 합니다."),
          "IDEMPOTENT_REQUEST_PROCESSING": (409, "이전 멱등 요청이 처리중입니다.")}  # code -> (HTTP status, message): T.5, T.6
_REFUSALS = {code: json_reply({"code": code, "message": text}, status) for code, (status, text) in ERRORS.items()}
_FAILURES = {ABORTED: {"code": "COMMON_ERROR", "message": "일시적인 오류가 발생했습니다. 잠시 후 다시 시도해주세요."},
             EXPIRED: {"code": "EXPIRED_PAYMENT", "message": "결제가 만료되었습니다. 다시 시도해주세요."}}
_CANCEL_FIXED = {"taxFreeAmount": 0, "taxExemptionAmount": 0, "transferDiscountAmount": 0,
                 "easyPayDiscountAmount": 0, "receiptKey": None, "cancelRequestId": None}
_FIXED = {"version": VERSION, "orderName": "paysweep 주문", "type": "NORMAL", "country": "KR", "useEscrow": False,
          "cultureExpense": False, "isPartialCancelable": True, "taxFreeAmount": 0, "taxExemptionAmount": 0,
          "metadata": None, "receipt": {"url": "https://dashboard.tosspayments.com/receipt"}} | dict.fromkeys(
    ("card", "transfer", "mobilePhone", "giftCertificate", "cashReceipt", "cashReceipts", "discount", "easyPay"))


@dataclass(frozen=True)
class Status(Step):
    """Reveal `status`. `amount`, `currency`, `balance` change only the answer (a mismatch), except
    on PARTIAL_CANCELED, where `balance` is what the shop's own partial cancel left (default: half)."""

    status: str
    amount: float | None = None
    currency: str | None = None
    balance: float | None = None
    due: datetime | None = None  # the virtual account's dueDate (default: 7 days after the request)


ready, in_progress, waiting_for_deposit, done, canceled, partial_canceled, aborted, expired = (
    partial(Status, status) for status in STATUSES)
accept, accept_then_timeout = partial(base.Slow, 0.0), base.slow  # base: a bare slow() accepts, late
not_found = partial(base.Raw, {"code": "NOT_FOUND_PAYMENT", "message": ERRORS["NOT_FOUND_PAYMENT"][1]}, 404)
http_error, non_json, oversized, raw, slow = base.http_error, base.non_json, base.oversized, base.raw, base.slow


@dataclass(kw_only=True)
class Payment(Subject):
    """One payment; `TossSimulator.payment()` hands out snapshots for assertions."""

    order_id: str = ""
    payment_key: str = ""
    amount: float = 0  # major units: 15000 (won), 726.24 (dollars)
    currency: str = "KRW"
    method: str = CARD
    requested_at: datetime
    cancel_script: Script
    approval_key: str = field(default_factory=lambda: uuid.uuid4().hex.upper())
    cancels: list[dict[str, Any]] = field(default_factory=list)
    cancel_requests: int = 0  # authenticated cancels naming it, replays and refusals included
    cancel_keys: list[str] = field(default_factory=list)  # distinct Idempotency-Keys they carried


class _Routes(frozenset[str]):
    """The base's `paths`: Toss paths carry ids, so membership is a pattern match."""

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and bool(_LOOKUP.fullmatch(path) or _CANCEL.fullmatch(path))


class TossSimulator(base.SimulatorBase):
    """Toss Payments over HTTP(S) on 127.0.0.1 (see the module docstring)."""

    paths = _Routes({_LOOKUP.pattern, _CANCEL.pattern})
    statuses: ClassVar[dict[type, Callable[[Any], Any]]] = {Status: lambda step: step.status}
    paid_status = DONE
    account_fields = ("secret_key", "mid")

    def __init__(self, secret_key: str = DEFAULT_SECRET_KEY, mid: str = MID, clock: base.Clock | None = None,
                 *, accounts: Mapping[str, str] | None = None):
        """`accounts`: the other shops, secretKey -> mId."""
        super().__init__(clock, accounts)
        self.secret_key, self.mid = secret_key, mid
        self._kept: dict[tuple[Any, ...], tuple[Reply, datetime, float]] = {}  # -> answer, expiry, ready_s

    def add_payment(self, order_id: str, amount: float, currency: str = "KRW", *, method: str = CARD,
                    script: Iterable[Step] = (), cancel_script: Iterable[Step] = (), payment_key: str = "",
                    account: str | None = None) -> str:
        """Register a payment of the shop whose secret key is `account` (default: the default shop's),
        return its paymentKey. Re-adding an orderId shows the latest attempt [GAP]."""
        steps, now, key = list(script) or [done()], self._clock(), payment_key or uuid.uuid4().hex
        with self._lock:
            self._subjects[order_id] = self._subjects[key] = Payment(  # found by either id
                order_id=order_id, payment_key=key, amount=amount, currency=currency, method=method, requested_at=now,
                status=(status := self._first_status(steps) or READY), paid_at=now if status in _APPROVED else None,
                script=Script(steps, f"{order_id} script"), account=self._account_arg(account),
                cancel_script=Script(list(cancel_script) or [accept()]))
        return key

    def payment(self, order_id: str) -> Payment:
        with self._lock:
            return copy.deepcopy(self._subjects[order_id])

    def _receive(self, handler: Any, path: str, headers: dict[str, str]) -> tuple[bytes, Reply]:
        """The base serves POSTs (the cancel); Toss's lookups are GETs with the id in the path."""
        if _LOOKUP.fullmatch(path) and handler.command == "GET":
            return b"", self._answer(Incoming(unquote(path), headers, None))  # ids may come percent-encoded
        return super()._receive(handler, "" if _LOOKUP.fullmatch(path) else path, headers)  # not GET: 404

    def _send(self, handler: Any, reply: Reply) -> None:
        """Every answer, faults included, carries a trace id (T.1), added as the base ends the headers."""
        end_headers = handler.end_headers
        handler.end_headers = lambda: (handler.send_header(TRACE_HEADER, uuid.uuid4().hex), end_headers())
        super()._send(handler, reply)  # which catches OSError itself
        del handler.end_headers

    def _handle(self, request: Incoming) -> Reply:
        """Basic auth first ([GAP] no header, another scheme, bad Base64 or a password: UNAUTHORIZED_KEY)."""
        user, account = _basic_user(request.headers), self._named_account(request.headers, None)
        if self._known(account) is None:
            return _REFUSALS["INCORRECT_BASIC_AUTH_FORMAT" if user and ":" not in user else "UNAUTHORIZED_KEY"]
        lookup = _LOOKUP.fullmatch(request.path)  # only GETs: _receive sends other lookups to 404
        by_order, ident = lookup.groups() if lookup else (None, _CANCEL.fullmatch(request.path)[1])  # type: ignore
        p = self._subjects.get(ident)
        if p is None or ident != (p.order_id if by_order else p.payment_key) or self._owner(p) != account:
            return _REFUSALS["NOT_FOUND_PAYMENT"]  # unknown, or another shop's
        if lookup:
            return self._query(p, {}, lambda: json_reply(self._json(p)))
        return self._idempotent(request, p, str(account))

    def _named_account(self, headers: dict[str, str], body: dict[str, Any] | None) -> str | None:
        user = _basic_user(headers)
        return user.removesuffix(":") if user.endswith(":") else None

    def _idempotent(self, request: Incoming, p: Payment, account: str) -> Reply:
        """Answer a cancel, or replay what its key kept (whatever the body); 409 until that has left."""
        key, now, now_s = request.headers.get("idempotency-key"), self._clock(), time.monotonic()
        if key is not None and len(key) > 300:
            return _REFUSALS["INVALID_IDEMPOTENCY_KEY"]
        p.cancel_requests += 1
        p.cancel_keys += [key] if key is not None and key not in p.cancel_keys else []
        if (kept := self._kept.get(scope := (key, account, request.path, "POST"))) and now < kept[1]:
            return _REFUSALS["IDEMPOTENT_REQUEST_PROCESSING"] if now_s < kept[2] else kept[0]
        sent = self._cancel(p, request)
        if key is not None:  # [GAP] whatever Toss answered, refusals too, is kept and replayed
            self._kept[scope] = (replace(sent, delay=0), now + KEY_LIFETIME, now_s + sent.delay + self.latency_seconds)
        return sent

    def _cancel(self, p: Payment, request: Incoming) -> Reply:
        """Toss's refusals ([GAP] their order, both INVALID_REQUEST cases, READY/IN_PROGRESS), then the script."""
        body = request.body or {}
        amount, reason, to = body.get("cancelAmount"), body.get("cancelReason"), body.get("refundReceiveAccount")
        bad_amount = "cancelAmount" in body and not (type(amount) in (int, float) and amount > 0)
        amount = self._balance(p) if amount is None or bad_amount else amount  # none: the whole balance
        bad_reason = not isinstance(reason, str) or not reason.strip() or len(reason) > 200
        refund_to = isinstance(to, dict) and all(to.get(f) for f in ("bank", "accountNumber", "holderName"))
        deposited_va = p.method == VIRTUAL_ACCOUNT and p.status in (DONE, PARTIAL_CANCELED)
        for code, failed in [("INVALID_REQUEST", base.json_object_problem(request) or bad_reason or bad_amount),
                             ("ALREADY_CANCELED_PAYMENT", p.status == CANCELED),
                             ("NOT_CANCELABLE_PAYMENT", p.status not in _CANCELABLE),
                             ("NOT_CANCELABLE_AMOUNT", amount > self._balance(p)),
                             ("INVALID_REQUEST", deposited_va and not refund_to)]:
            if failed:
                return _REFUSALS[code]
        accept_now = partial(self._add_cancel, p, amount, reason, by_api=True)
        return self._render(p.cancel_script.next(), Ctx(p, body, scripted=True), accept_now)

    def _add_cancel(self, p: Payment, amount: float, reason: str, by_api: bool = False) -> Reply:
        left, now = round(self._balance(p) - amount, 2), _iso(self._clock())  # cents survive, won stay int
        p.cancels.append({"transactionKey": uuid.uuid4().hex.upper(), "cancelReason": reason, "canceledAt": now,
                          "cancelAmount": amount, "refundableAmount": left, "cancelStatus": "DONE"} | _CANCEL_FIXED)
        p.status = CANCELED if left <= 0 else PARTIAL_CANCELED
        p.script = Script([Status(p.status, balance=left)]) if by_api else p.script  # lookups: what it left
        return json_reply(self._json(p))

    def _balance(self, p: Payment) -> float:
        return round(p.amount - sum(c["cancelAmount"] for c in p.cancels), 2)

    def _json(self, p: Payment, s: Status | None = None) -> dict[str, Any]:
        """Payment object (T.3), Example 1's fields, card null. [GAP] VAT = balance / 11; VA refunds: at once."""
        s, mid = s or Status(p.status), self._known(self._owner(p), even_revoked=True)  # its shop's mId
        total = p.amount if s.amount is None else s.amount
        balance = self._balance(p) if s.balance is None else s.balance
        due = s.due or p.requested_at + timedelta(days=7)  # [GAP] expired once past it
        vat, ok = round(balance / 11, 2 if isinstance(balance, float) else None), s.status in _APPROVED and p.paid_at
        va = {"accountType": "일반", "accountNumber": f"X{int(p.approval_key, 16) % 10**13:013d}", "bankCode": "88",
              "depositorName": None, "refundReceiveAccount": None, "dueDate": _iso(due), "expired": due < self._clock(),
              "settlementStatus": "COMPLETED" if ok else "INCOMPLETED",
              "refundStatus": "COMPLETED" if ok and p.cancels else "NONE"} if p.method == VIRTUAL_ACCOUNT else None
        return _FIXED | {
            "mId": mid, "paymentKey": p.payment_key, "orderId": p.order_id, "status": s.status,
            "method": None if s.status == EXPIRED else p.method, "currency": s.currency or p.currency,
            "totalAmount": total, "balanceAmount": balance, "suppliedAmount": round(balance - vat, 2), "vat": vat,
            "requestedAt": _iso(p.requested_at), "approvedAt": _iso(p.paid_at) if ok else None,
            "lastTransactionKey": p.cancels[-1]["transactionKey"] if p.cancels else p.approval_key if ok else None,
            "cancels": copy.deepcopy(p.cancels) or None, "failure": _FAILURES.get(s.status), "virtualAccount": va,
            "secret": f"ps_{p.approval_key[:24].lower()}" if va else None,
            "checkout": {"url": f"https://api.tosspayments.com/v1/payments/{p.payment_key}/checkout"}}

    def _render_specific(self, step: Step, ctx: Ctx, default: Callable[[], Reply]) -> Reply:
        """A scripted CANCELED or PARTIAL_CANCELED is a cancel made elsewhere: recorded in `cancels`."""
        if not isinstance(step, Status):
            return super()._render_specific(step, ctx, default)
        p = ctx.subject
        left = 0 if step.status == CANCELED else p.amount // 2 if step.balance is None else step.balance
        if ctx.scripted and step.status in (CANCELED, PARTIAL_CANCELED) and self._balance(p) > left:
            self._add_cancel(p, round(self._balance(p) - left, 2), "가맹점 요청 취소")
        return json_reply(self._json(p, step))

    def _sample_answer(self, ctx: Ctx) -> dict[str, Any]:
        return self._json(ctx.subject, done())

    def _stand_in(self, key: str) -> Payment:
        return Payment(requested_at=self._clock(), script=Script([ready()]), cancel_script=Script([accept()]))


def _basic_user(headers: dict[str, str]) -> str:
    """The Basic credentials' `user:password` text; "" without Basic credentials in Base64 of UTF-8."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    try:
        return base64.b64decode(token, validate=True).decode() if scheme == "Basic" else ""
    except ValueError:  # binascii.Error, UnicodeDecodeError
        return ""


def _iso(moment: datetime) -> str:
    return base.kst(moment).isoformat(timespec="seconds")
