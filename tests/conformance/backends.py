"""The backends the store contract runs on, each a DynamoDB endpoint with fresh tables on demand.

Each test gets an `OrderStore` and a `CompensationJournal` bound to fresh tables (the
template's own key schema and indexes, read from template.yaml) on one backend. Two backends
today: moto behind our `paysweep_local.emulator.Emulator` (which serialises requests: moto's
threaded server applies a conditional write without a lock), and MiniStack as shipped.

Adding a backend (an in-memory store, say) is one entry in `BACKENDS` and one factory that
returns a `Backend`: the tests never name a backend.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from paysweep.journal import CompensationJournal
from paysweep.store import OrderStore
from paysweep_local.emulator import Emulator
from paysweep_local.ministack import MiniStack
from samtranslator.yaml_helper import yaml_parse

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
DUE_INDEX, OUTBOX_INDEX = "due-index", "outbox-index"


@dataclass
class Backend:
    """A DynamoDB endpoint and what a test needs from it."""

    name: str
    client: Any
    serialises_requests: bool
    """True where conditional writes are atomic only because the emulator runs one request at a
    time (our moto middleware); False where the emulator's own DynamoDB model must be atomic."""

    def fresh_store(self) -> Store:
        orders, journal = table_definitions()
        suffix = uuid.uuid4().hex[:8]
        names = {}
        for kind, definition in (("orders", orders), ("journal", journal)):
            name = f"conformance-{kind}-{suffix}"
            self.client.create_table(TableName=name, BillingMode="PAY_PER_REQUEST", **definition)
            self.client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 50})
            names[kind] = name
        return Store(
            self,
            OrderStore(self.client, names["orders"], DUE_INDEX, OUTBOX_INDEX),
            CompensationJournal(self.client, names["journal"]),
            names["orders"],
            names["journal"],
        )


@dataclass
class Store:
    backend: Backend
    orders: OrderStore
    journal: CompensationJournal
    orders_table: str
    journal_table: str


def table_definitions() -> tuple[dict[str, Any], dict[str, Any]]:
    """The key schema, attributes and indexes of both tables, as template.yaml declares them."""
    resources = yaml_parse(TEMPLATE.read_text(encoding="utf-8"))["Resources"]
    keep = ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes")
    return tuple(  # type: ignore[return-value]
        {k: v for k, v in resources[name]["Properties"].items() if k in keep}
        for name in ("OrdersTable", "CompensationsTable")
    )


@contextmanager
def moto_backend() -> Iterator[Backend]:
    with Emulator() as emulator:
        yield Backend("moto", emulator.client("dynamodb"), serialises_requests=True)


@contextmanager
def ministack_backend() -> Iterator[Backend]:
    with MiniStack(auth=False) as ministack:
        yield Backend("ministack", ministack.client("dynamodb", max_pool_connections=32), serialises_requests=False)


BACKENDS: dict[str, Callable[[], AbstractContextManager[Backend]]] = {
    "moto": moto_backend,
    "ministack": ministack_backend,
}
