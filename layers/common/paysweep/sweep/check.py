"""A check on demand: named orders checked now, as a sweep checks them, due or not.

A merchant asks when it cannot wait for the next tick: the customer is back from the payment
page, says "I have paid", or the provider's notification reached the merchant's webhook (every
provider's documents say to confirm one with the status API). Each named order is claimed under
the same lease as a sweep's claim, worked by the same `OrderFlow` (ask, decide, record, cancel
where the rules say), and its outcome published through the same outbox, before the answer, under
the same `eventId`: a check and a sweep racing on one order make one provider query between them
and publish one decision.

The claim's guard (`item.Checkable`) asks only that the order sits in one of this provider's
shards and that no lease on it is live; when it is refused, DynamoDB returns the order as it was,
and that one write answers every other case (not found, another provider's, decided, held). A
pending order therefore costs its claim, its record, the publish and the publish's confirmation:
the same AWS calls as in a sweep.

A check is short by design: no provider call starts later than `START_WINDOW` after the check
began, so its caller waits at most that plus one provider call (a cancel found necessary later is
sent by the next sweep, under the same key).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from functools import partial
from typing import Any, NamedTuple

from paysweep.domain import item
from paysweep.domain.clock import to_iso
from paysweep.domain.orders import shard_prefix
from paysweep.domain.outcomes import IncompleteRecord, Reason
from paysweep.observability import logger, order_log_context
from paysweep.sweep.lease import OrderLease
from paysweep.sweep.order_flow import OrderFlow
from paysweep.sweep.ports import ConditionFailed, OrderStore, StoreUnavailable
from paysweep.sweep.summary import SweepSummary
from paysweep.sweep.tools import SweepTools
from paysweep.sweep.workers import WorkersFactory

START_WINDOW = timedelta(seconds=5)
"""How long after a check begins a provider call may still start (rate limiting included)."""


class CheckReason(StrEnum):
    """Why an order was not checked by this call (CONTRACT.md section 6)."""

    ALREADY_DECIDED = "ALREADY_DECIDED"
    """Decided before this call: answered from its record, the provider not asked."""
    LEASED = "LEASED"
    """A sweep (or another check) holds the order's lease: it is being checked right now."""
    NOT_FOUND = "NOT_FOUND"
    OTHER_PROVIDER = "OTHER_PROVIDER"
    """The order is another provider's: ask that provider's function."""
    INVALID_ORDER = "INVALID_ORDER"
    """The order breaks the contract: decided REVIEW `INVALID_ORDER` (or, with no sweep key of
    this provider, left for a person as it is)."""
    OUT_OF_TIME = "OUT_OF_TIME"
    STORE_UNAVAILABLE = "STORE_UNAVAILABLE"
    ERROR = "ERROR"
    """An unexpected failure, logged; the order is due again when its lease expires."""


SETTLED_FOR_THE_ASKER = frozenset({CheckReason.ALREADY_DECIDED, CheckReason.LEASED, CheckReason.INVALID_ORDER})
"""Not checked, yet nothing is left to ask: decided, or being checked by whoever holds the lease
(and published by it)."""


class CheckResult(NamedTuple):
    """One order's answer."""

    order_id: str
    status: str | None
    """As recorded after the check; None for an order not found or another provider's."""
    checked: bool
    """The provider was asked about the order in this call."""
    outcome: dict[str, Any] | None
    """The outcome message body (`outcome-v1`) when the order is decided, else None."""
    reason: CheckReason | None
    next_check_at: str | None
    """When the schedule checks a pending order next (its usual backoff)."""

    @property
    def settled(self) -> bool:
        """Nothing is left to retry: checked, or not checked for a reason no retry changes."""
        return self.checked or self.reason is None or self.reason in SETTLED_FOR_THE_ASKER

    def to_dict(self) -> dict[str, Any]:
        return {
            "orderId": self.order_id,
            "status": self.status,
            "checked": self.checked,
            "outcome": self.outcome,
            "reason": self.reason.value if self.reason else None,
            "nextCheckAt": self.next_check_at,
        }


def not_checked(order_id: str, reason: CheckReason, order: item.StoredOrder | None = None) -> CheckResult:
    return _result(order_id, order, checked=False, reason=reason)


def _result(order_id: str, order: item.StoredOrder | None, *, checked: bool, reason: CheckReason | None) -> CheckResult:
    if order is None:
        return CheckResult(order_id, None, checked, None, reason, None)
    outcome = _recorded_body(order)
    return CheckResult(order_id, order.status, checked, outcome, reason, None if order.decided else order.next_check_at)


def _recorded_body(order: item.StoredOrder) -> dict[str, Any] | None:
    if not order.decided:
        return None
    try:
        body: dict[str, Any] = json.loads(order.recorded_message().body)
    except IncompleteRecord:
        return None  # a terminal status a writer set without our record: nothing of ours to show
    return body


