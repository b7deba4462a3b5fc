"""The DynamoDB behaviour `paysweep.store` and `paysweep.journal` rely on, on every backend.

Each test states one thing AWS DynamoDB does (its API reference, cited) that the sweep's
correctness rests on: a conditional write has one winner, `ReturnValues=ALL_OLD` returns the item
before the write, a failed condition returns the item it failed on
(`ReturnValuesOnConditionCheckFailure`), sparse indexes hold only items with the index key and
are read eventually, `Select=COUNT` counts without items, and pages end only without a
`LastEvaluatedKey`. Written once; `backend` (conftest) runs them on moto and on MiniStack.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conformance.backends import Store
from paysweep.answers import CancelIntent
from paysweep.clock import to_iso
from paysweep.journal import Compensation, JournalTarget
from paysweep.orders import new_order_item
from paysweep.outcomes import Outcome, OutcomeMessage, Reason
from paysweep.store import ConditionFailed, DueOrder, Transition

PROVIDER = "teemopay"
SHARDS = 1
SWEEP_KEY = f"{PROVIDER}#0"
VISIBLE_WITHIN_SECONDS = 5.0
"""GSIs are eventually consistent (DynamoDB Developer Guide, "Reading from a GSI"): an index
read may miss a write for a moment. The store never trusts the index alone (claims re-check
the item), and these tests wait up to this long for an index to catch up."""


def iso(moment: datetime) -> str:
    return to_iso(moment)


NOW = datetime.now(UTC).replace(microsecond=0)


def put_order(store: Store, order_id: str, *, due_in: timedelta = timedelta(0), **extra: Any) -> dict[str, Any]:
    item = new_order_item(
        order_id=order_id, provider=PROVIDER, amount="1000", currency="KRW", shards=SHARDS,
        created_at=NOW - timedelta(minutes=1), first_check_after=timedelta(minutes=1) + due_in,
    )
    item.update(extra)
    store.orders.put_new(item)
    return item


def due(order_id: str, at: datetime = NOW) -> DueOrder:
    return DueOrder(iso(at), order_id, SWEEP_KEY)


def claim(store: Store, order_id: str, token: str, *, now: datetime = NOW) -> Any:
    return store.orders.claim(
        due(order_id), due_by=iso(now), now=iso(now), lease_until=iso(now + timedelta(seconds=60)), token=token
    )


def eventually[T](read: Callable[[], T], done: Callable[[T], bool]) -> T:
    deadline = time.monotonic() + VISIBLE_WITHIN_SECONDS
    while True:
        value = read()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


# -- conditional writes -------------------------------------------------------------------------


def test_a_conditional_write_has_one_winner_under_contention(store: Store) -> None:
    """UpdateItem with a ConditionExpression is atomic: of many concurrent claims of one due order,
    exactly one succeeds (API reference, UpdateItem: "conditional update"). On moto that holds
    only because our Emulator serialises requests (moto's threaded server checks and writes
    without a lock); on MiniStack it is the emulator's own DynamoDB."""
    contenders, rounds = 16, 5  # several rounds: a race that is only sometimes lost still shows
    for round_number in range(rounds):
        order_id = f"C-RACE-{round_number}"
        put_order(store, order_id)
        start = threading.Barrier(contenders)

        def attempt(n: int, order_id: str = order_id, start: threading.Barrier = start) -> str:
            start.wait(timeout=30)
            try:
                claim(store, order_id, f"sweep-{n}")
            except ConditionFailed:
                return "lost"
            return f"sweep-{n}"

        with ThreadPoolExecutor(contenders) as pool:
            results = list(pool.map(attempt, range(contenders)))
        winners = [r for r in results if r != "lost"]
        assert len(winners) == 1, f"{store.backend.name}: {len(winners)} claims of {order_id} succeeded: {winners}"
        assert store.orders.read(order_id)["leaseOwner"] == winners[0]


def test_claim_returns_the_item_as_it_was_before_with_all_old(store: Store) -> None:
    """ReturnValues=ALL_OLD returns every attribute as it was before the update (API reference,
    UpdateItem, ReturnValues): the claim learns of an abandoned lease from it."""
    put_order(store, "C-OLD", leaseOwner="crashed-sweep", leaseUntil=iso(NOW - timedelta(minutes=5)))
    claimed = claim(store, "C-OLD", "sweep-new")
    assert claimed.abandoned_lease == "crashed-sweep"
    assert claimed.item["leaseOwner"] == "sweep-new" and claimed.item["amount"] == 1000
    assert store.orders.read("C-OLD")["leaseOwner"] == "sweep-new"


