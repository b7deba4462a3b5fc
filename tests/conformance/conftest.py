"""Backends of the store contract: each test runs once per backend.

- `memory`: the in-memory doubles of the deterministic simulation (tests/doubles);
- `ministack`: the reference, the DynamoDB-backed store (`paysweep.aws`) over real HTTP to
  MiniStack (`paysweep_local.ministack`), the one local AWS, on tables created from
  `template.yaml`'s own definitions. MiniStack takes concurrent requests as they come, so the
  contention result is its DynamoDB's, not a serialising front's.

A backend is a `Backend`: a store, a journal, and `settle()`, which waits until the sparse
indexes show every write made so far (DynamoDB's global secondary indexes are eventually
consistent; a test of index contents calls it first, so it holds for any lag).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import pytest
from doubles.store import MemoryCompensationJournal, MemoryOrderStore
from paysweep.aws.journal import DynamoDBCompensationJournal
from paysweep.aws.store import DynamoDBOrderStore
from paysweep.sweep.ports import CompensationJournal, OrderStore
from paysweep_local.ministack import MiniStack
from support.tables import template_table

DUE_INDEX, AUDIT_INDEX = "due-index", "audit-index"


class Backend(NamedTuple):
    name: str
    store: OrderStore
    journal: CompensationJournal
    settle: Callable[[], None]
    raw_client: Any
    """The DynamoDB client behind the store (None for memory): for the racing test's own calls."""


def memory_backend() -> Backend:
    store = MemoryOrderStore()
    return Backend("memory", store, MemoryCompensationJournal(), store.refresh_indexes, None)


def dynamodb_backend(name: str, client: Any) -> Backend:
    suffix = uuid.uuid4().hex[:10]
    orders, journal = f"orders-{suffix}", f"compensations-{suffix}"
    client.create_table(TableName=orders, **template_table("OrdersTable"))
    client.create_table(TableName=journal, **template_table("CompensationsTable"))
    return Backend(
        name,
        DynamoDBOrderStore(client, orders, due_index=DUE_INDEX, audit_index=AUDIT_INDEX),
        DynamoDBCompensationJournal(client, journal),
        lambda: time.sleep(0.0),  # MiniStack's indexes follow each write at once; real GSIs lag (see README)
        client,
    )


@pytest.fixture(scope="session")
def ministack() -> Iterator[MiniStack]:
    with MiniStack(auth=False) as running:
        yield running


@pytest.fixture(params=["memory", "ministack"])
def backend(request: pytest.FixtureRequest) -> Backend:
    if request.param == "memory":
        return memory_backend()
    server: MiniStack = request.getfixturevalue("ministack")
    return dynamodb_backend("ministack", server.client("dynamodb", max_pool_connections=32))
