"""Function configuration, parsed once per container into a typed object.

Every knob is an environment variable set by `template.yaml` (CONTRACT.md section 4);
the README lists them all. A bad value stops the function at start-up with a message
that names the variable, instead of surfacing as a strange sweep later.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from itertools import pairwise
from typing import NamedTuple
from urllib.parse import urlparse

from paysweep.domain.outcomes import Outcome

DEFAULT_BACKOFF = (60, 60, 120, 180, 300, 600, 900)
DEFAULT_AUDITS = (3600, 86400)
"""An hour and a day after the decision."""


class ConfigError(ValueError):
    """A configuration value the function cannot run with."""


class SweepConfig(NamedTuple):
    """Everything a sweep needs to know about its environment."""

    table_name: str
    compensations_table: str
    due_index: str
    topic_arns: Mapping[Outcome, str]
    provider_base_url: str
    provider_secret_arn: str
    sweep_shards: int
    http_timeout: int
    """Read timeout of one provider call, seconds (30 per both providers' docs)."""
    connect_timeout: int
    connect_retries: int
    concurrency: int
    page_size: int
    backoff: tuple[int, ...]
    """Seconds between checks of a pending order: the n-th check waits `backoff[n-1]`."""
    expiry_window: timedelta | None
    """Overrides the provider's default polling window when orders carry no `expiresAt`."""
    expiry_grace: timedelta
    final_retry: timedelta
    """After the final check, how long a doubtful answer is asked again before REVIEW."""
    cancel_window: timedelta
    lease_margin: timedelta
    deadline_margin: timedelta
    outbox_grace: timedelta
    """How long a decided order's lease runs after the decision (CONTRACT.md section 2): the sweep
    that recorded the outcome publishes it within that time; after it, the next sweep to claim the
    order (still in the due index, the outbox) re-publishes it."""
    max_answer_bytes: int
    rate_limit_per_second: int
    """At most this many provider calls per second per sweep; 0 = no limit."""
    secret_max_age: int
    allow_insecure_http: bool
    audit_index: str
    """The sparse index of due audits (AUDIT_INDEX_NAME), queried by the store."""
    audit_schedule: tuple[int, ...]
    """Seconds after a FAILED `EXPIRED` or REVIEW `UNKNOWN_PROVIDER_STATE` decision at which the
    provider is asked again; empty: no audits."""
    cancel_late_payments: bool
    """A payment made after the order was decided FAILED: cancel it where the provider can
    (LATE_PAYMENT_ACTION=cancel), or publish REVIEW for a person (=review)."""

    @property
    def call_budget(self) -> timedelta:
        """Longest one provider call can take: connect attempts plus the read timeout."""
        connects = self.connect_timeout * (self.connect_retries + 1)
        backoff = 0.5 * (2 ** self.connect_retries)
        return timedelta(seconds=connects + backoff + self.http_timeout)

    @property
    def lease(self) -> timedelta:
        """How long a claim keeps other sweeps away: one call plus a margin.

        Re-taken before a second call on the same order (a cancel after a status query).
        """
        return self.call_budget + self.lease_margin

    @property
    def claim_reserve(self) -> timedelta:
        """Remaining invocation time below which the sweep stops claiming."""
        return self.call_budget + self.deadline_margin

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SweepConfig:
        env = _Env(os.environ if environ is None else environ)
        config = cls(
            table_name=env.text("ORDERS_TABLE"),
            compensations_table=env.text("COMPENSATIONS_TABLE"),
            due_index=env.text("DUE_INDEX_NAME", "due-index"),
            topic_arns={
                Outcome.APPROVED: env.text("APPROVED_TOPIC_ARN"),
                Outcome.FAILED: env.text("FAILED_TOPIC_ARN"),
                Outcome.CANCELLED: env.text("CANCELLED_TOPIC_ARN"),
                Outcome.REVIEW: env.text("REVIEW_TOPIC_ARN"),
            },
            provider_base_url=env.text("PROVIDER_BASE_URL").rstrip("/"),
            provider_secret_arn=env.text("PROVIDER_SECRET_ARN"),
            sweep_shards=env.integer("SWEEP_SHARDS", 4, low=1, high=1000),
            http_timeout=env.integer("HTTP_TIMEOUT_SECONDS", 30, low=1, high=300),
            connect_timeout=env.integer("HTTP_CONNECT_TIMEOUT_SECONDS", 5, low=1, high=60),
            connect_retries=env.integer("HTTP_CONNECT_RETRIES", 2, low=0, high=5),
            concurrency=env.integer("SWEEP_CONCURRENCY", 32, low=1, high=256),
            page_size=env.integer("SWEEP_PAGE_SIZE", 250, low=1, high=1000),
            backoff=env.seconds_list("BACKOFF_SCHEDULE_SECONDS", DEFAULT_BACKOFF),
            expiry_window=env.optional_duration("EXPIRY_WINDOW_SECONDS"),
            expiry_grace=env.duration("EXPIRY_GRACE_SECONDS", 300),
            final_retry=env.duration("FINAL_RETRY_SECONDS", 900),
            cancel_window=env.duration("CANCEL_CONFIRM_WINDOW_SECONDS", 3600),
            lease_margin=env.duration("LEASE_MARGIN_SECONDS", 30),
            deadline_margin=env.duration("DEADLINE_MARGIN_SECONDS", 10),
            outbox_grace=env.duration("OUTBOX_GRACE_SECONDS", 120),
            max_answer_bytes=env.integer("MAX_ANSWER_BYTES", 256 * 1024, low=1024, high=10 * 1024 * 1024),
            rate_limit_per_second=env.integer("PROVIDER_RATE_LIMIT_PER_SECOND", 0, low=0, high=10000),
            secret_max_age=env.integer("SECRET_MAX_AGE_SECONDS", 300, low=0, high=86400),
            allow_insecure_http=env.flag("ALLOW_INSECURE_HTTP"),
            audit_index=env.text("AUDIT_INDEX_NAME", "audit-index"),
            audit_schedule=env.seconds_list(
                "AUDIT_SCHEDULE_SECONDS", DEFAULT_AUDITS, empty=(), high=30 * 86400, increasing=True
            ),
            cancel_late_payments=env.choice("LATE_PAYMENT_ACTION", ("cancel", "review"), "cancel") == "cancel",
        )
        config.check_base_url()
        return config

    def check_base_url(self) -> None:
        """HTTPS only, unless the local stack explicitly allows plain HTTP."""
        url = urlparse(self.provider_base_url)
        if url.scheme == "https" and url.netloc:
            return
        if url.scheme == "http" and url.netloc and self.allow_insecure_http:
            return
        if url.scheme == "http":
            raise ConfigError(
                f"PROVIDER_BASE_URL {self.provider_base_url!r} is plain HTTP: payment APIs need HTTPS "
                "(set ALLOW_INSECURE_HTTP=true only for a local simulator)"
            )
        raise ConfigError(f"PROVIDER_BASE_URL {self.provider_base_url!r} is not an https:// URL")


class _Env:
    """Typed reads of environment variables with errors that name the variable."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def _raw(self, name: str) -> str | None:
        value = self._environ.get(name)
        return value.strip() if value is not None and value.strip() else None

    def text(self, name: str, default: str | None = None) -> str:
        value = self._raw(name) or default
        if value is None:
            raise ConfigError(f"environment variable {name} is required")
        return value

    def optional_text(self, name: str) -> str | None:
        return self._raw(name)

    def integer(self, name: str, default: int, *, low: int, high: int) -> int:
        raw = self._raw(name)
        try:
            value = int(raw) if raw is not None else default
        except ValueError:
            raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
        if not low <= value <= high:
            raise ConfigError(f"{name} must be between {low} and {high}, got {value}")
        return value

    def duration(self, name: str, default_seconds: int) -> timedelta:
        return timedelta(seconds=self.integer(name, default_seconds, low=0, high=7 * 86400))

    def optional_duration(self, name: str) -> timedelta | None:
        if self._raw(name) is None:
            return None
        return timedelta(seconds=self.integer(name, 0, low=60, high=30 * 86400))

    def seconds_list(
        self, name: str, default: tuple[int, ...], *, empty: tuple[int, ...] | None = None,
        high: int = 86400, increasing: bool = False,
    ) -> tuple[int, ...]:
        """Comma-separated whole seconds. Unset gives `default`; set but empty gives `empty`
        where that means something (AUDIT_SCHEDULE_SECONDS= turns audits off), else `default`."""
        if name in self._environ and not self._environ[name].strip() and empty is not None:
            return empty
        raw = self._raw(name)
        if raw is None:
            return default
        try:
            values = tuple(int(part) for part in raw.split(","))
        except ValueError:
            raise ConfigError(f"{name} must be comma-separated whole seconds, got {raw!r}") from None
        if not values or any(v < 1 or v > high for v in values):
            raise ConfigError(f"{name} entries must be between 1 and {high} seconds, got {raw!r}")
        if increasing and any(b <= a for a, b in pairwise(values)):
            raise ConfigError(f"{name} must be increasing (seconds after the decision), got {raw!r}")
        return values

    def choice(self, name: str, allowed: tuple[str, ...], default: str) -> str:
        value = (self._raw(name) or default).lower()
        if value not in allowed:
            raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
        return value

    def flag(self, name: str) -> bool:
        raw = (self._raw(name) or "false").lower()
        if raw not in {"true", "false", "1", "0", "yes", "no"}:
            raise ConfigError(f"{name} must be true or false, got {raw!r}")
        return raw in {"true", "1", "yes"}
