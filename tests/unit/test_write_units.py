"""DynamoDB's write-unit rules as the local emulator applies them (`paysweep_local.capacity`).

Each case is one documented rule: item sizes (CapacityUnitCalculations.html), 1 KB per unit of
the larger of the item before and after (read-write-operations.html), index writes
(GSI.html#GSI.Writes) and refused conditional writes (WorkingWithItems.html, conditional
writes). The benchmark's figures are built from these, so they are checked here, fast.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from paysweep_local.capacity import (
    IndexSpec,
    WriteUnitBook,
    index_units,
    item_size,
    plain_item_size,
    refused_cost,
    units,
    value_size,
    write_cost,
    write_shape,
)

DUE = IndexSpec("due-index", ("sweepKey", "nextCheckAt"), ("orderId",), "KEYS_ONLY")
OUTBOX = IndexSpec("outbox-index", ("outboxKey", "outboxSince"), ("orderId",), "INCLUDE", ("outbox",))


def s(text: str) -> dict[str, str]:
    return {"S": text}


def order(**extra: dict[str, object]) -> dict[str, object]:
    return {"orderId": s("ORD-1"), "status": s("PENDING"), "sweepKey": s("kicc#0"),
            "nextCheckAt": s("2026-11-30T10:00:00Z"), **extra}


# -- sizes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "size"),
    [
        (s("abc"), 3),
        (s("한"), 3),  # UTF-8 bytes, not characters
        ({"N": "7"}, 2),  # 1 significant digit: 1 byte + 1
        ({"N": "123.45"}, 4),  # 5 significant digits: 3 bytes + 1
        ({"N": "1000"}, 2),  # trailing zeros trimmed: 1 digit
        ({"N": "0.0012"}, 2),  # leading zeros trimmed: 12
        ({"N": "-12345678901234567890"}, 11),
        ({"N": "0"}, 2),
        ({"B": "AAEC"}, 3),  # base64 on the wire, raw bytes counted
        ({"BOOL": True}, 1),
        ({"NULL": True}, 1),
        ({"L": []}, 3),  # empty list: 3 bytes of overhead
        ({"M": {}}, 3),
        ({"L": [s("ab"), {"N": "1"}]}, 3 + (2 + 1) + (2 + 1)),  # + 1 byte per element
        ({"M": {"k": s("v"), "kk": {"NULL": True}}}, 3 + (1 + 1 + 1) + (2 + 1 + 1)),  # names count in a map
        ({"SS": ["a", "bc"]}, 3),
        ({"NS": ["1", "22"]}, 4),
    ],
)
def test_value_sizes_follow_the_documented_rules(value: dict[str, object], size: int) -> None:
    assert value_size(value) == size


def test_an_item_is_its_attribute_names_plus_values() -> None:
    assert item_size({"orderId": s("ORD-1"), "amount": {"N": "1000"}}) == (7 + 5) + (6 + 2)
    assert item_size(None) == 0


def test_the_size_of_a_deserialised_item_is_that_of_its_wire_form() -> None:
    plain = {"orderId": "ORD-1", "amount": Decimal("1000.50"), "ok": True, "none": None,
             "history": ["a", "bb"], "outcome": {"reason": None, "eventId": "e"}}
    wire = {"orderId": s("ORD-1"), "amount": {"N": "1000.50"}, "ok": {"BOOL": True}, "none": {"NULL": True},
            "history": {"L": [s("a"), s("bb")]}, "outcome": {"M": {"reason": {"NULL": True}, "eventId": s("e")}}}
    assert plain_item_size(plain) == item_size(wire)


# -- table units ------------------------------------------------------------------------------


def test_small_items_cost_one_unit_and_an_item_just_over_1_kb_two() -> None:
    assert units(0) == 1 and units(1) == 1 and units(1024) == 1
    assert units(1025) == 2 and units(2048) == 2 and units(2049) == 3
    small = {"orderId": s("A")}
    assert write_cost(None, small, []).table == 1
    exactly = {"orderId": s("A"), "pad": s("x" * (1024 - 7 - 1 - 3))}
    assert item_size(exactly) == 1024
    assert write_cost(None, exactly, []).table == 1
    over = {**exactly, "pad": s("x" * (1024 - 7 - 1 - 3 + 1))}
    assert item_size(over) == 1025
    assert write_cost(None, over, []).table == 2


def test_an_update_is_billed_for_the_larger_of_the_item_before_and_after() -> None:
    big = {"orderId": s("A"), "pad": s("x" * 1500)}
    small = {"orderId": s("A")}
    assert write_cost(big, small, []).table == 2  # shrinking a 1.5 KB item still costs 2
    assert write_cost(small, big, []).table == 2
    assert write_cost(None, None, []).table == 1  # deleting an item that is not there: 1


# -- index units ------------------------------------------------------------------------------


def test_writes_that_leave_the_index_keys_and_projection_alone_cost_no_index_unit() -> None:
    before = order()
    claimed = order(leaseOwner=s("sweep-1:abc"), leaseUntil=s("2026-11-30T10:01:00Z"))
    cost = write_cost(before, claimed, [DUE, OUTBOX])
    assert cost.table == 1 and cost.indexes == {"due-index": 0, "outbox-index": 0} and cost.total == 1


def test_an_index_key_change_is_a_delete_and_a_put() -> None:
    before = order()
    moved = {**order(), "nextCheckAt": s("2026-11-30T10:05:00Z")}
    assert index_units(DUE, before, moved) == 2
    assert write_cost(before, moved, [DUE]).total == 3


def test_entering_or_leaving_a_sparse_index_is_one_write() -> None:
    outside = {"orderId": s("ORD-1"), "status": s("APPROVED")}
    assert index_units(DUE, outside, order()) == 1  # put
    assert index_units(DUE, order(), outside) == 1  # delete
    assert index_units(DUE, outside, {**outside, "updatedAt": s("now")}) == 0  # never in it


def test_a_changed_projected_attribute_is_one_put_and_an_unprojected_one_nothing() -> None:
    marked = {**order(), "outboxKey": s("kicc#0"), "outboxSince": s("t"), "outbox": {"M": {"body": s("a")}}}
    changed = {**marked, "outbox": {"M": {"body": s("b")}}}
    assert index_units(OUTBOX, marked, changed) == 1
    assert index_units(OUTBOX, marked, {**marked, "status": s("APPROVED")}) == 0  # not projected by INCLUDE
    everything = IndexSpec("all", ("sweepKey", "nextCheckAt"), ("orderId",), "ALL")
    assert index_units(everything, order(), {**order(), "status": s("APPROVED")}) == 1  # ALL projects it


def test_a_large_index_entry_costs_a_unit_per_kb() -> None:
    marked = {**order(), "outboxKey": s("kicc#0"), "outboxSince": s("t"), "outbox": {"M": {"body": s("x" * 1500)}}}
    assert index_units(OUTBOX, order(), marked) == 2
    assert index_units(OUTBOX, marked, order()) == 2


# -- refused writes ---------------------------------------------------------------------------


def test_a_refused_conditional_write_costs_the_existing_items_size_and_no_index() -> None:
    assert refused_cost(order()).table == 1 and refused_cost(order()).total == 1
    assert refused_cost({"orderId": s("A"), "pad": s("x" * 1500)}).table == 2
    assert refused_cost(None).table == 1  # at least 1, even with no item there
    assert refused_cost(order()).refused


def test_the_book_keeps_table_index_and_refused_units_apart() -> None:
    book = WriteUnitBook()
    moved = {**order(), "nextCheckAt": s("later")}
    book.add("orders", "UpdateItem SET nextCheckAt", write_cost(order(), moved, [DUE]), moved)
    book.add("orders", "UpdateItem SET leaseOwner", refused_cost(order()), order())
    totals = book.snapshot()
    assert (totals["table"], totals["indexes"], totals["refused"], totals["total"]) == (1, 2, 1, 4)
    assert totals["byIndex"] == {"orders/index/due-index": 2}
    assert totals["byShape"]["orders UpdateItem SET nextCheckAt"]["indexUnits"] == 2
    assert totals["byShape"]["orders UpdateItem SET leaseOwner"]["refusedUnits"] == 1
    book.reset()
    assert book.snapshot()["total"] == 0


def test_a_write_is_named_by_its_expression_with_names_filled_in() -> None:
    request = {"UpdateExpression": "SET #s0 = :s0, #s1 = :s1 REMOVE #r0",
               "ExpressionAttributeNames": {"#s0": "leaseOwner", "#s1": "leaseUntil", "#r0": "sweepKey"}}
    assert write_shape("UpdateItem", request) == "UpdateItem SET leaseOwner, leaseUntil REMOVE sweepKey"
    assert write_shape("PutItem", {}) == "PutItem"
