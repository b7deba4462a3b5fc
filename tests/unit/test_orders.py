from datetime import timedelta
from decimal import Decimal

import pytest
from paysweep.domain.orders import InvalidOrder, OrderStatus, new_order_item, parse_order, shard_of, sweep_key
from support.factories import T0, item


def problems_of(raw):
    with pytest.raises(InvalidOrder) as caught:
        parse_order(raw)
    return " | ".join(caught.value.problems)


def test_a_contract_item_parses_with_the_provider_default_window():
    order = parse_order(item())
    assert order.amount == Decimal(1000) and order.currency == "KRW"
    assert order.pg_cno == "PG0001" and order.status is OrderStatus.PENDING
    assert order.expires_at == T0 + timedelta(hours=24)  # KICC: a day


def test_teemopay_default_window_is_two_hours_and_explicit_expiry_wins():
    teemo = item(provider="teemopay", pgCno=None, sweepKey="teemopay#0")
    assert parse_order(teemo).expires_at == T0 + timedelta(hours=2)
    assert parse_order({**teemo, "expiresAt": "2026-11-22T04:00:00Z"}).expires_at.hour == 4
    assert parse_order(teemo, default_window=timedelta(minutes=30)).expires_at == T0 + timedelta(minutes=30)


@pytest.mark.parametrize(
    "overrides, problem",
    [
        ({"amount": None}, "amount"),
        ({"amount": Decimal(-5)}, "positive"),
        ({"amount": Decimal(0)}, "positive"),
        ({"amount": "1000"}, "DynamoDB N"),
        ({"amount": Decimal("1000.5")}, "more decimals than KRW"),
        ({"amount": Decimal("1E+13")}, "implausibly large"),
        ({"currency": "EUR"}, "currency must be one of"),
        ({"currency": None}, "currency must be one of"),
        ({"provider": "paypal"}, "provider must be one of"),
        ({"provider": None}, "provider must be one of"),
        ({"pgCno": None}, "pgCno is required"),
        ({"pgCno": ""}, "pgCno is required"),
        ({"pgCno": "P" * 61}, "printable ASCII"),
        ({"pgCno": 12345}, "pgCno is required"),
        ({"orderId": "X" * 41}, "at most 40"),
        ({"orderId": 1001}, "non-empty string"),
        ({"orderId": "ORD 1"}, "ASCII letters"),
        ({"orderId": "ORD-1\n"}, "ASCII letters"),
        ({"createdAt": "2026-11-22T03:14:15"}, "no UTC offset"),
        ({"createdAt": None}, "createdAt"),
        ({"expiresAt": "tomorrow"}, "expiresAt"),
        ({"status": "PAID"}, "status must be one of"),
        ({"attempts": Decimal(-1)}, "attempts"),
    ],
)
def test_each_contract_violation_is_named(overrides, problem):
    assert problem in problems_of(item(**overrides))


def test_every_problem_is_reported_at_once():
    with pytest.raises(InvalidOrder) as caught:
        parse_order(item(amount=Decimal(-1), currency="EUR", pgCno=None))
    assert len(caught.value.problems) == 3


def test_usd_needs_kicc_and_teemopay_takes_krw_only():
    assert parse_order(item(currency="USD", amount=Decimal("12.03"))).amount == Decimal("12.03")
    assert "not offered by teemopay" in problems_of(item(provider="teemopay", currency="USD", amount=Decimal("12.03")))
    assert "at most 32" in problems_of(item(provider="teemopay", orderId="T" * 33))


def test_sweeper_owned_cancel_record_is_read_back():
    raw = item(status="CANCELLING", cancel={"key": "PSC1", "requestDate": "20261122", "reason": "AMOUNT_MISMATCH",
                                            "requestedAt": "2026-11-22T03:20:00Z", "deadline": "2026-11-22T09:20:00Z",
                                            "sends": Decimal(1), "reference": "CPG1"})
    order = parse_order(raw)
    assert order.status is OrderStatus.CANCELLING
    assert order.cancel is not None and order.cancel.key == "PSC1" and order.cancel.reference == "CPG1"
    assert order.cancel.sends == 1


def test_shards_are_stable_and_spread():
    assert shard_of("ORD-1001", 8) == shard_of("ORD-1001", 8)
    counts = [0] * 8
    for n in range(4000):
        counts[shard_of(f"ORD-{n}", 8)] += 1
    assert min(counts) > 400  # roughly uniform: each shard gets its share
    assert sweep_key("teemopay", 3) == "teemopay#3"


def test_writer_builds_the_documented_item():
    built = new_order_item(order_id="ORD-9", provider="kicc-wechatpay", amount="12.03", currency="USD", shards=4,
                           created_at=T0, pg_cno="PG9")
    assert built["amount"] == Decimal("12.03") and isinstance(built["amount"], Decimal)
    assert built["sweepKey"] == f"kicc-wechatpay#{shard_of('ORD-9', 4)}"
    assert built["nextCheckAt"] == "2026-11-22T03:15:15Z" and built["createdAt"] == "2026-11-22T03:14:15Z"
    assert built["status"] == "PENDING" and "expiresAt" not in built
    assert parse_order(built).order_id == "ORD-9"


def test_writer_refuses_invalid_orders_and_bad_expiry():
    with pytest.raises(InvalidOrder, match="pgCno"):
        new_order_item(order_id="ORD-9", provider="kicc-wechatpay", amount=1000, currency="KRW", shards=4, created_at=T0)
    with pytest.raises(InvalidOrder, match="after createdAt"):
        new_order_item(order_id="ORD-9", provider="teemopay", amount=1000, currency="KRW", shards=4, created_at=T0,
                       expires_at=T0 - timedelta(seconds=1))
    with pytest.raises(ValueError, match="shards"):
        new_order_item(order_id="ORD-9", provider="teemopay", amount=1000, currency="KRW", shards=0, created_at=T0)
