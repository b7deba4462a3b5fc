"""Toss Payments, end to end: the real handler over real HTTPS (MiniStack with the template deployed,
the Toss simulator, the function in a sandbox under AWS's runtime client).

Toss is looked up by the merchant's order id (`GET /v1/payments/orders/{orderId}`, Basic auth of the
secret key); a payment is approved only when `totalAmount`, `balanceAmount` and `currency` match the
order exactly. A mismatch on a card payment is cancelled in full under one `Idempotency-Key` per
cancel intent (`paysweep:{orderId}:cancel:{n}`), after a lookup for its `paymentKey`, and believed
only once a lookup shows it CANCELED; a deposited virtual account cannot be cancelled by us (the
refund needs the customer's bank account): its answer is not cancellable, so it goes to REVIEW with
the real reason (`AMOUNT_MISMATCH`, `DB_UPDATE_FAILED`, `LATE_PAYMENT`), nothing sent to the cancel.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from paysweep_local.simulators import toss
from paysweep_local.stack import LocalStack
from support.invariants import check_all
from support.outcomes import Published
from support.scenarios import TOSS, add_toss, toss_cancels, toss_lookup_path, toss_lookups

HOUR = 3600
LEASE_AND_MORE = 120
"""Seconds of simulated time after which any lease of a sweep has expired."""
PAST_FINAL_CHECK = 60 + 300 + 5
"""From registration past the final check of an order expiring in a minute (EXPIRY_GRACE_SECONDS)."""


def invariants(stack: LocalStack, published: Published) -> None:
    check_all(stack.orders(), [d.message for d in published.all])


def outcome(message: dict[str, Any]) -> tuple[str, str | None]:
    return message["outcome"], message["reason"]


def sweep(stack: LocalStack) -> dict[str, Any]:
    run = stack.sweep(TOSS)
    assert run.ok, run.error
    return run.result


def sweep_until(stack: LocalStack, done: Callable[[], bool], *, rounds: int = 10, step: int = 60) -> int:
    """Sweep once a `step` of simulated time until `done`; returns the sweeps it took."""
    for n in range(1, rounds + 1):
        sweep(stack)
        if done():
            return n
        stack.advance(step)
    raise AssertionError(f"not done after {rounds} sweeps")


def wait_until(condition: Callable[[], bool], seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition never met"
        time.sleep(0.02)


def basic_auth(stack: LocalStack) -> str:
    secret_key = stack.credentials[TOSS]["secretKey"]
    return "Basic " + base64.b64encode(f"{secret_key}:".encode()).decode()


def cancel_key(order_id: str, decision: int = 1) -> str:
    return f"paysweep:{order_id}:cancel:{decision}"


def expires_soon(stack: LocalStack) -> dict[str, Any]:
    """An order expiring in a minute: its final check is PAST_FINAL_CHECK after registration."""
    return {"expires_at": stack.now() + timedelta(minutes=1)}


# -- approvals -----------------------------------------------------------------------------------


def test_an_approval_is_looked_up_by_order_id_and_published_with_its_keys(stack: LocalStack, published: Published) -> None:
    payment_key = add_toss(stack, "TO-APPROVED", [toss.done()])
    run = stack.sweep(TOSS)
    assert run.ok, run.error
    assert run.result["outcomes"] == {"APPROVED": 1} and run.result["checked"] == 1

    message = published.only("TO-APPROVED")
    assert (message["outcome"], message["eventId"], message["provider"]) == ("APPROVED", "TO-APPROVED:APPROVED", TOSS)
    assert message["requested"] == message["reported"] == {"amount": "15000", "currency": "KRW"}
    assert message["providerStatus"] == "DONE"
    assert message["providerRefs"] == {"paymentKey": payment_key,
                                       "lastTransactionKey": stack.toss.payment("TO-APPROVED").approval_key}
    item = stack.order("TO-APPROVED")
    assert item["status"] == "APPROVED" and not {"sweepKey", "nextCheckAt", "leaseOwner", "cancel"} & set(item)
    (lookup,) = toss_lookups(stack, "TO-APPROVED")
    assert lookup.headers["authorization"] == basic_auth(stack) and "idempotency-key" not in lookup.headers
    assert lookup.body is None and lookup.response_status == 200
    assert toss_cancels(stack, payment_key) == [] and stack.toss.payment("TO-APPROVED").cancel_requests == 0
    invariants(stack, published)


def test_ready_and_waiting_for_deposit_stay_pending_until_approved(stack: LocalStack, published: Published) -> None:
    add_toss(stack, "TO-READY", [toss.ready(), toss.in_progress(), toss.done()])
    add_toss(stack, "TO-VA-WAIT", [toss.waiting_for_deposit(times=2), toss.done()], method=toss.VIRTUAL_ACCOUNT)
    for minute in range(2):
        result = sweep(stack)
        assert result["outcomes"] == {} and result["rescheduled"] == 2, f"decided at +{minute} min"
        for order_id in ("TO-READY", "TO-VA-WAIT"):
            item = stack.order(order_id)
            assert item["status"] == "PENDING" and item["lastCheck"]["state"] == "IN_PROGRESS", item
        stack.advance(60)
    assert stack.order("TO-READY")["lastCheck"]["providerStatus"] == "IN_PROGRESS"
    assert stack.order("TO-VA-WAIT")["lastCheck"]["providerStatus"] == "WAITING_FOR_DEPOSIT"
    assert published.for_order("TO-READY") == published.for_order("TO-VA-WAIT") == []

    assert sweep(stack)["outcomes"] == {"APPROVED": 2}
    assert outcome(published.only("TO-READY")) == ("APPROVED", None) and published.only("TO-READY")["attempts"] == 3
    va = published.only("TO-VA-WAIT")
    assert outcome(va) == ("APPROVED", None) and va["reported"] == {"amount": "15000", "currency": "KRW"}
    assert len(toss_lookups(stack, "TO-VA-WAIT")) == 3
    invariants(stack, published)


# -- integrity: card mismatches are cancelled, once ----------------------------------------------


def assert_cancelled_once(stack: LocalStack, order_id: str, payment_key: str, reason: str) -> None:
    """One cancel request, one Idempotency-Key, the payment CANCELED in full at Toss."""
    (request,) = toss_cancels(stack, payment_key)
    assert request.headers["idempotency-key"] == cancel_key(order_id)
    assert request.headers["authorization"] == basic_auth(stack)
    assert request.body == {"cancelReason": reason}, "a full cancel: no cancelAmount"
    payment = stack.toss.payment(order_id)
    assert (payment.cancel_requests, payment.cancel_keys, payment.status) == (1, [cancel_key(order_id)], toss.CANCELED)
    assert len(payment.cancels) == 1 and payment.cancels[0]["cancelAmount"] == payment.amount


def test_an_amount_mismatch_on_a_card_is_cancelled_once_and_confirmed_by_lookup(
    stack: LocalStack, published: Published
) -> None:
    payment_key = add_toss(stack, "TO-AMOUNT", [toss.done()], paid=14000)
    first = sweep(stack)
    assert first["cancelsRequested"] == 1 and first["outcomes"] == {}
    item = stack.order("TO-AMOUNT")
    assert item["status"] == "CANCELLING" and item["cancel"]["reason"] == "AMOUNT_MISMATCH"
    assert item["cancel"]["key"] == cancel_key("TO-AMOUNT") and item["cancel"]["sends"] == 1
    assert item["cancel"]["reference"] == stack.toss.payment("TO-AMOUNT").cancels[0]["transactionKey"]
    assert published.for_order("TO-AMOUNT") == [], "a cancel is believed only once a lookup shows it"
    assert len(toss_lookups(stack, "TO-AMOUNT")) == 2, "the status query, then the cancel's lookup for its paymentKey"

    stack.advance(60)
    assert sweep(stack)["outcomes"] == {"CANCELLED": 1}
    message = published.only("TO-AMOUNT")
    assert outcome(message) == ("CANCELLED", "AMOUNT_MISMATCH") and message["eventId"] == "TO-AMOUNT:CANCELLED"
    assert message["requested"] == {"amount": "15000", "currency": "KRW"}
    assert message["reported"] == {"amount": "14000", "currency": "KRW"}
    assert message["providerStatus"] == "CANCELED"
    assert message["providerRefs"] == {"cancelTransactionKey": stack.toss.payment("TO-AMOUNT").cancels[0]["transactionKey"]}
    confirmation = toss_lookups(stack, "TO-AMOUNT")[-1].response_json()
    assert (confirmation["status"], confirmation["balanceAmount"]) == ("CANCELED", 0)
    assert_cancelled_once(stack, "TO-AMOUNT", payment_key, "AMOUNT_MISMATCH")
    invariants(stack, published)


def test_a_currency_mismatch_on_a_card_is_cancelled_once(stack: LocalStack, published: Published) -> None:
    payment_key = add_toss(stack, "TO-CURRENCY", [toss.done(currency="USD")])
    sweep_until(stack, lambda: bool(published.for_order("TO-CURRENCY")), rounds=3)
    message = published.only("TO-CURRENCY")
    assert outcome(message) == ("CANCELLED", "CURRENCY_MISMATCH")
    assert message["reported"] == {"amount": "15000.00", "currency": "USD"}, "never rescaled to won"
    assert_cancelled_once(stack, "TO-CURRENCY", payment_key, "CURRENCY_MISMATCH")
    invariants(stack, published)


def test_a_done_whose_balance_is_not_its_total_is_a_mismatch_cancelled_once_and_confirmed(
    stack: LocalStack, published: Published
) -> None:
    """A DONE approving 15000 but charging 14000 (`balanceAmount`) fails T.9.1's integrity check on
    balanceAmount == totalAmount ([GAP TOSS-INTEGRITY]): a mismatch on a card, cancelled once under
    its key, confirmed by the lookup that shows nothing still charged, though the one cancel (14000)
    does not add up to the total ([GAP TOSS-AMOUNTS])."""
    payment_key = add_toss(stack, "TO-BALANCE", [toss.done(balance=14000)])
    first = sweep(stack)
    assert first["cancelsRequested"] == 1 and first["outcomes"] == {} and first["providerErrors"] == {}
    assert stack.order("TO-BALANCE")["cancel"]["reason"] == "AMOUNT_MISMATCH"
    stack.advance(60)
    assert sweep(stack)["outcomes"] == {"CANCELLED": 1}
    message = published.only("TO-BALANCE")
    assert outcome(message) == ("CANCELLED", "AMOUNT_MISMATCH")
    assert (message["requested"]["amount"], message["reported"]["amount"]) == ("15000", "14000")
    confirmation = toss_lookups(stack, "TO-BALANCE")[-1].response_json()
    assert (confirmation["status"], confirmation["balanceAmount"], confirmation["totalAmount"]) == ("CANCELED", 0, 15000)
    (request,) = toss_cancels(stack, payment_key)
    assert request.headers["idempotency-key"] == cancel_key("TO-BALANCE") and request.body == {"cancelReason": "AMOUNT_MISMATCH"}
    assert stack.toss.payment("TO-BALANCE").cancel_keys == [cancel_key("TO-BALANCE")]
    invariants(stack, published)


def test_a_virtual_account_mismatch_goes_to_review_without_a_cancel(stack: LocalStack, published: Published) -> None:
    payment_key = add_toss(stack, "TO-VA-AMOUNT", [toss.done()], paid=14000, method=toss.VIRTUAL_ACCOUNT)
    run = stack.sweep(TOSS)
    assert run.ok, run.error
    result = run.result
    assert result["outcomes"] == {"REVIEW": 1} and result["cancelsRequested"] == 0
    message = published.only("TO-VA-AMOUNT")
    assert outcome(message) == ("REVIEW", "AMOUNT_MISMATCH") and message["providerStatus"] == "DONE"
    assert message["reported"] == {"amount": "14000", "currency": "KRW"}
    item = stack.order("TO-VA-AMOUNT")
    assert item["status"] == "REVIEW" and "cancel" not in item
    assert item["history"][-1].split()[1:] == ["status", "APPROVED", "DONE"]
    assert [r for r in run.log_records("cancel answered") if r.get("orderId") == "TO-VA-AMOUNT"] == []
    assert toss_cancels(stack, payment_key) == [], "a deposited virtual account is never sent to Toss's cancel"
    assert stack.toss.payment("TO-VA-AMOUNT").cancel_requests == 0
    assert stack.toss.payment("TO-VA-AMOUNT").status == toss.DONE
    invariants(stack, published)


# -- the provider's own decisions ---------------------------------------------------------------------


def test_partial_cancel_aborted_and_expired(stack: LocalStack, published: Published) -> None:
    add_toss(stack, "TO-PARTIAL", [toss.partial_canceled()])
    add_toss(stack, "TO-ABORTED", [toss.aborted()])
    add_toss(stack, "TO-EXPIRED", [toss.expired()], **expires_soon(stack))
    stack.register("TO-NEVER-PAID", TOSS, "15000", **expires_soon(stack))  # Toss has no payment for it
    run = stack.sweep(TOSS)
    assert run.ok, run.error
    assert run.result["outcomes"] == {"REVIEW": 1, "FAILED": 1} and run.result["rescheduled"] == 2

    partial = published.only("TO-PARTIAL")
    assert outcome(partial) == ("REVIEW", "PARTIAL_CANCEL") and partial["providerStatus"] == "PARTIAL_CANCELED"
    assert partial["reported"] == {"amount": "7500", "currency": "KRW"}, "what is still charged"
    aborted = published.only("TO-ABORTED")
    assert outcome(aborted) == ("FAILED", "PROVIDER_DECLINED") and aborted["providerStatus"] == "ABORTED"
    (checked,) = [r for r in run.log_records("order checked") if r.get("orderId") == "TO-ABORTED"]
    assert "failure COMMON_ERROR" in checked["answer"]["detail"], "Toss's failure object, in the log"
    for order_id, status in (("TO-EXPIRED", "EXPIRED"), ("TO-NEVER-PAID", "NOT_FOUND_PAYMENT")):
        item = stack.order(order_id)
        assert item["status"] == "PENDING" and item["lastCheck"]["providerStatus"] == status, "pending until expiry"

    stack.advance(PAST_FINAL_CHECK)
    assert sweep(stack)["outcomes"] == {"FAILED": 2}
    for order_id, status in (("TO-EXPIRED", "EXPIRED"), ("TO-NEVER-PAID", "NOT_FOUND_PAYMENT")):
        message = published.only(order_id)
        assert outcome(message) == ("FAILED", "EXPIRED") and message["providerStatus"] == status
        assert message["reported"] is None
        assert stack.order(order_id)["auditKey"].startswith(f"{TOSS}#"), "an expired order is audited"
    assert all(toss_cancels(stack, stack.toss.payment(o).payment_key) == [] for o in ("TO-PARTIAL", "TO-ABORTED"))
    invariants(stack, published)


# -- crashes, replays and refusals of a cancel ---------------------------------------------------------


def crash_while_toss_holds_the_cancel(stack: LocalStack, order_id: str) -> None:
    """The first sweep finds the mismatch and sends the cancel; Toss accepts it at once but holds its
    answer, and the function's container dies meanwhile."""
    running = stack.sweep_async(TOSS)
    wait_until(lambda: stack.toss.payment(order_id).cancel_requests == 1)
    stack.functions[TOSS].kill()
    assert running.result().error["errorType"] == "Runtime.ExitError"
    item = stack.order(order_id)
    assert item["status"] == "CANCELLING" and item["cancel"]["sends"] == 0 and item.get("leaseOwner")
    assert item["cancel"]["key"] == cancel_key(order_id), "the intent and its key were recorded before the call"
    assert stack.toss.payment(order_id).status == toss.CANCELED, "Toss cancelled the payment; we never heard"


