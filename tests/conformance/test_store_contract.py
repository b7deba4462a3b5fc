"""The order store's and the journal's contract, held on every backend (conftest.py).

What the sweep relies on, spelled out: a guard that does not hold refuses the write and
reports the order as it was; a claim returns the whole order as it was before it; every read
is a `StoredOrder` (the item seen through its shape: the sweep reads no attribute); numbers come
back as exact decimals; the sparse indexes hold exactly the due orders and the due audits (keys
only), oldest first, in pages; an audit's claim needs the outcome published; the journal keeps an
order's first entry. The in-memory
double is trusted by the deterministic simulation only because it passes this beside the
DynamoDB-backed store.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from paysweep.domain import item
from paysweep.domain.answers import CancelIntent
from paysweep.domain.clock import to_iso
from paysweep.domain.orders import OrderStatus, new_order_item
from paysweep.domain.outcomes import Outcome, OutcomeMessage, Reason, build_message, outcome_record
from paysweep.sweep.ports import Compensation, ConditionFailed, DueOrder, JournalTarget

from conformance.conftest import Backend

NOW = datetime(2026, 11, 22, 3, 14, 15, tzinfo=UTC)
T0, T1, T2 = to_iso(NOW), to_iso(NOW + timedelta(seconds=1)), to_iso(NOW + timedelta(minutes=2))
SHARD = "kicc-wechatpay#0"


def register(backend: Backend, order_id: str, *, due: datetime = NOW, shard: str = SHARD) -> dict[str, object]:
    order = new_order_item(order_id=order_id, provider="kicc-wechatpay", amount=Decimal(1000), currency="KRW",
                           shards=1, created_at=due, first_check_after=timedelta(0), refs={"pgCno": f"PG-{order_id}"})
    order["sweepKey"] = shard
    backend.store.put_new(order)  # both stores have the writer's insert
    return order


def claim_of(order_id: str, token: str, *, due_by: str = T0, shard: str = SHARD, now: str = T0) -> item.Transition:
    return item.claim(order_id, item.Due(shard, due_by, now), token=token, now=now, lease_until=T2)


def refused(action: Callable[[], object]) -> ConditionFailed:
    with pytest.raises(ConditionFailed) as failure:
        action()
    return failure.value


# -- writes and their guards ----------------------------------------------------------------


def test_a_new_order_is_written_once_and_a_second_write_reports_the_first(backend: Backend) -> None:
    written = register(backend, "C-NEW")
    again = refused(lambda: register(backend, "C-NEW"))
    assert again.current is not None and again.current.attributes["pgCno"] == written["pgCno"]
    stored = backend.store.read("C-NEW")
    assert stored is not None and stored.attributes["amount"] == Decimal(1000) and isinstance(stored.attributes["amount"], Decimal)


def test_a_claim_returns_the_whole_item_as_it_was_and_takes_the_lease(backend: Backend) -> None:
    register(backend, "C-CLAIM")
    before = backend.store.claim(claim_of("C-CLAIM", "sweep-a:1"))
    assert before.attributes["status"] == "PENDING" and "leaseOwner" not in before.attributes and before.attributes["pgCno"] == "PG-C-CLAIM"
    after = backend.store.read("C-CLAIM")
    assert after is not None
    assert (after.attributes["leaseOwner"], after.attributes["leaseUntil"]) == ("sweep-a:1", T2)
    assert after.attributes["nextCheckAt"] == before.attributes["nextCheckAt"], "a claim leaves the due index alone"


def test_reads_come_back_as_stored_orders_the_sweep_reads_through_their_shape(backend: Backend) -> None:
    register(backend, "C-TYPED")
    before = backend.store.claim(claim_of("C-TYPED", "sweep-a:1"))
    stored = backend.store.read("C-TYPED")
    assert isinstance(before, item.StoredOrder) and isinstance(stored, item.StoredOrder)
    assert (before.order_id, before.status, before.lease_owner, before.attempts) == ("C-TYPED", "PENDING", None, 0)
    assert (stored.lease_owner, stored.live_lease(T1), stored.sweep_key) == ("sweep-a:1", T2, SHARD)
    assert stored.satisfies(item.Leased("sweep-a:1", "PENDING")) and not stored.satisfies(item.Leased("b", None))
    refusal = refused(lambda: backend.store.claim(claim_of("C-TYPED", "sweep-b:1")))
    assert isinstance(refusal.current, item.StoredOrder) and refusal.current.lease_owner == "sweep-a:1"


def test_a_second_claim_is_refused_and_sees_the_first_lease(backend: Backend) -> None:
    register(backend, "C-RACE")
    backend.store.claim(claim_of("C-RACE", "sweep-a:1"))
    second = refused(lambda: backend.store.claim(claim_of("C-RACE", "sweep-b:1")))
    assert second.current is not None and second.current.attributes["leaseOwner"] == "sweep-a:1"


def test_a_lease_that_ran_out_can_be_taken_over(backend: Backend) -> None:
    register(backend, "C-EXPIRED")
    backend.store.claim(item.claim("C-EXPIRED", item.Due(SHARD, T0, T0), token="sweep-a:1", now=T0, lease_until=T1))
    refused(lambda: backend.store.claim(claim_of("C-EXPIRED", "sweep-b:1", now=T0)))
    before = backend.store.claim(claim_of("C-EXPIRED", "sweep-b:1", now=T2))
    assert before.attributes["leaseOwner"] == "sweep-a:1", "the claim reports the abandoned lease"
    stored = backend.store.read("C-EXPIRED")
    assert stored is not None and stored.attributes["leaseOwner"] == "sweep-b:1"


def test_a_claim_needs_the_order_due_and_in_the_shard(backend: Backend) -> None:
    register(backend, "C-LATER", due=NOW + timedelta(minutes=5))
    register(backend, "C-ELSEWHERE", shard="kicc-wechatpay#1")
    assert refused(lambda: backend.store.claim(claim_of("C-LATER", "s:1"))).current is not None
    assert refused(lambda: backend.store.claim(claim_of("C-ELSEWHERE", "s:1"))).current is not None
    missing = refused(lambda: backend.store.claim(claim_of("C-NOBODY", "s:1")))
    assert missing.current is None
    assert backend.store.read("C-NOBODY") is None, "a refused write must not create the item"


def test_a_check_claims_an_order_of_its_provider_due_or_not_unless_a_lease_is_live(backend: Backend) -> None:
    def check(order_id: str, token: str, *, prefix: str = "kicc-wechatpay#", now: str = T0) -> item.Transition:
        return item.claim(order_id, item.Checkable(prefix, now), token=token, now=now, lease_until=T1)

    register(backend, "C-NOT-DUE", due=NOW + timedelta(minutes=5), shard="kicc-wechatpay#3")
    before = backend.store.claim(check("C-NOT-DUE", "check:1"))
    assert before.lease_owner is None and before.next_check_at == to_iso(NOW + timedelta(minutes=5))
    held = refused(lambda: backend.store.claim(check("C-NOT-DUE", "check:2")))
    assert held.current is not None and held.current.live_lease(T0) == T1, "a live lease refuses a check"
    assert backend.store.claim(check("C-NOT-DUE", "check:3", now=T2)).lease_owner == "check:1", "an expired one not"
    register(backend, "C-TEEMO", shard="teemopay#0")
    other = refused(lambda: backend.store.claim(check("C-TEEMO", "check:4")))
    assert other.current is not None and other.current.provider == "kicc-wechatpay" and other.current.sweep_key == "teemopay#0"
    assert refused(lambda: backend.store.claim(check("C-NOBODY", "check:5"))).current is None
    assert backend.store.read("C-NOBODY") is None, "a refused check must not create the item"


def test_many_claims_at_once_have_exactly_one_winner(backend: Backend) -> None:
    register(backend, "C-CROWD")
    winners: list[str] = []
    barrier = threading.Barrier(8)

    def contend(n: int) -> None:
        barrier.wait()
        try:
            backend.store.claim(claim_of("C-CROWD", f"sweep-{n}:1"))
            winners.append(f"sweep-{n}:1")
        except ConditionFailed:
            pass

    threads = [threading.Thread(target=contend, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1
    stored = backend.store.read("C-CROWD")
    assert stored is not None and stored.attributes["leaseOwner"] == winners[0]


def test_a_leased_write_needs_the_lease_and_the_status(backend: Backend) -> None:
    register(backend, "C-LEASE")
    backend.store.claim(claim_of("C-LEASE", "mine"))
    write = item.Transition("C-LEASE", item.Leased("mine", OrderStatus.PENDING.value), {"attempts": 1})
    refused(lambda: backend.store.apply(write._replace(guard=item.Leased("theirs", OrderStatus.PENDING.value))))
    refused(lambda: backend.store.apply(write._replace(guard=item.Leased("mine", OrderStatus.CANCELLING.value))))
    backend.store.apply(write)
    backend.store.apply(write._replace(guard=item.Leased("mine", None), set={"attempts": 2}))
    stored = backend.store.read("C-LEASE")
    assert stored is not None and stored.attributes["attempts"] == Decimal(2)


@pytest.mark.parametrize(
    ("lease", "holds"),
    [
        (None, True),  # nobody holds it
        (("mine", T2), True),  # we do
        (("theirs", T0), True),  # theirs, expired by T1
        (("theirs", T2), False),  # theirs, live
    ],
)
def test_a_free_or_own_lease_write_refuses_only_a_live_foreign_lease(
    backend: Backend, lease: tuple[str, str] | None, holds: bool
) -> None:
    register(backend, "C-FREE")
    if lease is not None:
        backend.store.claim(item.claim("C-FREE", item.Due(SHARD, T0, T0), token=lease[0], now=T0, lease_until=lease[1]))
    write = item.Transition("C-FREE", item.LeasedOrFree("mine", OrderStatus.PENDING.value, T1), {"attempts": 7})
    if holds:
        backend.store.apply(write)
    else:
        assert refused(lambda: backend.store.apply(write)).current is not None
    refused(lambda: backend.store.apply(write._replace(guard=item.LeasedOrFree("mine", "REVIEW", T1))))


def test_an_operator_write_needs_the_item_unchanged_and_no_live_lease(backend: Backend) -> None:
    register(backend, "C-OPS")
    read = backend.store.read("C-OPS")
    assert read is not None
    make_due = item.make_due(read.attributes, now=T1, sweep_key=SHARD)
    stale = item.Transition("C-OPS", item.Unchanged({"attempts": 3}, T1), {"updatedAt": T1})
    absent_expected = item.Transition("C-OPS", item.Unchanged({"status": None}, T1), {"updatedAt": T1})
    refused(lambda: backend.store.apply(stale))
    refused(lambda: backend.store.apply(absent_expected))
    backend.store.claim(claim_of("C-OPS", "sweep-a:1"))
    leased = backend.store.read("C-OPS")
    assert leased is not None
    refused(lambda: backend.store.apply(item.make_due(leased.attributes, now=T1, sweep_key=SHARD)))
    refused(lambda: backend.store.apply(make_due))  # the claim changed updatedAt


def test_a_decided_order_stays_due_until_its_outcome_is_confirmed_published_once(backend: Backend) -> None:
    register(backend, "C-OUT")
    backend.store.claim(claim_of("C-OUT", "s:1"))
    backend.store.apply(decide("C-OUT", "s:1"))
    decided = backend.store.read("C-OUT")
    assert decided is not None and decided.attributes["status"] == "APPROVED" and decided.unpublished
    assert decided.attributes["leaseUntil"] == T2, "the lease holds until the outcome should be published"
    refused(lambda: backend.store.apply(item.published("C-OUT", "C-OUT:APPROVED", "REVIEW")))
    backend.store.apply(item.published("C-OUT", "C-OUT:APPROVED", "APPROVED"))
    refused(lambda: backend.store.apply(item.published("C-OUT", "C-OUT:APPROVED", "APPROVED")))
    stored = backend.store.read("C-OUT")
    assert stored is not None and not stored.unpublished
    assert not {*item.DUE_INDEX_KEYS, *item.LEASE} & set(stored.attributes)
    assert stored.attributes["status"] == "APPROVED" and stored.attributes["outcome"]["eventId"] == "C-OUT:APPROVED"


def test_a_write_to_a_missing_item_is_refused_and_creates_nothing(backend: Backend) -> None:
    failure = refused(lambda: backend.store.apply(item.Transition("C-GHOST", item.Leased("s:1", None), {"attempts": 1})))
    assert failure.current is None
    assert backend.store.read("C-GHOST") is None


def test_numbers_and_structures_come_back_as_dynamodb_returns_them(backend: Backend) -> None:
    register(backend, "C-TYPES")
    backend.store.claim(claim_of("C-TYPES", "s:1"))
    backend.store.apply(item.Transition("C-TYPES", item.Leased("s:1", None), {
        "attempts": 3, "cancel": {"reportedAmount": "1000.50", "sends": 2}, "history": ("a", "b"),
    }))
    stored = backend.store.read("C-TYPES")
    assert stored is not None
    assert stored.attributes["attempts"] == Decimal(3) and isinstance(stored.attributes["attempts"], Decimal)
    assert stored.attributes["cancel"] == {"reportedAmount": "1000.50", "sends": Decimal(2)}
    assert stored.attributes["history"] == ["a", "b"]


# -- the sparse indexes -----------------------------------------------------------------------


def test_the_due_index_holds_due_orders_oldest_first_keys_only(backend: Backend) -> None:
    for n, minutes in enumerate((3, 1, 2)):
        register(backend, f"C-DUE-{n}", due=NOW - timedelta(minutes=minutes))
    register(backend, "C-NOT-YET", due=NOW + timedelta(minutes=1))
    register(backend, "C-DONE")
    backend.store.claim(claim_of("C-DONE", "s:1"))
    backend.store.apply(decide("C-DONE", "s:1"))
    backend.store.apply(item.published("C-DONE", "C-DONE:APPROVED", "APPROVED"))
    backend.settle()
    due = list(backend.store.due_in_shard(SHARD, T0, page_size=2))
    assert [entry.order_id for entry in due] == ["C-DUE-0", "C-DUE-2", "C-DUE-1"], "oldest first, across pages"
    newest = list(backend.store.due_in_shard(SHARD, T0, page_size=2, newest_first=True))
    assert [entry.order_id for entry in newest] == ["C-DUE-1", "C-DUE-2", "C-DUE-0"], "or newest first"
    assert all(isinstance(entry, DueOrder) and entry.sweep_key == SHARD for entry in due)
    assert backend.store.count_due([SHARD, "kicc-wechatpay#1"], T0) == 3
    assert backend.store.count_due([SHARD], to_iso(NOW + timedelta(minutes=2))) == 4


def test_a_claimed_or_decided_order_stays_in_the_due_index(backend: Backend) -> None:
    register(backend, "C-LEASED")
    register(backend, "C-DECIDED")
    backend.store.claim(claim_of("C-LEASED", "s:1"))
    backend.store.claim(claim_of("C-DECIDED", "s:2"))
    backend.store.apply(decide("C-DECIDED", "s:2"))
    backend.settle()
    assert [e.order_id for e in backend.store.due_in_shard(SHARD, T0, page_size=10)] == ["C-DECIDED", "C-LEASED"]


def test_the_audit_index_holds_published_decisions_by_audit_time_keys_only(backend: Backend) -> None:
    expired_at = {"C-AUD-LATER": T2, "C-AUD-FIRST": T0, "C-AUD-SECOND": T1}
    for order_id, audit_at in expired_at.items():
        published_expiry(backend, order_id, audit_at)
    register(backend, "C-AUD-PENDING")
    backend.settle()
    due = list(backend.store.audits_due(SHARD, T1, page_size=1))
    assert [(e.order_id, e.next_check_at, e.sweep_key) for e in due] == [
        ("C-AUD-FIRST", T0, SHARD), ("C-AUD-SECOND", T1, SHARD)], "due audits only, oldest first, across pages"
    assert list(backend.store.audits_due("kicc-wechatpay#1", T2, page_size=10)) == []
    assert [e.order_id for e in backend.store.due_in_shard(SHARD, T2, page_size=10)] == ["C-AUD-PENDING"], (
        "audits never appear in the due index")


def test_an_audit_claim_needs_the_audit_due_the_outcome_published_and_no_live_lease(backend: Backend) -> None:
    published_expiry(backend, "C-AUD", T1)
    early = refused(lambda: backend.store.claim(audit_claim("C-AUD", "s:a", due_by=T0)))
    assert early.current is not None and early.current.attributes["auditAt"] == T1
    refused(lambda: backend.store.claim(audit_claim("C-AUD", "s:a", shard="kicc-wechatpay#1")))
    before = backend.store.claim(audit_claim("C-AUD", "s:a"))
    assert before.attributes["status"] == "FAILED" and "leaseOwner" not in before.attributes
    second = refused(lambda: backend.store.claim(audit_claim("C-AUD", "s:b")))
    assert second.current is not None and second.current.attributes["leaseOwner"] == "s:a"
    # the audit moves on: a claim made on what an index showed before is refused afterwards
    backend.store.apply(item.audited("C-AUD", item.Leased("s:a", "FAILED"), check=item.Check(T1, "audit", "NOT_FOUND"),
                                     history=[], attempts=2, next_audit_at=T2))
    refused(lambda: backend.store.claim(audit_claim("C-AUD", "s:b", now=T2)))
    moved = backend.store.read("C-AUD")
    assert moved is not None and moved.attributes["auditAt"] == T2 and not set(item.LEASE) & set(moved.attributes)
    # the last audit takes the order out of the schedule for good
    backend.store.claim(audit_claim("C-AUD", "s:c", due_by=T2))
    backend.store.apply(item.audited("C-AUD", item.Leased("s:c", "FAILED"), check=item.Check(T2, "audit", "NOT_FOUND"),
                                     history=[], attempts=3, next_audit_at=None))
    backend.settle()
    done = backend.store.read("C-AUD")
    assert done is not None and not {*item.AUDIT_INDEX_KEYS, *item.LEASE} & set(done.attributes)
    assert list(backend.store.audits_due(SHARD, T2, page_size=10)) == []


def test_an_unpublished_decision_is_not_audited_until_published(backend: Backend) -> None:
    register(backend, "C-AUD-UNPUB")
    backend.store.claim(claim_of("C-AUD-UNPUB", "s:1"))
    backend.store.apply(expiry("C-AUD-UNPUB", "s:1", audit_at=T0))
    backend.store.apply(item.Transition("C-AUD-UNPUB", item.Leased("s:1", None), {}, item.LEASE))  # the lease ran out
    refused(lambda: backend.store.claim(audit_claim("C-AUD-UNPUB", "s:2")))
    backend.store.apply(item.published("C-AUD-UNPUB", "C-AUD-UNPUB:FAILED", "FAILED"))
    backend.store.claim(audit_claim("C-AUD-UNPUB", "s:2"))


def test_a_correction_takes_the_order_out_of_the_audits_and_back_into_the_due_index(backend: Backend) -> None:
    for order_id in ("C-REOPEN", "C-CORRECT"):
        published_expiry(backend, order_id, T0)
        backend.store.claim(audit_claim(order_id, "s:a"))
    check = item.Check(T1, "audit", "APPROVED", "TS01")
    backend.store.apply(item.reopen_for_cancel(
        "C-REOPEN", item.Leased("s:a", "FAILED"), check=check, history=[], attempts=2, generation=1,
        cancel={"key": "PSC1", "reason": "LATE_PAYMENT", "supersedes": "C-REOPEN:FAILED"}, sweep_key=SHARD,
        lease_until=T2))
    correction = build_message(order_id="C-CORRECT", provider="teemopay", outcome=Outcome.REVIEW,
                               reason=Reason.LATE_PAYMENT, requested=None, reported=None, provider_status="2",
                               provider_refs={}, occurred_at=T1, attempts=2, generation=1,
                               supersedes="C-CORRECT:FAILED")
    backend.store.apply(item.correct(
        "C-CORRECT", item.Leased("s:a", "FAILED"), check=check, history=[], attempts=2, generation=1,
        status="REVIEW", outcome=outcome_record(correction), sweep_key=SHARD, publish_by=T2))
    backend.settle()
    assert list(backend.store.audits_due(SHARD, T2, page_size=10)) == []
    assert sorted(e.order_id for e in backend.store.due_in_shard(SHARD, T2, page_size=10)) == ["C-CORRECT", "C-REOPEN"]
    reopened, corrected = backend.store.read("C-REOPEN"), backend.store.read("C-CORRECT")
    assert reopened is not None and (reopened.attributes["status"], reopened.attributes["generation"]) == ("CANCELLING", Decimal(1))
    assert reopened.attributes["leaseOwner"] == "s:a" and reopened.attributes["cancel"]["supersedes"] == "C-REOPEN:FAILED"
    assert corrected is not None and corrected.attributes["outcome"]["supersedes"] == "C-CORRECT:FAILED"
    backend.store.apply(item.published("C-CORRECT", "C-CORRECT:REVIEW:1", "REVIEW"))
    settled = backend.store.read("C-CORRECT")
    assert settled is not None and not {*item.DUE_INDEX_KEYS, *item.AUDIT_INDEX_KEYS} & set(settled.attributes)


# -- the journal --------------------------------------------------------------------------------


def test_the_journal_keeps_an_orders_first_entry_until_resolved(backend: Backend) -> None:
    message = build_message(order_id="C-J", provider="kicc-wechatpay", outcome=Outcome.CANCELLED,
                            reason=Reason.DB_UPDATE_FAILED, requested=None, reported=None, provider_status=None,
                            provider_refs={}, occurred_at=T0, attempts=1)
    intent = CancelIntent(key="PSC1", request_date="20261122", reason="DB_UPDATE_FAILED", requested_at=T0, deadline=T2)
    entry = Compensation("C-J", JournalTarget.CANCELLING, message, intent, T0, 1_800_000_000)
    backend.journal.record(entry)
    refused(lambda: backend.journal.record(entry._replace(target=JournalTarget.REVIEW, intent=None)))
    assert backend.journal.find("C-J") == entry
    backend.journal.resolve("C-J")
    assert backend.journal.find("C-J") is None
    backend.journal.resolve("C-J")  # resolving twice is harmless


def decide(order_id: str, token: str) -> item.Transition:
    message = approval(order_id)
    return item.decide(
        order_id, item.Leased(token, OrderStatus.PENDING.value), check=item.Check(T1, "status", "APPROVED", "TS01"),
        history=[], attempts=1, status="APPROVED", outcome=outcome_record(message), publish_by=T2,
    )


def approval(order_id: str) -> OutcomeMessage:
    return build_message(order_id=order_id, provider="kicc-wechatpay", outcome=Outcome.APPROVED, reason=None,
                         requested=None, reported=None, provider_status="TS01", provider_refs={},
                         occurred_at=T1, attempts=1)


def audit_claim(order_id: str, token: str, *, due_by: str = T1, shard: str = SHARD, now: str = T1) -> item.Transition:
    return item.claim(order_id, item.AuditDue(shard, due_by, now), token=token, now=now, lease_until=T2)


def expiry(order_id: str, token: str, *, audit_at: str) -> item.Transition:
    message = build_message(order_id=order_id, provider="kicc-wechatpay", outcome=Outcome.FAILED,
                            reason=Reason.EXPIRED, requested=None, reported=None, provider_status=None,
                            provider_refs={}, occurred_at=T0, attempts=1)
    return item.decide(
        order_id, item.Leased(token, OrderStatus.PENDING.value), check=item.Check(T0, "status", "IN_PROGRESS"),
        history=[], attempts=1, status="FAILED", outcome=outcome_record(message), publish_by=T2,
        audit=(SHARD, audit_at),
    )


def published_expiry(backend: Backend, order_id: str, audit_at: str) -> None:
    """An order decided FAILED EXPIRED and published: out of the due index, in the audit index."""
    register(backend, order_id)
    backend.store.claim(claim_of(order_id, "s:decide"))
    backend.store.apply(expiry(order_id, "s:decide", audit_at=audit_at))
    backend.store.apply(item.published(order_id, f"{order_id}:FAILED", "FAILED"))
