"""KICC WeChat Pay, end to end: the real handler over real HTTP (emulator + KICC simulator)."""

from __future__ import annotations

from datetime import timedelta

from paysweep_local.simulators import kicc
from paysweep_local.stack import LocalStack
from support.invariants import check_all
from support.outcomes import Published
from support.scenarios import KICC, add_kicc, kicc_finds

add = add_kicc
finds = kicc_finds


def test_an_approval_is_recorded_published_and_leaves_the_index(stack: LocalStack, published: Published) -> None:
    pg_cno = add(stack, "KI-APPROVED", [kicc.approved()])
    run = stack.sweep(KICC)
    assert run.ok, run.error
    assert run.result["outcomes"] == {"APPROVED": 1} and run.result["checked"] == 1

    message = published.only("KI-APPROVED")
    assert message["outcome"] == "APPROVED" and message["eventId"] == "KI-APPROVED:APPROVED"
    assert message["requested"] == message["reported"] == {"amount": "1000", "currency": "KRW"}
    assert message["providerStatus"] == "TS01" and message["providerRefs"]["pgCno"] == pg_cno
    item = stack.order("KI-APPROVED")
    assert item["status"] == "APPROVED" and item["outcome"]["eventId"] == "KI-APPROVED:APPROVED"
    assert not {"sweepKey", "nextCheckAt", "leaseOwner", "outbox"} & set(item)
    request = finds(stack, pg_cno)[0]
    assert request.body["mallId"] == "M0000001"
    check_all(stack.orders(), [d.message for d in published.all])


def test_every_status_query_uses_a_fresh_key_and_the_backoff_schedule(stack: LocalStack, published: Published) -> None:
    pg_cno = add(stack, "KI-LATE", [kicc.pending(times=3), kicc.approved()])
    due_times = []
    for _ in range(4):
        assert stack.sweep(KICC).ok
        item = stack.order("KI-LATE")
        due_times.append(item.get("nextCheckAt"))
        stack.advance(60)
    keys = [r.body["shopTransactionId"] for r in finds(stack, pg_cno)]
    assert len(keys) == 3 and len(set(keys)) == 3 and max(map(len, keys)) <= 60
    assert all(r.response_json()["resCd"] == "0000" for r in finds(stack, pg_cno))  # no duplicate-key refusals
    # checks at +0 and +1 min wait 60 s each; the third waits 120 s: still pending at +3 min
    assert stack.order("KI-LATE")["status"] == "PENDING" and stack.order("KI-LATE")["attempts"] == 3
    stack.advance(60)
    assert stack.sweep(KICC).ok
    assert published.only("KI-LATE")["attempts"] == 4


def test_usd_cents_approve_and_one_won_off_never_does(stack: LocalStack, published: Published) -> None:
    add(stack, "KI-USD", [kicc.approved()], amount=1203, currency="USD")
    add(stack, "KI-OFF", [kicc.approved(amount=999)])
    assert stack.sweep(KICC).ok
    assert published.only("KI-USD")["reported"] == {"amount": "12.03", "currency": "USD"}
    assert published.for_order("KI-OFF") == []  # cancelling: not APPROVED, not yet CANCELLED
    assert stack.order("KI-OFF")["status"] == "CANCELLING"


def test_provider_cancellations(stack: LocalStack, published: Published) -> None:
    add(stack, "KI-TS02", [kicc.cancelled("TS02")])
    add(stack, "KI-TS12", [kicc.cancelled("TS12")])
    add(stack, "KI-TS06", [kicc.partial_cancel()])
    assert stack.sweep(KICC).ok
    assert (published.only("KI-TS02")["outcome"], published.only("KI-TS02")["reason"]) == ("CANCELLED", "PROVIDER_CANCELLED")
    assert published.only("KI-TS12")["reason"] == "PROVIDER_CANCELLED"
    assert (published.only("KI-TS06")["outcome"], published.only("KI-TS06")["reason"]) == ("REVIEW", "PARTIAL_CANCEL")


