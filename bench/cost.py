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

DynamoDB write units are MiniStack's answers: every DynamoDB call of the sandboxes asks for
`ReturnConsumedCapacity=INDEXES` (`paysweep_local.sandbox`), which MiniStack computes by
DynamoDB's documented rules from the item before and after each write (table and each global
secondary index). A refused conditional write carries no `ConsumedCapacity` in DynamoDB's
answer, nor in MiniStack's: where refusals matter (`claim-conflict-wru`), the figure counts them
and prices each at DynamoDB's documented charge. The cost below prices those measured units;
reads are computed here, because MiniStack reports a flat half unit per Query or Scan page
whatever it read:

- an eventually consistent read costs 0.5 per 4 KB read (rounded up per request).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

PRICE_LIST_DATE = "2024-11-01"
PRICES_CROSS_CHECKED = "2026-11-28"
LAMBDA_ARM_GB_SECOND = 0.0000133334
LAMBDA_PER_REQUEST = 0.20 / 1_000_000
DYNAMODB_PER_WRU = 0.625 / 1_000_000
DYNAMODB_PER_RRU = 0.125 / 1_000_000
SNS_PER_PUBLISH_REQUEST = 0.50 / 1_000_000
SNS_CHUNK_BYTES = 64 * 1024
MILLION = 1_000_000
FAILED_SHARE_OF_TERMINAL = 0.25
"""Assumed share of decided orders that end FAILED `EXPIRED` and are audited (twice: an hour and
a day after the decision): a WeChat QR code or a virtual account left unpaid is common. The
benchmark's mix has none; the audits' cost line prices this share, from the audit figure's
measured write units per failed order."""
AUDITS_PER_FAILED = 2
AUDITS_LINE = "audits"
"""The cost line of the audits starts so: the target prices the checks without it."""


# ----------------------------------------------------------------------------------------
# The floor
# ----------------------------------------------------------------------------------------


FLOOR_WRU_PENDING = 3.0
"""A check that leaves the order pending must move `nextCheckAt` once: 1 table unit, and the due
index's entry deleted and put (2 units)."""
FLOOR_WRU_TERMINAL = 4.5
"""A terminal check must take the order out of the due index and clear an outbox marker: about
4.5 units (the issue's floor)."""


def floor_wru(pending_share: float) -> float:
    """The floor's write units per check at a mix with this share of checks left pending."""
    return pending_share * FLOOR_WRU_PENDING + (1 - pending_share) * FLOOR_WRU_TERMINAL


def floor_per_million(pending_share: float) -> float:
    """Dollars per million checks at the floor: its write units, nothing else."""
    return floor_wru(pending_share) * MILLION * DYNAMODB_PER_WRU


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
    wru_per_pending: float
    """Measured write units per check left pending (steady state, history full)."""
    wru_per_terminal: float
    """Measured write units per terminal check at the mix's terminal outcomes (outbox included)."""
    due_entry_bytes: int
    message_bytes: int
    """An outcome message body plus its message attributes, as published."""
    audit_wru_per_failed: float | None = None
    """Measured write units an order decided FAILED EXPIRED costs for its audits (its audit-index
    entry, and both audits), beyond what its decision costs without audits; None: not measured."""


@dataclass(frozen=True)
class CostLine:
    item: str
    quantity: str
    dollars: float
    dollars_at_limit: float | None = None


def per_million_checks(inputs: CostInputs) -> tuple[list[CostLine], dict[str, float]]:
    """Cost lines for one million status checks at the measured mix and durations."""
    scale = MILLION / inputs.checks
    pending_wru, terminal_wru = inputs.wru_per_pending, inputs.wru_per_terminal
    wru = (inputs.pending_checks * pending_wru + inputs.terminal_checks * terminal_wru) * scale
    model_writes = inputs.pending_checks * 2 + inputs.terminal_checks * 3
    rru = (read_units(inputs.due_items_read, inputs.due_entry_bytes, inputs.due_queries)
           + read_units(0, 0, inputs.other_queries)) * scale
    batch_requests = math.ceil(min(10, max(1, inputs.messages_published)) * inputs.message_bytes / SNS_CHUNK_BYTES)
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
    audits = 0.0
    if inputs.audit_wru_per_failed is not None:
        failed = inputs.terminal_checks * scale * FAILED_SHARE_OF_TERMINAL
        audit_wru = failed * inputs.audit_wru_per_failed
        audits = failed * AUDITS_PER_FAILED
        audit_gb_s = audits * gb_seconds / MILLION  # an audit is a provider call, timed as a check
        audit_gb_s_limit = audits * gb_seconds_limit / MILLION
        lines.append(CostLine(
            f"{AUDITS_LINE} ({AUDITS_PER_FAILED} per FAILED EXPIRED, at {FAILED_SHARE_OF_TERMINAL:.0%} of terminal checks)",
            f"{audits:,.0f} audits, {audit_wru:,.0f} WRU",
            audit_wru * DYNAMODB_PER_WRU + audit_gb_s * LAMBDA_ARM_GB_SECOND,
            audit_wru * DYNAMODB_PER_WRU + audit_gb_s_limit * LAMBDA_ARM_GB_SECOND,
        ))
    details = {
        "audits": audits,
        "auditWruPerAudit": (inputs.audit_wru_per_failed or 0.0) / AUDITS_PER_FAILED,
        "wruPerPendingCheck": pending_wru,
        "wruPerTerminalCheck": terminal_wru,
        "wruPerCheck": wru / MILLION,
        "modelWritesPerCheck": model_writes / inputs.checks,
        "measuredWritesPerCheck": inputs.measured_writes / inputs.checks,
        "gbSecondsPerCheck": gb_seconds / MILLION,
        "snsRequestsIfBilledPerMessage": inputs.messages_published * scale,
    }
    return lines, details


def monthly_idle(empty_sweep_s: float, memory_mb: int, functions: int = 2, per_month: int = 43_200,
                 queries_per_sweep: int = 12) -> float:
    """Dollars a month for the schedules alone (every minute, both providers, nothing due)."""
    invocations = functions * per_month
    lambda_cost = invocations * (memory_mb / 1024 * empty_sweep_s * LAMBDA_ARM_GB_SECOND + LAMBDA_PER_REQUEST)
    reads = invocations * queries_per_sweep * 0.5 * DYNAMODB_PER_RRU
    return lambda_cost + reads
