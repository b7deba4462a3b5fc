"""What a million status checks cost in AWS, from the figures this run measured.

Prices: us-east-1, AWS's public price list as in force since the DynamoDB on-demand price
cut of 2024-11-01 (`PRICE_LIST_DATE`); cross-checked on 2026-11-28 against published
copies of the pages below. Change them here when AWS changes them.

- Lambda (https://aws.amazon.com/lambda/pricing/), arm64: $0.0000133334 per GB-second
  (first 7.5 billion GB-s a month) and $0.20 per million requests.
- DynamoDB on-demand (https://aws.amazon.com/dynamodb/pricing/on-demand/), Standard table
  class, after the 2024-11-01 price cut: $0.625 per million write request units, $0.125 per
  million read request units.
- SNS standard topics (https://aws.amazon.com/sns/pricing/): $0.50 per million publish
  requests; each 64 KB chunk of a request's payload is one request. A PublishBatch call is
  one request for up to 64 KB of messages: AWS's documentation says batching "can reduce
  the costs ... by a factor of up to 10" (https://docs.aws.amazon.com/sns/latest/dg/sns-batch-api-actions.html).
  Delivery to SQS or Lambda subscribers is free; other protocols are billed to whoever
  subscribes and are not counted here.

DynamoDB does not report consumed capacity in the emulator (moto answers fixed values),
so request units are computed from measured call counts and measured item sizes with
AWS's documented rules (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html,
.../GSI.html#GSI.Writes):

- a write costs ceil(max(item size before, after) / 1 KB) units on the table;
- every global secondary index the write touches costs ceil(index entry / 1 KB) more per
  index write: 1 when an entry appears or disappears, 2 when an index key changes (delete
  the old entry, put the new one);
- an eventually consistent read costs 0.5 per 4 KB read (rounded up per request).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

PRICE_LIST_DATE = "2024-11-01"
PRICES_CROSS_CHECKED = "2026-11-28"
LAMBDA_ARM_GB_SECOND = 0.0000133334
LAMBDA_PER_REQUEST = 0.20 / 1_000_000
DYNAMODB_PER_WRU = 0.625 / 1_000_000
DYNAMODB_PER_RRU = 0.125 / 1_000_000
SNS_PER_PUBLISH_REQUEST = 0.50 / 1_000_000
SNS_CHUNK_BYTES = 64 * 1024
MILLION = 1_000_000
HISTORY_LIMIT = 8


# ----------------------------------------------------------------------------------------
# DynamoDB item sizes
# ----------------------------------------------------------------------------------------


def value_size(value: Any) -> int:
    """Bytes of one attribute value by DynamoDB's rules (names are counted by the caller)."""
    if value is None or isinstance(value, bool):
        return 1
    if isinstance(value, (int, Decimal)):
        digits = str(abs(Decimal(value)).normalize()).replace(".", "").lstrip("0").rstrip("0") or "0"
        return math.ceil(len(digits) / 2) + 1
    if isinstance(value, str):
        return len(value.encode("utf-8"))
    if isinstance(value, (bytes, bytearray)):
        return len(value)
    if isinstance(value, dict):
        return 3 + sum(len(k.encode("utf-8")) + value_size(v) + 1 for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return 3 + sum(value_size(v) + 1 for v in value)
    if isinstance(value, (set, frozenset)):
        return sum(value_size(v) for v in value)
    raise TypeError(f"no DynamoDB size for {type(value).__name__}")


def item_size(item: dict[str, Any]) -> int:
    """Bytes of a (deserialised) DynamoDB item: attribute names plus values."""
    return sum(len(name.encode("utf-8")) + value_size(value) for name, value in item.items())


def project(item: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    return {name: item[name] for name in names if name in item}


def with_full_history(item: dict[str, Any]) -> dict[str, Any]:
    """The same item after enough checks to fill its bounded history (the steady state)."""
    history = list(item.get("history") or [])
    if not history:
        return dict(item)
    return {**item, "history": (history * HISTORY_LIMIT)[-HISTORY_LIMIT:]}


@dataclass(frozen=True)
class ItemSizes:
    """Sizes, in bytes, of the order item at each step of a check (history full)."""

    pending: int
    """A pending order between checks."""
    claimed: int
    """The same, leased by a sweep."""
    recorded: int
    """A terminal order with its outbox marker (the outcome message) not yet cleared."""
    final: int
    """A terminal order after the marker is cleared."""
    due_entry: int
    """A due-index entry (keys only: orderId, sweepKey, nextCheckAt)."""
    outbox_entry: int
    """An outbox-index entry (orderId, outboxKey, outboxSince and the outbox map)."""
    message_bytes: int
    """An outcome message body plus its message attributes, as published."""


def write_units(size_bytes: int) -> int:
    return max(1, math.ceil(size_bytes / 1024))


@dataclass(frozen=True)
class WriteCost:
    """Write request units of one write: the table, and each index it touches."""

    name: str
    table: int
    index: int

    @property
    def total(self) -> int:
        return self.table + self.index


def write_costs(sizes: ItemSizes) -> dict[str, WriteCost]:
    """Each write the sweeper makes, and what it costs (see the module docstring)."""
    due, outbox = write_units(sizes.due_entry), write_units(sizes.outbox_entry)
    return {
        # claim: lease fields set, nextCheckAt moved to the lease's end (due-index key changes)
        "claim": WriteCost("claim", write_units(max(sizes.pending, sizes.claimed)), 2 * due),
        # reschedule-and-release: lease removed, nextCheckAt moved again
        "reschedule": WriteCost("reschedule", write_units(max(sizes.claimed, sizes.pending)), 2 * due),
        # terminal record: leaves the due index, enters the outbox index (with the message)
        "record": WriteCost("record", write_units(max(sizes.claimed, sizes.recorded)), due + outbox),
        # outbox marker cleared after SNS accepted the message: leaves the outbox index
        "clear": WriteCost("clear", write_units(max(sizes.recorded, sizes.final)), outbox),
    }


def read_units(items: int, entry_bytes: int, requests: int) -> float:
    """Eventually consistent reads: 0.5 per 4 KB, at least one unit's half per request."""
    return 0.5 * (math.ceil(items * entry_bytes / 4096) + requests)


# ----------------------------------------------------------------------------------------
# Per million checks
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CostInputs:
    """Measured figures of one sweep that the cost is computed from."""

    checks: int
    pending_checks: int
    terminal_checks: int
    duration_s: float
    provider_bound_s: float
    memory_mb: int
    due_queries: int
    due_items_read: int
    other_queries: int
    publish_batches: int
    messages_published: int
    measured_writes: int


@dataclass(frozen=True)
class CostLine:
    item: str
    quantity: str
    dollars: float
    dollars_at_limit: float | None = None


def per_million_checks(inputs: CostInputs, sizes: ItemSizes) -> tuple[list[CostLine], dict[str, float]]:
    """Cost lines for one million status checks at the measured mix and durations."""
    scale = MILLION / inputs.checks
    costs = write_costs(sizes)
    pending_wru = costs["claim"].total + costs["reschedule"].total
    terminal_wru = costs["claim"].total + costs["record"].total + costs["clear"].total
    wru = (inputs.pending_checks * pending_wru + inputs.terminal_checks * terminal_wru) * scale
    model_writes = inputs.pending_checks * 2 + inputs.terminal_checks * 3
    rru = (read_units(inputs.due_items_read, sizes.due_entry, inputs.due_queries)
           + read_units(0, 0, inputs.other_queries)) * scale
    batch_requests = math.ceil(min(10, max(1, inputs.messages_published)) * sizes.message_bytes / SNS_CHUNK_BYTES)
    sns_requests = inputs.publish_batches * max(1, batch_requests) * scale
    gb = inputs.memory_mb / 1024
    gb_seconds = gb * inputs.duration_s * scale
    gb_seconds_limit = gb * inputs.provider_bound_s * scale
    invocations = scale  # one invocation per sweep of `checks` due orders
    lines = [
        CostLine(f"Lambda duration (arm64, {inputs.memory_mb} MB)", f"{gb_seconds:,.0f} GB-s",
                 gb_seconds * LAMBDA_ARM_GB_SECOND, gb_seconds_limit * LAMBDA_ARM_GB_SECOND),
        CostLine("Lambda requests", f"{invocations:,.0f} invocations", invocations * LAMBDA_PER_REQUEST,
                 invocations * LAMBDA_PER_REQUEST),
        CostLine("DynamoDB writes (table + indexes)", f"{wru:,.0f} WRU", wru * DYNAMODB_PER_WRU, wru * DYNAMODB_PER_WRU),
        CostLine("DynamoDB reads", f"{rru:,.0f} RRU", rru * DYNAMODB_PER_RRU, rru * DYNAMODB_PER_RRU),
        CostLine("SNS publishes (PublishBatch)", f"{sns_requests:,.0f} requests",
                 sns_requests * SNS_PER_PUBLISH_REQUEST, sns_requests * SNS_PER_PUBLISH_REQUEST),
    ]
    details = {
        "wruPerPendingCheck": pending_wru,
        "wruPerTerminalCheck": terminal_wru,
        "modelWritesPerCheck": model_writes / inputs.checks,
        "measuredWritesPerCheck": inputs.measured_writes / inputs.checks,
        "gbSecondsPerCheck": gb_seconds / MILLION,
        "snsRequestsIfBilledPerMessage": inputs.messages_published * scale,
    }
    return lines, details


def monthly_idle(empty_sweep_s: float, memory_mb: int, functions: int = 2, per_month: int = 43_200,
                 queries_per_sweep: int = 8) -> float:
    """Dollars a month for the schedules alone (every minute, both providers, nothing due)."""
    invocations = functions * per_month
    lambda_cost = invocations * (memory_mb / 1024 * empty_sweep_s * LAMBDA_ARM_GB_SECOND + LAMBDA_PER_REQUEST)
    reads = invocations * queries_per_sweep * 0.5 * DYNAMODB_PER_RRU
    return lambda_cost + reads
