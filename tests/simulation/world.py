"""One small world per seed: a provider, a few orders, overlapping sweeps under faults, then
calm ticks until everything settles; the architecture's invariants checked after every write
and at the end.

Everything random comes from the seed: the provider (can it cancel? as KICC or as Toss
Payments does, `simulation.provider`), shards, concurrency,
the orders and the truth about each payment, when sweeps start and how long they may run,
every fault, every latency, and every choice of the scheduler. `World(seed).run()` replays a
seed exactly.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

from doubles.store import MemoryCompensationJournal, MemoryOrderStore
from paysweep.config import SweepConfig
from paysweep.domain.answers import ReportedAmount
from paysweep.domain.orders import new_order_item
from paysweep.sweep.engine import SweepEngine
from paysweep.sweep.ratelimit import RateLimiter
from paysweep.sweep.request import SweepRequest

from simulation import provider as books
from simulation.faults import Faults
from simulation.invariants import Invariants
from simulation.ports import Delivered, SimulatedJournal, SimulatedPublisher, SimulatedStore
from simulation.provider import Payment, ProviderBooks, SimulatedAdapter
from simulation.scheduler import EPOCH, Scheduler, workers_factory

TICK = 60.0
CALM_TICKS = 48
"""Enough calm ticks for the last decision's audits, and a follow-up's own."""
CALM_OVERLAP = 0.2
"""Share of calm ticks with two sweeps at once: audits fall due in the calm, and must keep
overlapping sweeps apart as claims of due orders do."""
AUDIT_SCHEDULE = "300,600"
"""Audits five and ten simulated minutes after a decision: a late payer (`late`, paying up to
200 s after its expiry) may pay after the order is decided, and an audit must then find it."""
FUNCTION_TIMEOUT = 120.0
TOSS_SHARE = 0.5
"""Share of the worlds whose provider cancels that cancel as Toss Payments does (a lookup by order
id before the cancel, confirmed by lookup), the others as KICC does."""
TOSS_DRAW = 0x7241
"""The Toss-or-KICC draw has a generator of its own (seeded with the world's seed XOR this), so
every other draw of every world stays what it was: a KICC or TeemoPay world replays as before.
This value keeps the worlds of `test_simulation.REGRESSION_SEEDS` (all KICC or TeemoPay when they
broke an invariant) what they were; a Toss world is another seed's."""
HTTP_TIMEOUT = 30


@dataclass
class SweepRun:
    number: int
    group: str
    start: float
    deadline: float
    shards: list[str]
    summary: dict[str, Any] | None = None
    done: bool = False


@dataclass
class Plan:
    """The truth the world was built with, for the end-of-run checks."""

    order_id: str
    truth: str
    amount: Decimal
    expires_at: float
    mismatch: bool = False
    notes: list[str] = field(default_factory=list)


class World:
    def __init__(self, seed: int) -> None:
        self.seed = seed
        rng = random.Random(seed)
        self.rng = rng
        self.scheduler = Scheduler(random.Random(rng.getrandbits(64)))
        self.can_cancel = rng.random() < 0.6
        self.looks_up_first = self.can_cancel and random.Random(seed ^ TOSS_DRAW).random() < TOSS_SHARE
        self.provider_id = "toss-payments" if self.looks_up_first else "kicc-wechatpay" if self.can_cancel else "teemopay"
        self.shard_count = rng.choice((1, 1, 2))
        self.config = SweepConfig.from_env({
            "ORDERS_TABLE": "orders", "COMPENSATIONS_TABLE": "compensations",
            "APPROVED_TOPIC_ARN": "approved", "FAILED_TOPIC_ARN": "failed",
            "CANCELLED_TOPIC_ARN": "cancelled", "REVIEW_TOPIC_ARN": "review",
            "PROVIDER_BASE_URL": "https://provider.invalid", "PROVIDER_SECRET_ARN": "secret",
            "SWEEP_SHARDS": str(self.shard_count), "SWEEP_CONCURRENCY": str(rng.choice((1, 2, 3))),
            "SWEEP_PAGE_SIZE": str(rng.choice((1, 2, 250))), "HTTP_TIMEOUT_SECONDS": str(HTTP_TIMEOUT),
            "BACKOFF_SCHEDULE_SECONDS": "60", "EXPIRY_GRACE_SECONDS": "60", "FINAL_RETRY_SECONDS": "120",
            "CANCEL_CONFIRM_WINDOW_SECONDS": "600", "OUTBOX_GRACE_SECONDS": "30",
            "AUDIT_SCHEDULE_SECONDS": AUDIT_SCHEDULE,
        })
        self.faults = Faults(random.Random(rng.getrandbits(64)), rng.choice((0.0, 0.05, 0.15, 0.3)),
                             lease_seconds=self.config.lease.total_seconds())
        self.memory = MemoryOrderStore(consistent_indexes=False)
        self.journal = MemoryCompensationJournal()
        self.delivered = Delivered()
        self.books = ProviderBooks()
        slow = rng.random() < 0.25  # a provider that answers in seconds, not milliseconds
        self.adapter = SimulatedAdapter(self.books, self.scheduler, self.faults, can_cancel=self.can_cancel,
                                        http_timeout=HTTP_TIMEOUT, latency=(2.0, 25.0) if slow else (0.05, 2.0),
                                        looks_up_first=self.looks_up_first)
        self.plans: dict[str, Plan] = {}
        self.sweeps: list[SweepRun] = []
        self.invariants = Invariants(self)
        self._tokens = itertools.count(1)

    # -- building the world ------------------------------------------------------------------

    def add_orders(self) -> None:
        for n in range(self.rng.choice((1, 2, 3, 4, 4, 8))):
            self._add_order(f"ORDER-{n}" if self.looks_up_first else f"O{n}")  # Toss's order ids: 6..40 chars

    def _add_order(self, order_id: str) -> None:
        rng = self.rng
        expires_in = rng.uniform(20, 300)
        kinds = ["match", "match", "mismatch", "declined", "customer_cancel", "unpaid", "not_found", "late"]
        if self.can_cancel:
            kinds += ["partial", "currency", "refuses_cancel"]
        truth = rng.choice(kinds)
        amount = Decimal(rng.choice((1000, 15000, 990)))
        payment = Payment(order_id, books.APPROVED, confirm_delay=rng.choice((0.0, 0.0, 90.0)))
        mismatch = False
        if truth in ("match", "late"):
            payment.paid = ReportedAmount(amount, "KRW")
        if truth in ("mismatch", "refuses_cancel"):
            payment.paid, mismatch = ReportedAmount(amount + 1, "KRW"), True
            payment.refuses_cancel = truth == "refuses_cancel"
        if truth == "currency":
            payment.paid, mismatch = ReportedAmount(amount, "USD"), True
        if truth == "late":
            payment.state, payment.pays_at = books.UNPAID, rng.uniform(0, expires_in + 200)
        payment.state = {
            "declined": books.DECLINED, "customer_cancel": books.CANCELLED, "unpaid": books.UNPAID,
            "not_found": books.NOT_FOUND, "partial": books.PARTIAL,
        }.get(truth, payment.state)
        self.books.add(payment)
        created = EPOCH - timedelta(minutes=5)
        order = new_order_item(
            order_id=order_id, provider=self.provider_id, amount=amount, currency="KRW", shards=self.shard_count,
            created_at=created, first_check_after=timedelta(seconds=rng.uniform(0, 200)),
            expires_at=EPOCH + timedelta(seconds=expires_in),
            refs={ref: f"PG-{order_id}" for ref in self.adapter.profile.required_refs}, profile=self.adapter.profile,
        )
        self.memory.put_new(order)
        self.plans[order_id] = Plan(order_id, truth, amount, expires_in, mismatch)

    # -- sweeps --------------------------------------------------------------------------------

    def engine(self, number: int) -> SweepEngine:
        def after_write() -> None:
            if self.rng.random() < 0.6:
                self.memory.refresh_indexes(at=self.scheduler.now)
            self.invariants.after_step()

        return SweepEngine(
            adapter=self.adapter,
            store=SimulatedStore(self.memory, self.scheduler, self.faults, after_write),
            journal=SimulatedJournal(self.journal, self.scheduler, self.faults, after_write),
            publisher=SimulatedPublisher(self.delivered, self.scheduler, self.faults, after_write),
            config=self.config,
            clock=self.scheduler.clock,
            rate_limiter=RateLimiter(0),
            owner=f"sweep-{number}",
            workers=workers_factory(self.scheduler),
            new_token=lambda: str(next(self._tokens)),
            rng=random.Random(self.rng.getrandbits(64)),
        )

    def start_sweep(self, start: float, timeout: float) -> None:
        number = len(self.sweeps) + 1
        run = SweepRun(number, f"sweep-{number}", start, start + timeout,
                       [f"{self.provider_id}#{k}" for k in range(self.shard_count)])
        self.sweeps.append(run)
        engine = self.engine(number)

        def sweep() -> None:
            self.scheduler.pause(start - self.scheduler.now)
            run.start = self.scheduler.now
            remaining = lambda: int((run.deadline - self.scheduler.now) * 1000)
            summary = engine.sweep(SweepRequest(), remaining)
            run.summary = summary.to_dict()
            run.done = True
            self.invariants.after_sweep(run)

        def watchdog() -> None:
            self.scheduler.pause(run.deadline - self.scheduler.now)
            if run.done or self.scheduler.is_killed(run.group):
                return
            self.scheduler.kill(run.group)  # Lambda ends the invocation at its timeout
            if run.group not in self.faults.stalled:
                self.invariants.fail("a sweep never outlives its Lambda timeout", run)

        self.scheduler.spawn(f"{run.group}/main", run.group, sweep)
        self.scheduler.spawn(f"{run.group}/watchdog", f"{run.group}-watchdog", watchdog)

    def run(self) -> World:
        """Build, sweep under faults, settle without them, check: raises `Violation`."""
        self.add_orders()
        self.memory.refresh_indexes()
        ticks = self.rng.choice((1, 1, 2))
        for tick in range(ticks):
            for _ in range(self.rng.choice((2, 2, 3))):
                timeout = FUNCTION_TIMEOUT
                if self.rng.random() < 0.25:  # started late in its window: little time left
                    timeout = self.config.claim_reserve.total_seconds() + self.rng.uniform(1, 30)
                self.start_sweep(tick * TICK + self.rng.uniform(0, 3), timeout)
        self.scheduler.run()
        self.faults.enabled = False
        for tick in range(ticks, ticks + CALM_TICKS):
            if self.invariants.settled():
                break
            start = max(tick * TICK, self.scheduler.now)
            for _ in range(2 if self.rng.random() < CALM_OVERLAP else 1):  # an overrun schedule, without faults
                self.start_sweep(start + self.rng.uniform(0, 1), FUNCTION_TIMEOUT)
            self.scheduler.run()
        self.invariants.at_the_end()
        return self

    def describe(self) -> str:
        return (
            f"seed {self.seed}: {self.provider_id}, {len(self.plans)} orders "
            f"({', '.join(f'{p.order_id}={p.truth}' for p in self.plans.values())}), {self.shard_count} shard(s), "
            f"fault rate {self.faults.rate:.0%}, {len(self.sweeps)} sweeps, faults {self.faults.injected}"
        )

