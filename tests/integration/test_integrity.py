"""Integrity checks and cancellation, end to end, with faults injected at the step that matters.

KICC's rules: an approval whose amount or currency differs from the order is cancelled at once
(`/revise`, full cancel, under one stable `shopTransactionId` and the initial `cancelReqDate`,
confirmed through `/find` with `cancelPgCno`); an approval we cannot record is cancelled too.
TeemoPay has no cancel API: the same failures go to REVIEW.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from paysweep_local.simulators import kicc, teemopay
from paysweep_local.stack import LocalStack
from support.invariants import check_all
from support.outcomes import Published
from support.scenarios import KICC, TEEMO, add_kicc, add_teemopay, kicc_finds, kicc_revises
from support.writes import RECORD_WRITE

LEASE_AND_MORE = 120  # seconds of simulated time after which any lease of a sweep has expired


def sweep_until_quiet(stack: LocalStack, provider: str, rounds: int = 4, step: int = 60) -> None:
    for _ in range(rounds):
        run = stack.sweep(provider)
        assert run.ok, run.error
        stack.advance(step)


def assert_kicc_cancel(stack: LocalStack, pg_cno: str) -> list:
    """Every /revise for this payment used one key and one date, with a valid msgAuthValue."""
    revises = kicc_revises(stack, pg_cno)
    assert revises, "no cancel was sent"
    assert {r.body["shopTransactionId"] for r in revises} == {revises[0].body["shopTransactionId"]}
    assert {r.body["cancelReqDate"] for r in revises} == {revises[0].body["cancelReqDate"]}
    first = revises[0].body
    assert first["reviseTypeCode"] == "40" and first["mallId"] == "M0000001"
    assert first["msgAuthValue"] == stack.kicc.expected_auth(pg_cno, first["shopTransactionId"])
    assert all(r.response_json()["resCd"] == "0000" for r in revises if r.response_status == 200), "KICC refused a cancel"
    return revises


def test_one_won_off_is_cancelled_never_approved(stack: LocalStack, published: Published) -> None:
    pg_cno = add_kicc(stack, "IN-999", [kicc.approved(amount=999)])
    first = stack.sweep(KICC)
    assert first.result["cancelsRequested"] == 1 and first.result["outcomes"] == {}
    item = stack.order("IN-999")
    assert item["status"] == "CANCELLING" and item["cancel"]["reason"] == "AMOUNT_MISMATCH"
    assert item["cancel"]["reference"] == stack.kicc.payment(pg_cno).cancel_pg_cno
    stack.advance(60)
    assert stack.sweep(KICC).ok
    message = published.only("IN-999")
    assert (message["outcome"], message["reason"]) == ("CANCELLED", "AMOUNT_MISMATCH")
    assert message["reported"] == {"amount": "999", "currency": "KRW"}
    assert message["providerRefs"]["cancelPgCno"] == stack.kicc.payment(pg_cno).cancel_pg_cno
    confirmation = kicc_finds(stack, pg_cno)[-1].body
    assert confirmation["cancelPgCno"] == stack.kicc.payment(pg_cno).cancel_pg_cno
    revises = assert_kicc_cancel(stack, pg_cno)
    assert len(revises) == 1 and stack.kicc.payment(pg_cno).status == "TS02"
    check_all(stack.orders(), [d.message for d in published.all])


def test_currency_mismatch_and_a_missing_amount_are_cancelled(stack: LocalStack, published: Published) -> None:
    add_kicc(stack, "IN-CUR", [kicc.approved(currency="USD")])
    add_kicc(stack, "IN-NOAMT", [kicc.approved(omit_amount=True)])
    sweep_until_quiet(stack, KICC, rounds=2)
    assert published.only("IN-CUR")["reason"] == "CURRENCY_MISMATCH"
    assert (published.only("IN-NOAMT")["outcome"], published.only("IN-NOAMT")["reason"]) == ("CANCELLED", "AMOUNT_MISMATCH")
    assert published.only("IN-NOAMT")["reported"] is None


def test_usd_cents_must_match_exactly(stack: LocalStack, published: Published) -> None:
    add_kicc(stack, "IN-USD-OK", [kicc.approved()], amount=1203, currency="USD")
    add_kicc(stack, "IN-USD-OFF", [kicc.approved(amount=1202)], amount=1203, currency="USD")
    sweep_until_quiet(stack, KICC, rounds=2)
    assert published.only("IN-USD-OK")["outcome"] == "APPROVED"
    assert published.only("IN-USD-OFF")["reported"] == {"amount": "12.02", "currency": "USD"}
    assert published.only("IN-USD-OFF")["outcome"] == "CANCELLED"


def test_a_refused_cancel_goes_to_review(stack: LocalStack, published: Published) -> None:
    add_kicc(stack, "IN-REFUSED", [kicc.approved(amount=1100)], cancel_script=[kicc.refuse("C001", "not cancellable")])
    assert stack.sweep(KICC).ok
    message = published.only("IN-REFUSED")
    assert (message["outcome"], message["reason"], message["providerStatus"]) == ("REVIEW", "CANCEL_REFUSED", "C001")


def kst_day(moment: datetime) -> str:
    return (moment.astimezone(UTC) + timedelta(hours=9)).strftime("%Y%m%d")


def kst_evening(stack: LocalStack) -> None:
    """Move simulated time to 23:59:30 KST, so the next sweep runs after midnight in Korea."""
    now = stack.now()
    target = now.replace(hour=14, minute=59, second=30, microsecond=0)  # 23:59:30 KST
    if target <= now:
        target += timedelta(days=1)
    stack.advance((target - now).total_seconds())


def test_a_timed_out_cancel_is_retried_with_the_same_key_and_initial_date_after_midnight(
    stack: LocalStack, published: Published
) -> None:
    kst_evening(stack)
    pg_cno = add_kicc(stack, "IN-TIMEOUT", [kicc.approved(amount=500)], cancel_script=[kicc.timeout(5), kicc.accept()],
                      settle_after=2)
    first = stack.sweep(KICC)
    assert first.result["providerErrors"] == {"timeout": 1}
    assert stack.order("IN-TIMEOUT")["status"] == "CANCELLING" and "reference" not in stack.order("IN-TIMEOUT")["cancel"]
    time.sleep(2.5)  # let the simulator finish the delayed answer before the retry
    sweep_until_quiet(stack, KICC, rounds=8)  # crosses midnight KST
    revises = assert_kicc_cancel(stack, pg_cno)
    assert len(revises) == 2, "the retry should be sent once, after the payment still showed approved"
    first_day, retried_on = revises[0].body["cancelReqDate"], kst_day(revises[1].at)
    assert retried_on > first_day, "the retry was meant to happen on the next Korean calendar day"
    assert revises[1].response_body == revises[0].response_body  # KICC replayed the original acceptance
    assert stack.kicc.payment(pg_cno).cancel_keys == [revises[0].body["shopTransactionId"]]
    assert (published.only("IN-TIMEOUT")["outcome"], published.only("IN-TIMEOUT")["reason"]) == ("CANCELLED", "AMOUNT_MISMATCH")


def test_crash_after_the_cancel_request_before_recording_it(stack: LocalStack, published: Published) -> None:
    pg_cno = add_kicc(stack, "IN-CRASH", [kicc.approved(amount=1)], cancel_script=[kicc.timeout(10)])
    running = stack.sweep_async(KICC)
    deadline = time.monotonic() + 10
    while stack.kicc.payment(pg_cno).cancel_requests == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    stack.functions[KICC].kill()  # the container dies while KICC holds the (accepted) cancel's answer
    assert running.result().error["errorType"] == "Runtime.ExitError"
    item = stack.order("IN-CRASH")
    assert item["status"] == "CANCELLING" and item["cancel"]["sends"] == 0 and item.get("leaseOwner")
    stack.advance(LEASE_AND_MORE)
    sweep_until_quiet(stack, KICC, rounds=2)
    assert (published.only("IN-CRASH")["outcome"], published.only("IN-CRASH")["reason"]) == ("CANCELLED", "AMOUNT_MISMATCH")
    assert len(stack.kicc.payment(pg_cno).revise_keys) == 1


def test_a_cancel_that_cannot_be_confirmed_by_its_deadline_goes_to_review(stack: LocalStack, published: Published) -> None:
    add_kicc(stack, "IN-LIMBO", [kicc.approved(amount=2000)], settle_after=10_000,
             expires_at=stack.now() + timedelta(minutes=10))
    sweep_until_quiet(stack, KICC, rounds=3)
    assert published.for_order("IN-LIMBO") == []
    assert stack.order("IN-LIMBO")["status"] == "CANCELLING"
    stack.advance(2 * 3600)  # the cancel deadline: one hour after the request (past the order's expiry)
    assert stack.sweep(KICC).ok
    assert (published.only("IN-LIMBO")["outcome"], published.only("IN-LIMBO")["reason"]) == ("REVIEW", "CANCEL_REFUSED")


def test_an_approval_the_table_cannot_record_is_cancelled(stack: LocalStack, published: Published) -> None:
    pg_cno = add_kicc(stack, "IN-DBFAIL", [kicc.approved()])
    # The APPROVED write is throttled through every SDK retry; the table takes the next write.
    stack.faults.add_fault("dynamodb", "UpdateItem", error="throttle", times=-1, match="IN-DBFAIL:APPROVED")
    run = stack.sweep(KICC)
    assert run.result["errors"].get("db_update_failed") == 1 and run.result["cancelsRequested"] == 1
    assert stack.order("IN-DBFAIL")["cancel"]["reason"] == "DB_UPDATE_FAILED"
    stack.advance(60)
    assert stack.sweep(KICC).ok
    assert (published.only("IN-DBFAIL")["outcome"], published.only("IN-DBFAIL")["reason"]) == ("CANCELLED", "DB_UPDATE_FAILED")
    assert [m for m in published.for_order("IN-DBFAIL") if m["outcome"] == "APPROVED"] == []
    assert_kicc_cancel(stack, pg_cno)


def test_an_unwritable_table_still_cancels_publishes_and_converges_later(stack: LocalStack, published: Published) -> None:
    pg_cno = add_kicc(stack, "IN-DOWN", [kicc.approved()], settle_after=1)
    # After the claim, the orders table refuses every write of this order.
    stack.faults.add_fault("dynamodb", "UpdateItem", error="internal", times=-1, match=RECORD_WRITE)
    stack.faults.add_fault("dynamodb", "UpdateItem", error="internal", times=-1, match='"CANCELLING"')
    run = stack.sweep(KICC)
    assert run.ok and run.result["outcomes"] == {"CANCELLED": 1}
    message = published.only("IN-DOWN")
    assert (message["outcome"], message["reason"]) == ("CANCELLED", "DB_UPDATE_FAILED")
    assert stack.order("IN-DOWN")["status"] == "PENDING"  # the table could not record anything

    # While the table is still unwritable, later sweeps change nothing and send no other cancel.
    stack.advance(LEASE_AND_MORE)
    stack.sweep(KICC)
    stack.faults.clear_faults()
    stack.advance(LEASE_AND_MORE)
    sweep_until_quiet(stack, KICC, rounds=6)

    item = stack.order("IN-DOWN")
    assert item["status"] == "CANCELLED" and item["outcome"]["reason"] == "DB_UPDATE_FAILED"
    assert len(stack.kicc.payment(pg_cno).revise_keys) == 1, "a second cancel under another key"
    assert all(m["eventId"] == "IN-DOWN:CANCELLED" for m in published.for_order("IN-DOWN"))
    journal = stack.client("dynamodb").get_item(
        TableName=stack.output("CompensationsTableName"), Key={"orderId": {"S": "IN-DOWN"}}).get("Item")
    assert journal is None, "the journal entry outlived the convergence"
    check_all(stack.orders(), [d.message for d in published.all])


def test_the_loser_of_a_race_never_cancels_the_winners_correct_approval(stack: LocalStack, published: Published) -> None:
    pg_cno = add_kicc(stack, "IN-RACE", [kicc.approved()])
    # Sweep A's APPROVED write is held by the table for 8 s ...
    stack.faults.add_fault("dynamodb", "UpdateItem", error="hang", seconds=8, times=1, match=RECORD_WRITE)
    sweep_a = stack.sweep_async(KICC)
    time.sleep(3)
    # ... meanwhile A's lease runs out (simulated time) and sweep B approves the order.
    stack.advance(LEASE_AND_MORE)
    sweep_b = stack.sweep(KICC)
    assert sweep_b.result["outcomes"] == {"APPROVED": 1}
    result_a = sweep_a.result()
    assert result_a.ok and result_a.result["cancelsRequested"] == 0
    assert kicc_revises(stack, pg_cno) == []
    assert published.only("IN-RACE")["outcome"] == "APPROVED"
    assert stack.order("IN-RACE")["status"] == "APPROVED"


def test_teemopay_integrity_failures_go_to_review_because_there_is_no_cancel_api(stack: LocalStack, published: Published) -> None:
    add_teemopay(stack, "IN-T-DB", [teemopay.paid()])
    stack.faults.add_fault("dynamodb", "UpdateItem", error="throttle", times=-1, match="IN-T-DB:APPROVED")
    run = stack.sweep(TEEMO)
    assert run.ok
    message = published.only("IN-T-DB")
    assert (message["outcome"], message["reason"]) == ("REVIEW", "DB_UPDATE_FAILED")
    assert stack.order("IN-T-DB")["status"] == "REVIEW"