def test_a_crash_after_the_cancel_is_confirmed_by_lookup_never_sent_under_another_key(
    stack: LocalStack, published: Published
) -> None:
    payment_key = add_toss(stack, "TO-CRASH", [toss.done()], paid=1000, cancel_script=[toss.accept_then_timeout(10)])
    crash_while_toss_holds_the_cancel(stack, "TO-CRASH")

    stack.advance(LEASE_AND_MORE)
    assert sweep(stack)["outcomes"] == {"CANCELLED": 1}
    message = published.only("TO-CRASH")
    assert outcome(message) == ("CANCELLED", "AMOUNT_MISMATCH") and message["eventId"] == "TO-CRASH:CANCELLED"
    assert message["providerRefs"] == {"cancelTransactionKey": stack.toss.payment("TO-CRASH").cancels[0]["transactionKey"]}
    # The lookup showed the cancel: nothing was sent again.
    assert_cancelled_once(stack, "TO-CRASH", payment_key, "AMOUNT_MISMATCH")
    stack.advance(60)
    assert sweep(stack)["checked"] == 0 and len(published.for_order("TO-CRASH")) == 1
    invariants(stack, published)


def test_a_cancel_sent_again_after_a_crash_reuses_its_key_and_toss_replays_the_first_answer(
    stack: LocalStack, published: Published
) -> None:
    """After the crash, Toss's lookups still answer as before the cancel (a read that has not caught
    up): the engine sends the cancel again, under the same Idempotency-Key. While Toss still holds
    the first request it answers 409 IDEMPOTENT_REQUEST_PROCESSING; afterwards it replays the first
    answer. The payment is cancelled once, and the outcome published once."""
    order_id = "TO-REPLAY"
    payment_key = add_toss(stack, order_id, [toss.done()], paid=1000, cancel_script=[toss.accept_then_timeout(8)])
    crash_while_toss_holds_the_cancel(stack, order_id)
    before_the_cancel = toss.raw(toss_lookups(stack, order_id)[0].response_json())  # DONE, 1000 won
    lookup_path = toss_lookup_path(order_id)

    stack.toss.fail_next(lookup_path, before_the_cancel, count=2)  # the confirmation, the cancel's own lookup
    stack.advance(LEASE_AND_MORE)
    result = sweep(stack)
    assert result["outcomes"] == {} and result["providerErrors"] == {"provider_error": 1}
    in_flight = toss_cancels(stack, payment_key)[1]
    assert in_flight.response_status == 409 and in_flight.response_json()["code"] == "IDEMPOTENT_REQUEST_PROCESSING"
    assert stack.order(order_id)["status"] == "CANCELLING"

    wait_until(lambda: toss_cancels(stack, payment_key)[0].answered_s > 0)  # Toss has let go of the first request
    stack.toss.fail_next(lookup_path, before_the_cancel, count=2)
    stack.advance(60)
    sweep_until(stack, lambda: len(toss_cancels(stack, payment_key)) == 3, rounds=4)
    first, _, replayed = toss_cancels(stack, payment_key)
    assert replayed.response_status == 200 and replayed.response_body == first.response_body, "a replay, byte for byte"
    assert stack.order(order_id)["status"] == "CANCELLING", "an accepted cancel is believed only by lookup"

    stack.advance(60)
    sweep_until(stack, lambda: bool(published.for_order(order_id)), rounds=4)
    message = published.only(order_id)
    assert outcome(message) == ("CANCELLED", "AMOUNT_MISMATCH")
    payment = stack.toss.payment(order_id)
    assert {r.headers["idempotency-key"] for r in toss_cancels(stack, payment_key)} == {cancel_key(order_id)}
    assert (payment.cancel_requests, payment.cancel_keys) == (3, [cancel_key(order_id)])
    assert len(payment.cancels) == 1 and payment.status == toss.CANCELED, "cancelled once"
    assert message["providerRefs"] == {"cancelTransactionKey": payment.cancels[0]["transactionKey"]}
    invariants(stack, published)