def test_a_failed_condition_returns_the_item_it_failed_on(store: Store) -> None:
    """ReturnValuesOnConditionCheckFailure=ALL_OLD puts the item in the
    ConditionalCheckFailedException (API reference, UpdateItem): the store reports the current
    state without another read."""
    put_order(store, "C-FAIL")
    claim(store, "C-FAIL", "sweep-a")
    with pytest.raises(ConditionFailed) as lost:
        store.orders.apply(Transition("C-FAIL", "sweep-b", "PENDING", {"status": "APPROVED"}))
    assert lost.value.current is not None, f"{store.backend.name} returned no item with the failed condition"
    assert lost.value.current["leaseOwner"] == "sweep-a" and lost.value.current["status"] == "PENDING"


def test_an_operator_write_is_refused_when_the_order_changed(store: Store) -> None:
    """The operator's write requires the order as read: a claim since then (even one whose lease
    has run out) changed `updatedAt`, so the write fails and reports the item as it is."""
    put_order(store, "C-OP")
    read = store.orders.read("C-OP")
    assert read is not None
    claim(store, "C-OP", "sweep-a")
    with pytest.raises(ConditionFailed) as refused:
        store.orders.update_unchanged(
            "C-OP", expected={"updatedAt": read.get("updatedAt")}, now=iso(NOW + timedelta(minutes=2)),
            set_values={"status": "PENDING"},
        )
    assert refused.value.current is not None and refused.value.current["leaseOwner"] == "sweep-a"


def test_put_new_never_overwrites_and_reports_the_existing_order(store: Store) -> None:
    """PutItem with attribute_not_exists refuses an existing key, and with
    ReturnValuesOnConditionCheckFailure=ALL_OLD returns the item that is there."""
    put_order(store, "C-DUP")
    with pytest.raises(ConditionFailed) as refused:
        store.orders.put_new({**put_order_item("C-DUP"), "amount": 5})
    assert refused.value.current is not None and refused.value.current["amount"] == 1000
    assert store.orders.read("C-DUP")["amount"] == 1000


def put_order_item(order_id: str) -> dict[str, Any]:
    return new_order_item(order_id=order_id, provider=PROVIDER, amount="1000", currency="KRW", shards=SHARDS,
                          created_at=NOW - timedelta(minutes=1), first_check_after=timedelta(minutes=1))


# -- the compensation journal -------------------------------------------------------------------


def journal_entry(order_id: str, created_at: str) -> Compensation:
    """A compensation as a sweep records it: the cancel it requested and the message it published."""
    message = OutcomeMessage(f"{order_id}:CANCELLED", order_id, PROVIDER, Outcome.CANCELLED,
                             Reason.DB_UPDATE_FAILED, f'{{"orderId": "{order_id}"}}')
    intent = CancelIntent(f"{order_id}-cancel", "20261201", Reason.DB_UPDATE_FAILED.value, iso(NOW),
                          iso(NOW + timedelta(hours=1)), reported_amount="1000", reported_currency="KRW")
    return Compensation(order_id, JournalTarget.CANCELLING, message, intent, created_at, int(NOW.timestamp()) + 3600)


def test_the_journal_keeps_the_first_entry_and_reads_it_back_whole(store: Store) -> None:
    """PutItem with attribute_not_exists: a retried record never replaces the first; GetItem with
    ConsistentRead sees it at once; DeleteItem resolves it."""
    first, second = journal_entry("J-1", iso(NOW)), journal_entry("J-1", iso(NOW + timedelta(seconds=1)))
    store.journal.record(first)
    with pytest.raises(ConditionFailed):
        store.journal.record(second)
    assert store.journal.find("J-1") == first
    store.journal.resolve("J-1")
    assert store.journal.find("J-1") is None
    assert store.journal.find("J-NONE") is None


# -- sparse indexes, counts, pages --------------------------------------------------------------


def test_the_due_index_holds_due_orders_oldest_first_and_pages_through_them(store: Store) -> None:
    """Query pages end only when LastEvaluatedKey is absent (API reference, Query, Limit); the
    range key sorts the page (ScanIndexForward)."""
    for n in range(7):
        put_order(store, f"I-{n}", due_in=timedelta(seconds=-60 + n))
    put_order(store, "I-LATER", due_in=timedelta(hours=1))

    def read() -> list[str]:
        return [d.order_id for d in store.orders.due_in_shard(SWEEP_KEY, iso(NOW), page_size=2)]

    found = eventually(read, lambda ids: len(ids) == 7)
    assert found == [f"I-{n}" for n in range(7)], found


def test_an_order_leaves_the_due_index_when_claimed_and_a_removed_key_leaves_the_index(store: Store) -> None:
    """A claim moves nextCheckAt past now; removing sweepKey drops the item from the sparse index."""
    put_order(store, "I-CLAIM")
    put_order(store, "I-DONE")
    claim(store, "I-CLAIM", "sweep-a")
    _close(store, "I-DONE")

    def read() -> list[str]:
        return [d.order_id for d in store.orders.due_in_shard(SWEEP_KEY, iso(NOW), page_size=100)]

    assert eventually(read, lambda ids: ids == []) == []


