"""Checks on demand through the real engine, order flow, lease and outbox, on the in-memory store
that passes the same conformance suite as DynamoDB, with a scripted provider behind the real
`GuardedAdapter` (TeemoPay's profile: no cancel API, so an integrity failure is REVIEW).

What each test pins is the check's contract (CONTRACT.md section 6): which orders are asked about,
what is answered (against `check-answer-v1.json`), what is written and published.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from doubles.publisher import CapturingPublisher
from doubles.store import MemoryCompensationJournal, MemoryOrderStore
from paysweep.config import SweepConfig
from paysweep.domain import item
from paysweep.domain.answers import PaymentAnswer, PaymentState, ReportedAmount
from paysweep.domain.clock import to_iso
from paysweep.domain.orders import Order, new_order_item
from paysweep.domain.providers import ProviderProfile
from paysweep.provider.guard import GuardedAdapter
from paysweep.sweep.check import START_WINDOW, CheckReason
from paysweep.sweep.engine import SweepEngine
from paysweep.sweep.ports import StoreUnavailable
from paysweep.sweep.ratelimit import RateLimiter
from paysweep.sweep.request import SweepRequest
from support.schema import assert_valid_check_answer
from teemopay_profile import PROFILE

T = datetime(2026, 11, 22, 3, 14, 15, tzinfo=UTC)
CONFIG = SweepConfig.from_env({
    "ORDERS_TABLE": "orders", "COMPENSATIONS_TABLE": "compensations",
    "APPROVED_TOPIC_ARN": "approved", "FAILED_TOPIC_ARN": "failed",
    "CANCELLED_TOPIC_ARN": "cancelled", "REVIEW_TOPIC_ARN": "review",
    "PROVIDER_BASE_URL": "https://provider.invalid", "PROVIDER_SECRET_ARN": "secret", "SWEEP_SHARDS": "4",
})
PLENTY = lambda: 120_000  # the Lambda time left: plenty


class ScriptedProvider:
    """A provider adapter whose answers are scripted per order; every question is kept."""

    def __init__(self, clock: list[datetime]) -> None:
        self.answers: dict[str, list[PaymentAnswer]] = {}
        self.asked: list[str] = []
        self.clock = clock
        self.takes = timedelta(0)
        """How long each answer takes, on the test's clock."""

    @property
    def profile(self) -> ProviderProfile:
        return PROFILE

    canceller = None

    def check_payment(self, order: Order) -> PaymentAnswer:
        self.asked.append(order.order_id)
        self.clock[0] += self.takes
        return self.answers[order.order_id].pop(0)


class World:
    def __init__(self) -> None:
        self.now = [T]
        self.store = MemoryOrderStore()
        self.provider = ScriptedProvider(self.now)
        self.publisher = CapturingPublisher()
        tokens = itertools.count(1)
        self.engine = SweepEngine(
            adapter=GuardedAdapter(self.provider), store=self.store, journal=MemoryCompensationJournal(),
            publisher=self.publisher, config=CONFIG, clock=lambda: self.now[0], rate_limiter=RateLimiter(0),
            owner="check-test", new_token=lambda: str(next(tokens)), rng=random.Random(3),
        )

    def order(self, order_id: str, *answers: PaymentAnswer, provider: str = "teemopay", due_in: int = 600,
              amount: str = "1000") -> None:
        item = new_order_item(order_id=order_id, provider=provider, amount=Decimal(amount), currency="KRW", shards=4,
                              created_at=self.now[0], first_check_after=timedelta(seconds=due_in))
        self.store.put_new(item)
        self.provider.answers[order_id] = list(answers)

    def check(self, *order_ids: str, remaining: Any = PLENTY) -> list[dict[str, Any]]:
        run = self.engine.check(list(order_ids), remaining, trigger="invoke")
        answer = assert_valid_check_answer({"checks": [result.to_dict() for result in run.results]})
        self.summary = run.summary
        return list(answer["checks"])

    def stored(self, order_id: str) -> dict[str, Any]:
        found = self.store.read(order_id)
        assert found is not None
        return dict(found.attributes)


