"""The sweep: due orders in, decisions recorded, outcomes published.

One invocation:
1. stream the due index of this provider's shards, oldest first, page by page (a decided order
   still there is an outcome left unpublished: its claim re-publishes it, `sweep.outbox`);
2. for each order, on the worker pool: claim it (lease), then hand it to its `OrderFlow` with
   its `OrderLease`, the one writer of the order (ask the provider, decide, record, queue the
   outcome for publishing);
3. then the due audits of the same shards (`paysweep.sweep.audit`), claimed the same way;
4. stop claiming when the remaining Lambda time falls below one provider call plus a
   margin, let the calls in flight finish, publish what is queued, report.

A check on demand (`check`, `paysweep.sweep.check`) works named orders the same way, due or not.

The engine knows no provider by name and no AWS service: it talks to the ports of
`paysweep.sweep.ports`, all of them given to it by the runtime that wires a function.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial

from paysweep.config import SweepConfig
from paysweep.domain import item
from paysweep.domain.clock import parse_iso, to_iso, utc_now
from paysweep.domain.orders import sweep_key
from paysweep.observability import logger, order_log_context
from paysweep.sweep.check import START_WINDOW, CheckRun, OrderChecks
from paysweep.sweep.lease import OrderLease
from paysweep.sweep.order_flow import OrderFlow
from paysweep.sweep.outbox import OutboxBuffer
from paysweep.sweep.ports import (
    AccountDirectory,
    Clock,
    CompensationJournal,
    ConditionFailed,
    DueOrder,
    EveryAccount,
    OrderStore,
    OutcomePublisher,
    ProviderAdapter,
    RemainingMillis,
    StoreUnavailable,
)
from paysweep.sweep.ratelimit import RateLimiter
from paysweep.sweep.request import SweepRequest
from paysweep.sweep.summary import SweepSummary
from paysweep.sweep.tools import SweepTools
from paysweep.sweep.workers import Workers, WorkersFactory, thread_workers

Claimed = tuple[str, item.StoredOrder, bool]
"""A claim's lease token, the order as claimed, and whether an earlier sweep left a lease on it."""


class SweepEngine:
    """One provider's sweep machinery, built once per container and reused by invocations.

    Every collaborator comes in here, once: the ports, the clock, the rate limiter, the pool
    the orders run on, how lease tokens and shard rotation are drawn. Nothing below reaches
    back for the engine.
    """

    def __init__(
        self,
        *,
        adapter: ProviderAdapter,
        store: OrderStore,
        journal: CompensationJournal,
        publisher: OutcomePublisher,
        config: SweepConfig,
        clock: Clock = utc_now,
        rate_limiter: RateLimiter | None = None,
        owner: str | None = None,
        workers: WorkersFactory = thread_workers,
        new_token: Callable[[], str] | None = None,
        rng: random.Random | None = None,
        accounts: AccountDirectory | None = None,
    ) -> None:
        self.adapter = adapter
        self.store = store
        self.journal = journal
        self.publisher = publisher
        self.config = config
        self.clock = clock
        self.rate_limiter = rate_limiter or RateLimiter(config.rate_limit_per_second)
        self.owner = owner or f"sweep-{uuid.uuid4().hex[:8]}"
        self.workers = workers
        self.new_token = new_token or (lambda: uuid.uuid4().hex[:16])
        self.rng = rng or random.Random()  # nosec B311  # spreads overlapping sweeps over shards, protects nothing
        self.accounts = accounts or EveryAccount()

    @property
    def provider_id(self) -> str:
        return self.adapter.profile.provider_id

    def lease_token(self) -> str:
        """A new lease's token: this container's owner id and a fresh part, for a claim of a
        sweep's or of a check's."""
        return f"{self.owner}:{self.new_token()}"

    def sweep(self, request: SweepRequest, remaining_ms: RemainingMillis) -> SweepSummary:
        return _Sweep(self, request, remaining_ms).run()

    def check(self, order_ids: Sequence[str], remaining_ms: RemainingMillis, *, trigger: str) -> CheckRun:
        """Check the named orders now (`paysweep.sweep.check`), under a sweep's rules."""
        started = time.monotonic()
        started_at = self.clock()
        summary = SweepSummary(provider=self.provider_id, trigger=trigger)
        reserve_ms = int(self.config.claim_reserve.total_seconds() * 1000)

        def out_of_time() -> bool:
            return remaining_ms() < reserve_ms or self.clock() - started_at > START_WINDOW

        tools = self.tools_for(summary, out_of_time, started_at)
        results = OrderChecks(tools, self.store, self.workers, self.lease_token).run(order_ids)
        summary.duration_ms = int((time.monotonic() - started) * 1000)
        return CheckRun(results, summary)

    def tools_for(self, summary: SweepSummary, out_of_time: Callable[[], bool], started_at: datetime) -> SweepTools:
        """What the orders of one invocation share, its outbox among them."""
        return SweepTools(
            adapter=self.adapter,
            journal=self.journal,
            outbox=OutboxBuffer(self.publisher, self.store, summary),
            clock=self.clock,
            rate_limiter=self.rate_limiter,
            config=self.config,
            summary=summary,
            out_of_time=out_of_time,
            accounts=self.accounts,
            started_at=started_at,
        )


