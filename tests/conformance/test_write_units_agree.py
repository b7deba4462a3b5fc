"""The emulator's write-unit booking (`paysweep_local.capacity`, which the benchmark's cost
figures rest on) against a second, independent model of DynamoDB's billing: MiniStack answers
`ReturnConsumedCapacity=INDEXES` by DynamoDB's rules with code of its own. The same writes, the
sweep's own shapes on the template's orders table, must cost the same units on both, table and
each index, write by write.

Refused conditional writes are not compared: DynamoDB's error answer carries no
`ConsumedCapacity`, so neither emulator can be asked; `tests/unit/test_write_units.py` holds that
rule to the documentation.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from paysweep_local.emulator import Emulator
from paysweep_local.ministack import MiniStack
from support.tables import template_table

INDEXES = ("due-index", "outbox-index", "audit-index")
KEY = {"orderId": {"S": "ORD-UNITS-0001"}}
HISTORY_LINE = "2026-01-01T00:00:00Z status PENDING RETRY_LATER attempt 3 " + "x" * 40


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _writes(table: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(what, operation, request): a pending order's life and its decision, growing across 1 KB."""

    def update(expression: str, values: dict[str, Any] | None = None) -> dict[str, Any]:
        names = {f"#{name}": name for name in ("leaseOwner", "leaseUntil", "nextCheckAt", "history", "status",
                                                "outcome", "sweepKey", "auditKey", "auditAt", "outboxKey",
                                                "outboxSince", "outbox", "lastCheck") if f"#{name}" in expression}
        request: dict[str, Any] = {"TableName": table, "Key": KEY, "UpdateExpression": expression,
                                   "ExpressionAttributeNames": names}
        if values:
            request["ExpressionAttributeValues"] = values
        return request

    pending = {**KEY, "status": _s("PENDING"), "sweepKey": _s("kicc-wechatpay#3"), "nextCheckAt": _s("2026-01-01T00:00:00Z"),
               "amount": {"N": "1100"}, "currency": _s("KRW"), "pgCno": _s("2026010112345678901234"),
               "history": {"L": [_s(HISTORY_LINE)] * 4}}
    lease = {":o": _s("sweep-" + "a" * 36), ":u": _s("2026-01-01T00:01:30.000Z")}
    outcome = {"M": {"eventId": _s("ORD-UNITS-0001:FAILED"), "status": _s("FAILED"), "reason": _s("EXPIRED"),
                     "requested": {"M": {"amount": _s("1100"), "currency": _s("KRW")}}, "detail": _s("y" * 200)}}
    return [
        ("a pending order is written (enters the due index)", "put_item", {"TableName": table, "Item": pending}),
        ("claim: the lease only", "update_item", update("SET #leaseOwner = :o, #leaseUntil = :u", lease)),
        ("reschedule and release: the due key moves", "update_item",
         update("SET #nextCheckAt = :n REMOVE #leaseOwner, #leaseUntil", {":n": _s("2026-01-01T00:05:00Z")})),
        ("the history grows past 1 KB", "update_item",
         update("SET #history = :h", {":h": {"L": [_s(HISTORY_LINE)] * 9}})),
        ("claimed again, over 1 KB", "update_item", update("SET #leaseOwner = :o, #leaseUntil = :u", lease)),
        ("decided FAILED: into the audit index, history cut", "update_item",
         update("SET #status = :s, #outcome = :out, #history = :h, #auditKey = :ak, #auditAt = :at",
                {":s": _s("FAILED"), ":out": outcome, ":h": {"L": [_s(HISTORY_LINE)] * 4},
                 ":ak": _s("kicc-wechatpay#3"), ":at": _s("2026-01-01T01:05:00Z")})),
        ("published: out of the due index, lease released", "update_item",
         update("REMOVE #sweepKey, #nextCheckAt, #leaseOwner, #leaseUntil")),
        ("first audit recorded: the audit key moves", "update_item",
         update("SET #auditAt = :at", {":at": _s("2026-01-02T00:05:00Z")})),
        ("a 0.1 outbox marker (INCLUDE projection)", "update_item",
         update("SET #outboxKey = :k, #outboxSince = :t, #outbox = :b",
                {":k": _s("kicc-wechatpay#3"), ":t": _s("2026-01-02T00:06:00Z"), ":b": _s("z" * 300)})),
        ("the projected attribute changes", "update_item", update("SET #outbox = :b", {":b": _s("w" * 900)})),
        ("a non-projected attribute changes", "update_item", update("SET #status = :s", {":s": _s("REVIEW")})),
        ("last audit: out of the audit index", "update_item", update("REMOVE #auditKey, #auditAt")),
        ("deleted (out of the outbox index)", "delete_item", {"TableName": table, "Key": KEY}),
    ]


def _ministack_units(answer: dict[str, Any]) -> dict[str, float]:
    consumed = answer["ConsumedCapacity"]
    units = {"table": float(consumed["Table"]["CapacityUnits"])}
    for index in INDEXES:
        units[index] = float(consumed.get("GlobalSecondaryIndexes", {}).get(index, {}).get("CapacityUnits", 0))
    return units


def _emulator_units(emulator: Emulator, table: str) -> dict[str, float]:
    book = emulator.stats()["writeUnits"]
    units = {"table": float(book["byTable"].get(table, 0))}
    for index in INDEXES:
        units[index] = float(book["byIndex"].get(f"{table}/index/{index}", 0))
    return units


def _booked(run: Callable[[str, dict[str, Any]], dict[str, float]], table: str) -> list[dict[str, float]]:
    return [run(operation, request) for _, operation, request in _writes(table)]


def test_the_emulators_booking_agrees_with_ministacks_consumed_capacity(
    moto_emulator: Emulator, ministack: MiniStack
) -> None:
    suffix = uuid.uuid4().hex[:8]
    mini_table, moto_table = f"units-mini-{suffix}", f"units-moto-{suffix}"
    mini = ministack.client("dynamodb")
    mini.create_table(TableName=mini_table, **template_table("OrdersTable"))
    moto = moto_emulator.client("dynamodb")
    moto.create_table(TableName=moto_table, **template_table("OrdersTable"))

    def on_ministack(operation: str, request: dict[str, Any]) -> dict[str, float]:
        return _ministack_units(getattr(mini, operation)(**request, ReturnConsumedCapacity="INDEXES"))

    moto_emulator.reset_stats()
    before = _emulator_units(moto_emulator, moto_table)

    def on_moto(operation: str, request: dict[str, Any]) -> dict[str, float]:
        nonlocal before
        getattr(moto, operation)(**request)
        after = _emulator_units(moto_emulator, moto_table)
        delta = {name: after[name] - before[name] for name in after}
        before = after
        return delta

    by_ministack, by_emulator = _booked(on_ministack, mini_table), _booked(on_moto, moto_table)
    steps = [what for what, _, _ in _writes(moto_table)]
    disagreements = [(what, ours, theirs) for what, ours, theirs in zip(steps, by_emulator, by_ministack, strict=True)
                     if ours != theirs]
    assert not disagreements, disagreements
    # The sequence means something: it crosses 1 KB, moves each index's key, and changes a projection.
    assert max(units["table"] for units in by_ministack) == 2
    assert {units["due-index"] for units in by_ministack} >= {1, 2}
    assert {units["audit-index"] for units in by_ministack} >= {1, 2}
    assert sum(units["outbox-index"] for units in by_ministack) >= 3
