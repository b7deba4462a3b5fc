import json
from decimal import Decimal

import pytest
from jsonschema import ValidationError
from paysweep.domain.answers import ReportedAmount
from paysweep.domain.outcomes import (
    Outcome,
    OutcomeMessage,
    Reason,
    build_message,
    event_id,
    message_from_record,
    outcome_record,
)
from support.schema import assert_valid_outcome, validator


def message(**overrides):
    args = {
        "order_id": "ORD-1001",
        "provider": "kicc-wechatpay",
        "outcome": Outcome.APPROVED,
        "reason": None,
        "requested": ReportedAmount(Decimal(1000), "KRW"),
        "reported": ReportedAmount(Decimal("1000.00"), "KRW"),
        "provider_status": "TS01",
        "provider_refs": {"pgCno": "PG1", "approvalDate": "20261122031415"},
        "occurred_at": "2026-11-22T03:14:15Z",
        "attempts": 3,
    }
    args.update(overrides)
    return build_message(**args)


def test_the_contract_example_shape():
    built = message()
    body = assert_valid_outcome(built.body)
    assert body == {
        "schema": "paysweep.outcome/v1",
        "eventId": "ORD-1001:APPROVED",
        "orderId": "ORD-1001",
        "provider": "kicc-wechatpay",
        "outcome": "APPROVED",
        "reason": None,
        "requested": {"amount": "1000", "currency": "KRW"},
        "reported": {"amount": "1000", "currency": "KRW"},
        "providerStatus": "TS01",
        "providerRefs": {"approvalDate": "20261122031415", "pgCno": "PG1"},
        "occurredAt": "2026-11-22T03:14:15Z",
        "attempts": 3,
    }


def test_attributes_let_subscribers_filter_and_omit_a_null_reason():
    assert message().attributes() == {"provider": "kicc-wechatpay", "outcome": "APPROVED"}
    review = message(outcome=Outcome.REVIEW, reason=Reason.AMOUNT_MISMATCH, reported=ReportedAmount(Decimal("1000.50"), "KRW"))
    assert review.attributes()["reason"] == "AMOUNT_MISMATCH"
    assert assert_valid_outcome(review.body)["reported"] == {"amount": "1000.50", "currency": "KRW"}


def test_reported_is_null_when_the_provider_gave_no_amount():
    for reported in (None, ReportedAmount(None, "KRW")):
        body = assert_valid_outcome(message(outcome=Outcome.FAILED, reason=Reason.EXPIRED, reported=reported).body)
        assert body["reported"] is None


def test_usd_amounts_keep_their_cents():
    built = message(requested=ReportedAmount(Decimal("12.3"), "USD"), reported=ReportedAmount(Decimal("12.30"), "USD"))
    assert json.loads(built.body)["requested"] == {"amount": "12.30", "currency": "USD"}


def test_event_ids_are_stable_per_transition_and_generation():
    assert event_id("ORD-1", Outcome.CANCELLED) == "ORD-1:CANCELLED"
    assert event_id("ORD-1", Outcome.CANCELLED, 2) == "ORD-1:CANCELLED:2"
    assert message().event_id == message(attempts=9).event_id


def test_a_stored_message_round_trips_byte_for_byte():
    built = message(outcome=Outcome.CANCELLED, reason=Reason.CURRENCY_MISMATCH)
    assert OutcomeMessage.from_item(built.to_item()) == built


@pytest.mark.parametrize("outcome, reason", [(Outcome.APPROVED, Reason.EXPIRED), (Outcome.FAILED, Reason.CANCEL_REFUSED)])
def test_the_schema_rejects_reasons_that_do_not_belong_to_the_outcome(outcome, reason):
    with pytest.raises(AssertionError, match="schema"):
        assert_valid_outcome(message(outcome=outcome, reason=reason).body)


def test_non_ascii_text_is_published_as_utf8_not_escaped():
    built = message(outcome=Outcome.REVIEW, reason=Reason.UNKNOWN_PROVIDER_STATE, provider_refs={"detail": "결제"})
    assert "결제" in built.body


def test_only_an_invalid_order_message_may_carry_a_key_beyond_the_id_rules():
    long_id = "ORD-" + "9" * 40
    invalid = message(order_id=long_id, outcome=Outcome.REVIEW, reason=Reason.INVALID_ORDER)
    assert assert_valid_outcome(invalid.body)["orderId"] == long_id
    for outcome, reason in [(Outcome.REVIEW, Reason.UNKNOWN_PROVIDER_STATE), (Outcome.APPROVED, None)]:
        with pytest.raises(AssertionError, match="schema"):
            assert_valid_outcome(message(order_id=long_id, outcome=outcome, reason=reason).body)


# -- corrections (an audit found the provider's books changed after the decision) ---------------

def test_a_correction_names_what_it_supersedes_and_only_a_correction_has_the_field():
    late = message(outcome=Outcome.CANCELLED, reason=Reason.LATE_PAYMENT, generation=1, supersedes="ORD-1001:FAILED",
                   provider_refs={"pgCno": "PG1", "cancelPgCno": "CPG1"})
    body = assert_valid_outcome(late.body)
    assert body["eventId"] == "ORD-1001:CANCELLED:1" and body["supersedes"] == "ORD-1001:FAILED"
    assert "supersedes" not in json.loads(message().body)
    # the record a re-publish rebuilds from keeps it, byte for byte
    assert message_from_record("ORD-1001", 1, outcome_record(late)).body == late.body
    follow_up = message(outcome=Outcome.REVIEW, reason=Reason.EXPIRED, generation=1, supersedes="ORD-1001:REVIEW",
                        reported=None, provider_status="1")
    assert assert_valid_outcome(follow_up.body)["supersedes"] == "ORD-1001:REVIEW"
    # a late payment, or a REVIEW saying EXPIRED, without what it corrects breaks the contract
    for broken in (message(outcome=Outcome.REVIEW, reason=Reason.LATE_PAYMENT, generation=1),
                   message(outcome=Outcome.REVIEW, reason=Reason.EXPIRED, generation=1, reported=None)):
        with pytest.raises(ValidationError):
            validator().validate(json.loads(broken.body))
