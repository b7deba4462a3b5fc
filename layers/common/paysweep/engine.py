"""The sweep: due orders in, decisions recorded, outcomes published.

One invocation:
1. re-publish outcomes left in the outbox by earlier sweeps (crash after record);
2. stream the due index of this provider's shards, oldest first, page by page;
3. for each order, on a bounded pool of worker threads: claim it (lease), ask the
   provider, decide with the pure decision table, record the transition under the lease,
   queue the outcome for publishing;
4. stop claiming when the remaining Lambda time falls below one provider call plus a
   margin, let the calls in flight finish, publish what is queued, report.

The engine knows no provider by name: it talks to a `ProviderAdapter`.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import NamedTuple

from paysweep import clock as clocks
from paysweep.adapter import ProviderAdapter
from paysweep.clock import Clock, parse_iso, to_iso
from paysweep.config import SweepConfig
from paysweep.journal import CompensationJournal
from paysweep.observability import logger, order_log_context
from paysweep.order_work import OrderWork, SweepContext
from paysweep.orders import sweep_key
from paysweep.outbox import OutboxBuffer
from paysweep.outcomes import OutcomeMessage
from paysweep.publisher import OutcomePublisher
from paysweep.ratelimit import RateLimiter
from paysweep.store import ConditionFailed, DueOrder, OrderStore, StoreUnavailable
from paysweep.summary import SweepSummary

RemainingMillis = Callable[[], int]


class InvalidSweepRequest(ValueError):
    """The schedule's input names shards this function does not have."""


class SweepRequest(NamedTuple):
    """What a schedule asks for: all shards (default) or a subset, for scale-out."""

    shards: tuple[int, ...] | None = None

    @classmethod
    def from_event(cls, event: object) -> SweepRequest:
        shards = event.get("shards") if isinstance(event, dict) else None
        if shards in (None, "all", "*"):
            return cls()
        if isinstance(shards, list) and shards and all(isinstance(s, int) and not isinstance(s, bool) for s in shards):
            return cls(tuple(sorted(set(shards))))
        raise InvalidSweepRequest(f"event 'shards' must be a list of shard numbers or 'all', got {shards!r}")

    def resolve(self, shard_count: int) -> list[int]:
        if self.shards is None:
            return list(range(shard_count))
        outside = [s for s in self.shards if not 0 <= s < shard_count]
        if outside:
            raise InvalidSweepRequest(f"shards {outside} are outside 0..{shard_count - 1} (SWEEP_SHARDS={shard_count})")
        return list(self.shards)


class SweepEngine:
    """One provider's sweep machinery, built once per container and reused by invocations."""

    def __init__(
        self,
        *,
        adapter: ProviderAdapter,
        store: OrderStore,
        journal: CompensationJournal,
        publisher: OutcomePublisher,
        config: SweepConfig,
        clock: Clock | None = None,
        rate_limiter: RateLimiter | None = None,
        owner: str | None = None,
    ) -> None:
        self.adapter = adapter
        self.store = store
        self.journal = journal
        self.publisher = publisher
        self.config = config
        # Resolved here, not at import: the local stack shifts `paysweep.clock.utc_now` to
        # simulate time in its Lambda stand-in.
        self.clock = clock or clocks.utc_now
        self.rate_limiter = rate_limiter or RateLimiter(config.rate_limit_per_second)
        self.owner = owner or f"sweep-{uuid.uuid4().hex[:8]}"

    @property
    def provider_id(self) -> str:
        return self.adapter.profile.provider_id

    def sweep(self, request: SweepRequest, remaining_ms: RemainingMillis) -> SweepSummary:
        return _Sweep(self, request, remaining_ms).run()


