"""Toss Payments through the real engine: the order flow, compensation and audits with the real Toss
adapter, on the simulation's in-memory store and journal, a scripted Toss behind the adapter's
transport, a fixed clock (as the golden messages run KICC and TeemoPay).

Each scenario registers one order as a merchant writes it, runs a few sweeps, and checks what SNS
was given and every request Toss received (method, path, body, the cancel's Idempotency-Key).
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
import toss_adapter as toss
from doubles.publisher import CapturingPublisher, FlakyStore
from doubles.store import MemoryCompensationJournal, MemoryOrderStore
from paysweep.config import SweepConfig
from paysweep.domain.clock import to_iso
from paysweep.provider.guard import GuardedAdapter
from paysweep.provider.http import HttpReply, ProviderUnreachable
from paysweep.sweep.engine import SweepEngine
from paysweep.sweep.ratelimit import RateLimiter
from paysweep.sweep.request import SweepRequest
from support.schema import validator

T = datetime(2026, 11, 22, 3, 14, 15, tzinfo=UTC)
TOSS = "toss-payments"
SECRET = {"secretKey": "test_sk_zXLkKEypNArWmo50nX3lmeaxYG5R"}
BASIC = "Basic dGVzdF9za196WExrS0V5cE5BcldtbzUwblgzbG1lYXhZRzVSOg=="
CONFIG = SweepConfig.from_env({
    "ORDERS_TABLE": "orders", "COMPENSATIONS_TABLE": "compensations",
    "APPROVED_TOPIC_ARN": "approved", "FAILED_TOPIC_ARN": "failed",
    "CANCELLED_TOPIC_ARN": "cancelled", "REVIEW_TOPIC_ARN": "review",
    "PROVIDER_BASE_URL": "https://api.tosspayments.com", "PROVIDER_SECRET_ARN": "secret", "SWEEP_SHARDS": "1",
})
EXPIRED = timedelta(minutes=-20)
"""An order past its final check and its final retries at T."""
CONFIRM = 61
"""Seconds from a cancel's request to its confirmation (the backoff's first step), and one."""
AUDIT = 3601

Sent = tuple[str, str, dict[str, Any] | None, dict[str, str]]
Answer = Callable[[Sent], tuple[int, Any] | Exception]


# -- the scripted Toss ---------------------------------------------------------------------------------


class ScriptedToss:
    """The adapter's transport: each request gets the script's next answer, and is kept."""

    def __init__(self, script: Sequence[Answer]) -> None:
        self.script = list(script)
        self.sent: list[Sent] = []

    def credentials(self) -> dict[str, str]:
        return SECRET

    def _answer(self, sent: Sent) -> HttpReply:
        assert self.script, f"an unscripted request: {sent}"
        self.sent.append(sent)
        answer = self.script.pop(0)(sent)
        if isinstance(answer, Exception):
            raise answer
        status, body = answer
        return HttpReply(status, body if isinstance(body, bytes) else json.dumps(body).encode(), 1, "application/json")

    def get(self, path: str, headers: dict[str, str] | None = None) -> HttpReply:
        return self._answer(("GET", path, None, dict(headers or {})))

    def post(self, path: str, payload: dict[str, Any], headers: dict[str, str] | None = None) -> HttpReply:
        return self._answer(("POST", path, payload, dict(headers or {})))


def key_of(order_id: str) -> str:
    return f"pk_{order_id}"


def payment_of(order_id: str, status: str = "DONE", amount: int = 15000, *, va: bool = False,
               cancelled: int = 0, currency: str = "KRW") -> dict[str, Any]:
    approved = status in ("DONE", "CANCELED", "PARTIAL_CANCELED")
    body: dict[str, Any] = {
        "mId": "tosspayments", "paymentKey": key_of(order_id), "orderId": order_id, "status": status,
        "currency": currency, "totalAmount": amount, "balanceAmount": amount - cancelled,
        "approvedAt": "2026-11-22T12:10:00+09:00" if approved else None,
        "lastTransactionKey": ("CTX-" if cancelled else "ATX-") + order_id if approved else None,
        "cancels": [{"transactionKey": "CTX-" + order_id, "cancelAmount": cancelled, "cancelStatus": "DONE",
                     "refundableAmount": amount - cancelled}] if cancelled else None,
        "virtualAccount": {"accountNumber": "X1234", "dueDate": "2026-11-29T12:00:00+09:00", "expired": False}
        if va else None,
        "failure": {"code": "COMMON_ERROR", "message": "일시적인 오류"} if status == "ABORTED" else None,
    }
    return body


def lookup(status: str = "DONE", amount: int = 15000, **kwargs: Any) -> Answer:
    def answer(sent: Sent) -> tuple[int, Any]:
        method, path, _, headers = sent
        assert method == "GET" and path.startswith("/v1/payments/orders/") and headers == {"Authorization": BASIC}
        return 200, payment_of(path.rsplit("/", 1)[1], status, amount, **kwargs)

    return answer


def not_found(sent: Sent) -> tuple[int, Any]:
    assert sent[0] == "GET"
    return 404, {"code": "NOT_FOUND_PAYMENT", "message": "존재하지 않는 결제 정보 입니다."}


def cancel(status: int = 200, code: str | None = None, amount: int = 15000) -> Answer:
    """Toss's cancel: a full cancel's Payment, or an error object."""

    def answer(sent: Sent) -> tuple[int, Any]:
        method, path, payload, headers = sent
        assert method == "POST" and path.startswith("/v1/payments/pk_") and path.endswith("/cancel")
        assert set(payload or {}) == {"cancelReason"} and set(headers) == {"Authorization", "Idempotency-Key"}
        order_id = path.removeprefix("/v1/payments/pk_").removesuffix("/cancel")
        if code is not None:
            return status, {"code": code, "message": "..."}
        return 200, payment_of(order_id, "CANCELED", amount, cancelled=amount)

    return answer


def times_out(sent: Sent) -> Exception:
    return ProviderUnreachable("timed out after 30s", "timeout")


# -- one small world per scenario ----------------------------------------------------------------------


@contextmanager
def inline_workers(concurrency: int) -> Iterator[Any]:
    yield SimpleNamespace(submit=lambda task: task(), join=lambda: None)


@dataclass
class Sweep:
    after: float = 0
    fails: Callable[[Any], bool] = lambda transition: False


@dataclass
class Run:
    messages: list[dict[str, Any]]
    sent: list[Sent]
    item: dict[str, Any] | None

    def posts(self) -> list[Sent]:
        return [s for s in self.sent if s[0] == "POST"]


def order(order_id: str, amount: str = "15000", *, expires_in: timedelta | None = None) -> dict[str, Any]:
    item = {"orderId": order_id, "provider": TOSS, "status": "PENDING", "amount": Decimal(amount), "currency": "KRW",
            "createdAt": to_iso(T - timedelta(hours=1)), "sweepKey": f"{TOSS}#0",
            "nextCheckAt": to_iso(T - timedelta(minutes=1))}
    if expires_in is not None:
        item["expiresAt"] = to_iso(T + expires_in)
    return item


def run(item: dict[str, Any], script: list[Answer], sweeps: Sequence[Sweep] = (Sweep(),)) -> Run:
    transport = ScriptedToss(script)
    memory = MemoryOrderStore()
    memory.put_new(item)
    store = FlakyStore(memory)
    publisher = CapturingPublisher()
    now = [T]
    tokens = itertools.count(1)
    engine = SweepEngine(
        adapter=GuardedAdapter(toss.TossPaymentsAdapter(transport)), store=store,  # type: ignore[arg-type]
        journal=MemoryCompensationJournal(), publisher=publisher, config=CONFIG, clock=lambda: now[0],
        rate_limiter=RateLimiter(0), owner="sweep-toss", workers=inline_workers, new_token=lambda: str(next(tokens)),
        rng=random.Random(7),
    )
    for sweep in sweeps:
        now[0] += timedelta(seconds=sweep.after)
        store.fails = sweep.fails
        engine.sweep(SweepRequest(), lambda: 120_000)
    assert not transport.script, "Toss was asked less than scripted"
    messages = [valid(m.body) for m in publisher.accepted]
    stored = memory.read(item["orderId"])  # a StoredOrder: the item as the table holds it
    return Run(messages, transport.sent, None if stored is None else dict(stored.attributes))


def valid(body: str) -> dict[str, Any]:
    """The contract's schema, but for `provider`: this tree's docs/schemas/outcome-v1.json still lists the
    first two providers by name (the schema being integrated takes any provider id)."""
    message = json.loads(body)
    assert message["provider"] == TOSS
    errors = [e.message for e in validator().iter_errors({**message, "provider": "teemopay"})]
    assert not errors, errors
    return message


def outcome(message: dict[str, Any]) -> tuple[str, str | None]:
    return message["outcome"], message["reason"]


# -- scenarios -----------------------------------------------------------------------------------------


def test_an_approved_card_payment() -> None:
    done = run(order("TS-APPROVED"), [lookup()])
    (message,) = done.messages
    assert outcome(message) == ("APPROVED", None) and message["providerStatus"] == "DONE"
    assert message["reported"] == {"amount": "15000", "currency": "KRW"}
    assert message["providerRefs"] == {"paymentKey": "pk_TS-APPROVED", "lastTransactionKey": "ATX-TS-APPROVED"}
    assert done.posts() == []


def test_a_card_mismatch_is_cancelled_under_one_key_and_confirmed_by_lookup() -> None:
    done = run(order("TS-AMOUNT"), [lookup(amount=14000), lookup(amount=14000), cancel(amount=14000),
                                     lookup("CANCELED", 14000, cancelled=14000)], [Sweep(), Sweep(CONFIRM)])
    (message,) = done.messages
    assert outcome(message) == ("CANCELLED", "AMOUNT_MISMATCH")
    assert message["reported"] == {"amount": "14000", "currency": "KRW"}
    assert message["providerRefs"] == {"cancelTransactionKey": "CTX-TS-AMOUNT"}
    (post,) = done.posts()
    assert post[1] == "/v1/payments/pk_TS-AMOUNT/cancel" and post[2] == {"cancelReason": "AMOUNT_MISMATCH"}
    assert post[3] == {"Authorization": BASIC, "Idempotency-Key": "paysweep:TS-AMOUNT:cancel:1"}


def test_a_virtual_account_mismatch_goes_to_review_without_a_cancel() -> None:
    """The deposited virtual account's answer is not cancellable: REVIEW AMOUNT_MISMATCH on the one
    lookup, no cancel decided, nothing sent."""
    done = run(order("TS-VAMISS"), [lookup(amount=14000, va=True)])
    (message,) = done.messages
    assert outcome(message) == ("REVIEW", "AMOUNT_MISMATCH") and message["providerStatus"] == "DONE"
    assert message["reported"] == {"amount": "14000", "currency": "KRW"}
    assert done.sent and [s[0] for s in done.sent] == ["GET"] and done.item is not None
    assert "cancel" not in done.item and done.item["history"] == ["2026-11-22T03:14:15Z status APPROVED DONE"]


def test_a_currency_mismatch_is_cancelled() -> None:
    done = run(order("TS-USD"), [lookup(currency="USD", amount=15000), lookup(currency="USD", amount=15000),
                                  cancel(), lookup("CANCELED", cancelled=15000)], [Sweep(), Sweep(CONFIRM)])
    assert [outcome(m) for m in done.messages] == [("CANCELLED", "CURRENCY_MISMATCH")]
    assert done.messages[0]["reported"] == {"amount": "15000.00", "currency": "USD"}


def test_a_busy_cancel_is_sent_again_under_the_same_key() -> None:
    done = run(order("TS-BUSY"), [
        lookup(amount=1), lookup(amount=1), cancel(409, "IDEMPOTENT_REQUEST_PROCESSING"),
        lookup(amount=1), lookup(amount=1), cancel(amount=1),
        lookup("CANCELED", 1, cancelled=1),
    ], [Sweep(), Sweep(CONFIRM), Sweep(CONFIRM)])
    assert [outcome(m) for m in done.messages] == [("CANCELLED", "AMOUNT_MISMATCH")]
    assert {post[3]["Idempotency-Key"] for post in done.posts()} == {"paysweep:TS-BUSY:cancel:1"}
    assert len(done.posts()) == 2


def test_a_cancel_whose_answer_is_lost_is_confirmed_by_lookup_not_sent_twice() -> None:
    done = run(order("TS-LOST"), [lookup(amount=1), lookup(amount=1), times_out, lookup("CANCELED", 1, cancelled=1)],
               [Sweep(), Sweep(CONFIRM)])
    assert [outcome(m) for m in done.messages] == [("CANCELLED", "AMOUNT_MISMATCH")]
    assert len(done.posts()) == 1


def test_a_refused_cancel_goes_to_review() -> None:
    done = run(order("TS-REFUSED"), [lookup(amount=1), lookup(amount=1), cancel(403, "NOT_CANCELABLE_PAYMENT")])
    assert [(outcome(m), m["providerStatus"]) for m in done.messages] == [(("REVIEW", "CANCEL_REFUSED"),
                                                                           "NOT_CANCELABLE_PAYMENT")]


def test_an_approval_the_table_refuses_is_cancelled() -> None:
    def approval(transition: Any) -> bool:
        return transition.set.get("status") == "APPROVED"

    done = run(order("TS-DBFAIL"), [lookup(), lookup(), cancel(), lookup("CANCELED", cancelled=15000)],
               [Sweep(fails=approval), Sweep(CONFIRM)])
    assert [outcome(m) for m in done.messages] == [("CANCELLED", "DB_UPDATE_FAILED")]


def test_an_approval_the_table_refuses_on_a_virtual_account_goes_to_review() -> None:
    def approval(transition: Any) -> bool:
        return transition.set.get("status") == "APPROVED"

    done = run(order("TS-DBVA"), [lookup(va=True)], [Sweep(fails=approval)])
    assert [outcome(m) for m in done.messages] == [("REVIEW", "DB_UPDATE_FAILED")]
    assert [s[0] for s in done.sent] == ["GET"], "no cancel's lookup, no cancel"


@pytest.mark.parametrize("answer, expected, status", [
    (not_found, ("FAILED", "EXPIRED"), "NOT_FOUND_PAYMENT"),
    (lookup("WAITING_FOR_DEPOSIT", va=True), ("FAILED", "EXPIRED"), "WAITING_FOR_DEPOSIT"),
    (lookup("EXPIRED"), ("FAILED", "EXPIRED"), "EXPIRED"),
    (lookup("READY"), ("FAILED", "EXPIRED"), "READY"),
])
def test_unpaid_at_expiry_is_failed_expired(answer: Answer, expected: tuple[str, str], status: str) -> None:
    done = run(order("TS-EXPIRED", expires_in=EXPIRED), [answer])
    assert [(outcome(m), m["providerStatus"]) for m in done.messages] == [(expected, status)]


def test_unpaid_before_expiry_is_asked_again() -> None:
    done = run(order("TS-WAIT", expires_in=timedelta(days=2)), [not_found, lookup("WAITING_FOR_DEPOSIT", va=True)],
               [Sweep(), Sweep(CONFIRM)])
    assert done.messages == [] and done.item is not None and done.item["status"] == "PENDING"


@pytest.mark.parametrize("answer, expected", [
    (lookup("ABORTED"), ("FAILED", "PROVIDER_DECLINED")),
    (lookup("CANCELED", cancelled=15000), ("CANCELLED", "PROVIDER_CANCELLED")),
    (lookup("PARTIAL_CANCELED", cancelled=5000), ("REVIEW", "PARTIAL_CANCEL")),
])
def test_the_providers_own_decisions(answer: Answer, expected: tuple[str, str]) -> None:
    (message,) = run(order("TS-PROVIDER"), [answer]).messages
    assert outcome(message) == expected


def test_a_partial_cancel_reports_what_is_still_charged() -> None:
    (message,) = run(order("TS-PARTIAL"), [lookup("PARTIAL_CANCELED", cancelled=5000)]).messages
    assert message["reported"] == {"amount": "10000", "currency": "KRW"}
    assert message["providerRefs"] == {"paymentKey": "pk_TS-PARTIAL", "lastTransactionKey": "CTX-TS-PARTIAL"}


def test_an_answer_not_understood_until_expiry_goes_to_review() -> None:
    def unknown(sent: Sent) -> tuple[int, Any]:
        return 200, {**payment_of("TS-UNKNOWN"), "status": "SETTLED"}

    (message,) = run(order("TS-UNKNOWN", expires_in=EXPIRED), [unknown]).messages
    assert outcome(message) == ("REVIEW", "UNKNOWN_PROVIDER_STATE") and message["providerStatus"] is None


def test_a_late_card_payment_is_cancelled_and_a_late_virtual_account_deposit_reviewed() -> None:
    card = run(order("TS-LATE", expires_in=EXPIRED),
               [not_found, lookup(), lookup(), cancel(), lookup("CANCELED", cancelled=15000)],
               [Sweep(), Sweep(AUDIT), Sweep(CONFIRM)])
    assert [outcome(m) for m in card.messages] == [("FAILED", "EXPIRED"), ("CANCELLED", "LATE_PAYMENT")]
    assert card.posts()[0][3]["Idempotency-Key"] == "paysweep:TS-LATE:cancel:2"  # the order's second decision
    va = run(order("TS-LATEVA", expires_in=EXPIRED), [lookup("WAITING_FOR_DEPOSIT", va=True), lookup(va=True)],
             [Sweep(), Sweep(AUDIT)])
    assert [outcome(m) for m in va.messages] == [("FAILED", "EXPIRED"), ("REVIEW", "LATE_PAYMENT")]
    assert va.messages[1]["supersedes"] == va.messages[0]["eventId"] and [s[0] for s in va.sent] == ["GET", "GET"]


def test_a_misconfigured_key_decides_nothing() -> None:
    def unauthorized(sent: Sent) -> tuple[int, Any]:
        return 401, {"code": "UNAUTHORIZED_KEY", "message": "인증되지 않은 시크릿 키"}

    done = run(order("TS-KEY", expires_in=EXPIRED), [unauthorized])
    assert done.messages == [] and done.item is not None and done.item["status"] == "PENDING"


def test_an_order_id_toss_cannot_have_is_an_invalid_order_without_a_call() -> None:
    """T.9.4: Toss's orderId is at least 6 chars (the profile's rule); such an order never reaches Toss."""
    (message,) = run(order("TS-5c"), []).messages
    assert outcome(message) == ("REVIEW", "INVALID_ORDER")
