"""What every order of one sweep shares: the ports, the sweep's clock, limits and counters.

Not the order store: an order's work reads and writes its order only through its lease
(`sweep.lease.OrderLease`), which the engine builds with the store when it claims the order.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import NamedTuple

from paysweep.config import SweepConfig
from paysweep.sweep.outbox import OutboxBuffer
from paysweep.sweep.ports import AccountDirectory, Clock, CompensationJournal, ProviderAdapter
from paysweep.sweep.ratelimit import RateLimiter
from paysweep.sweep.summary import SweepSummary


class SweepTools(NamedTuple):
    """What every order of one sweep shares: the ports, the sweep's clock, limits and counters."""

    adapter: ProviderAdapter
    journal: CompensationJournal
    outbox: OutboxBuffer
    clock: Clock
    rate_limiter: RateLimiter
    config: SweepConfig
    summary: SweepSummary
    out_of_time: Callable[[], bool]
    accounts: AccountDirectory
    """The merchant accounts the provider's secret holds: an order naming another is invalid."""
    started_at: datetime
    """When the sweep began: backoff counts from here, so a one-minute wait on a one-minute
    schedule means the next sweep, not the one after."""
