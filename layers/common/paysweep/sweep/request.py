"""What a schedule asks a sweep to do: every shard of the provider (default) or a subset."""

from __future__ import annotations

from typing import NamedTuple


class InvalidSweepRequest(ValueError):
    """The schedule's input names shards this function does not have."""


class SweepRequest(NamedTuple):
    """The schedule's input (CONTRACT.md section 5): `"shards": "all"` or a list of shard
    numbers, so several schedules can sweep one provider on disjoint shards."""

    shards: tuple[int, ...] | None = None

    @classmethod
    def from_event(cls, event: object) -> SweepRequest:
        shards = event.get("shards") if isinstance(event, dict) else None
        if shards in (None, "all", "*"):
            return cls()
        if isinstance(shards, list) and shards and all(isinstance(s, int) and not isinstance(s, bool) for s in shards):
            return cls(tuple(sorted(set(shards))))
        raise InvalidSweepRequest(f"event 'shards' must be a list of shard numbers or 'all', got {shards!r}")

    def resolve(self, shard_count: int) -> list[int]:
        if self.shards is None:
            return list(range(shard_count))
        outside = [s for s in self.shards if not 0 <= s < shard_count]
        if outside:
            raise InvalidSweepRequest(f"shards {outside} are outside 0..{shard_count - 1} (SWEEP_SHARDS={shard_count})")
        return list(self.shards)