class CheckRun(NamedTuple):
    """What one invocation's checks found, and their counters (a sweep's summary, `trigger` set)."""

    results: list[CheckResult]
    summary: SweepSummary


class OrderChecks:
    """The checks of one invocation: every named order claimed and worked at once, on the pool
    (a single order on the invocation's own thread).

    Built by `SweepEngine.check` with the invocation's tools; reads and writes the orders only
    through the store port and each order's `OrderLease`.
    """

    def __init__(
        self, tools: SweepTools, store: OrderStore, workers: WorkersFactory, lease_token: Callable[[], str]
    ) -> None:
        self.tools = tools
        self.store = store
        self.workers = workers
        self.lease_token = lease_token
        self.provider_id = tools.adapter.profile.provider_id
        self._results: dict[str, CheckResult] = {}
        self._lock = threading.Lock()

    def run(self, order_ids: Sequence[str]) -> list[CheckResult]:
        """One answer per distinct order id, in the order asked; outcomes published before.

        A single order is checked on the invocation's own thread: a pool would start a thread
        and hand the work over to it and back, which its caller waits for (README, Performance:
        Checks on demand)."""
        distinct = list(dict.fromkeys(order_ids))
        if len(distinct) == 1:
            self._check_and_keep(distinct[0])
        else:
            with self.workers(min(len(distinct), self.tools.config.concurrency)) as workers:
                for order_id in distinct:
                    workers.submit(partial(self._check_and_keep, order_id))
                workers.join()
        self.tools.outbox.flush()
        return [self._results[order_id] for order_id in distinct]

    def _check_and_keep(self, order_id: str) -> None:
        result = self._check(order_id)
        with self._lock:
            self._results[order_id] = result

    def _check(self, order_id: str) -> CheckResult:
        with order_log_context(order_id, self.provider_id):
            if self.tools.out_of_time():
                self.tools.summary.complete = False
                return not_checked(order_id, CheckReason.OUT_OF_TIME)
            try:
                return self._claimed_and_worked(order_id)
            except Exception:  # noqa: BLE001 - one order's surprise must never stop the others
                self.tools.summary.count_error("unexpected")
                logger.exception("unexpected failure on this order's check; it is due again when its lease expires")
                return not_checked(order_id, CheckReason.ERROR)

    def _claimed_and_worked(self, order_id: str) -> CheckResult:
        token = self.lease_token()
        now = self.tools.clock()
        claim = item.claim(
            order_id, item.Checkable(shard_prefix(self.provider_id), to_iso(now)),
            token=token, now=to_iso(now), lease_until=to_iso(now + self.tools.config.lease),
        )
        try:
            before = self.store.claim(claim)
        except ConditionFailed as refused:
            return self._refused(order_id, refused.current, now)
        except StoreUnavailable as error:
            self.tools.summary.count_error("claim")
            logger.warning("check: the claim failed; the order stays as it was", extra={"error": error.code})
            return not_checked(order_id, CheckReason.STORE_UNAVAILABLE)
        claimed = before.after(claim)
        lease = OrderLease(self.tools, self.store, claimed, token)
        OrderFlow(self.tools, lease, claimed, abandoned_lease=before.lease_owner is not None).run()
        return self._worked(order_id, claimed, lease)

    def _refused(self, order_id: str, current: item.StoredOrder | None, now: datetime) -> CheckResult:
        """Why the claim was refused, from the order as it was."""
        if current is None:
            return not_checked(order_id, CheckReason.NOT_FOUND)
        if current.provider != self.provider_id:
            return not_checked(order_id, CheckReason.OTHER_PROVIDER)
        if current.decided:
            return not_checked(order_id, CheckReason.ALREADY_DECIDED, current)
        if current.live_lease(to_iso(now)) is not None:
            self.tools.summary.count("claim_conflicts")
            return not_checked(order_id, CheckReason.LEASED, current)
        logger.warning("check: the order is not in any of its provider's shards (no sweepKey of ours); "
                       "no sweep will find it either", extra={"sweepKey": current.sweep_key})
        return not_checked(order_id, CheckReason.INVALID_ORDER, current)

    def _worked(self, order_id: str, claimed: item.StoredOrder, lease: OrderLease) -> CheckResult:
        after = lease.current
        checked = lease.calls > 0
        if checked:
            return _result(order_id, after, checked=True, reason=None)
        if claimed.decided:
            return _result(order_id, after, checked=False, reason=CheckReason.ALREADY_DECIDED)
        decision = after.decision
        if decision is not None and decision.reason is Reason.INVALID_ORDER:
            return _result(order_id, after, checked=False, reason=CheckReason.INVALID_ORDER)
        if after.decided:
            return _result(order_id, after, checked=False, reason=None)  # settled from a crashed sweep's journal
        self.tools.summary.complete = False
        return _result(order_id, after, checked=False, reason=CheckReason.OUT_OF_TIME)