def test_an_error_toss_kept_under_the_key_is_replayed_until_the_cancels_deadline(
    stack: LocalStack, published: Published
) -> None:
    """Toss keeps whatever it answered under an Idempotency-Key for 15 days, errors included
    ([GAP TOSS-IDEMPOTENCY]): every retry under the one key gets the same error, and the order goes
    to a person at the cancel's deadline. A second key is never tried (it could cancel twice)."""
    order_id = "TO-KEPT-ERROR"
    failure = toss.raw({"code": "FAILED_INTERNAL_SYSTEM_PROCESSING", "message": "내부 시스템 처리 작업이 실패했습니다."}, status=500)
    payment_key = add_toss(stack, order_id, [toss.done()], paid=1000, cancel_script=[failure, toss.accept()],
                           **expires_soon(stack))  # the cancel's deadline: an hour after the intent
    assert sweep(stack)["providerErrors"] == {"provider_error": 1}
    stack.advance(60)
    sweep_until(stack, lambda: len(toss_cancels(stack, payment_key)) == 2, rounds=4)
    sent = toss_cancels(stack, payment_key)
    assert len(sent) == 2 and {r.response_status for r in sent} == {500} and sent[1].response_body == sent[0].response_body
    assert stack.toss.payment(order_id).status == toss.DONE and stack.order(order_id)["status"] == "CANCELLING"

    stack.advance(2 * HOUR)  # past the cancel's deadline (CancelConfirmWindowSeconds after the intent)
    assert sweep(stack)["outcomes"] == {"REVIEW": 1}
    message = published.only(order_id)
    assert outcome(message) == ("REVIEW", "CANCEL_REFUSED") and message["reported"] == {"amount": "1000", "currency": "KRW"}
    payment = stack.toss.payment(order_id)
    assert payment.cancel_keys == [cancel_key(order_id)] and payment.cancels == []
    invariants(stack, published)


