"""A provider's request rate limit per merchant account, shared by all of a sweep's worker threads.

Calls of one account are spaced at least 1/rate seconds apart, whatever the concurrency, so a
sweep never sends a provider more than it allows an account (providers limit per merchant); the
accounts together stay bounded by the sweep's concurrency. A rate of 0 turns the limit off.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimiter:
    def __init__(
        self,
        per_second: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._interval = 1 / per_second if per_second > 0 else 0.0
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_slots: dict[str | None, float] = {}

    def acquire(self, account: str | None = None) -> None:
        """Wait for this call's slot in its account's line (None: the default account). Slots
        are handed out in order under a lock; the wait itself happens outside it, so waiting
        threads do not serialise on the lock."""
        if not self._interval:
            return
        with self._lock:
            now = self._clock()
            slot = max(now, self._next_slots.get(account, 0.0))
            self._next_slots[account] = slot + self._interval
        delay = slot - now
        if delay > 0:
            self._sleep(delay)