class _Sweep:
    """The state of one invocation's sweep."""

    def __init__(self, engine: SweepEngine, request: SweepRequest, remaining_ms: RemainingMillis) -> None:
        self.engine = engine
        self.config = engine.config
        self.shards = request.resolve(engine.config.sweep_shards)
        self.sweep_keys = [sweep_key(engine.provider_id, shard) for shard in self.shards]
        self.summary = SweepSummary(provider=engine.provider_id, shards=self.shards)
        self._remaining_ms = remaining_ms
        self._oldest_due: str | None = None
        self.table_trouble = FailureStreak(limit=3)
        self._reserve_ms = int(self.config.claim_reserve.total_seconds() * 1000)
        self.started_at = engine.clock()
        self.tools = engine.tools_for(self.summary, self.out_of_time, self.started_at)
        self.outbox = self.tools.outbox

    def out_of_time(self) -> bool:
        """True once too little invocation time is left to finish one more provider call, or
        once DynamoDB has refused several requests in a row (the rest of the sweep would only
        spend its time in SDK retries; everything unreached stays due)."""
        return self._remaining_ms() < self._reserve_ms or self.table_trouble.tripped

    def run(self) -> SweepSummary:
        started = time.monotonic()
        due_by = to_iso(self.engine.clock())
        with self.engine.workers(self.config.concurrency) as workers:
            shards = self._process_due(due_by, workers)
            workers.join()
            self._process_audits(shards, due_by, workers)
        self.outbox.flush()
        self._measure_backlog()
        self.summary.duration_ms = int((time.monotonic() - started) * 1000)
        return self.summary

    # -- the due orders ------------------------------------------------------------------

    def _process_due(self, due_by: str, workers: Workers) -> list[str]:
        """Shard after shard, each oldest first, starting at a random shard.

        Overlapping sweeps of one provider (an overrun schedule, a duplicate delivery) then
        mostly work on different shards. When one finds another already working a shard
        (claims keep failing), it sets the shard aside instead of doubling the writes, and
        comes back to it once its other shards are done: whatever is still due then is
        claimed in a last pass that never sets the shard aside again. Two sweeps that met in
        a shard can therefore both step back, but never both walk away from it: a shard is
        left due only when the sweep runs out of time, and then the summary says so.

        Returns the shards in the order this sweep took them.
        """
        shards = [_ShardProgress(shard) for shard in self._rotated(self.sweep_keys)]
        for shard in shards:
            self._sweep_shard(shard, due_by, workers)
        workers.join()  # every claim of the first pass has been tried (or dropped) by now
        set_aside = [shard for shard in shards if shard.ceded]
        self.summary.count("shards_ceded", len(set_aside))
        for shard in set_aside:
            shard.revisit()
            self._sweep_shard(shard, due_by, workers, may_step_back=False)
        return [shard.shard for shard in shards]

    def _rotated(self, shards: list[str]) -> list[str]:
        """The shards from a random one, in a random direction: two sweeps that go the same way
        chase each other from shard to shard; going opposite ways, they meet once."""
        if not shards:
            return []
        start, step = self.engine.rng.randrange(len(shards)), self.engine.rng.choice((1, -1))
        return [shards[(start + step * offset) % len(shards)] for offset in range(len(shards))]

    def _sweep_shard(
        self, progress: _ShardProgress, due_by: str, workers: Workers, *, may_step_back: bool = True
    ) -> None:
        """Claim and check the shard's due orders (the first pass stops reading once the shard
        is set aside)."""
        if self.out_of_time():
            self.summary.complete = False
            return
        try:
            # The way back reads newest first: a sweep still working the shard goes oldest first,
            # so the two meet once, in the middle, rather than at its every next claim.
            for due in self.engine.store.due_in_shard(
                progress.shard, due_by, self.config.page_size, newest_first=not may_step_back
            ):
                self._note_due(due)
                if self.out_of_time():
                    self.summary.complete = False
                    return
                if may_step_back and progress.ceded:
                    return  # set aside: the rest is claimed on the way back
                if not progress.to_claim(due.order_id, to_iso(self.engine.clock())):
                    continue  # claimed already, or another sweep holds it: one claim per order
                if not progress.probed:
                    self._probe(due, due_by, progress, workers)
                    continue
                workers.submit(partial(self._check_one, due, due_by, progress))
        except StoreUnavailable as error:
            self.table_trouble.failed()
            self.summary.complete = False
            self.summary.count_error("due_query")
            logger.error("cannot read the due index; this shard's orders stay due",
                         extra={"shard": progress.shard, "error": error.code})

    def _note_due(self, due: DueOrder) -> None:
        """Remember the oldest due order seen: its age is the backlog metric, at no extra read."""
        if self._oldest_due is None or due.next_check_at < self._oldest_due:
            self._oldest_due = due.next_check_at

    def _probe(self, due: DueOrder, due_by: str, progress: _ShardProgress, workers: Workers) -> None:
        """A shard's first claim, made alone before any other is queued: when another sweep is
        working the shard, one refused claim (billed like a write) says so, instead of a pool's
        worth of them in flight at once."""
        progress.probed = True
        claimed = self._claim(due, due_by, item.Due, progress)
        if claimed is not None:
            workers.submit(partial(self._check_claimed, due, claimed))

    def _check_one(self, due: DueOrder, due_by: str, progress: _ShardProgress) -> None:
        if self.out_of_time():
            self.summary.complete = False
            return
        if progress.ceded and not progress.revisiting:
            progress.forget(due.order_id)  # set aside with its shard: claimed on the way back, if still due
            return
        if progress.contended and not self._still_free(due, due_by, progress):
            return
        claimed = self._claim(due, due_by, item.Due, progress)
        if claimed is not None:
            self._check_claimed(due, claimed)

    def _still_free(self, due: DueOrder, due_by: str, progress: _ShardProgress) -> bool:
        """On the way back through a shard another sweep is still working: read the order first
        (a consistent read is a fifth of the price of a refused write) and claim it only if it
        is still due and nobody holds it."""
        now = to_iso(self.engine.clock())
        try:
            current = self.engine.store.read(due.order_id)
        except StoreUnavailable:
            return True  # the claim's own condition decides
        if current is not None and current.satisfies(item.Due(due.sweep_key, due_by, now)):
            return True
        progress.held(due.order_id, current, now)
        return False

    def _check_claimed(self, due: DueOrder, claimed: Claimed) -> None:
        token, order, abandoned = claimed
        lease = OrderLease(self.tools, self.engine.store, order, token)
        self._work_on(due, lambda: OrderFlow(self.tools, lease, order, abandoned_lease=abandoned).run())

    def _claim(
        self, due: DueOrder, due_by: str, guard: type[item.Due | item.AuditDue], progress: _ShardProgress | None = None
    ) -> Claimed | None:
        """Take the order's lease (for its check, or its audit). Returns the lease token, the
        order as claimed, and whether an earlier sweep left a lease on it; None when another
        sweep holds it or the table did not answer (counted, and the order stays due)."""
        token = self.engine.lease_token()
        now = self.engine.clock()
        claim = item.claim(
            due.order_id, guard(due.sweep_key, due_by, to_iso(now)),
            token=token, now=to_iso(now), lease_until=to_iso(now + self.config.lease),
        )
        try:
            before = self.engine.store.claim(claim)
        except ConditionFailed as refused:
            self.table_trouble.succeeded()
            self.summary.count("claim_conflicts")
            if progress is not None:
                progress.conflict(due.order_id, refused.current, to_iso(now))
            return None
        except StoreUnavailable as error:
            self.table_trouble.failed()
            self.summary.complete = False  # it stays due, unchecked by this sweep: say so
            self.summary.count_error("claim")
            logger.warning("claim failed; the order stays due", extra={"orderId": due.order_id, "error": error.code})
            return None
        self.table_trouble.succeeded()
        if progress is not None:
            progress.claimed()
        return token, before.after(claim), before.lease_owner is not None

    def _work_on(self, due: DueOrder, work: Callable[[], None]) -> None:
        with order_log_context(due.order_id, self.engine.provider_id):
            try:
                work()
            except Exception:  # noqa: BLE001 - one order's surprise must never stop the others
                self.summary.count_error("unexpected")
                logger.exception("unexpected failure on this order; it is due again when its lease expires")

    # -- audits --------------------------------------------------------------------------

    def _process_audits(self, shards: list[str], due_by: str, workers: Workers) -> None:
        """The due audits of the same shards, after every due order: an audit questions a
        decision already published, a due order waits for its first. With audits off
        (AUDIT_SCHEDULE_SECONDS empty) the audit index is not read at all."""
        if not self.config.audit_schedule:
            return
        for shard in shards:
            if self.out_of_time():
                self.summary.complete = False
                return
            try:
                for due in self.engine.store.audits_due(shard, due_by, self.config.page_size):
                    if self.out_of_time():
                        self.summary.complete = False
                        return
                    workers.submit(partial(self._audit_one, due, due_by))
            except StoreUnavailable as error:
                self.table_trouble.failed()
                self.summary.complete = False
                self.summary.count_error("audit_query")
                logger.error("cannot read the audit index; this shard's audits stay due",
                             extra={"shard": shard, "error": error.code})

    def _audit_one(self, due: DueOrder, due_by: str) -> None:
        if self.out_of_time():
            self.summary.complete = False
            return
        claimed = self._claim(due, due_by, item.AuditDue)
        if claimed is not None:
            token, order, _ = claimed
            lease = OrderLease(self.tools, self.engine.store, order, token)
            self._work_on(due, lambda: OrderFlow(self.tools, lease, order, abandoned_lease=False).audit())

    # -- after the sweep -----------------------------------------------------------------

    def _measure_backlog(self) -> None:
        """Age of the oldest due order when the sweep began, and, only when the sweep could
        not finish, how many orders it left due (a count query: it costs a read)."""
        self.summary.oldest_due_age_seconds = _age_seconds(self._oldest_due, self.started_at)
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
    """One shard in one sweep: which of its orders this sweep has claimed or seen held by
    another sweep, and whether another sweep works it.

    A refused claim is billed like a write, so the first one that shows another sweep's live
    lease sets the shard aside (a refusal without one, an index that lagged a write, counts
    only in a run of CEDE_AFTER); a shard set aside is not claimed any further until the way
    back (queued claims of it are dropped), and on the way back an order whose refusal showed
    another sweep's live lease is not tried again. The way back starts with a single claim
    too; once a claim there is refused (the other sweep still at work: `contended`), each order
    is read before it is claimed.
    """

    CEDE_AFTER = 3

    def __init__(self, shard: str) -> None:
        self.shard = shard
        self._failed_in_a_row = 0
        self._taken: set[str] = set()
        self._held_elsewhere: dict[str, str] = {}
        self._lock = threading.Lock()
        self.ceded = False
        self.revisiting = False
        self.probed = False
        """The first pass has made its first claim (`_Sweep._probe`)."""
        self.contended = False

    def to_claim(self, order_id: str, now: str) -> bool:
        """True when this sweep should try to claim the order now (it is then counted as taken)."""
        with self._lock:
            if order_id in self._taken or self._held_elsewhere.get(order_id, "") > now:
                return False
            self._taken.add(order_id)
            return True

    def forget(self, order_id: str) -> None:
        with self._lock:
            self._taken.discard(order_id)

    def conflict(self, order_id: str, current: item.StoredOrder | None, now: str) -> None:
        with self._lock:
            self._failed_in_a_row += 1
            held_until = current.live_lease(now) if current is not None else None
            if held_until is not None:
                self._held_elsewhere[order_id] = held_until
            if held_until is not None or self._failed_in_a_row >= self.CEDE_AFTER:
                self.ceded = True
            if self.revisiting:
                self.contended = True  # held, or just done, by a sweep still at work here

    def held(self, order_id: str, current: item.StoredOrder | None, now: str) -> None:
        """Read, not claimed: held or just done by another sweep."""
        with self._lock:
            held_until = current.live_lease(now) if current is not None else None
            if held_until is not None:
                self._held_elsewhere[order_id] = held_until

    def revisit(self) -> None:
        """The way back: claims never set the shard aside again, and start with a probe."""
        with self._lock:
            self.revisiting, self.probed = True, False

    def claimed(self) -> None:
        with self._lock:
            self._failed_in_a_row = 0


def _age_seconds(timestamp: str | None, now: datetime) -> int | None:
    if timestamp is None:
        return None
    try:
        return max(0, int((now - parse_iso(timestamp)).total_seconds()))
    except ValueError:
        return None