# -- late payments ---------------------------------------------------------------------------------------


def expire(stack: LocalStack, published: Published, *order_ids: str) -> None:
    stack.advance(PAST_FINAL_CHECK)
    sweep(stack)
    for order_id in order_ids:
        assert outcome(published.only(order_id)) == ("FAILED", "EXPIRED")


def test_a_late_deposit_into_a_virtual_account_is_found_by_the_audit_and_goes_to_review(
    stack: LocalStack, published: Published
) -> None:
    """The audit finds the deposit (DONE) an hour after FAILED EXPIRED. Toss has a cancel and
    LATE_PAYMENT_ACTION=cancel, but the answer says a deposited virtual account is not cancellable
    (paysweep has no refund account): the correction is REVIEW LATE_PAYMENT, superseding the FAILED,
    with no cancel intent and nothing sent to Toss's cancel."""
    order_id = "TO-LATE-VA"
    payment_key = add_toss(stack, order_id, [toss.waiting_for_deposit()], method=toss.VIRTUAL_ACCOUNT,
                           **expires_soon(stack))
    expire(stack, published, order_id)
    assert published.only(order_id)["providerStatus"] == "WAITING_FOR_DEPOSIT"
    stack.toss.rescript(order_id, [toss.done()])  # the customer deposits into the expired account

    stack.advance(HOUR - 120)
    assert sweep(stack)["audited"] == 0, "not audited before its hour"
    stack.advance(180)
    result = sweep(stack)
    assert (result["audited"], result["latePayments"], result["cancelsRequested"]) == (1, 1, 0)
    assert result["outcomes"] == {"REVIEW": 1}
    failed, correction = published.for_order(order_id)
    assert failed["eventId"] == f"{order_id}:FAILED"
    assert outcome(correction) == ("REVIEW", "LATE_PAYMENT")
    assert (correction["eventId"], correction["supersedes"]) == (f"{order_id}:REVIEW:1", f"{order_id}:FAILED")
    assert correction["reported"] == {"amount": "15000", "currency": "KRW"} and correction["providerStatus"] == "DONE"
    item = stack.order(order_id)
    assert (item["status"], item["generation"]) == ("REVIEW", 1)
    assert not {"sweepKey", "auditKey", "leaseOwner"} & set(item)
    assert toss_cancels(stack, payment_key) == [] and stack.toss.payment(order_id).cancel_requests == 0

    stack.advance(86400)
    assert sweep(stack)["audited"] == 0, "a REVIEW LATE_PAYMENT is not audited (a person holds it)"
    assert len(published.for_order(order_id)) == 2
    invariants(stack, published)


