"""The orders-table item as the sweeper writes it: attribute names, the lease rule, and every
write as a `Transition` (what it sets, what it removes, and the guard it must pass).

This module is the one owner of the item's shape. The sweep builds its writes here, the
operator command builds its writes here, and both stores carry them out: the DynamoDB store
renders each guard as a condition expression, the in-memory store used by the simulation
evaluates the guard's `holds()`; one conformance suite holds the two to the same answers.
Nothing here does I/O.

The attributes are documented for readers in docs/CONTRACT.md section 2.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from types import MappingProxyType
from typing import Any, NamedTuple

from paysweep.domain.orders import OrderStatus

ORDER_ID = "orderId"
STATUS = "status"
SWEEP_KEY = "sweepKey"
NEXT_CHECK_AT = "nextCheckAt"
"""With `sweepKey`, the key of the sparse due index: an item without both is not due."""
LEASE_OWNER = "leaseOwner"
LEASE_UNTIL = "leaseUntil"
ATTEMPTS = "attempts"
GENERATION = "generation"
LAST_CHECK = "lastCheck"
HISTORY = "history"
OUTCOME = "outcome"
CANCEL = "cancel"
OUTBOX = "outbox"
OUTBOX_KEY = "outboxKey"
OUTBOX_SINCE = "outboxSince"
"""With `outboxKey`, the key of the sparse outbox index: outcomes not yet confirmed published."""
UPDATED_AT = "updatedAt"

DUE_INDEX_KEYS = (SWEEP_KEY, NEXT_CHECK_AT)
LEASE = (LEASE_OWNER, LEASE_UNTIL)
OUTBOX_MARKER = (OUTBOX, OUTBOX_KEY, OUTBOX_SINCE)

HISTORY_LIMIT = 8
DETAIL_LIMIT = 120
"""Characters of a provider's message kept in the order's last check (the full text is logged):
keeps a pending order's writes at one DynamoDB write unit (README, cost table)."""

NO_VALUES: Mapping[str, Any] = MappingProxyType({})


# -- reading an item ------------------------------------------------------------------------


def live_lease(item: Mapping[str, Any], now: str) -> str | None:
    """The lease's end if a sweep holds the order at `now`, else None.

    One rule for everybody: the sweep deciding whether another sweep still decides an order,
    and the operator command refusing to touch an order being checked.
    """
    until = item.get(LEASE_UNTIL)
    if item.get(LEASE_OWNER) and isinstance(until, str) and until > now:
        return until
    return None


def whole(value: object) -> int:
    """A sweeper counter (`attempts`, `generation`) as an int; absent or malformed reads 0."""
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        return 0
    return max(0, int(value))


def history_with(history: Iterable[Any], line: str) -> list[str]:
    """The order's bounded history with one more line (oldest first).

    One short string per event (`2026-11-22T03:14:15Z status APPROVED TS01`) rather than a map:
    the item stays small, so a write costs one DynamoDB write unit. The full answer of the last
    check is `lastCheck`; every answer is in the logs.
    """
    lines = [str(entry) for entry in history if isinstance(entry, str)] + [line]
    return lines[-HISTORY_LIMIT:]


class Check(NamedTuple):
    """One entry of an order's record: a provider answer, a validation, a journal step, a re-drive."""

    at: str
    kind: str
    """`status`, `cancel`, `cancel_confirm`, `validation`, `journal`, `redrive`."""
    state: str
    provider_status: str | None = None
    detail: str | None = None
    note: str | None = None
    """Only in the history line (`generation 1` of a re-drive)."""

    def to_item(self) -> dict[str, Any]:
        """The `lastCheck` map."""
        return {
            "at": self.at,
            "kind": self.kind,
            "state": self.state,
            "providerStatus": self.provider_status,
            "detail": (self.detail or "")[:DETAIL_LIMIT] or None,
        }

    def line(self) -> str:
        """The history line: `at kind state [providerStatus] [note]`."""
        return " ".join(part for part in (self.at, self.kind, self.state, self.provider_status, self.note) if part)


# -- guards: what must hold for a write to happen -----------------------------------------


class Due(NamedTuple):
    """A claim: the order is still in this shard and due by the time the sweep read the index
    (the index is eventually consistent; the guard re-checks the real item)."""

    sweep_key: str
    due_by: str

    def holds(self, item: Mapping[str, Any] | None) -> bool:
        due = item.get(NEXT_CHECK_AT) if item else None
        return item is not None and item.get(SWEEP_KEY) == self.sweep_key and isinstance(due, str) and due <= self.due_by


class Leased(NamedTuple):
    """The writer holds the order's lease (and the order is in `status`, unless None)."""

    token: str
    status: str | None

    def holds(self, item: Mapping[str, Any] | None) -> bool:
        return (
            item is not None
            and item.get(LEASE_OWNER) == self.token
            and (self.status is None or item.get(STATUS) == self.status)
        )


