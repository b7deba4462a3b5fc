"""The invariants of paysweep's architecture (README, Reliability), checked over the orders table
and what was published: the one definition of each, for every suite.

Each rule takes the table's items (deserialised) and the published messages (parsed bodies) and
returns its problems, one line each. The integration tests call `check_all` once the system has
settled; the deterministic simulation (`simulation.invariants`) calls the same rules after every
write, beside the checks only it can make (it knows the provider's truth).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

TERMINAL = {"APPROVED", "FAILED", "CANCELLED", "REVIEW"}
ACTIVE = {"PENDING", "CANCELLING"}

Item = Mapping[str, Any]
Message = Mapping[str, Any]


def check_not_lost(items: Iterable[Item]) -> list[str]:
    """No order is lost: every order is decided, or still due in the index (`sweepKey` and
    `nextCheckAt`). A decided order may be in the index too, while its outcome waits to be
    published, but never half in it."""
    problems = []
    for item in items:
        status = item.get("status")
        if status in TERMINAL:
            if bool(item.get("sweepKey")) != bool(item.get("nextCheckAt")):
                problems.append(f"{item['orderId']}: {status} half in the due index")
        elif status in ACTIVE:
            if not item.get("sweepKey") or not item.get("nextCheckAt"):
                problems.append(f"{item['orderId']}: {status} but not in the due index (lost)")
        else:
            problems.append(f"{item['orderId']}: unknown status {status!r}")
    return problems


def check_one_event_per_decision(messages: Iterable[Message]) -> list[str]:
    """One `eventId` per decision, and every later one a correction of a published one: an
    order's messages all chain to one head, and each `supersedes` names one of them."""
    event_ids: dict[str, set[str]] = defaultdict(set)
    superseded: dict[str, set[str]] = defaultdict(set)
    for message in messages:
        event_ids[message["orderId"]].add(message["eventId"])
        if message.get("supersedes"):
            superseded[message["orderId"]].add(message["supersedes"])
    return [
        f"{order_id}: published {sorted(ids)}, superseding {sorted(superseded[order_id])}"
        for order_id, ids in event_ids.items()
        if len(ids - superseded[order_id]) != 1 or not superseded[order_id] <= ids
    ]


def check_published(items: Iterable[Item], messages: Iterable[Message], *, settled: bool = True) -> list[str]:
    """Every terminal transition is published, under one stable `eventId` matching the table.

    An order may have had earlier messages since corrected (an audit found a late payment):
    every `eventId` it published other than the recorded one must be superseded by one of its
    messages, so the chain ends in what the table holds. With `settled`, nothing may still sit
    in the outbox: a decided order has left the due index.
    """
    problems = []
    by_order: dict[str, set[str]] = {}
    superseded: dict[str, set[str]] = {}
    for message in messages:
        by_order.setdefault(message["orderId"], set()).add(message["eventId"])
        if message.get("supersedes"):
            superseded.setdefault(message["orderId"], set()).add(message["supersedes"])
    for item in items:
        order_id = item["orderId"]
        published = by_order.pop(order_id, set())
        corrected = superseded.get(order_id, set())
        if corrected - published:
            problems.append(f"{order_id}: a correction supersedes {sorted(corrected - published)}, never published")
        if item.get("status") not in TERMINAL:
            continue  # an active order may have published a compensation the table could not record yet
        event_id = item["outcome"]["eventId"]
        if event_id not in published:
            problems.append(f"{order_id}: {event_id} recorded but never published")
        if published - {event_id} - corrected:
            problems.append(f"{order_id}: published {sorted(published)} but recorded {event_id}")
        if event_id in corrected:
            problems.append(f"{order_id}: the recorded {event_id} was superseded by a message")
        if settled and "sweepKey" in item:
            problems.append(f"{order_id}: outcome never confirmed published (still in the outbox)")
    problems += [f"{order_id}: published but not in the table" for order_id in by_order]
    return problems


def check_no_mismatched_approval(messages: Iterable[Message]) -> list[str]:
    """Never APPROVED on a mismatch: no order is approved with another amount or currency."""
    problems = []
    for message in messages:
        if message["outcome"] != "APPROVED":
            continue
        requested, reported = message["requested"], message["reported"]
        if reported is None or requested["currency"] != reported["currency"] or Decimal(requested["amount"]) != Decimal(reported["amount"]):
            problems.append(f"{message['orderId']}: APPROVED with requested {requested} and reported {reported}")
    return problems


def check_all(items: list[dict[str, Any]], messages: list[dict[str, Any]], *, settled: bool = True) -> None:
    problems = (
        check_not_lost(items) + check_one_event_per_decision(messages)
        + check_published(items, messages, settled=settled) + check_no_mismatched_approval(messages)
    )
    assert not problems, "invariants broken:\n  " + "\n  ".join(problems)
