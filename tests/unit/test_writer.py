"""The order writer's Python API: named references, the provider's profile when given, and the
deprecated `pg_cno=` argument still writing what it always wrote."""

from __future__ import annotations

import warnings
from decimal import Decimal
from typing import Any

import pytest
from kicc_profile import PROFILE as KICC
from paysweep.domain.orders import InvalidOrder
from paysweep.writer import register_order
from support.factories import T0


class RecordingDynamoDB:
    """Takes every PutItem (the writer's one call) and keeps its item."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def put_item(self, **request: Any) -> dict[str, Any]:
        self.items.append(request["Item"])
        return {}


def register(client: RecordingDynamoDB, **options: Any) -> dict[str, Any]:
    base = {"table_name": "orders", "shards": 4, "order_id": "ORD-1", "provider": "kicc-wechatpay",
            "amount": Decimal(1000), "currency": "KRW", "created_at": T0, "client": client}
    return register_order(**{**base, **options})


def test_references_are_written_as_the_order_attributes_they_name() -> None:
    client = RecordingDynamoDB()
    item = register(client, refs={"pgCno": "PG1"}, profile=KICC)
    assert item["pgCno"] == "PG1" and client.items[0]["pgCno"] == {"S": "PG1"}


def test_the_deprecated_pg_cno_argument_writes_the_same_item_and_warns() -> None:
    named, deprecated = RecordingDynamoDB(), RecordingDynamoDB()
    register(named, refs={"pgCno": "PG1"})
    with pytest.warns(DeprecationWarning, match="pass refs="):
        register(deprecated, pg_cno="PG1")
    assert deprecated.items == named.items
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert register(RecordingDynamoDB(), pg_cno="PG1", refs={"pgCno": "PG1"})["pgCno"] == "PG1"
        with pytest.raises(ValueError, match="differ"):
            register(RecordingDynamoDB(), pg_cno="PG1", refs={"pgCno": "PG2"})


def test_with_the_profile_a_missing_reference_writes_nothing() -> None:
    client = RecordingDynamoDB()
    with pytest.raises(InvalidOrder, match="pgCno is required for kicc-wechatpay"):
        register(client, profile=KICC)
    assert client.items == []
    register(client)  # without it: the contract's common rules only; the sweep checks the rest
    assert len(client.items) == 1
