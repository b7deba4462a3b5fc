"""One small world per seed: a provider, a few orders, overlapping sweeps under faults, then
calm ticks until everything settles; the architecture's invariants checked after every write
and at the end.

Everything random comes from the seed: the provider (can it cancel? as KICC or as Toss
Payments does, `simulation.provider`), its merchant accounts (the default and up to three named
ones in its secret; which account each order was paid to, rarely one the secret lacks; one
account's key refused for a while), shards, concurrency,
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
from paysweep.provider.accounts import ACCOUNTS, SecretAccounts
from paysweep.provider.guard import GuardedAdapter
from paysweep.sweep.engine import SweepEngine
from paysweep.sweep.ratelimit import RateLimiter
from paysweep.sweep.request import SweepRequest

from simulation import provider as books
from simulation.faults import Faults
from simulation.invariants import Invariants
from simulation.ports import Delivered, SimulatedJournal, SimulatedPublisher, SimulatedStore
from simulation.provider import CREDENTIAL_FIELDS, Payment, ProviderBooks, Revocation, SimulatedAdapter
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
ACCOUNTS_DRAW = 0x4D45
"""The merchant accounts have a generator of their own too (the seed XOR this): how many named
accounts, which account each order names, the revocation. Naming accounts changes no other draw,
so a world replays as before but for an order naming an account the secret lacks (it is never
asked about) and a revocation (its MISCONFIGURED answers); this value gives neither to any world of
`test_simulation.REGRESSION_SEEDS`."""
MERCHANT_IDS = ("seoul-store", "busan_shop", "JEJU.02", "m-4417", "outlet")
"""Named accounts are drawn from these (merchantId: letters, digits, - _ .)."""
NAMED_ACCOUNTS = (0, 1, 1, 2, 2, 2, 3, 3)
"""How many named accounts a world's secret holds beside the default (0: the single-account
secret of before, with no "accounts")."""
UNKNOWN_ACCOUNT = "closed.store"
"""The account an order names when the secret lacks it: the provider holds its payments."""
DEFAULT_SHARE = 0.3
"""Share of the orders that name no account (the default one), where the secret names others."""
UNKNOWN_SHARE = 0.03
"""Share of the orders that name an account the secret does not hold (REVIEW INVALID_ORDER)."""
REVOCATION_SHARE = 0.2
"""Share of the worlds with faults where one account's key is refused for a while: its orders'
calls answer MISCONFIGURED (never terminal), the other accounts' are answered as usual."""
REVOCATION_START, REVOCATION_LENGTH = 150.0, (60.0, 600.0)
"""When the revocation begins (simulated seconds, drawn up to this) and how long it lasts: it may
run on into the calm ticks (it is the provider's doing, not a fault of ours that stops), and the
revoked account's orders are decided once it ends."""


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
    merchant_id: str | None = None
    """The account the order names (`merchantId`); None: the default account."""
    unknown_account: bool = False
    """The secret does not hold the order's account: REVIEW INVALID_ORDER, never asked about."""


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
        self.accounts_rng = random.Random(seed ^ ACCOUNTS_DRAW)
        named = self.accounts_rng.choice(NAMED_ACCOUNTS)
        self.named_accounts: list[str] = self.accounts_rng.sample(MERCHANT_IDS, named)
        self.secret = self._open_accounts()
        slow = rng.random() < 0.25  # a provider that answers in seconds, not milliseconds
        self.adapter = SimulatedAdapter(self.books, self.scheduler, self.faults, can_cancel=self.can_cancel,
                                        http_timeout=HTTP_TIMEOUT, latency=(2.0, 25.0) if slow else (0.05, 2.0),
                                        credentials=self.read_secret, looks_up_first=self.looks_up_first)
        self.guarded = GuardedAdapter(self.adapter)
        """What each engine is given, as the runtime wraps a function's adapter: an account the
        secret lacks, or a secret without an account's fields, answers MISCONFIGURED."""
        self.plans: dict[str, Plan] = {}
        self.sweeps: list[SweepRun] = []
        self.invariants = Invariants(self)
        self._tokens = itertools.count(1)

    # -- building the world ------------------------------------------------------------------

    def _open_accounts(self) -> dict[str, Any]:
        """The provider's accounts, at the provider and in the secret (the real shape: the default
        account's fields at the top, the named ones under "accounts"), each with credentials of its
        own; the account an order may name that the secret lacks is known to the provider only."""
        rng = self.accounts_rng
        fields = {merchant_id: self._account_fields(n) for n, merchant_id in enumerate([None, *self.named_accounts])}
        presented = CREDENTIAL_FIELDS[self.provider_id]
        for merchant_id, account in [*fields.items(), (UNKNOWN_ACCOUNT, self._account_fields(9))]:
            self.books.open_account(merchant_id, tuple(account[name] for name in presented))
        secret: dict[str, Any] = dict(fields.pop(None))
        if fields:
            secret[ACCOUNTS] = fields
        if self.faults.rate and rng.random() < REVOCATION_SHARE:
            start = rng.uniform(0, REVOCATION_START)
            self.books.revocation = Revocation(rng.choice([None, *self.named_accounts]), start,
                                               start + rng.uniform(*REVOCATION_LENGTH))
        return secret

    def _account_fields(self, n: int) -> dict[str, str]:
        """One account's fields in the provider's secret, as its adapter reads them."""
        if self.provider_id == "kicc-wechatpay":
            return {"mallId": f"M{self.seed % 10_000:04d}{n}", "secretKey": f"kicc-key-{self.seed}-{n}"}
        if self.provider_id == "toss-payments":
            return {"secretKey": f"test_sk_{self.seed}_{n}"}
        return {"appCode": f"APP{n}", "privateKey": f"teemo-key-{self.seed}-{n}", "country": "KR"}

    def read_secret(self) -> dict[str, Any]:
        """The provider secret (the `CredentialSource` of the adapter and of `SecretAccounts`)."""
        return self.secret

    def _account_of_order(self) -> tuple[str | None, bool]:
        """The account an order names, and whether the secret lacks it."""
        draw = self.accounts_rng.random()
        if draw < UNKNOWN_SHARE:
            return UNKNOWN_ACCOUNT, True
        if draw < UNKNOWN_SHARE + DEFAULT_SHARE or not self.named_accounts:
            return None, False
        return self.accounts_rng.choice(self.named_accounts), False

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
        merchant_id, unknown_account = self._account_of_order()
        payment = Payment(order_id, books.APPROVED, confirm_delay=rng.choice((0.0, 0.0, 90.0)),
                          account=merchant_id)
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
            merchant_id=merchant_id,
        )
        self.memory.put_new(order)
        self.plans[order_id] = Plan(order_id, truth, amount, expires_in, mismatch, merchant_id=merchant_id,
                                    unknown_account=unknown_account)

    # -- sweeps --------------------------------------------------------------------------------

    def engine(self, number: int) -> SweepEngine:
        def after_write() -> None:
            if self.rng.random() < 0.6:
                self.memory.refresh_indexes(at=self.scheduler.now)
            self.invariants.after_step()

        return SweepEngine(
            adapter=self.guarded,
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
            accounts=SecretAccounts(self.read_secret),
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
        revoked = self.books.revocation
        revocation = (f", {'the default' if revoked.account is None else revoked.account} revoked "
                      f"{revoked.start:.0f}-{revoked.end:.0f} s" if revoked else "")
        return (
            f"seed {self.seed}: {self.provider_id}, {len(self.plans)} orders "
            f"({', '.join(f'{p.order_id}={p.truth}{_at(p)}' for p in self.plans.values())}), "
            f"accounts: the default + {self.named_accounts}{revocation}, "
            f"{self.shard_count} shard(s), "
            f"fault rate {self.faults.rate:.0%}, {len(self.sweeps)} sweeps, faults {self.faults.injected}"
        )


def _at(plan: Plan) -> str:
    """Where an order's account shows in `World.describe`: `@account`, `@account?` when unknown."""
    return f"@{plan.merchant_id}{'?' if plan.unknown_account else ''}" if plan.merchant_id else ""

