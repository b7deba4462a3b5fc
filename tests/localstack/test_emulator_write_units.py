"""The emulator books each DynamoDB write's units from the item before and after it (`capacity`).

The shapes are the sweep's writes on a table made from the template's orders table (its sparse indexes): a
claim (lease only), a reschedule (the due index's sort key moves), a refused claim, the
confirmation (out of the due index), an injected conditional failure, a batch and a delete.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError
from paysweep_local.emulator import Emulator
from support.tables import template_table


def units_of(emulator: Emulator, table: str) -> dict[str, int]:
    book = emulator.stats()["writeUnits"]
    return {
        "table": book["byTable"].get(table, 0),
        "due": book["byIndex"].get(f"{table}/index/due-index", 0),
        "outbox": book["byIndex"].get(f"{table}/index/outbox-index", 0),
        "refused": book["refusedByTable"].get(table, 0),
    }


def test_each_write_is_booked_by_dynamodbs_rules(emulator: Emulator, unique: Callable[[str], str]) -> None:
    table = unique("wru")
    emulator.client("dynamodb").create_table(TableName=table, **template_table("OrdersTable"))
    client = emulator.client("dynamodb", retries={"mode": "standard", "total_max_attempts": 1})
    key = {"orderId": {"S": "ORD-1"}}
    emulator.reset_stats()

    client.put_item(TableName=table, Item={**key, "status": {"S": "PENDING"}, "sweepKey": {"S": "k#0"},
                                           "nextCheckAt": {"S": "2026-01-01T00:00:00Z"}})
    assert units_of(emulator, table) == {"table": 1, "due": 1, "outbox": 0, "refused": 0}  # enters the due index

    def update(expression: str, names: dict[str, str], values: dict[str, Any] | None = None,
               condition: str | None = None) -> None:
        request: dict[str, Any] = {"TableName": table, "Key": key, "UpdateExpression": expression,
                                   "ExpressionAttributeNames": names}
        if values:
            request["ExpressionAttributeValues"] = values
        if condition:
            request["ConditionExpression"] = condition
        client.update_item(**request)

    claim = ("SET #o = :o, #u = :u", {"#o": "leaseOwner", "#u": "leaseUntil"},
             {":o": {"S": "sweep-1"}, ":u": {"S": "2026-01-01T00:01:00Z"}}, "attribute_not_exists(#u)")
    update(*claim)
    assert units_of(emulator, table) == {"table": 2, "due": 1, "outbox": 0, "refused": 0}  # claim: 1, no index

    with pytest.raises(ClientError) as refused:
        update(*claim)  # the lease is live now: refused, still billed
    assert refused.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert units_of(emulator, table) == {"table": 2, "due": 1, "outbox": 0, "refused": 1}

    update("SET #n = :n REMOVE #o, #u", {"#n": "nextCheckAt", "#o": "leaseOwner", "#u": "leaseUntil"},
           {":n": {"S": "2026-01-01T00:05:00Z"}})
    assert units_of(emulator, table) == {"table": 3, "due": 3, "outbox": 0, "refused": 1}  # key moved: 1 + 2

    update("SET #p = :p", {"#p": "pad"}, {":p": {"S": "x" * 1500}})
    assert units_of(emulator, table) == {"table": 5, "due": 3, "outbox": 0, "refused": 1}  # now 1.5 KB: 2

    update("REMOVE #p, #k, #n", {"#p": "pad", "#k": "sweepKey", "#n": "nextCheckAt"})
    assert units_of(emulator, table) == {"table": 7, "due": 4, "outbox": 0, "refused": 1}  # larger of before/after

    update("SET #ok = :k, #os = :t, #o = :m", {"#ok": "outboxKey", "#os": "outboxSince", "#o": "outbox"},
           {":k": {"S": "k#0"}, ":t": {"S": "t"}, ":m": {"M": {"body": {"S": "a"}}}})
    update("SET #o = :m", {"#o": "outbox"}, {":m": {"M": {"body": {"S": "b"}}}})
    assert units_of(emulator, table)["outbox"] == 2  # entered, then a projected attribute changed

    emulator.add_fault("dynamodb", "UpdateItem", error="conditional", match=table)
    with pytest.raises(ClientError):
        update("SET #o = :m", {"#o": "outbox"}, {":m": {"M": {"body": {"S": "c"}}}})
    assert units_of(emulator, table)["refused"] == 2  # an injected refusal is billed like a real one

    client.delete_item(TableName=table, Key=key)
    client.delete_item(TableName=table, Key={"orderId": {"S": "ORD-missing"}})
    client.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": {"orderId": {"S": f"B-{i}"}}}}
                                                  for i in range(3)]})
    totals = units_of(emulator, table)
    assert totals["table"] == 7 + 2 + 1 + 1 + 3  # 2 outbox writes, delete, delete of nothing, 3 puts
    assert totals["outbox"] == 3  # the delete took the item out of the outbox index

    book = emulator.stats()["writeUnits"]
    claims = book["byShape"][f"{table} UpdateItem SET leaseOwner, leaseUntil"]
    assert (claims["writes"], claims["refused"], claims["tableUnits"], claims["refusedUnits"]) == (2, 1, 1, 1)
    assert book["byShape"][f"{table} BatchWriteItem PutRequest"]["writes"] == 3
    emulator.reset_stats()
    assert emulator.stats()["writeUnits"]["total"] == 0
