from datetime import timedelta
from decimal import Decimal

import pytest
from kicc_profile import PROFILE as KICC
from paysweep.domain import item as items
from paysweep.domain.orders import (
    RESERVED_ATTRIBUTES,
    InvalidOrder,
    OrderStatus,
    new_order_item,
    parse_order,
    shard_of,
    sweep_key,
)
from support.factories import T0, item
from teemopay_profile import PROFILE as TEEMO

PROFILES = {KICC.provider_id: KICC, TEEMO.provider_id: TEEMO}


def parse(raw, **options):
    """As the sweep of the order's provider (KICC's for any other) parses it."""
    return parse_order(raw, PROFILES.get(raw.get("provider"), KICC), **options)


def problems_of(raw):
    with pytest.raises(InvalidOrder) as caught:
        parse(raw)
    return " | ".join(caught.value.problems)


def test_a_contract_item_parses_with_the_provider_default_window():
    order = parse(item())
    assert order.amount == Decimal(1000) and order.currency == "KRW"
    assert order.refs == {"pgCno": "PG0001"} and order.status is OrderStatus.PENDING
    assert order.expires_at == T0 + timedelta(hours=24)  # KICC: a day


def test_teemopay_default_window_is_two_hours_and_explicit_expiry_wins():
    teemo = item(provider="teemopay", pgCno=None, sweepKey="teemopay#0")
    assert parse(teemo).expires_at == T0 + timedelta(hours=2)
    assert parse({**teemo, "expiresAt": "2026-11-22T04:00:00Z"}).expires_at.hour == 4
    assert parse(teemo, default_window=timedelta(minutes=30)).expires_at == T0 + timedelta(minutes=30)


def test_the_sweep_refuses_another_providers_order():
    assert "provider must be one of ['teemopay'], got 'kicc-wechatpay'" in " ".join(
        pytest.raises(InvalidOrder, parse_order, item(), TEEMO).value.problems)


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
        parse(item(amount=Decimal(-1), currency="EUR", pgCno=None))
    assert len(caught.value.problems) == 3


def test_usd_needs_kicc_and_teemopay_takes_krw_only():
    assert parse(item(currency="USD", amount=Decimal("12.03"))).amount == Decimal("12.03")
    assert "not offered by teemopay" in problems_of(item(provider="teemopay", currency="USD", amount=Decimal("12.03")))
    assert "at most 32" in problems_of(item(provider="teemopay", orderId="T" * 33))


def test_sweeper_owned_cancel_record_is_read_back():
    raw = item(status="CANCELLING", cancel={"key": "PSC1", "requestDate": "20261122", "reason": "AMOUNT_MISMATCH",
                                            "requestedAt": "2026-11-22T03:20:00Z", "deadline": "2026-11-22T09:20:00Z",
                                            "sends": Decimal(1), "reference": "CPG1"})
    order = parse(raw)
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
                           created_at=T0, refs={"pgCno": "PG9"}, profile=KICC)
    assert built["amount"] == Decimal("12.03") and isinstance(built["amount"], Decimal)
    assert built["sweepKey"] == f"kicc-wechatpay#{shard_of('ORD-9', 4)}" and built["pgCno"] == "PG9"
    assert built["nextCheckAt"] == "2026-11-22T03:15:15Z" and built["createdAt"] == "2026-11-22T03:14:15Z"
    assert built["status"] == "PENDING" and "expiresAt" not in built
    assert parse(built).order_id == "ORD-9"


def test_writer_refuses_invalid_orders_and_bad_expiry():
    with pytest.raises(InvalidOrder, match="pgCno"):
        new_order_item(order_id="ORD-9", provider="kicc-wechatpay", amount=1000, currency="KRW", shards=4,
                       created_at=T0, profile=KICC)
    with pytest.raises(InvalidOrder, match="after createdAt"):
        new_order_item(order_id="ORD-9", provider="teemopay", amount=1000, currency="KRW", shards=4, created_at=T0,
                       expires_at=T0 - timedelta(seconds=1))
    with pytest.raises(ValueError, match="shards"):
        new_order_item(order_id="ORD-9", provider="teemopay", amount=1000, currency="KRW", shards=0, created_at=T0)


def new(**overrides):
    options = {"order_id": "ORD-9", "provider": "kicc-wechatpay", "amount": 1000, "currency": "KRW", "shards": 4,
               "created_at": T0, "refs": {"pgCno": "PG9"}}
    return new_order_item(**{**options, **overrides})


def writer_problems(**overrides):
    with pytest.raises(InvalidOrder) as caught:
        new(**overrides)
    return " | ".join(caught.value.problems)


def test_without_a_profile_the_writer_checks_the_contracts_common_rules():
    """The layer has no provider's profile: a caller that gives none gets the rules every order
    keeps, and the sweep checks the provider's own (REVIEW INVALID_ORDER)."""
    assert new(refs={})["provider"] == "kicc-wechatpay", "a missing required reference is the sweep's to find"
    assert new(order_id="T" * 40, provider="teemopay", refs={})["orderId"] == "T" * 40
    assert "the contract allows at most 40" in writer_problems(order_id="X" * 41)
    assert "provider must be a provider id" in writer_problems(provider="Pay Pal")
    assert "provider must be a provider id" in writer_problems(provider="kicc#1")
    assert "currency must be one of" in writer_problems(currency="EUR")
    assert "pgCno must be 1..60 printable ASCII" in writer_problems(refs={"pgCno": "P" * 61})
    assert "pgCno is required" in writer_problems(refs={"pgCno": ""})


def test_with_the_providers_profile_the_writer_checks_its_rules_too():
    assert "pgCno is required for kicc-wechatpay" in writer_problems(refs={}, profile=KICC)
    assert "at most 32" in writer_problems(order_id="T" * 33, provider="teemopay", refs={}, profile=TEEMO)
    assert "not offered by teemopay" in writer_problems(provider="teemopay", currency="USD", refs={}, profile=TEEMO)
    assert "provider must be one of ['teemopay']" in writer_problems(refs={}, profile=TEEMO)
    assert new(provider="teemopay", refs={"tradeNo": "T1"}, profile=TEEMO)["tradeNo"] == "T1"


@pytest.mark.parametrize("name", ["status", "sweepKey", "leaseOwner", "outcome", "PgCno", "pg-cno", "", "x" * 41])
def test_a_reference_never_takes_the_contracts_names_or_a_malformed_one(name):
    problems = writer_problems(refs={"pgCno": "PG9", name: "X"})
    assert f"reference name {name!r}" in problems


def test_the_reserved_names_cover_every_attribute_the_sweeper_owns():
    owned = {value for name, value in vars(items).items() if name.isupper() and isinstance(value, str)}
    assert owned <= RESERVED_ATTRIBUTES, f"paysweep.domain.item names attributes a reference could take: {owned - RESERVED_ATTRIBUTES}"
