"""The order's lease: the one writer of one order under one lease (`paysweep.sweep.lease`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from doubles.store import MemoryCompensationJournal, MemoryOrderStore
from paysweep.config import SweepConfig
from paysweep.domain import item
from paysweep.domain.answers import PaymentAnswer, PaymentState
from paysweep.domain.clock import to_iso
from paysweep.domain.orders import new_order_item
from paysweep.domain.outcomes import Outcome, build_message
from paysweep.sweep.lease import NotThisLease, OrderLease
from paysweep.sweep.outbox import OutboxBuffer
from paysweep.sweep.ports import EveryAccount, PublishReport
from paysweep.sweep.ratelimit import RateLimiter
from paysweep.sweep.steps import LeaseLapsed
from paysweep.sweep.summary import SweepSummary
from paysweep.sweep.tools import SweepTools

NOW = datetime(2026, 11, 22, 3, 14, 15, tzinfo=UTC)
CONFIG = SweepConfig.from_env({
    "ORDERS_TABLE": "o", "COMPENSATIONS_TABLE": "c", "APPROVED_TOPIC_ARN": "a", "FAILED_TOPIC_ARN": "f",
    "CANCELLED_TOPIC_ARN": "x", "REVIEW_TOPIC_ARN": "r", "PROVIDER_BASE_URL": "https://p.invalid",
    "PROVIDER_SECRET_ARN": "s", "SWEEP_SHARDS": "1",
})


class Publisher:
    def publish(self, messages):
        return PublishReport(list(messages), [])


def leased(order_id: str = "L-1") -> tuple[OrderLease, MemoryOrderStore, SweepTools, list[datetime]]:
    store = MemoryOrderStore()
    store.put_new(new_order_item(order_id=order_id, provider="toy-pay", amount=Decimal(1000), currency="KRW",
                                 shards=1, created_at=NOW, first_check_after=timedelta(0)))
    summary = SweepSummary("toy-pay")
    clock = [NOW]
    tools = SweepTools(adapter=None, journal=MemoryCompensationJournal(),  # type: ignore[arg-type]
                       outbox=OutboxBuffer(Publisher(), store, summary), clock=lambda: clock[0],
                       rate_limiter=RateLimiter(0), config=CONFIG, summary=summary, out_of_time=lambda: False,
                       accounts=EveryAccount(), started_at=NOW)
    claim = item.claim(order_id, item.Due("toy-pay#0", to_iso(NOW), to_iso(NOW)), token="t-1", now=to_iso(NOW),
                       lease_until=to_iso(NOW + CONFIG.lease))
    before = store.claim(claim)
    return OrderLease(tools, store, before.after(claim), "t-1"), store, tools, clock


def test_it_writes_only_its_order_and_only_under_its_lease() -> None:
    lease, store, _, _ = leased()
    check = item.Check(to_iso(NOW), "status", "IN_PROGRESS")
    mine = item.reschedule("L-1", lease.guard("PENDING"), check=check, history=[], attempts=1,
                           next_check_at=to_iso(NOW + timedelta(minutes=1)))
    with pytest.raises(NotThisLease):
        lease.write(mine._replace(order_id="L-2"), what="another order")
    with pytest.raises(NotThisLease):
        lease.write(mine._replace(guard=item.Leased("t-2", "PENDING")), what="another lease")
    with pytest.raises(NotThisLease):
        lease.write(mine._replace(guard=item.Due("toy-pay#0", to_iso(NOW), to_iso(NOW))), what="a claim")
    assert lease.write(mine, what="reschedule").done
    stored = store.read("L-1")
    assert stored is not None and stored.history == lease.history == [check.line()]


def test_a_refused_write_is_counted_and_reports_the_order_as_it_is() -> None:
    lease, _, tools, _ = leased()
    check = item.Check(to_iso(NOW), "status", "IN_PROGRESS")
    written = lease.write(item.keep_leased("L-1", lease.guard("CANCELLING"), check=check, history=[], attempts=1,
                                           lease_until=lease.lease_until(NOW)), what="renewal")
    assert not written.done and written.refusal is not None and written.refusal.current is not None
    assert written.refusal.current.status == "PENDING" and tools.summary.errors == {"record": 1}


def test_an_outcome_is_queued_for_publishing_once_recorded() -> None:
    lease, store, tools, _ = leased()
    message = build_message(order_id="L-1", provider="toy-pay", outcome=Outcome.APPROVED, reason=None,
                            requested=None, reported=None, provider_status="OK", provider_refs={},
                            occurred_at=to_iso(NOW), attempts=1)
    check = item.Check(to_iso(NOW), "status", "APPROVED")
    assert lease.record(message, check, attempts=1, guard=lease.guard("PENDING")).done
    assert tools.summary.outcomes == {"APPROVED": 1}
    stored = store.read("L-1")
    assert stored is not None and stored.unpublished and stored.recorded_message() == message
    assert lease.leased_until == to_iso(NOW + CONFIG.outbox_grace), "a decided order is held until published"
    tools.outbox.flush()
    published = store.read("L-1")
    assert published is not None and published.decided and not published.unpublished
    assert not lease.record(message, check, attempts=1, guard=lease.guard("PENDING")).done, "decided already"
    assert tools.summary.outcomes == {"APPROVED": 1}


def test_a_provider_call_needs_a_lease_that_covers_it() -> None:
    lease, _, _, clock = leased()
    answer = PaymentAnswer(PaymentState.IN_PROGRESS)
    assert lease.call(lambda: answer, PaymentAnswer) is answer and lease.calls == 1
    clock[0] = NOW + CONFIG.lease - CONFIG.call_budget + timedelta(seconds=1)
    with pytest.raises(LeaseLapsed):
        lease.call(lambda: answer, PaymentAnswer)
    assert lease.call(lambda: answer, PaymentAnswer, under_lease=False) is answer and lease.calls == 2
