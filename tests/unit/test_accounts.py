"""Several merchant accounts of one provider: the order's `merchantId`, the secret's accounts, the
messages that carry the account, and the rate limit per account (CONTRACT.md sections 2-4)."""

from __future__ import annotations

import itertools
import json
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from doubles.publisher import CapturingPublisher
from doubles.store import MemoryCompensationJournal, MemoryOrderStore
from paysweep.config import SweepConfig
from paysweep.domain.answers import PaymentAnswer, PaymentState, ReportedAmount
from paysweep.domain.orders import InvalidOrder, Order, new_order_item
from paysweep.domain.outcomes import (
    Outcome,
    OutcomeMessage,
    build_message,
    message_from_record,
    outcome_record,
)
from paysweep.domain.providers import ProviderProfile
from paysweep.provider.accounts import SecretAccounts, UnknownAccount, account_of
from paysweep.provider.client import SecretUnavailable
from paysweep.provider.guard import GuardedAdapter
from paysweep.sweep.engine import SweepEngine
from paysweep.sweep.ratelimit import RateLimiter
from paysweep.sweep.request import SweepRequest
from support.schema import assert_valid_outcome
from teemopay_profile import PROFILE

T = datetime(2026, 11, 22, 3, 14, 15, tzinfo=UTC)
SECRET = {"appCode": "A-DEFAULT", "accounts": {"seller-b": {"appCode": "A-B"}, "seller.c": {"appCode": "A-C"}}}


# -- the secret's accounts -------------------------------------------------------------------------


def test_an_order_gets_its_accounts_credentials_and_the_default_without_one() -> None:
    assert account_of(SECRET, None) == {"appCode": "A-DEFAULT"}
    assert account_of(SECRET, "seller-b") == {"appCode": "A-B"}
    assert account_of({"appCode": "ONLY"}, None) == {"appCode": "ONLY"}, "today's single-account secret"


@pytest.mark.parametrize("secret, merchant_id, says", [
    (SECRET, "seller-x", "no account 'seller-x'"),
    ({"appCode": "ONLY"}, "seller-b", "no account 'seller-b'"),
    ({"accounts": {"seller-b": {"appCode": "A-B"}}}, None, "no default account"),
])
def test_an_account_the_secret_does_not_hold_is_unknown(secret: dict[str, Any], merchant_id: str | None, says: str) -> None:
    with pytest.raises(UnknownAccount, match=says):
        account_of(secret, merchant_id)
    assert says in (SecretAccounts(lambda: secret).account_problem(merchant_id) or "")


def test_accounts_that_are_not_objects_make_the_secret_unusable() -> None:
    with pytest.raises(SecretUnavailable, match="must map merchant ids to objects"):
        account_of({"appCode": "A", "accounts": {"seller-b": "A-B"}}, "seller-b")


def test_an_unreadable_secret_is_left_to_the_provider_call() -> None:
    def unreadable() -> dict[str, Any]:
        raise SecretUnavailable("cannot read")

    assert SecretAccounts(unreadable).account_problem("seller-b") is None


# -- the order's merchantId ------------------------------------------------------------------------


def order_item(merchant_id: str | None = None, order_id: str = "MA-1") -> dict[str, Any]:
    return new_order_item(order_id=order_id, provider="teemopay", amount=Decimal(1000), currency="KRW", shards=1,
                          created_at=T, first_check_after=timedelta(0), profile=PROFILE, merchant_id=merchant_id)


def test_the_writer_writes_the_account_only_when_named_and_checks_its_form() -> None:
    assert "merchantId" not in order_item()
    assert order_item("seller-b")["merchantId"] == "seller-b"
    for wrong in ("", "seller b", "x" * 33, "séller"):
        with pytest.raises(InvalidOrder, match="merchantId must be 1..32"):
            order_item(wrong)


# -- messages --------------------------------------------------------------------------------------


def approval(merchant_id: str | None) -> OutcomeMessage:
    paid = ReportedAmount(Decimal(1000), "KRW")
    return build_message(order_id="MA-1", provider="teemopay", outcome=Outcome.APPROVED, reason=None,
                         requested=paid, reported=paid, provider_status="2", provider_refs={},
                         occurred_at="2026-11-22T03:14:15Z", attempts=1, merchant_id=merchant_id)


