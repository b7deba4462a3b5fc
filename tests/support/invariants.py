"""The invariants of ARCHITECTURE.md, checked over the orders table and what was published."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

TERMINAL = {"APPROVED", "FAILED", "CANCELLED", "REVIEW"}
ACTIVE = {"PENDING", "CANCELLING"}


def check_not_lost(items: list[dict[str, Any]]) -> list[str]:
    """1. Every order is terminal, or still due in the index (sweepKey and nextCheckAt). A
    terminal order may be in the index too, while its outcome waits to be published."""
    problems = []
    for item in items:
        status = item.get("status")
        if status in TERMINAL:
            if ("sweepKey" in item) != ("nextCheckAt" in item):
                problems.append(f"{item['orderId']}: terminal {status} half in the due index")
        elif status in ACTIVE:
            if not item.get("sweepKey") or not item.get("nextCheckAt"):
                problems.append(f"{item['orderId']}: {status} but not in the due index (lost)")
        else:
            problems.append(f"{item['orderId']}: unknown status {status!r}")
    return problems


def check_published(items: list[dict[str, Any]], messages: list[dict[str, Any]], *, settled: bool = True) -> list[str]:
    """2. Every terminal transition is published, under one stable eventId matching the table.

    An order may have had earlier messages since corrected (an audit found a late payment):
    every eventId it published other than the recorded one must be superseded by one of its
    messages, so the chain ends in what the table holds. With `settled`, nothing may still sit
    in the outbox (a repair sweep has run): a decided order has left the due index, and no 0.1
    outbox marker is left.
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
        if item.get("status") in TERMINAL:
            event_id = item["outcome"]["eventId"]
            if event_id not in published:
                problems.append(f"{order_id}: {event_id} recorded but never published")
            if published - {event_id} - corrected:
                problems.append(f"{order_id}: published {sorted(published)} but recorded {event_id}")
            if event_id in corrected:
                problems.append(f"{order_id}: the recorded {event_id} was superseded by a message")
            if settled and ("sweepKey" in item or "outbox" in item):
                problems.append(f"{order_id}: outcome never confirmed published (still in the outbox)")
        elif published - corrected and not _compensation_pending(item):
            problems.append(f"{order_id}: published {sorted(published)} while still {item.get('status')}")
    problems += [f"{order_id}: published but not in the table" for order_id in by_order]
    return problems


def _compensation_pending(item: dict[str, Any]) -> bool:
    """A CANCELLED DB_UPDATE_FAILED may be published before the table could record anything."""
    return item.get("status") in ACTIVE


def check_no_mismatched_approval(messages: list[dict[str, Any]]) -> list[str]:
    """3. No order is approved with a mismatched amount or currency."""
    problems = []
    for message in messages:
        if message["outcome"] != "APPROVED":
            continue
        requested, reported = message["requested"], message["reported"]
        if reported is None or requested["currency"] != reported["currency"] or Decimal(requested["amount"]) != Decimal(reported["amount"]):
            problems.append(f"{message['orderId']}: APPROVED with requested {requested} and reported {reported}")
    return problems


def check_all(items: list[dict[str, Any]], messages: list[dict[str, Any]], *, settled: bool = True) -> None:
    problems = check_not_lost(items) + check_published(items, messages, settled=settled) + check_no_mismatched_approval(messages)
    assert not problems, "invariants broken:\n  " + "\n  ".join(problems)
