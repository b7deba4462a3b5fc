"""When a pending order is checked again, when polling it stops, and when a decided order is
audited.

Backoff: the n-th check of an order is followed by a wait of `backoff[n-1]` seconds,
the last entry repeating (default 1, 1, 2, 3, 5, 10, then every 15 minutes). Polling
never waits past the order's final check, `expiresAt + EXPIRY_GRACE_SECONDS`: the grace
lets a payment made in the last second reach the provider's books before we decide.

Audits: a decision the provider's books can still overturn is asked again at each entry of
AUDIT_SCHEDULE_SECONDS after the decision (default an hour and a day).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta


def backoff_delay(checks_done: int, backoff: Sequence[int]) -> timedelta:
    """Wait after the `checks_done`-th check (1-based)."""
    index = min(max(checks_done, 1), len(backoff)) - 1
    return timedelta(seconds=backoff[index])


def next_check_at(
    checks_done: int, now: datetime, final_check: datetime, backoff: Sequence[int], give_up: datetime | None = None
) -> datetime:
    """When to check again: after the backoff, but never later than the final check.

    Between the final check and `give_up` (a doubtful answer at the final check), ask again
    at the schedule's first, shortest step. After that (an order kept due by a
    configuration error), the backoff alone applies.
    """
    candidate = now + backoff_delay(checks_done, backoff)
    if now < final_check:
        candidate = min(candidate, final_check)
    elif give_up is not None and now < give_up:
        candidate = min(now + backoff_delay(1, backoff), give_up)
    # Whole seconds, rounded down: a one-minute wait that starts a fraction of a second
    # after a tick must be due at the next tick, not the one after.
    return candidate.replace(microsecond=0)


def next_audit_at(decided_at: datetime, now: datetime, schedule: Sequence[int]) -> datetime | None:
    """The first audit of `schedule` (seconds after the decision) still ahead of `now`; None once
    the schedule is done. An audit reached late (a backlog) skips the steps it missed: asking
    twice in a row says nothing more than asking once."""
    for seconds in schedule:
        at = decided_at + timedelta(seconds=seconds)
        if at > now:
            return at
    return None


def audit_retry_at(
    decided_at: datetime, now: datetime, schedule: Sequence[int], *, retry_after: timedelta, give_up_after: timedelta
) -> datetime | None:
    """After an audit the provider gave no usable answer to (a doubt is never a finding): ask again
    after `retry_after` (or at the next scheduled audit, if sooner). None, out of the schedule,
    once `give_up_after` has passed since the last scheduled audit."""
    if not schedule or now >= decided_at + timedelta(seconds=schedule[-1]) + give_up_after:
        return None
    retry = now + retry_after
    scheduled = next_audit_at(decided_at, now, schedule)
    return min(retry, scheduled) if scheduled is not None else retry