class LeasedOrFree(NamedTuple):
    """The writer holds the lease, or nobody does at `now`; the order is in `status`.

    Only for the compensation that follows a failed write: the lease that write would have
    kept may be gone, but no other sweep may have taken the order since.
    """

    token: str
    status: str
    now: str

    def holds(self, item: Mapping[str, Any] | None) -> bool:
        if item is None or item.get(STATUS) != self.status:
            return False
        owner, until = item.get(LEASE_OWNER), item.get(LEASE_UNTIL)
        return owner is None or owner == self.token or (isinstance(until, str) and until < self.now)


class Unchanged(NamedTuple):
    """An operator's write: every `expected` attribute still holds the value read (None: still
    absent), and no sweep holds a live lease at `now`."""

    expected: Mapping[str, Any]
    now: str

    def holds(self, item: Mapping[str, Any] | None) -> bool:
        if item is None:
            return False
        for name, value in self.expected.items():
            if (name in item) if value is None else (item.get(name) != value):
                return False
        until = item.get(LEASE_UNTIL)
        return until is None or (isinstance(until, str) and until <= self.now)


class OutboxHolds(NamedTuple):
    """The outbox marker is this event's (clearing it twice, or another's, does nothing)."""

    event_id: str

    def holds(self, item: Mapping[str, Any] | None) -> bool:
        outbox = item.get(OUTBOX) if item else None
        return isinstance(outbox, Mapping) and outbox.get("eventId") == self.event_id


class Absent(NamedTuple):
    """A new order: no item with this id exists."""

    def holds(self, item: Mapping[str, Any] | None) -> bool:
        return item is None


Guard = Due | Leased | LeasedOrFree | Unchanged | OutboxHolds | Absent


class Transition(NamedTuple):
    """One conditional write of one order."""

    order_id: str
    guard: Guard
    set: Mapping[str, Any] = NO_VALUES
    remove: Sequence[str] = ()

    def applied_to(self, item: Mapping[str, Any] | None) -> dict[str, Any]:
        """The item after this write (the guard is not checked here)."""
        after = {**(item or {}), ORDER_ID: self.order_id, **self.set}
        for name in self.remove:
            after.pop(name, None)
        return after


# -- the sweep's writes -------------------------------------------------------------------


def claim(order_id: str, due: Due, *, token: str, now: str, lease_until: str) -> Transition:
    """Take the lease on a due order. `nextCheckAt` moves to the lease's end: other sweeps stop
    seeing the order as due, and if this sweep dies the order is due again by itself."""
    return Transition(
        order_id,
        due,
        {LEASE_OWNER: token, LEASE_UNTIL: lease_until, NEXT_CHECK_AT: lease_until, UPDATED_AT: now},
    )


def _recorded(check: Check, history: Sequence[str], attempts: int | None) -> dict[str, Any]:
    values: dict[str, Any] = {LAST_CHECK: check.to_item(), HISTORY: history_with(history, check.line()), UPDATED_AT: check.at}
    if attempts is not None:
        values[ATTEMPTS] = attempts
    return values


def reschedule(
    order_id: str,
    guard: Leased,
    *,
    check: Check,
    history: Sequence[str],
    attempts: int,
    next_check_at: str,
    cancel: Mapping[str, Any] | None = None,
) -> Transition:
    """Still undecided: due again at `next_check_at`, the lease released."""
    values = {NEXT_CHECK_AT: next_check_at, **_recorded(check, history, attempts)}
    if cancel is not None:
        values[CANCEL] = cancel
    return Transition(order_id, guard, values, LEASE)


def keep_leased(
    order_id: str,
    guard: Leased | LeasedOrFree,
    *,
    check: Check,
    history: Sequence[str],
    attempts: int | None,
    lease_until: str,
    status: OrderStatus | None = None,
    cancel: Mapping[str, Any] | None = None,
) -> Transition:
    """Record a step and hold the lease until `lease_until` for the call that follows (a cancel
    after the status query, a re-sent cancel). With `status`, the order moves on (CANCELLING).
    The lease is (re)taken by the guard's token: after a failed write it may have lapsed."""
    values: dict[str, Any] = {LEASE_OWNER: guard.token, LEASE_UNTIL: lease_until, NEXT_CHECK_AT: lease_until}
    if status is not None:
        values[STATUS] = status.value
    if cancel is not None:
        values[CANCEL] = cancel
    values.update(_recorded(check, history, attempts))
    return Transition(order_id, guard, values)