def paid(amount: str = "1000") -> PaymentAnswer:
    return PaymentAnswer(PaymentState.APPROVED, "2", paid=ReportedAmount(Decimal(amount), "KRW"),
                         refs={"tradeNo": "T-1"})


def unpaid() -> PaymentAnswer:
    return PaymentAnswer(PaymentState.IN_PROGRESS, "1")


@pytest.fixture
def world() -> Iterator[World]:
    yield World()


def test_an_order_not_yet_due_is_checked_now_decided_and_published_once_before_the_answer(world: World) -> None:
    world.order("TO-NOW", paid(), due_in=3600)
    [answer] = world.check("TO-NOW")
    assert (answer["status"], answer["checked"], answer["reason"], answer["nextCheckAt"]) == ("APPROVED", True, None, None)
    [message] = world.publisher.accepted
    assert answer["outcome"]["eventId"] == message.event_id == "TO-NOW:APPROVED"
    assert answer["outcome"] == json.loads(message.body), "the answer carries the body as published"
    stored = world.stored("TO-NOW")
    assert "sweepKey" not in stored and "leaseOwner" not in stored, "published, confirmed, out of the due index"
    assert world.summary.to_dict()["trigger"] == "invoke" and world.summary.checked == 1


def test_a_pending_answer_keeps_the_order_pending_on_its_usual_backoff(world: World) -> None:
    world.order("TO-WAIT", unpaid(), due_in=3600)
    [answer] = world.check("TO-WAIT")
    assert (answer["status"], answer["checked"], answer["outcome"], answer["reason"]) == ("PENDING", True, None, None)
    first_step = timedelta(seconds=CONFIG.backoff[0])
    assert answer["nextCheckAt"] == to_iso(T + first_step) == world.stored("TO-WAIT")["nextCheckAt"]
    assert world.stored("TO-WAIT")["attempts"] == 1 and world.publisher.accepted == []


def test_a_decided_order_is_answered_from_its_record_without_asking_the_provider(world: World) -> None:
    world.order("TO-DONE", paid(), due_in=0)
    world.engine.sweep(SweepRequest(), PLENTY)
    world.now[0] += timedelta(minutes=5)
    [answer] = world.check("TO-DONE")
    assert (answer["status"], answer["checked"], answer["reason"]) == ("APPROVED", False, "ALREADY_DECIDED")
    assert answer["outcome"]["eventId"] == "TO-DONE:APPROVED" and world.provider.asked == ["TO-DONE"]
    assert len(world.publisher.accepted) == 1, "nothing published again"


def test_missing_and_other_providers_orders_are_refused_without_a_write(world: World) -> None:
    world.order("TO-KICC", provider="kicc-wechatpay")
    writes = world.store.writes
    answers = world.check("TO-NOBODY", "TO-KICC")
    assert [(a["orderId"], a["status"], a["checked"], a["reason"]) for a in answers] == [
        ("TO-NOBODY", None, False, "NOT_FOUND"), ("TO-KICC", None, False, "OTHER_PROVIDER")]
    assert world.store.writes == writes and world.provider.asked == []


def test_an_order_a_sweep_holds_is_not_asked_about_twice(world: World) -> None:
    world.order("TO-HELD", unpaid(), due_in=0)
    shard = world.stored("TO-HELD")["sweepKey"]
    world.store.claim(item.claim("TO-HELD", item.Due(shard, to_iso(T), to_iso(T)), token="sweep-x:1",
                                 now=to_iso(T), lease_until=to_iso(T + timedelta(seconds=60))))
    [answer] = world.check("TO-HELD")
    assert (answer["status"], answer["checked"], answer["reason"]) == ("PENDING", False, "LEASED")
    assert world.provider.asked == [] and world.stored("TO-HELD")["leaseOwner"] == "sweep-x:1"
    world.now[0] += timedelta(seconds=61)  # the sweep died: its lease ran out
    [answer] = world.check("TO-HELD")
    assert (answer["status"], answer["checked"]) == ("PENDING", True) and world.provider.asked == ["TO-HELD"]


