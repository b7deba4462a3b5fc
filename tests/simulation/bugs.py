"""Bugs to seed into the real product, one at a time, to show the simulation finds each.

Each is a small, plausible mistake in the product's own code (applied by patching it in the
simulation's process), or, for what only a real adapter does, in the simulated adapter that
stands in for the adapters; `seed(name)` applies one and returns how to undo it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from paysweep.domain import decisions, item
from paysweep.provider import accounts
from paysweep.sweep import audit, compensation, engine, order_flow

from simulation import provider


def _skip_the_lease_condition() -> list[tuple[Any, str, Any]]:
    """The claim no longer refuses an order another sweep holds a live lease on."""

    def holds(self: item.Due, current: Any) -> bool:
        due = current.get(item.NEXT_CHECK_AT) if current else None
        return current is not None and current.get(item.SWEEP_KEY) == self.sweep_key and str(due) <= self.due_by

    return [(item.Due, "holds", holds)]


def _reuse_no_cancel_key() -> list[tuple[Any, str, Any]]:
    """Each cancel request gets a key of its own instead of the one its intent recorded."""
    original = order_flow.OrderFlow.send_cancel
    sends = iter(range(1, 1_000_000))

    def send_cancel(self: order_flow.OrderFlow, order: Any, intent: Any) -> None:
        original(self, order, intent._replace(key=f"{intent.key}-{next(sends)}"))

    return [(order_flow.OrderFlow, "send_cancel", send_cancel)]


def _drop_the_outbox_marker() -> list[tuple[Any, str, Any]]:
    """The terminal transition takes the order out of the due index at once, so nothing marks
    its outcome as still to be published (the due index is the outbox)."""
    original = item.decide

    def decide(*args: Any, **kwargs: Any) -> item.Transition:
        return original(*args, **kwargs)._replace(remove=(*item.DUE_INDEX_KEYS, *item.LEASE))

    return [(item, "decide", decide)]


def _decide_on_a_stale_read() -> list[tuple[Any, str, Any]]:
    """After a failed approval write, the compensation trusts what it knew before the write
    instead of the order as it is now (no re-read, a refused write taken for an outage)."""
    return [
        (compensation.Compensator, "_someone_else_decides", lambda self, current, now: False),
        (compensation.Compensator, "_refused", lambda self, written, now: False),
    ]


def _cede_a_shard_for_good() -> list[tuple[Any, str, Any]]:
    """A shard set aside for an overlapping sweep is never come back to (the defect of the
    runtime issue: two sweeps can both cede it)."""
    original = engine._Sweep._sweep_shard

    def sweep_shard(self: Any, progress: Any, due_by: str, workers: Any, *, may_step_back: bool = True) -> bool:
        return original(self, progress, due_by, workers) if may_step_back else False

    return [(engine._Sweep, "_sweep_shard", sweep_shard)]


def _ignore_the_deadline() -> list[tuple[Any, str, Any]]:
    """The sweep keeps claiming whatever time is left."""
    return [(engine._Sweep, "out_of_time", lambda self: self.table_trouble.tripped)]


def _audit_without_the_lease() -> list[tuple[Any, str, Any]]:
    """An audit's claim no longer refuses an order another sweep holds (overlapping sweeps)."""

    def holds(self: item.AuditDue, current: Any) -> bool:
        due = current.get(item.AUDIT_AT) if current else None
        return current is not None and current.get(item.AUDIT_KEY) == self.audit_key and str(due) <= self.due_by

    return [(item.AuditDue, "holds", holds)]


def _shrug_at_a_late_payment() -> list[tuple[Any, str, Any]]:
    """An audit takes a payment found after the decision for nothing new (an approval is
    read as "nothing changed" once the order is decided)."""
    original = decisions.decide_audit

    def decide_audit(decided: Any, answer: Any, **kwargs: Any) -> decisions.AuditDecision:
        if answer.state.value == "APPROVED":
            return decisions.AuditDecision(decisions.AuditAction.NOTHING)
        return original(decided, answer, **kwargs)

    return [(audit, "decide_audit", decide_audit)]


def _sign_with_the_default_account() -> list[tuple[Any, str, Any]]:
    """The adapter signs every call with the default account's credentials, whatever account the
    order names: the secret read as it was before merchant accounts (`self._client.credentials()`
    taken whole, or `account_of(secret, None)`), the mistake each real adapter had to unlearn."""

    def account(self: provider.SimulatedAdapter, order: Any) -> Any:
        return accounts.account_of(self.credentials(), None)

    return [(provider.SimulatedAdapter, "account", account)]


def _fall_back_to_the_default_account() -> list[tuple[Any, str, Any]]:
    """An account the secret does not hold falls back to the default account's credentials
    instead of being refused (`accounts.get(merchant_id, default)`): the sweep's check before
    the call and the adapters both take it."""
    original = accounts.account_of

    def account_of(secret: Any, merchant_id: str | None) -> Any:
        try:
            return original(secret, merchant_id)
        except accounts.UnknownAccount:
            return original(secret, None)

    return [(accounts, "account_of", account_of), (provider, "account_of", account_of)]


def _republish_without_the_account() -> list[tuple[Any, str, Any]]:
    """An outcome re-published from the outbox is rebuilt from its record alone, without the
    order's `merchantId` (the record does not hold it: it is the order's own attribute)."""
    original = item.message_from_record

    def message_from_record(order_id: str, generation: int, record: Any, merchant_id: Any = None) -> Any:
        return original(order_id, generation, record)

    return [(item, "message_from_record", message_from_record)]


BUGS: dict[str, Callable[[], list[tuple[Any, str, Any]]]] = {
    "skip-the-lease-condition": _skip_the_lease_condition,
    "reuse-no-cancel-key": _reuse_no_cancel_key,
    "drop-the-outbox-marker": _drop_the_outbox_marker,
    "decide-on-a-stale-read": _decide_on_a_stale_read,
    "ignore-the-deadline": _ignore_the_deadline,
    "cede-a-shard-for-good": _cede_a_shard_for_good,
    "audit-without-the-lease": _audit_without_the_lease,
    "shrug-at-a-late-payment": _shrug_at_a_late_payment,
    "sign-with-the-default-account": _sign_with_the_default_account,
    "fall-back-to-the-default-account": _fall_back_to_the_default_account,
    "republish-without-the-account": _republish_without_the_account,
}


def seed(name: str) -> Callable[[], None]:
    patches = BUGS[name]()
    saved = [(owner, attribute, getattr(owner, attribute)) for owner, attribute, _ in patches]
    for owner, attribute, replacement in patches:
        setattr(owner, attribute, replacement)

    def undo() -> None:
        for owner, attribute, original in saved:
            setattr(owner, attribute, original)

    return undo