def decide(
    order_id: str,
    guard: Leased | LeasedOrFree,
    *,
    check: Check,
    history: Sequence[str],
    attempts: int,
    status: str,
    outcome: Mapping[str, Any],
    outbox: Mapping[str, Any],
    outbox_key: str,
    cancel: Mapping[str, Any] | None = None,
) -> Transition:
    """The terminal transition and its outbox marker, in one write: the order leaves the due
    index (no `sweepKey`, no `nextCheckAt`) and enters the outbox index until published."""
    values = {
        STATUS: status,
        OUTCOME: outcome,
        OUTBOX: {**outbox, "since": check.at},
        OUTBOX_KEY: outbox_key,
        OUTBOX_SINCE: check.at,
        **_recorded(check, history, attempts),
    }
    if cancel is not None:
        values[CANCEL] = cancel
    return Transition(order_id, guard, values, (*DUE_INDEX_KEYS, *LEASE))


def leave_due_index(order_id: str, guard: Leased) -> Transition:
    """A terminal order found in the due index (a writer's mistake): out of it, nothing else."""
    return Transition(order_id, guard, NO_VALUES, (*DUE_INDEX_KEYS, *LEASE))


def clear_outbox(order_id: str, event_id: str) -> Transition:
    """SNS accepted the outcome: the marker goes (and the order leaves the outbox index)."""
    return Transition(order_id, OutboxHolds(event_id), NO_VALUES, OUTBOX_MARKER)


def supersede(
    recorded: Mapping[str, Any],
    *,
    now: str,
    target: OrderStatus,
    event_id: str,
    cancel: Mapping[str, Any] | None = None,
    outcome: Mapping[str, Any] | None = None,
    outbox: Mapping[str, Any] | None = None,
) -> Transition:
    """An unpublished outcome replaced by what the compensation journal says the sweep did.

    When the write of an approval failed without a clear answer (it may have happened), the
    order could not be re-read, and the table refused the compensation too, the sweep cancelled
    (or sent the order to REVIEW) and journaled it. The approval may stand in the table all the
    same, unpublished: it is superseded before anyone hears of it. CANCELLING goes back into
    the due index to have its cancel confirmed; REVIEW takes the journaled message's place in
    the outbox. Guarded by the record being unchanged since it was read."""
    check = Check(now, "journal", target.value, detail=event_id)
    values: dict[str, Any] = {
        STATUS: target.value,
        LAST_CHECK: check.to_item(),
        HISTORY: history_with(recorded.get(HISTORY) or [], check.line()),
        UPDATED_AT: now,
    }
    remove: tuple[str, ...] = ()
    if target is OrderStatus.CANCELLING:
        values.update({CANCEL: cancel, SWEEP_KEY: recorded[OUTBOX_KEY], NEXT_CHECK_AT: now})
        remove = OUTBOX_MARKER
    else:
        values.update({OUTCOME: outcome, OUTBOX: {**(outbox or {}), "since": now}, OUTBOX_SINCE: now})
    expected = {name: recorded.get(name) for name in (STATUS, UPDATED_AT, OUTBOX_KEY)}
    return Transition(str(recorded[ORDER_ID]), Unchanged(expected, now), values, remove)


# -- the operator's writes ----------------------------------------------------------------


def make_due(item: Mapping[str, Any], *, now: str, sweep_key: str) -> Transition:
    """An active order due now (never later than it was); its cancel intent and key stay."""
    status = str(item[STATUS])
    current = item.get(NEXT_CHECK_AT)
    next_at = min(current, now) if isinstance(current, str) else now
    check = Check(now, "redrive", status)
    values = {
        NEXT_CHECK_AT: next_at,
        SWEEP_KEY: item.get(SWEEP_KEY) or sweep_key,
        HISTORY: history_with(item.get(HISTORY) or [], check.line()),
        UPDATED_AT: now,
    }
    expected = {name: item.get(name) for name in (STATUS, SWEEP_KEY, ATTEMPTS, GENERATION, UPDATED_AT)}
    return Transition(str(item[ORDER_ID]), Unchanged(expected, now), values)


def restart(item: Mapping[str, Any], *, now: str, sweep_key: str) -> Transition:
    """A decided order back to PENDING as its next generation, due now. Its previous outcome,
    cancel intent and last check stay for the record until the next transition replaces them;
    the lease fields go, so the next claim does not take the order for an abandoned one."""
    generation = whole(item.get(GENERATION)) + 1
    check = Check(now, "redrive", OrderStatus.PENDING.value, note=f"generation {generation}")
    values = {
        STATUS: OrderStatus.PENDING.value,
        GENERATION: generation,
        SWEEP_KEY: sweep_key,
        NEXT_CHECK_AT: now,
        HISTORY: history_with(item.get(HISTORY) or [], check.line()),
        UPDATED_AT: now,
    }
    expected = {name: item.get(name) for name in (STATUS, GENERATION, ATTEMPTS, UPDATED_AT, OUTBOX_KEY)}
    return Transition(str(item[ORDER_ID]), Unchanged(expected, now), values, LEASE)
