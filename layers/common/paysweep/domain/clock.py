"""Time at the edges: UTC, ISO-8601, one canonical text form.

The due index sorts `nextCheckAt` as a string, so every timestamp the sweeper writes uses
the same fixed-width form (`2026-11-22T03:14:15Z`, whole seconds). Mixing forms such as
`...15Z` and `...15.5Z` would make the index order lie, because `.` sorts before `Z`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

Clock = Callable[[], datetime]

CANONICAL_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
KST = timezone(timedelta(hours=9), "KST")


def utc_now() -> datetime:
    """The wall clock, timezone-aware in UTC."""
    return datetime.now(UTC)


def to_iso(moment: datetime) -> str:
    """Canonical text form of an aware datetime, truncated to whole seconds."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: paysweep only handles timezone-aware UTC times")
    return moment.astimezone(UTC).strftime(CANONICAL_FORMAT)


def parse_iso(text: object) -> datetime:
    """Parse an ISO-8601 timestamp that names its offset (`Z` or `+09:00`) into UTC.

    A timestamp without an offset is refused: guessing the zone of a payment deadline
    is how orders get expired nine hours early.
    """
    if not isinstance(text, str) or not text:
        raise ValueError("expected an ISO-8601 timestamp string")
    normalised = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    try:
        moment = datetime.fromisoformat(normalised)
    except ValueError as error:
        raise ValueError(f"not an ISO-8601 timestamp: {text!r}") from error
    if moment.tzinfo is None:
        raise ValueError(f"timestamp has no UTC offset: {text!r}")
    return moment.astimezone(UTC)

