"""Golden outcome messages: every message KICC and TeemoPay publish, byte for byte.

The real engine, order flow, compensation protocol and audits, the real KICC and TeemoPay
adapters (their parsing and their provider references), on the in-memory store and journal of
the simulation, a scripted provider behind each adapter's client, a fixed clock, fixed lease
tokens and shard rotation. Each scenario registers one order as a merchant writes it (the
contract's attributes, CONTRACT.md section 2), runs a few sweeps, and records what SNS was given:
the message attributes and the exact body.

`tests/fixtures/golden/outcomes-v1.jsonl` holds the bodies recorded from the engine before it
became provider-neutral: every later change must publish the same bytes for the same inputs (the
public contract, CONTRACT.md section 3). `PAYSWEEP_GOLDEN_RECORD=1` writes the file anew (only
to add a scenario; a changed body is a contract change, and the changelog must say so).
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import random
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import kicc_adapter
import pytest
import teemopay_adapter
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from doubles.publisher import CapturingPublisher, FlakyStore
from doubles.store import MemoryCompensationJournal, MemoryOrderStore
from paysweep.config import SweepConfig
from paysweep.domain.clock import to_iso
from paysweep.domain.outcomes import OutcomeMessage
from paysweep.provider.guard import GuardedAdapter
from paysweep.provider.http import HttpReply
from paysweep.sweep.engine import SweepEngine
from paysweep.sweep.ratelimit import RateLimiter
from paysweep.sweep.request import SweepRequest
from support.schema import assert_valid_outcome

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "golden" / "outcomes-v1.jsonl"
RECORD = os.environ.get("PAYSWEEP_GOLDEN_RECORD") == "1"
T = datetime(2026, 11, 22, 3, 14, 15, tzinfo=UTC)
KICC, TEEMO = "kicc-wechatpay", "teemopay"
CONFIG = SweepConfig.from_env({
    "ORDERS_TABLE": "orders", "COMPENSATIONS_TABLE": "compensations",
    "APPROVED_TOPIC_ARN": "approved", "FAILED_TOPIC_ARN": "failed",
    "CANCELLED_TOPIC_ARN": "cancelled", "REVIEW_TOPIC_ARN": "review",
    "PROVIDER_BASE_URL": "https://provider.invalid", "PROVIDER_SECRET_ARN": "secret", "SWEEP_SHARDS": "1",
})

Answer = Callable[[str, dict[str, Any]], tuple[int, dict[str, Any]]]
"""One scripted provider answer: (path, request payload) -> (HTTP status, JSON body)."""


# -- the scripted providers -----------------------------------------------------------------------


class ScriptedClient:
    """A `ProviderClient` stand-in: each request gets the script's next answer."""

    cancel_notify_url = None

    def __init__(self, secret: dict[str, str], script: Sequence[Answer]) -> None:
        self.secret = secret
        self.script = list(script)

    def credentials(self) -> dict[str, str]:
        return self.secret

    def post(self, path: str, payload: dict[str, Any], headers: dict[str, str] | None = None) -> HttpReply:
        assert self.script, f"an unscripted request: {path} {payload}"
        status, body = self.script.pop(0)(path, payload)
        return HttpReply(status, json.dumps(body).encode(), 1, "application/json")


def _echo(path: str, payload: dict[str, Any], expected_path: str) -> dict[str, Any]:
    assert path == expected_path, f"expected {expected_path}, the adapter called {path}"
    return {"resCd": "0000", "resMsg": "Success", "shopTransactionId": payload["shopTransactionId"],
            "mallId": payload["mallId"], "pgCno": payload["pgCno"]}