def test_an_invalid_order_is_decided_review_invalid_order_and_says_so(world: World) -> None:
    world.order("TO-BAD")
    world.store.apply(item.Transition("TO-BAD", item.Unchanged({}, to_iso(T)), {"currency": "XYZ"}))
    [answer] = world.check("TO-BAD")
    assert (answer["status"], answer["checked"], answer["reason"]) == ("REVIEW", False, "INVALID_ORDER")
    assert answer["outcome"]["reason"] == "INVALID_ORDER" and world.provider.asked == []


def test_each_order_is_answered_once_in_the_order_asked_and_checked_at_once(world: World) -> None:
    for order_id in ("TO-A", "TO-B", "TO-C"):
        world.order(order_id, paid())
    answers = world.check("TO-C", "TO-A", "TO-C", "TO-B")
    assert [a["orderId"] for a in answers] == ["TO-C", "TO-A", "TO-B"]
    assert sorted(world.provider.asked) == ["TO-A", "TO-B", "TO-C"] and world.summary.outcomes == {"APPROVED": 3}


def test_no_provider_call_starts_after_the_checks_window(world: World) -> None:
    """The caller waits at most the window plus one provider call: a check that has not reached
    the provider by then answers OUT_OF_TIME and leaves the order as it was, due as before."""
    world.order("TO-SLOW", paid())
    world.order("TO-LATE", paid())
    world.provider.takes = START_WINDOW + timedelta(seconds=1)
    engine_workers = world.engine.workers
    world.engine.workers = _one_at_a_time  # type: ignore[assignment]
    try:
        answers = {a["orderId"]: a for a in world.check("TO-SLOW", "TO-LATE")}
    finally:
        world.engine.workers = engine_workers
    assert answers["TO-SLOW"]["checked"] and answers["TO-SLOW"]["status"] == "APPROVED"
    late = answers["TO-LATE"]
    assert (late["status"], late["checked"], late["reason"], late["outcome"]) == (None, False, "OUT_OF_TIME", None)
    assert world.provider.asked == ["TO-SLOW"] and "leaseOwner" not in world.stored("TO-LATE")
    assert world.summary.complete is False


def test_a_check_with_little_lambda_time_left_asks_nothing(world: World) -> None:
    world.order("TO-SHORT", paid())
    [answer] = world.check("TO-SHORT", remaining=lambda: 1_000)
    assert (answer["checked"], answer["reason"]) == (False, "OUT_OF_TIME") and world.provider.asked == []


def test_a_table_that_does_not_answer_is_said_and_nothing_is_asked(world: World) -> None:
    world.order("TO-DOWN", paid())

    def unavailable(transition: Any) -> Any:
        raise StoreUnavailable("throttled", "ProvisionedThroughputExceededException")

    world.store.claim = unavailable  # type: ignore[method-assign]
    [answer] = world.check("TO-DOWN")
    assert (answer["checked"], answer["reason"]) == (False, CheckReason.STORE_UNAVAILABLE.value)
    assert world.provider.asked == []


def test_an_amount_mismatch_is_decided_by_the_same_rules_as_a_sweep(world: World) -> None:
    world.order("TO-SHORTPAID", paid("999"))
    [answer] = world.check("TO-SHORTPAID")
    assert (answer["status"], answer["outcome"]["reason"]) == ("REVIEW", "AMOUNT_MISMATCH")


def test_settled_says_which_answers_a_queue_must_not_retry(world: World) -> None:
    world.order("TO-OK", paid())
    world.order("TO-KICC", provider="kicc-wechatpay")
    results = {r.order_id: r for r in world.engine.check(["TO-OK", "TO-KICC", "TO-NONE"], PLENTY, trigger="queue").results}
    assert results["TO-OK"].settled and not results["TO-KICC"].settled and not results["TO-NONE"].settled


@contextmanager
def _one_at_a_time(concurrency: int) -> Iterator[Any]:
    """Workers that run each task when submitted: the second order starts after the first ends."""

    class Inline:
        def submit(self, task: Any) -> None:
            task()

        def join(self) -> None:
            pass

    yield Inline()