def test_a_message_carries_the_account_in_its_body_and_attributes_only_when_the_order_named_one() -> None:
    named, plain = approval("seller-b"), approval(None)
    assert json.loads(named.body)["merchantId"] == "seller-b" and named.attributes()["merchantId"] == "seller-b"
    assert "merchantId" not in json.loads(plain.body) and "merchantId" not in plain.attributes()
    assert plain.body == named.body.replace('"merchantId":"seller-b",', ""), "nothing else changes"
    assert_valid_outcome(named.body)


def test_a_rebuilt_message_takes_the_account_from_the_order_not_a_second_copy() -> None:
    named = approval("seller-b")
    record = outcome_record(named)
    assert "merchantId" not in record, "written once, by the order's writer"
    assert message_from_record("MA-1", 0, record, "seller-b") == named


# -- the sweep -------------------------------------------------------------------------------------


class Provider:
    """Answers approved for everything; keeps the account each question was asked as."""

    profile: ProviderProfile = PROFILE
    canceller = None

    def __init__(self, secret: dict[str, Any]) -> None:
        self.secret = secret
        self.asked_as: dict[str, Any] = {}

    def check_payment(self, order: Order) -> PaymentAnswer:
        self.asked_as[order.order_id] = account_of(self.secret, order.merchant_id)["appCode"]
        return PaymentAnswer(PaymentState.APPROVED, "2", paid=ReportedAmount(Decimal(1000), "KRW"))


def test_each_order_is_asked_as_its_account_and_an_unknown_account_goes_to_review_alone(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store, provider, publisher = MemoryOrderStore(), Provider(SECRET), CapturingPublisher()
    for order_id, merchant_id in [("MA-DEF", None), ("MA-B", "seller-b"), ("MA-C", "seller.c"), ("MA-X", "seller-x")]:
        store.put_new(order_item(merchant_id, order_id))
    tokens = itertools.count()
    config = SweepConfig.from_env({
        "ORDERS_TABLE": "o", "COMPENSATIONS_TABLE": "c", "APPROVED_TOPIC_ARN": "a", "FAILED_TOPIC_ARN": "f",
        "CANCELLED_TOPIC_ARN": "x", "REVIEW_TOPIC_ARN": "r", "PROVIDER_BASE_URL": "https://p.invalid",
        "PROVIDER_SECRET_ARN": "s", "SWEEP_SHARDS": "1"})
    engine = SweepEngine(adapter=GuardedAdapter(provider), store=store, journal=MemoryCompensationJournal(),
                         publisher=publisher, config=config, clock=lambda: T, rate_limiter=RateLimiter(0),
                         new_token=lambda: str(next(tokens)), rng=random.Random(1),
                         accounts=SecretAccounts(lambda: SECRET))
    engine.sweep(SweepRequest(), lambda: 120_000)
    assert provider.asked_as == {"MA-DEF": "A-DEFAULT", "MA-B": "A-B", "MA-C": "A-C"}, "MA-X is never asked about"
    bodies = {m.order_id: json.loads(m.body) for m in publisher.accepted}
    assert {k: (b["outcome"], b["reason"], b.get("merchantId")) for k, b in bodies.items()} == {
        "MA-DEF": ("APPROVED", None, None), "MA-B": ("APPROVED", None, "seller-b"),
        "MA-C": ("APPROVED", None, "seller.c"), "MA-X": ("REVIEW", "INVALID_ORDER", "seller-x")}
    [record] = [r for r in caplog.records if r.getMessage().startswith("invalid order")]
    assert record.problems == ["the provider secret has no account 'seller-x' (merchantId)"], "the log says which"


# -- the rate limit --------------------------------------------------------------------------------


def test_the_rate_limit_applies_per_account() -> None:
    now, slept = [0.0], []

    def sleep(seconds: float) -> None:
        slept.append(round(seconds, 3))

    limiter = RateLimiter(10, clock=lambda: now[0], sleep=sleep)
    for account in ("seller-b", "seller-b", None, "seller-c", None, "seller-b"):
        limiter.acquire(account)
    assert slept == [0.1, 0.1, 0.2], "each account waits only for its own earlier calls"