class _Sweep:
    """The state of one invocation's sweep."""

    def __init__(self, engine: SweepEngine, request: SweepRequest, remaining_ms: RemainingMillis) -> None:
        self.engine = engine
        self.config = engine.config
        self.shards = request.resolve(engine.config.sweep_shards)
        self.sweep_keys = [sweep_key(engine.provider_id, shard) for shard in self.shards]
        self.summary = SweepSummary(provider=engine.provider_id, shards=self.shards)
        self.outbox = OutboxBuffer(engine.publisher, engine.store, self.summary)
        self._remaining_ms = remaining_ms
        self._oldest_due: str | None = None
        self.table_trouble = FailureStreak(limit=3)
        self._reserve_ms = int(self.config.claim_reserve.total_seconds() * 1000)
        self.context = SweepContext(
            engine=engine,
            summary=self.summary,
            outbox=self.outbox,
            out_of_time=self.out_of_time,
            started_at=engine.clock(),
        )

    def out_of_time(self) -> bool:
        """True once too little invocation time is left to finish one more provider call, or
        once DynamoDB has refused several requests in a row (the rest of the sweep would only
        spend its time in SDK retries; everything unreached stays due)."""
        return self._remaining_ms() < self._reserve_ms or self.table_trouble.tripped

    def run(self) -> SweepSummary:
        started = time.monotonic()
        self._republish_backlog()
        self._process_due()
        self.outbox.flush()
        self._measure_backlog()
        self.summary.duration_ms = int((time.monotonic() - started) * 1000)
        return self.summary

    # -- outbox repair -------------------------------------------------------------------

    def _republish_backlog(self) -> None:
        """Publish again what earlier sweeps recorded but never confirmed published."""
        older_than = to_iso(self.engine.clock() - self.config.outbox_grace)
        batch: list[OutcomeMessage] = []
        try:
            for item in self.engine.store.unpublished(self.sweep_keys, older_than, self.config.page_size):
                batch.append(OutcomeMessage.from_item(item["outbox"]))
                if len(batch) >= self.config.page_size:
                    self._republish(batch)
                    batch = []
                    if self.out_of_time():
                        return
        except StoreUnavailable as error:
            self.table_trouble.failed()
            self.summary.count_error("outbox_query")
            logger.error("cannot read the outbox backlog", extra={"error": error.code})
        if batch:
            self._republish(batch)

    def _republish(self, batch: list[OutcomeMessage]) -> None:
        published = self.outbox.publish(batch)
        self.summary.count("republished", len(published))
        for message in published:
            logger.warning(
                "re-published an outcome left in the outbox",
                extra={"orderId": message.order_id, "eventId": message.event_id},
            )

    # -- the due orders ------------------------------------------------------------------

    def _process_due(self) -> None:
        """Shard after shard, each oldest first, starting at a random shard.

        Overlapping sweeps of one provider (an overrun schedule, a duplicate delivery) then
        mostly work on different shards. When one finds another already working a shard
        (claims keep failing), it sets the shard aside instead of doubling the writes, and
        comes back to it once its other shards are done: whatever is still due then is
        claimed in a last pass that never sets the shard aside again. Two sweeps that met in
        a shard can therefore both step back, but never both walk away from it: a shard is
        left due only when the sweep runs out of time, and then the summary says so.
        """
        now = to_iso(self.engine.clock())
        workers = self.config.concurrency
        in_flight = threading.BoundedSemaphore(workers * 2)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sweep") as pool:
            shards = [_ShardProgress(shard) for shard in _rotated(self.sweep_keys)]
            set_aside = [shard for shard in shards if self._sweep_shard(shard, now, pool, in_flight)]
            for shard in set_aside:
                self._sweep_shard(shard, now, pool, in_flight, may_step_back=False)

    def _sweep_shard(
        self,
        progress: _ShardProgress,
        now: str,
        pool: ThreadPoolExecutor,
        in_flight: threading.BoundedSemaphore,
        *,
        may_step_back: bool = True,
    ) -> bool:
        """Claim and check the shard's due orders; True when it was set aside for later."""
        if self.out_of_time():
            self.summary.complete = False
            return False
        try:
            for due in self.engine.store.due_in_shard(progress.shard, now, self.config.page_size):
                self._note_due(due)
                if self.out_of_time():
                    self.summary.complete = False
                    return False
                if may_step_back and progress.ceded:
                    self.summary.count("shards_ceded")
                    return True
                if not progress.first_visit(due.order_id):
                    continue  # submitted before this shard was set aside: one claim per order
                in_flight.acquire()
                future = pool.submit(self._check_one, due, now, progress)
                future.add_done_callback(lambda _: in_flight.release())
        except StoreUnavailable as error:
            self.table_trouble.failed()
            self.summary.complete = False
            self.summary.count_error("due_query")
            logger.error("cannot read the due index; this shard's orders stay due",
                         extra={"shard": progress.shard, "error": error.code})
        return False

    def _note_due(self, due: DueOrder) -> None:
        """Remember the oldest due order seen: its age is the backlog metric, at no extra read."""
        if self._oldest_due is None or due.next_check_at < self._oldest_due:
            self._oldest_due = due.next_check_at

    def _check_one(self, due: DueOrder, due_by: str, progress: _ShardProgress) -> None:
        if self.out_of_time():
            self.summary.complete = False
            return
        engine = self.engine
        token = f"{engine.owner}:{uuid.uuid4().hex[:16]}"
        now = engine.clock()
        try:
            claimed = engine.store.claim(
                due, due_by=due_by, now=to_iso(now), lease_until=to_iso(now + self.config.lease), token=token
            )
        except ConditionFailed:
            self.table_trouble.succeeded()
            self.summary.count("claim_conflicts")
            progress.conflict()
            return
        except StoreUnavailable as error:
            self.table_trouble.failed()
            self.summary.count_error("claim")
            logger.warning("claim failed; the order stays due", extra={"orderId": due.order_id, "error": error.code})
            return
        self.table_trouble.succeeded()
        progress.claimed()
        with order_log_context(due.order_id, engine.provider_id):
            try:
                OrderWork(self.context, claimed, token).run()
            except Exception:  # noqa: BLE001 - one order's surprise must never stop the others
                self.summary.count_error("unexpected")
                logger.exception("unexpected failure on this order; it is due again when its lease expires")

    # -- after the sweep -----------------------------------------------------------------

    def _measure_backlog(self) -> None:
        """Age of the oldest due order when the sweep began, and, only when the sweep could
        not finish, how many orders it left due (a count query: it costs a read)."""
        self.summary.oldest_due_age_seconds = _age_seconds(self._oldest_due, self.context.started_at)
        if self.summary.complete:
            return
        try:
            self.summary.left_due = self.engine.store.count_due(self.sweep_keys, to_iso(self.engine.clock()))
        except StoreUnavailable as error:
            self.summary.count_error("backlog_query")
            logger.warning("cannot count the orders left due", extra={"error": error.code})


