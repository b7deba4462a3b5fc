"""The orders-table item as the sweeper writes it: attribute names, the lease rule, and every
write as a `Transition` (what it sets, what it removes, and the guard it must pass).

Cost shapes the item (README, cost table). The due index (keys only: `sweepKey`,
`nextCheckAt`) is written only when an order's next check moves or when it leaves the index:
a lease lives in attributes the index does not hold, so a claim is one write unit; and a
decided order stays in the due index until its outcome is published, so the due index is the
outbox too: no marker is written, and re-publishing rebuilds the message from `outcome`.

This module is the one owner of the item's shape. The sweep builds its writes here, the
operator command builds its writes here, and both stores carry them out: the DynamoDB store
renders each guard as a condition expression, the in-memory store used by the simulation
evaluates the guard's `holds()`; one conformance suite holds the two to the same answers. What a
store reads comes back as a `StoredOrder`, the item seen through its shape: the sweep reads
orders through it, never through attribute names. Nothing here does I/O.

The attributes are documented for readers in docs/CONTRACT.md section 2.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import Any, NamedTuple

from paysweep.domain.answers import ReportedAmount
from paysweep.domain.clock import parse_iso
from paysweep.domain.orders import (
    TERMINAL_STATUSES,
    Order,
    OrderStatus,
    parse_order,
    requested_amount,
    valid_merchant_id,
)
from paysweep.domain.outcomes import IncompleteRecord, Outcome, OutcomeMessage, Reason, message_from_record
from paysweep.domain.providers import ProviderProfile

ORDER_ID = "orderId"
PROVIDER = "provider"
MERCHANT_ID = "merchantId"
STATUS = "status"
SWEEP_KEY = "sweepKey"
NEXT_CHECK_AT = "nextCheckAt"
"""With `sweepKey`, the key of the sparse due index: an item without both is not due. A
decided order keeps both until its outcome is published."""
LEASE_OWNER = "leaseOwner"
LEASE_UNTIL = "leaseUntil"
ATTEMPTS = "attempts"
GENERATION = "generation"
LAST_CHECK = "lastCheck"
HISTORY = "history"
OUTCOME = "outcome"
CANCEL = "cancel"
UPDATED_AT = "updatedAt"
AUDIT_KEY = "auditKey"
AUDIT_AT = "auditAt"
"""With `auditKey` (the order's shard), the key of the sparse audit index: a decided order
whose provider may still change its mind (a late payment) is asked again at `auditAt`. Apart
from the due index, so a sweep's due reads never see it."""

DUE_INDEX_KEYS = (SWEEP_KEY, NEXT_CHECK_AT)
AUDIT_INDEX_KEYS = (AUDIT_KEY, AUDIT_AT)
LEASE = (LEASE_OWNER, LEASE_UNTIL)

HISTORY_LIMIT = 8
DECIDED_HISTORY = 4
"""Lines a decided order keeps: the path to its decision. With `lastCheck` and `cancel` gone
(the `outcome` record holds the decision's status, amounts and references; every answer is in
the logs), a decided order stays under 1 KB even with a 40-character id, a late payment's
cancel and its correction, its due-index keys and lease: each of its writes is one unit."""
SETTLED = (LAST_CHECK, CANCEL)
"""The working state a decided order no longer needs."""
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
    """A claim: the order is still in this shard, due by the time the sweep read the index
    (the index is eventually consistent; the guard re-checks the real item), and no sweep
    holds a live lease on it at `now`."""

    sweep_key: str
    due_by: str
    now: str

    def holds(self, item: Mapping[str, Any] | None) -> bool:
        if item is None or item.get(SWEEP_KEY) != self.sweep_key:
            return False
        return _due_and_free(item.get(NEXT_CHECK_AT), item, self.due_by, self.now)


class AuditDue(NamedTuple):
    """An audit's claim: the order is in this shard's audit schedule, its audit due by the time
    the sweep read the audit index, its outcome published (out of the due index: an outcome
    not yet heard of is not audited), and no sweep holds a live lease on it at `now`."""

    audit_key: str
    due_by: str
    now: str

    def holds(self, item: Mapping[str, Any] | None) -> bool:
        if item is None or item.get(AUDIT_KEY) != self.audit_key or SWEEP_KEY in item:
            return False
        return _due_and_free(item.get(AUDIT_AT), item, self.due_by, self.now)


def _due_and_free(due: object, item: Mapping[str, Any], due_by: str, now: str) -> bool:
    """A claim's rule, as its condition says it: due by `due_by`, and no lease or one that
    ended before `now`."""
    until = item.get(LEASE_UNTIL)
    return isinstance(due, str) and due <= due_by and (until is None or (isinstance(until, str) and until < now))


class Checkable(NamedTuple):
    """A check on demand's claim: the order is in one of this provider's shards of the due index
    (pending, cancelling, or decided and not yet published), due or not, and no sweep holds a
    live lease on it at `now`. The claim names no shard and no due time: the caller names an
    order, not an index entry, and a refusal returns the order as it is (`ConditionFailed`),
    which says why (not found, another provider's, decided, held)."""

    shard_prefix: str
    """`{provider}#`: the start of every sweep key of the provider (`orders.sweep_key`)."""
    now: str

    def holds(self, item: Mapping[str, Any] | None) -> bool:
        if item is None or not str(item.get(SWEEP_KEY, "")).startswith(self.shard_prefix):
            return False
        until = item.get(LEASE_UNTIL)
        return until is None or (isinstance(until, str) and until < self.now)


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


class Recorded(NamedTuple):
    """The order's recorded outcome is this event's, decided as `status`, and its outcome not
    yet confirmed published (it is still in the due index): publishing it again, or a
    re-driven order's next generation, must not be mistaken for it."""

    event_id: str
    status: str

    def holds(self, item: Mapping[str, Any] | None) -> bool:
        outcome = item.get(OUTCOME) if item else None
        return (
            item is not None
            and isinstance(outcome, Mapping)
            and outcome.get("eventId") == self.event_id
            and item.get(STATUS) == self.status
            and SWEEP_KEY in item
        )


class Absent(NamedTuple):
    """A new order: no item with this id exists."""

    def holds(self, item: Mapping[str, Any] | None) -> bool:
        return item is None


Guard = Due | AuditDue | Checkable | Leased | LeasedOrFree | Unchanged | Recorded | Absent


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


def unpublished(found: Mapping[str, Any]) -> bool:
    """A decided order whose outcome is not confirmed published (still in the due index)."""
    return found.get(STATUS) in TERMINAL_STATUSES and SWEEP_KEY in found


class Decided(NamedTuple):
    """A decision as its order's `outcome` record holds it."""

    outcome: Outcome
    reason: Reason | None
    event_id: str
    at: datetime


class StoredOrder(NamedTuple):
    """An order as the table holds it, seen through the item's shape: what a store's reads
    return (`OrderStore.read`, `claim`, `ConditionFailed.current`).

    The sweep reads an order only through these typed properties, so no attribute name leaves
    this module; `attributes` (the item as stored) is for the stores, the contract's parser and
    the operator's displays.
    """

    attributes: Mapping[str, Any]

    @property
    def order_id(self) -> str:
        return str(self.attributes.get(ORDER_ID, ""))

    @property
    def provider(self) -> str | None:
        value = self.attributes.get(PROVIDER)
        return value if isinstance(value, str) else None

    @property
    def merchant_id(self) -> str | None:
        """The merchant account the order names, when it is of the contract's form."""
        value = self.attributes.get(MERCHANT_ID)
        return value if valid_merchant_id(value) else None

    @property
    def status(self) -> str | None:
        value = self.attributes.get(STATUS)
        return value if isinstance(value, str) else None

    @property
    def next_check_at(self) -> str | None:
        """When the order is due (absent once it left the due index)."""
        value = self.attributes.get(NEXT_CHECK_AT)
        return value if isinstance(value, str) else None

    @property
    def sweep_key(self) -> str | None:
        value = self.attributes.get(SWEEP_KEY)
        return value if isinstance(value, str) else None

    @property
    def audit_key(self) -> str | None:
        value = self.attributes.get(AUDIT_KEY)
        return value if isinstance(value, str) else None

    @property
    def lease_owner(self) -> str | None:
        value = self.attributes.get(LEASE_OWNER)
        return value if isinstance(value, str) and value else None

    @property
    def lease_until(self) -> str:
        """The lease's end as written ("" for none)."""
        return str(self.attributes.get(LEASE_UNTIL, ""))

    @property
    def attempts(self) -> int:
        return whole(self.attributes.get(ATTEMPTS))

    @property
    def generation(self) -> int:
        return whole(self.attributes.get(GENERATION))

    @property
    def history(self) -> list[str]:
        return [str(line) for line in self.attributes.get(HISTORY) or [] if isinstance(line, str)]

    @property
    def outcome(self) -> Mapping[str, Any] | None:
        """The `outcome` record of its decision (`paysweep.domain.outcomes.outcome_record`)."""
        record = self.attributes.get(OUTCOME)
        return record if isinstance(record, Mapping) else None

    @property
    def decided(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def recorded_event_id(self) -> str | None:
        """The `eventId` in the order's `outcome` record, if it has one."""
        record = self.outcome
        return str(record["eventId"]) if record is not None and "eventId" in record else None

    @property
    def decision(self) -> Decided | None:
        """The decision the order's status says, as its `outcome` record holds it; None when the
        record is not that status's or cannot say it."""
        record = self.outcome
        if record is None or record.get("outcome") != self.status:
            return None
        try:
            reason = Reason(str(record["reason"])) if record.get("reason") else None
            return Decided(Outcome(str(record["outcome"])), reason, str(record["eventId"]), parse_iso(record["occurredAt"]))
        except (KeyError, ValueError):
            return None

    def recorded_message(self) -> OutcomeMessage:
        """The decision's message rebuilt from its `outcome` record, as first published;
        `IncompleteRecord` when there is no record of this status or it cannot rebuild it."""
        record = self.outcome
        if record is None or record.get("outcome") != self.status:
            raise IncompleteRecord(f"no outcome record for the status {self.status}")
        return message_from_record(self.order_id, self.generation, record, self.merchant_id)

    @property
    def unpublished(self) -> bool:
        """Decided, its outcome not confirmed published (still in the due index: the outbox)."""
        return unpublished(self.attributes)

    def live_lease(self, now: str) -> str | None:
        """The lease's end if a sweep holds the order at `now` (`live_lease`)."""
        return live_lease(self.attributes, now)

    def satisfies(self, guard: Guard) -> bool:
        """Whether a write under `guard` would happen to the order as it is."""
        return guard.holds(self.attributes)

    def after(self, transition: Transition) -> StoredOrder:
        """The order once `transition` is written (its guard is not checked here)."""
        return StoredOrder(transition.applied_to(self.attributes))

    def order(self, profile: ProviderProfile, default_window: timedelta | None = None) -> Order:
        """The order as its contract reads it (`parse_order`): raises `InvalidOrder`."""
        return parse_order(self.attributes, profile, default_window)

    def requested(self) -> ReportedAmount | None:
        """The amount and currency as written, when they make a valid amount (`requested_amount`)."""
        return requested_amount(self.attributes)


# -- the sweep's writes -------------------------------------------------------------------


def claim(order_id: str, due: Due | AuditDue | Checkable, *, token: str, now: str, lease_until: str) -> Transition:
    """Take the lease on a due order (or a due audit): attributes neither index holds, so one
    write unit. The order stays in the index; other sweeps' claims are refused while the lease
    is live, and if this sweep dies the order is claimable again when the lease runs out."""
    return Transition(order_id, due, {LEASE_OWNER: token, LEASE_UNTIL: lease_until, UPDATED_AT: now})


def _recorded(check: Check, history: Sequence[str], attempts: int | None) -> dict[str, Any]:
    values: dict[str, Any] = {LAST_CHECK: check.to_item(), HISTORY: history_with(history, check.line()), UPDATED_AT: check.at}
    if attempts is not None:
        values[ATTEMPTS] = attempts
    return values


def _settled(check: Check, history: Sequence[str], attempts: int | None) -> dict[str, Any]:
    """What a write of a decided order records: the check as its history's last line, the
    history cut to DECIDED_HISTORY (with `SETTLED` removed by the same write)."""
    values: dict[str, Any] = {HISTORY: history_with(history, check.line())[-DECIDED_HISTORY:], UPDATED_AT: check.at}
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
    values: dict[str, Any] = {LEASE_OWNER: guard.token, LEASE_UNTIL: lease_until}
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
    publish_by: str,
    audit: tuple[str, str] | None = None,
) -> Transition:
    """The terminal transition. The order stays in the due index (its keys do not change, so
    the index is not written) until its outcome is published: that is the outbox. The lease
    now runs until `publish_by`, so no other sweep re-publishes while this one is about to.
    The working state goes (`SETTLED`, `DECIDED_HISTORY`): the outcome record says it all.

    `audit` (`auditKey`, `auditAt`): a decision the provider's books can still overturn enters
    the audit schedule in the same write (audited once published); any other leaves it."""
    values = {STATUS: status, OUTCOME: outcome, LEASE_OWNER: guard.token, LEASE_UNTIL: publish_by,
              **_settled(check, history, attempts)}
    if audit is None:
        return Transition(order_id, guard, values, (*SETTLED, *AUDIT_INDEX_KEYS))
    values.update({AUDIT_KEY: audit[0], AUDIT_AT: audit[1]})
    return Transition(order_id, guard, values, SETTLED)


def published(order_id: str, event_id: str, status: str) -> Transition:
    """SNS accepted the outcome: the order leaves the due index, and so the outbox."""
    return Transition(order_id, Recorded(event_id, status), NO_VALUES, (*DUE_INDEX_KEYS, *LEASE))


def leave_due_index(order_id: str, guard: Leased) -> Transition:
    """A terminal order in the due index with no outcome of ours to publish (a writer's
    mistake): out of it, nothing else."""
    return Transition(order_id, guard, NO_VALUES, (*DUE_INDEX_KEYS, *LEASE))


def supersede(
    order_id: str,
    guard: Leased,
    *,
    history: Sequence[str],
    now: str,
    target: OrderStatus,
    event_id: str,
    cancel: Mapping[str, Any] | None = None,
    outcome: Mapping[str, Any] | None = None,
    publish_by: str | None = None,
) -> Transition:
    """An unpublished outcome replaced by what the compensation journal says the sweep did.

    When the write of an approval failed without a clear answer (it may have happened), the
    order could not be re-read, and the table refused the compensation too, the sweep cancelled
    (or sent the order to REVIEW) and journaled it. The approval may stand in the table all the
    same, unpublished: it is superseded before anyone hears of it. CANCELLING is due now, to
    have its cancel confirmed (the lease released); REVIEW takes the journaled outcome's place,
    to be published under the lease until `publish_by`."""
    check = Check(now, "journal", target.value, detail=event_id)
    if target is OrderStatus.CANCELLING:
        values: dict[str, Any] = {STATUS: target.value, **_recorded(check, history, None), CANCEL: cancel, NEXT_CHECK_AT: now}
        return Transition(order_id, guard, values, LEASE)
    values = {STATUS: target.value, **_settled(check, history, None), OUTCOME: outcome, LEASE_UNTIL: publish_by or now}
    return Transition(order_id, guard, values, SETTLED)


# -- audits: a decided order asked again ----------------------------------------------------


def audited(
    order_id: str, guard: Leased, *, check: Check, history: Sequence[str], attempts: int, next_audit_at: str | None
) -> Transition:
    """An audit that changed nothing: the next audit at `next_audit_at`, or (None) out of the
    audit schedule for good; the lease released either way. Recorded as a decided order's
    writes are: a history line, nothing more."""
    values = _settled(check, history, attempts)
    if next_audit_at is None:
        return Transition(order_id, guard, values, (*AUDIT_INDEX_KEYS, *LEASE, *SETTLED))
    values[AUDIT_AT] = next_audit_at
    return Transition(order_id, guard, values, (*LEASE, *SETTLED))


def reopen_for_cancel(
    order_id: str,
    guard: Leased,
    *,
    check: Check,
    history: Sequence[str],
    attempts: int,
    generation: int,
    cancel: Mapping[str, Any],
    sweep_key: str,
    lease_until: str,
) -> Transition:
    """A late payment to cancel: the decided order becomes a cancelling order of its next
    generation (its cancel key is new, its messages' eventIds too), back in the due index so a
    crash after this write still has the cancel sent and confirmed; out of the audit schedule.
    The lease covers the cancel call that follows."""
    values = {
        STATUS: OrderStatus.CANCELLING.value, GENERATION: generation, CANCEL: cancel,
        SWEEP_KEY: sweep_key, NEXT_CHECK_AT: check.at, LEASE_OWNER: guard.token, LEASE_UNTIL: lease_until,
        **_recorded(check, history, attempts),
    }
    return Transition(order_id, guard, values, AUDIT_INDEX_KEYS)


def correct(
    order_id: str,
    guard: Leased,
    *,
    check: Check,
    history: Sequence[str],
    attempts: int,
    generation: int,
    status: str,
    outcome: Mapping[str, Any],
    sweep_key: str,
    publish_by: str,
    audit: tuple[str, str] | None = None,
) -> Transition:
    """A correction of a published decision (a REVIEW for a person), recorded as the next
    generation's outcome: back in the due index as the outbox until published (`published`).
    It leaves the audit schedule, unless it is itself a decision audits question (`audit`: a
    follow-up saying the provider now reports the order unpaid), as `decide` does."""
    values = {
        STATUS: status, GENERATION: generation, OUTCOME: outcome, SWEEP_KEY: sweep_key,
        NEXT_CHECK_AT: check.at, LEASE_OWNER: guard.token, LEASE_UNTIL: publish_by,
        **_settled(check, history, attempts),
    }
    if audit is None:
        return Transition(order_id, guard, values, (*SETTLED, *AUDIT_INDEX_KEYS))
    values.update({AUDIT_KEY: audit[0], AUDIT_AT: audit[1]})
    return Transition(order_id, guard, values, SETTLED)


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
    expected = {name: item.get(name) for name in (STATUS, GENERATION, ATTEMPTS, UPDATED_AT, SWEEP_KEY)}
    return Transition(str(item[ORDER_ID]), Unchanged(expected, now), values, (*LEASE, *AUDIT_INDEX_KEYS))
