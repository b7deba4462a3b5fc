"""A sweep's summary: what the handler returns and what the metrics report.

Worker threads count into it concurrently, so every update goes through one lock.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any


class SweepSummary:
    """Counters of one sweep.

    A plain class, not a dataclass: it is mutable shared state, never compared or copied, and
    a dataclass's generated methods cost its module a millisecond of every cold start.
    """

    def __init__(self, provider: str, shards: list[int] | None = None, trigger: str = "schedule") -> None:
        self.provider = provider
        self.trigger = trigger
        """What asked: `schedule` (a sweep), `invoke` (a synchronous check), `queue` (queued checks)."""
        self.shards: list[int] = list(shards or [])
        self.checked = 0
        """Orders whose provider status was queried (cancel confirmations included)."""
        self.outcomes: Counter[str] = Counter()
        self.rescheduled = 0
        self.left_due = 0
        """Due orders this sweep did not reach (deadline, or an index read that failed)."""
        self.cancels_requested = 0
        self.republished = 0
        self.claim_conflicts = 0
        self.shards_ceded = 0
        """Shards set aside because an overlapping sweep was working them, and revisited last."""
        self.invalid_orders = 0
        self.audited = 0
        """Decided orders asked again (`paysweep.sweep.audit`); counted in `checked` too."""
        self.late_payments = 0
        """Payments an audit found made after the decision (cancelled, or sent to REVIEW)."""
        self.errors: Counter[str] = Counter()
        """Failures of our own steps (claim, record, publish, ...), by step."""
        self.provider_errors: Counter[str] = Counter()
        """Provider answers that decided nothing (timeouts, 5xx, bad answers, ...), by kind."""
        self.misconfigured = 0
        """Provider answers refusing our configuration (credentials, app code, signature)."""
        self.complete = True
        """False when this sweep left due work (an order or an audit) unreached."""
        self.oldest_due_age_seconds: int | None = None
        self.duration_ms = 0
        self.latencies_ms: list[int] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SweepSummary({self.to_dict()!r})"

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
            "trigger": self.trigger,
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
            "audited": self.audited,
            "latePayments": self.late_payments,
            "errors": dict(sorted(self.errors.items())),
            "providerErrors": dict(sorted(self.provider_errors.items())),
            "misconfigured": self.misconfigured,
            "oldestDueAgeSeconds": self.oldest_due_age_seconds,
            "durationMs": self.duration_ms,
        }