def test_a_late_card_payment_is_cancelled_under_the_next_decisions_key(stack: LocalStack, published: Published) -> None:
    order_id = "TO-LATE-CARD"
    payment_key = add_toss(stack, order_id, [toss.ready()], **expires_soon(stack))
    expire(stack, published, order_id)
    stack.toss.rescript(order_id, [toss.done()])  # paid at the last moment; Toss's books show it later

    stack.advance(HOUR + 60)
    result = sweep(stack)
    assert (result["audited"], result["latePayments"], result["cancelsRequested"]) == (1, 1, 1)
    reopened = stack.order(order_id)
    assert (reopened["status"], reopened["generation"]) == ("CANCELLING", 1)
    assert reopened["cancel"]["supersedes"] == f"{order_id}:FAILED"
    assert reopened["cancel"]["key"] == cancel_key(order_id, 2), "the order's second decision has its own key"

    stack.advance(60)
    sweep(stack)
    late = [m for m in published.for_order(order_id) if m["eventId"] != f"{order_id}:FAILED"]
    assert len(late) == 1, late
    assert outcome(late[0]) == ("CANCELLED", "LATE_PAYMENT")
    assert (late[0]["eventId"], late[0]["supersedes"]) == (f"{order_id}:CANCELLED:1", f"{order_id}:FAILED")
    (request,) = toss_cancels(stack, payment_key)
    assert request.headers["idempotency-key"] == cancel_key(order_id, 2) and request.body == {"cancelReason": "LATE_PAYMENT"}
    assert stack.toss.payment(order_id).status == toss.CANCELED
    invariants(stack, published)