def kicc_find(status: str | None = None, amount: int | None = None, currency: str = "KRW") -> Answer:
    """A KICC payment lookup: `statusCd` (none: not paid yet), `totAmount` in KICC's minor unit."""

    def answer(path: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        body = _echo(path, payload, kicc_adapter.FIND_PATH)
        assert "cancelPgCno" not in payload, "a payment lookup was expected"
        if status is not None:
            body |= {"statusCd": status, "approvalDate": "20261122031010"}
        if amount is not None:
            body["amountInfo"] = {"totAmount": amount, "currency": currency}
        return 200, body

    return answer


def kicc_cancel_status(status: str = "TS02") -> Answer:
    def answer(path: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        body = _echo(path, payload, kicc_adapter.FIND_PATH)
        return 200, body | {"cancelPgCno": payload["cancelPgCno"], "cancelStatus": status}

    return answer


def kicc_revise(reference: str | None = "CPG-GOLDEN-1", refused: str | None = None) -> Answer:
    def answer(path: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        body = _echo(path, payload, kicc_adapter.REVISE_PATH)
        if refused is not None:
            return 200, body | {"resCd": refused, "resMsg": "Cancel not allowed", "resDetailMsg": "already%20settled"}
        return 200, body | ({"cancelPgCno": reference} if reference else {})

    return answer


def kicc_error() -> Answer:
    return lambda path, payload: (200, {"resCd": "9999", "resMsg": "System error"})


def teemo(status: int | None = None, amount: str | None = None, transaction: str | None = None,
          code: int = 200) -> Answer:
    """A TeemoPay payin query: envelope `code`, then `data.status` and the amounts."""

    def answer(path: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        assert path == teemopay_adapter.QUERY_PATH
        if code != 200:
            return 200, {"code": code, "msg": "order not found"}
        data: dict[str, Any] = {"merchantOrderNo": payload["merchantOrderNo"], "tradeNo": "TN2026112200001",
                                "status": status, "amount": amount, "transactionAmount": transaction}
        if status == 3:
            data["errorMessage"] = "Deposit declined by the bank"
        return 200, {"code": 200, "msg": "success", "data": data}

    return answer


def _teemo_secret() -> dict[str, str]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    der = private.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return {"appCode": "APP0001", "country": "KR", "privateKey": base64.b64encode(der).decode(),
            "platformPublicKey": "unused"}


KICC_SECRET = {"mallId": "M0000001", "secretKey": "golden-secret-key"}
TEEMO_SECRET = _teemo_secret()


# -- one small world per scenario -------------------------------------------------------------------


@contextmanager
def inline_workers(concurrency: int) -> Iterator[Any]:
    """Each order's work runs at once on the sweep's thread: one order of events, every run."""
    yield SimpleNamespace(submit=lambda task: task(), join=lambda: None)


def approval_writes(transition: Any) -> bool:
    return transition.set.get("status") == "APPROVED"


def every_write(transition: Any) -> bool:
    return True


@dataclass
class Sweep:
    after: float = 0
    """Seconds after the previous sweep (the first: after T)."""
    fails: Callable[[Any], bool] = lambda transition: False


@dataclass
class Scenario:
    name: str
    provider: str
    order: dict[str, Any]
    script: list[Answer]
    sweeps: list[Sweep] = field(default_factory=lambda: [Sweep()])
    refuse_publishes: int = 0


def order(order_id: str, provider: str, amount: str = "1000", currency: str = "KRW", *,
          expires_in: timedelta | None = None, **attributes: Any) -> dict[str, Any]:
    """A pending order as a merchant writes it (CONTRACT.md section 2), due at T."""
    item = {"orderId": order_id, "provider": provider, "status": "PENDING", "amount": Decimal(amount),
            "currency": currency, "createdAt": to_iso(T - timedelta(hours=1)), "sweepKey": f"{provider}#0",
            "nextCheckAt": to_iso(T - timedelta(minutes=1)), **attributes}
    if expires_in is not None:
        item["expiresAt"] = to_iso(T + expires_in)
    return item


EXPIRED = timedelta(minutes=-20)
"""An order past its final check (expiresAt + 300 s grace) and its final retries (900 s) at T."""
AUDIT = 3601
"""Seconds from the decision to its first audit (AUDIT_SCHEDULE_SECONDS' default hour), and one."""
CONFIRM = 61
"""Seconds from a cancel's request to its confirmation (the backoff's first step), and one."""


def run(scenario: Scenario) -> list[OutcomeMessage]:
    secret = KICC_SECRET if scenario.provider == KICC else TEEMO_SECRET
    client = ScriptedClient(secret, scenario.script)
    adapter: Any = (kicc_adapter.KiccWechatPayAdapter(client) if scenario.provider == KICC  # type: ignore[arg-type]
                    else teemopay_adapter.TeemoPayAdapter(client))  # type: ignore[arg-type]
    memory = MemoryOrderStore()
    memory.put_new(scenario.order)
    store = FlakyStore(memory)
    publisher = CapturingPublisher(scenario.refuse_publishes)
    now = [T]
    tokens = itertools.count(1)
    engine = SweepEngine(
        adapter=GuardedAdapter(adapter), store=store, journal=MemoryCompensationJournal(),  # type: ignore[arg-type]
        publisher=publisher, config=CONFIG, clock=lambda: now[0], rate_limiter=RateLimiter(0),
        owner="sweep-golden", workers=inline_workers, new_token=lambda: str(next(tokens)), rng=random.Random(7),
    )
    for sweep in scenario.sweeps:
        now[0] += timedelta(seconds=sweep.after)
        store.fails = sweep.fails
        engine.sweep(SweepRequest(), lambda: 120_000)
    assert not client.script, f"{scenario.name}: the provider was asked less than scripted"
    return publisher.accepted


SCENARIOS = [
    # -- KICC WeChat Pay
    Scenario("kicc-approved", KICC, order("K-APPROVED", KICC, pgCno="PG-K-APPROVED"),
             [kicc_find("TS01", 1000)]),
    Scenario("kicc-approved-usd", KICC, order("K-USD", KICC, "12.03", "USD", pgCno="PG-K-USD"),
             [kicc_find("TS01", 1203, "USD")]),
    Scenario("kicc-amount-mismatch-cancelled", KICC, order("K-AMOUNT", KICC, pgCno="PG-K-AMOUNT"),
             [kicc_find("TS01", 999), kicc_revise("CPG-K-AMOUNT"), kicc_cancel_status("TS02")],
             [Sweep(), Sweep(CONFIRM)]),
    Scenario("kicc-currency-mismatch-cancelled", KICC, order("K-CURRENCY", KICC, pgCno="PG-K-CURRENCY"),
             [kicc_find("TS01", 100000, "USD"), kicc_revise(None), kicc_find("TS02", 100000, "USD")],
             [Sweep(), Sweep(CONFIRM)]),
    Scenario("kicc-cancel-refused", KICC, order("K-REFUSED", KICC, pgCno="PG-K-REFUSED"),
             [kicc_find("TS01", 1100), kicc_revise(refused="E501")]),
    Scenario("kicc-expired", KICC, order("K-EXPIRED", KICC, expires_in=EXPIRED, pgCno="PG-K-EXPIRED"),
             [kicc_find()]),
    Scenario("kicc-provider-cancelled", KICC, order("K-VOID", KICC, pgCno="PG-K-VOID"),
             [kicc_find("TS02", 1000)]),
    Scenario("kicc-partial-cancel", KICC, order("K-PARTIAL", KICC, pgCno="PG-K-PARTIAL"),
             [kicc_find("TS06", 600)]),
    Scenario("kicc-unknown-provider-state", KICC, order("K-UNKNOWN", KICC, expires_in=EXPIRED, pgCno="PG-K-UNKNOWN"),
             [kicc_error()]),
    Scenario("kicc-invalid-order", KICC, order("K-INVALID", KICC), []),
    Scenario("kicc-invalid-amount", KICC, order("K-NEGATIVE", KICC, "-1000", pgCno="PG-K-NEGATIVE"), []),
    Scenario("kicc-db-failure-cancelled", KICC, order("K-DBFAIL", KICC, pgCno="PG-K-DBFAIL"),
             [kicc_find("TS01", 1000), kicc_revise("CPG-K-DBFAIL"), kicc_cancel_status("TS02")],
             [Sweep(fails=approval_writes), Sweep(CONFIRM)]),
    Scenario("kicc-db-failure-journaled", KICC, order("K-DBDOWN", KICC, pgCno="PG-K-DBDOWN"),
             [kicc_find("TS01", 1000), kicc_revise("CPG-K-DBDOWN"), kicc_find("TS02", 1000)],
             [Sweep(fails=every_write), Sweep(120)]),
    Scenario("kicc-republished", KICC, order("K-REPUBLISH", KICC, pgCno="PG-K-REPUBLISH"),
             [kicc_find("TS01", 1000)], [Sweep(), Sweep(121)], refuse_publishes=1),
    Scenario("kicc-late-payment-cancelled", KICC, order("K-LATE", KICC, expires_in=EXPIRED, pgCno="PG-K-LATE"),
             [kicc_find(), kicc_find("TS01", 1000), kicc_revise("CPG-K-LATE"), kicc_cancel_status("TS02")],
             [Sweep(), Sweep(AUDIT), Sweep(CONFIRM)]),
    Scenario("kicc-unknown-then-paid", KICC, order("K-FOLLOW", KICC, expires_in=EXPIRED, pgCno="PG-K-FOLLOW"),
             [kicc_error(), kicc_find("TS01", 1000)], [Sweep(), Sweep(AUDIT)]),
    # -- TeemoPay
    Scenario("teemopay-approved", TEEMO, order("T-APPROVED", TEEMO), [teemo(2, "1000", "1000")]),
    Scenario("teemopay-mismatch-review", TEEMO, order("T-AMOUNT", TEEMO), [teemo(2, "999", "1000")]),
    Scenario("teemopay-declined", TEEMO, order("T-DECLINED", TEEMO), [teemo(3, None, "1000")]),
    Scenario("teemopay-expired", TEEMO, order("T-EXPIRED", TEEMO, expires_in=EXPIRED), [teemo(code=434)]),
    Scenario("teemopay-invalid-order", TEEMO, order("T-INVALID", TEEMO, "12.03", "USD"), []),
    Scenario("teemopay-db-failure-review", TEEMO, order("T-DBFAIL", TEEMO), [teemo(2, "1000", "1000")],
             [Sweep(fails=approval_writes)]),
    Scenario("teemopay-db-failure-journaled", TEEMO, order("T-DBDOWN", TEEMO), [teemo(2, "1000", "1000")],
             [Sweep(fails=every_write), Sweep(120)]),
    Scenario("teemopay-late-payment-review", TEEMO, order("T-LATE", TEEMO, expires_in=EXPIRED),
             [teemo(code=434), teemo(2, "1000", "1000")], [Sweep(), Sweep(AUDIT)]),
]


def record_of(scenario: Scenario, message: OutcomeMessage) -> dict[str, Any]:
    return {"scenario": scenario.name, "eventId": message.event_id, "attributes": message.attributes(),
            "body": message.body}


def recorded() -> list[dict[str, Any]]:
    return [record_of(scenario, message) for scenario in SCENARIOS for message in run(scenario)]


def test_every_message_is_the_golden_one_byte_for_byte() -> None:
    records = recorded()
    if RECORD:
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text("".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records))
    golden = [json.loads(line) for line in GOLDEN.read_text().splitlines()]
    assert [r["scenario"] for r in records] == [g["scenario"] for g in golden], "a scenario published other messages"
    for now, then in zip(records, golden, strict=True):
        assert now == then, f"{now['scenario']}: the message changed"


def test_the_golden_messages_cover_every_scenario_and_keep_the_schema() -> None:
    golden = [json.loads(line) for line in GOLDEN.read_text().splitlines()]
    assert {g["scenario"] for g in golden} == {s.name for s in SCENARIOS}, "a scenario published nothing"
    for line in golden:
        assert_valid_outcome(line["body"])


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_a_scenario_replays_exactly(scenario: Scenario) -> None:
    assert [m.body for m in run(scenario)] == [m.body for m in run(scenario)]
