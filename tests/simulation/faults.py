"""Which call fails, and how: every draw comes from the seed, so a failing seed replays."""

from __future__ import annotations

import random

PROVIDER_FAULTS = ("timeout", "lost", "error", "garbage", "stall")
"""timeout: no effect, RETRY_LATER after the read timeout; lost: the provider acted (a cancel
stands) but the answer never came; error: a 5xx; garbage: an answer that breaks the docs;
stall: the sweep stops for longer than a lease before the answer arrives (a clock jump)."""
WRITE_FAULTS = ("throttle", "lost", "crash_before", "crash_after", "stall")
"""throttle: refused after the SDK's retries, no effect; lost: applied, but the answer is an
error; crash_before / crash_after: the invocation dies before / after the write; stall: the
invocation stops for longer than a lease before the answer arrives."""
READ_FAULTS = ("throttle",)
PUBLISH_FAULTS = ("fail", "lost", "partial", "crash_after")
"""fail: SNS refused every entry; lost: SNS took them but the answer was an error; partial:
some entries failed; crash_after: published, then the invocation died."""


class Faults:
    def __init__(self, rng: random.Random, rate: float, *, lease_seconds: float) -> None:
        self.rng = rng
        self.rate = rate
        self.lease_seconds = lease_seconds
        self.enabled = True
        self.injected: dict[str, int] = {}
        self.stalled: set[str] = set()
        """Invocations (scheduler groups) a stall fault froze: Lambda may kill them at their
        timeout, through no fault of the product."""

    def _draw(self, site: str, kinds: tuple[str, ...]) -> str | None:
        if not self.enabled or self.rng.random() >= self.rate:
            return None
        kind = self.rng.choice(kinds)
        self.injected[f"{site} {kind}"] = self.injected.get(f"{site} {kind}", 0) + 1
        return kind

    def provider(self, call: str) -> str | None:
        return self._draw(f"provider {call}", PROVIDER_FAULTS)

    def write(self, call: str) -> str | None:
        return self._draw(f"store {call}", WRITE_FAULTS)

    def read(self, call: str) -> str | None:
        return self._draw(f"store {call}", READ_FAULTS)

    def publish(self) -> str | None:
        return self._draw("sns publish", PUBLISH_FAULTS)

    def latency(self, low: float, high: float) -> float:
        return self.rng.uniform(low, high)

    def stall_seconds(self, group: str) -> float:
        """Longer than a lease: another sweep may take the order over meanwhile."""
        self.stalled.add(group)
        return self.lease_seconds + self.rng.uniform(1, 60)