# -- an approval the table cannot record -----------------------------------------------------------------


def test_an_approval_the_table_cannot_record_is_cancelled_on_a_card_and_reviewed_on_a_virtual_account(
    stack: LocalStack, published: Published
) -> None:
    card = add_toss(stack, "TO-DBFAIL", [toss.done()])
    account = add_toss(stack, "TO-DBFAIL-VA", [toss.done()], method=toss.VIRTUAL_ACCOUNT)
    # Each APPROVED write is throttled through every SDK retry; the table takes every other write.
    for order_id in ("TO-DBFAIL", "TO-DBFAIL-VA"):
        stack.faults.add_fault("dynamodb", "UpdateItem", error="throttle", times=-1, match=f"{order_id}:APPROVED")
    result = sweep(stack)
    assert result["errors"].get("db_update_failed") == 2 and result["cancelsRequested"] == 1  # the card's only
    assert stack.order("TO-DBFAIL")["cancel"]["reason"] == "DB_UPDATE_FAILED"
    review = published.only("TO-DBFAIL-VA")
    assert outcome(review) == ("REVIEW", "DB_UPDATE_FAILED") and review["reported"] == {"amount": "15000", "currency": "KRW"}
    assert toss_cancels(stack, account) == [] and stack.toss.payment("TO-DBFAIL-VA").cancel_requests == 0
    assert "cancel" not in stack.order("TO-DBFAIL-VA")

    stack.advance(60)
    sweep(stack)
    message = published.only("TO-DBFAIL")
    assert outcome(message) == ("CANCELLED", "DB_UPDATE_FAILED")
    assert message["reported"] == {"amount": "15000", "currency": "KRW"}
    assert [m for m in published.all if m.message["outcome"] == "APPROVED"] == []
    assert_cancelled_once(stack, "TO-DBFAIL", card, "DB_UPDATE_FAILED")
    invariants(stack, published)