def _close(store: Store, order_id: str) -> None:
    """Decide an order as a sweep does: claim, then a transition that removes the index keys."""
    claim(store, order_id, "closer")
    store.orders.apply(Transition(order_id, "closer", "PENDING", {"status": "REVIEW"},
                                  ("sweepKey", "nextCheckAt", "leaseOwner", "leaseUntil")))


def test_select_count_counts_due_orders_without_returning_them(store: Store) -> None:
    """Select=COUNT returns Count and no Items (API reference, Query, Select)."""
    for n in range(5):
        put_order(store, f"N-{n}")
    put_order(store, "N-LATER", due_in=timedelta(hours=1))
    counted = eventually(lambda: store.orders.count_due([SWEEP_KEY], iso(NOW)), lambda n: n == 5)
    assert counted == 5
    raw = store.backend.client.query(
        TableName=store.orders_table, IndexName="due-index", Select="COUNT",
        KeyConditionExpression="sweepKey = :k AND nextCheckAt <= :now",
        ExpressionAttributeValues={":k": {"S": SWEEP_KEY}, ":now": {"S": iso(NOW)}},
    )
    assert raw["Count"] == 5 and "Items" not in raw, raw


def test_the_outbox_index_returns_the_outbox_it_projects(store: Store) -> None:
    """The INCLUDE projection brings `outbox` with the keys: republishing needs no table read."""
    outbox = {"eventId": "O-1:APPROVED", "body": "{}"}
    put_order(store, "O-1", outbox=outbox, outboxKey=SWEEP_KEY, outboxSince=iso(NOW - timedelta(minutes=5)))
    put_order(store, "O-2")

    def read() -> list[dict[str, Any]]:
        return list(store.orders.unpublished([SWEEP_KEY], iso(NOW), page_size=10))

    found = eventually(read, lambda items: len(items) == 1)
    assert [item["orderId"] for item in found] == ["O-1"]
    assert found[0]["outbox"] == outbox
    store.orders.clear_outbox("O-1", "O-1:APPROVED")
    with pytest.raises(ConditionFailed):
        store.orders.clear_outbox("O-1", "O-1:APPROVED")  # already cleared: the condition fails
    assert eventually(read, lambda items: items == []) == []


def test_a_filtered_scan_pages_past_pages_without_matches(store: Store) -> None:
    """Scan applies Limit before FilterExpression (API reference, Scan, Limit): a page can be empty
    and still not the last, so only LastEvaluatedKey ends the listing."""
    for n in range(6):
        put_order(store, f"S-{n}")
    _close(store, "S-3")
    _close(store, "S-5")
    found = sorted(item["orderId"] for item in store.orders.in_status("REVIEW", page_size=1))
    assert found == ["S-3", "S-5"]


def test_a_counting_query_with_a_limit_pages_like_any_query(store: Store) -> None:
    """With Select=COUNT and Limit, a page counts at most Limit items and hands back a
    LastEvaluatedKey (API reference, Query: Limit, Count): the store's count_due follows the keys."""
    for n in range(5):
        put_order(store, f"P-{n}")
    eventually(lambda: store.orders.count_due([SWEEP_KEY], iso(NOW)), lambda n: n == 5)
    request: dict[str, Any] = {
        "TableName": store.orders_table, "IndexName": "due-index", "Select": "COUNT", "Limit": 2,
        "KeyConditionExpression": "sweepKey = :k AND nextCheckAt <= :now",
        "ExpressionAttributeValues": {":k": {"S": SWEEP_KEY}, ":now": {"S": iso(NOW)}},
    }
    counts: list[int] = []
    while True:
        page = store.backend.client.query(**request)
        counts.append(page["Count"])
        if "LastEvaluatedKey" not in page:
            break
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    assert sum(counts) == 5 and max(counts) <= 2, counts


def test_a_scan_limit_counts_items_read_not_items_matched(store: Store) -> None:
    """Limit caps the items a Scan reads, before the filter (API reference, Scan: Limit,
    ScannedCount): a page may match nothing and still carry a LastEvaluatedKey."""
    for n in range(4):
        put_order(store, f"L-{n}")
    page = store.backend.client.scan(
        TableName=store.orders_table, Limit=1, FilterExpression="#s = :s",
        ExpressionAttributeNames={"#s": "status"}, ExpressionAttributeValues={":s": {"S": "REVIEW"}},
    )
    assert page["ScannedCount"] == 1 and page["Count"] == 0 and page["Items"] == [], page
    assert "LastEvaluatedKey" in page, f"{store.backend.name} ended the scan after one of four items"