class FailureStreak:
    """Consecutive failures of one dependency, shared by the sweep's threads."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._streak = 0
        self._lock = threading.Lock()
        self.tripped = False

    def failed(self) -> None:
        with self._lock:
            self._streak += 1
            if self._streak >= self._limit and not self.tripped:
                self.tripped = True
                logger.error("DynamoDB keeps refusing requests: ending this sweep early; unreached orders stay due")

    def succeeded(self) -> None:
        with self._lock:
            self._streak = 0


class _ShardProgress:
    """One shard in one sweep: the orders submitted so far, and whether another sweep works it
    (a run of failed claims)."""

    CEDE_AFTER = 5

    def __init__(self, shard: str) -> None:
        self.shard = shard
        self._failed_in_a_row = 0
        self._submitted: set[str] = set()
        self.ceded = False

    def first_visit(self, order_id: str) -> bool:
        """True the first time this sweep meets the order (only the reading thread calls it)."""
        if order_id in self._submitted:
            return False
        self._submitted.add(order_id)
        return True

    def conflict(self) -> None:
        self._failed_in_a_row += 1
        if self._failed_in_a_row >= self.CEDE_AFTER:
            self.ceded = True

    def claimed(self) -> None:
        self._failed_in_a_row = 0


def _rotated(shards: list[str]) -> list[str]:
    start = random.randrange(len(shards)) if shards else 0  # nosec B311 - spreads load, not a secret
    return shards[start:] + shards[:start]


def _age_seconds(timestamp: str | None, now: datetime) -> int | None:
    if timestamp is None:
        return None
    try:
        return max(0, int((now - parse_iso(timestamp)).total_seconds()))
    except ValueError:
        return None