def test_an_error_code_is_retried_not_decided_and_its_message_is_decoded(stack: LocalStack, published: Published) -> None:
    add(stack, "KI-ERR", [kicc.error(res_cd="W002", res_msg="Payment failed", detail="사용자 결제 취소"), kicc.approved()])
    run = stack.sweep(KICC)
    assert run.result["rescheduled"] == 1 and run.result["providerErrors"] == {"provider_error": 1}
    assert published.for_order("KI-ERR") == []
    assert "사용자 결제 취소" in stack.order("KI-ERR")["lastCheck"]["detail"]
    logged = [r for r in run.log_records("order checked") if r.get("orderId") == "KI-ERR"]
    assert logged and "사용자 결제 취소" in logged[0]["answer"]["detail"] and logged[0]["provider"] == KICC
    stack.advance(60)
    assert stack.sweep(KICC).ok
    assert published.only("KI-ERR")["outcome"] == "APPROVED"


def test_unpaid_until_expiry_fails_and_unknown_until_expiry_goes_to_review(stack: LocalStack, published: Published) -> None:
    expires = stack.now() + timedelta(minutes=2)
    add(stack, "KI-UNPAID", [kicc.pending()], expires_at=expires)
    add(stack, "KI-BROKEN-API", [kicc.error(res_cd="S999")], expires_at=expires)
    for minute in range(23):  # expiry (+2 min), the settling grace (5), the final retries (15)
        assert stack.sweep(KICC).ok
        if minute < 7:
            assert published.for_order("KI-UNPAID") == [], f"decided too early, at +{minute} min"
        if minute == 7:
            assert published.only("KI-UNPAID")["reason"] == "EXPIRED"
        if minute < 22:
            assert published.for_order("KI-BROKEN-API") == [], f"gave up too early, at +{minute} min"
        stack.advance(60)
    assert (published.only("KI-UNPAID")["outcome"], published.only("KI-UNPAID")["reason"]) == ("FAILED", "EXPIRED")
    assert (published.only("KI-BROKEN-API")["outcome"], published.only("KI-BROKEN-API")["reason"]) == (
        "REVIEW", "UNKNOWN_PROVIDER_STATE")
    check_all(stack.orders(), [d.message for d in published.all])


def test_a_slow_provider_times_out_and_the_order_stays_due(stack: LocalStack, published: Published) -> None:
    add(stack, "KI-SLOW", [kicc.slow(5, then=kicc.approved()), kicc.approved()])
    run = stack.sweep(KICC)
    assert run.ok and run.result["providerErrors"] == {"timeout": 1} and run.result["rescheduled"] == 1
    assert stack.order("KI-SLOW")["status"] == "PENDING"
    stack.advance(60)
    stack.sweep(KICC)
    assert published.only("KI-SLOW")["outcome"] == "APPROVED"


def test_answers_that_break_the_docs_are_never_trusted(stack: LocalStack, published: Published) -> None:
    scripts = {
        "KI-HTML": [kicc.http_error(502)],
        "KI-TEXT": [kicc.non_json()],
        "KI-EMPTY": [kicc.empty_body()],
        "KI-KEY": [kicc.wrong_key()],
        "KI-OTHER": [kicc.other_payment()],
        "KI-TS99": [kicc.unknown_status("TS99")],
        "KI-HUGE": [kicc.oversized(2_000_000)],
    }
    for order_id, script in scripts.items():
        add(stack, order_id, script + [kicc.approved()])
    run = stack.sweep(KICC)
    assert run.ok and run.result["checked"] == len(scripts) and run.result["outcomes"] == {}
    assert sum(run.result["providerErrors"].values()) == len(scripts)
    assert all(stack.order(o)["status"] == "PENDING" for o in scripts)
    stack.advance(60)
    assert stack.sweep(KICC).result["outcomes"] == {"APPROVED": len(scripts)}
