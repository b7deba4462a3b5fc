"""A sweep's summary: what the handler returns and what the metrics report.

Worker threads count into it concurrently, so every update goes through one lock.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class SweepSummary:
    provider: str
    shards: list[int] = field(default_factory=list)
    checked: int = 0
    """Orders whose provider status was queried (cancel confirmations included)."""
    outcomes: Counter[str] = field(default_factory=Counter)
    rescheduled: int = 0
    left_due: int = 0
    """Due orders this sweep did not reach (deadline, or an index read that failed)."""
    cancels_requested: int = 0
    republished: int = 0
    claim_conflicts: int = 0
    shards_ceded: int = 0
    """Shards left to an overlapping sweep that was already working them."""
    invalid_orders: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    """Failures of our own steps (claim, record, publish, ...), by step."""
    provider_errors: Counter[str] = field(default_factory=Counter)
    """Provider answers that decided nothing (timeouts, 5xx, bad answers, ...), by kind."""
    misconfigured: int = 0
    """Provider answers refusing our configuration (credentials, app code, signature)."""
    complete: bool = True
    oldest_due_age_seconds: int | None = None
    duration_ms: int = 0
    latencies_ms: list[int] = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, name: str, amount: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + amount)

    def count_outcome(self, outcome: str) -> None:
        with self._lock:
            self.outcomes[outcome] += 1

    def count_error(self, kind: str) -> None:
        with self._lock:
            self.errors[kind] += 1

    def count_provider_error(self, kind: str) -> None:
        with self._lock:
            self.provider_errors[kind] += 1

    def add_latency(self, milliseconds: int) -> None:
        with self._lock:
            self.latencies_ms.append(milliseconds)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form: the handler's return value."""
        return {
            "provider": self.provider,
            "shards": self.shards,
            "checked": self.checked,
            "outcomes": dict(sorted(self.outcomes.items())),
            "rescheduled": self.rescheduled,
            "leftDue": self.left_due,
            "complete": self.complete,
            "cancelsRequested": self.cancels_requested,
            "republished": self.republished,
            "claimConflicts": self.claim_conflicts,
            "shardsCeded": self.shards_ceded,
            "invalidOrders": self.invalid_orders,
            "errors": dict(sorted(self.errors.items())),
            "providerErrors": dict(sorted(self.provider_errors.items())),
            "misconfigured": self.misconfigured,
            "oldestDueAgeSeconds": self.oldest_due_age_seconds,
            "durationMs": self.duration_ms,
        }
