"""Late payments, end to end: audits of decided orders over real HTTP (the emulator with the
template deployed, the provider simulators, the real handlers under AWS's runtime client).

An order decided FAILED `EXPIRED` (or REVIEW `UNKNOWN_PROVIDER_STATE`) is asked again an hour and
a day after the decision (the template's default `AuditScheduleSeconds`). The simulators'
`rescript` is the customer paying after the decision.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from paysweep.domain.clock import parse_iso, to_iso
from paysweep_local.simulators import kicc, teemopay
from paysweep_local.stack import LocalStack
from support.invariants import check_all
from support.outcomes import Published
from support.scenarios import (
    INTEGRATION_PARAMETERS,
    KICC,
    TEEMO,
    add_kicc,
    add_teemopay,
    emf,
    kicc_finds,
    kicc_revises,
)
from support.writes import AUDIT_CLAIM, LATE_CANCEL_WRITE

HOUR, DAY = 3600, 86400
LEASE_AND_MORE = 120
PAST_FINAL_CHECK = 60 + 300 + 5
"""Seconds from registration past the final check: the minute to `expiresAt`, EXPIRY_GRACE_SECONDS."""


def expire(stack: LocalStack, provider: str, published: Published, *order_ids: str, wait: bool = True) -> None:
    """Past the orders' final check (`wait`: go there first), one sweep decides them FAILED EXPIRED."""
    if wait:
        stack.advance(PAST_FINAL_CHECK)
    run = stack.sweep(provider)
    assert run.ok, run.error
    for order_id in order_ids:
        message = published.only(order_id)
        assert (message["outcome"], message["reason"]) == ("FAILED", "EXPIRED"), message


def past_expiry(stack: LocalStack) -> dict[str, object]:
    """An order expiring in a minute, never checked before its final check (`expire`)."""
    return {"expires_at": stack.now() + timedelta(minutes=1)}


def an_hour_later(stack: LocalStack) -> None:
    stack.advance(HOUR + 60)


def test_a_kicc_payment_after_failed_expired_is_cancelled_and_cancelled_late_payment_published_once(
    stack: LocalStack, published: Published
) -> None:
    pg_cno = add_kicc(stack, "LP-KICC", [kicc.pending()], **past_expiry(stack))
    expire(stack, KICC, published, "LP-KICC")
    decided = stack.order("LP-KICC")
    assert decided["auditKey"].startswith(f"{KICC}#") and "sweepKey" not in decided
    stack.kicc.rescript(pg_cno, [kicc.approved()])  # the customer scans the QR code after all

    an_hour_later(stack)
    lookups = stack.kicc.payment(pg_cno).lookups
    run = stack.sweep(KICC)
    assert run.ok, run.error
    assert (run.result["audited"], run.result["latePayments"], run.result["cancelsRequested"]) == (1, 1, 1)
    assert stack.kicc.payment(pg_cno).lookups == lookups + 1
    reopened = stack.order("LP-KICC")
    assert (reopened["status"], reopened["generation"]) == ("CANCELLING", 1)
    assert reopened["cancel"]["reason"] == "LATE_PAYMENT" and reopened["cancel"]["supersedes"] == "LP-KICC:FAILED"
    assert "auditKey" not in reopened and reopened["sweepKey"], "back in the due index, out of the audits"
    assert emf(run, "LatePayments") == [1] and emf(run, "AuditsChecked") == [1]

    stack.advance(60)
    assert stack.sweep(KICC).ok
    late = [m for m in published.for_order("LP-KICC") if m["eventId"] != "LP-KICC:FAILED"]
    assert len(late) == 1, late
    assert (late[0]["outcome"], late[0]["reason"], late[0]["eventId"]) == ("CANCELLED", "LATE_PAYMENT", "LP-KICC:CANCELLED:1")
    assert late[0]["supersedes"] == "LP-KICC:FAILED"
    assert late[0]["reported"] == {"amount": "1000", "currency": "KRW"}
    assert late[0]["providerRefs"]["cancelPgCno"] == stack.kicc.payment(pg_cno).cancel_pg_cno
    assert len(kicc_revises(stack, pg_cno)) == 1 and stack.kicc.payment(pg_cno).status == "TS02"

    stack.advance(DAY)  # the audit a day after the decision is gone with the correction
    later = stack.sweep(KICC)
    assert later.result["audited"] == 0 and len(published.by_event()["LP-KICC:CANCELLED:1"]) == 1
    settled = stack.order("LP-KICC")
    assert settled["status"] == "CANCELLED" and not {"sweepKey", "auditKey", "auditAt", "leaseOwner"} & set(settled)
    check_all(stack.orders(), [d.message for d in published.all])


def test_a_teemopay_payment_after_failed_expired_goes_to_review_late_payment(
    stack: LocalStack, published: Published
) -> None:
    add_teemopay(stack, "LP-TEEMO", [teemopay.pending()], amount="50000", **past_expiry(stack))
    expire(stack, TEEMO, published, "LP-TEEMO")
    stack.teemopay.rescript("LP-TEEMO", [teemopay.paid()])  # a deposit into the expired virtual account

    an_hour_later(stack)
    run = stack.sweep(TEEMO)
    assert run.ok and (run.result["audited"], run.result["latePayments"]) == (1, 1)
    assert run.result["cancelsRequested"] == 0
    review = [m for m in published.for_order("LP-TEEMO") if m["outcome"] == "REVIEW"]
    assert len(review) == 1
    assert (review[0]["reason"], review[0]["eventId"], review[0]["supersedes"]) == (
        "LATE_PAYMENT", "LP-TEEMO:REVIEW:1", "LP-TEEMO:FAILED")
    assert review[0]["reported"] == {"amount": "50000", "currency": "KRW"}
    assert review[0]["providerRefs"]["tradeNo"] == stack.teemopay.order("LP-TEEMO").trade_no
    item = stack.order("LP-TEEMO")
    assert (item["status"], item["generation"]) == ("REVIEW", 1) and not {"auditKey", "sweepKey"} & set(item)
    check_all(stack.orders(), [d.message for d in published.all])


def test_an_audit_that_finds_nothing_publishes_nothing_and_the_order_leaves_the_schedule(
    stack: LocalStack, published: Published
) -> None:
    pg_cno = add_kicc(stack, "LP-NONE-K", [kicc.pending()], **past_expiry(stack))
    add_teemopay(stack, "LP-NONE-T", [teemopay.not_found()], **past_expiry(stack))
    expire(stack, KICC, published, "LP-NONE-K")
    expire(stack, TEEMO, published, "LP-NONE-T", wait=False)
    decided_at = {o: stack.order(o)["outcome"]["occurredAt"] for o in ("LP-NONE-K", "LP-NONE-T")}

    stack.advance(HOUR - 120)
    early = stack.sweep(KICC)
    assert early.result["audited"] == 0, "not audited before its hour"
    stack.advance(180)
    for provider in (KICC, TEEMO):
        run = stack.sweep(provider)
        assert run.ok and run.result["audited"] == 1 and run.result["latePayments"] == 0
    for order_id in ("LP-NONE-K", "LP-NONE-T"):
        item = stack.order(order_id)
        assert item["status"] == "FAILED" and item["history"][-1].split()[1:3] == ["audit", "IN_PROGRESS" if order_id == "LP-NONE-K" else "NOT_FOUND"]
        assert not {"lastCheck", "cancel"} & set(item), "a decided order keeps its outcome, not its working state"
        assert item["auditAt"] == to_iso(parse_iso(decided_at[order_id]) + timedelta(days=1)), "a day after the decision"
        assert "leaseOwner" not in item

    stack.advance(DAY)
    for provider in (KICC, TEEMO):
        assert stack.sweep(provider).result["audited"] == 1
    stack.advance(DAY)
    lookups = stack.kicc.payment(pg_cno).lookups
    for provider in (KICC, TEEMO):
        assert stack.sweep(provider).result["audited"] == 0
    assert stack.kicc.payment(pg_cno).lookups == lookups
    for order_id in ("LP-NONE-K", "LP-NONE-T"):
        item = stack.order(order_id)
        assert not {"auditKey", "auditAt"} & set(item), "out of the schedule after the last audit"
        assert [line.split()[1] for line in item["history"]][-2:] == ["audit", "audit"]
        assert len(published.for_order(order_id)) == 1, "an audit that finds nothing publishes nothing"
    check_all(stack.orders(), [d.message for d in published.all])


def test_an_order_in_review_for_an_unknown_state_gets_a_follow_up_saying_what_the_provider_reports(
    stack: LocalStack, published: Published
) -> None:
    add_teemopay(stack, "LP-UNKNOWN", [teemopay.http_error(502)], **past_expiry(stack))
    stack.advance(PAST_FINAL_CHECK)
    for _ in range(17):  # the final check's doubt is asked again for FINAL_RETRY_SECONDS, then REVIEW
        assert stack.sweep(TEEMO).ok
        stack.advance(60)
    first = published.only("LP-UNKNOWN")
    assert (first["outcome"], first["reason"]) == ("REVIEW", "UNKNOWN_PROVIDER_STATE")
    stack.teemopay.rescript("LP-UNKNOWN", [teemopay.not_found()])

    an_hour_later(stack)
    run = stack.sweep(TEEMO)
    assert run.result["audited"] == 1 and run.result["latePayments"] == 0
    follow_up = [m for m in published.for_order("LP-UNKNOWN") if m.get("supersedes")]
    assert len(follow_up) == 1
    assert (follow_up[0]["outcome"], follow_up[0]["reason"], follow_up[0]["supersedes"]) == (
        "REVIEW", "EXPIRED", "LP-UNKNOWN:REVIEW")
    assert follow_up[0]["eventId"] == "LP-UNKNOWN:REVIEW:1"
    check_all(stack.orders(), [d.message for d in published.all])


# -- faults -------------------------------------------------------------------------------------


def test_a_timed_out_audit_decides_nothing_and_is_asked_again_soon(stack: LocalStack, published: Published) -> None:
    pg_cno = add_kicc(stack, "LP-SLOW", [kicc.pending()], **past_expiry(stack))
    expire(stack, KICC, published, "LP-SLOW")
    stack.kicc.rescript(pg_cno, [kicc.slow(5, then=kicc.approved()), kicc.approved()])
    an_hour_later(stack)
    run = stack.sweep(KICC)
    assert run.result["audited"] == 1 and run.result["providerErrors"] == {"timeout": 1}
    assert run.result["latePayments"] == 0 and kicc_revises(stack, pg_cno) == []
    retry_at = parse_iso(stack.order("LP-SLOW")["auditAt"])
    assert stack.now() + timedelta(seconds=850) < retry_at <= stack.now() + timedelta(seconds=901), "asked again in 900 s"

    stack.advance(900)
    assert stack.sweep(KICC).result["latePayments"] == 1
    stack.advance(60)
    assert stack.sweep(KICC).ok
    assert [m["reason"] for m in published.for_order("LP-SLOW")] == ["EXPIRED", "LATE_PAYMENT"]
    assert len(kicc_revises(stack, pg_cno)) == 1
    check_all(stack.orders(), [d.message for d in published.all])


@pytest.mark.parametrize("order_id, match", [("LP-THROTTLED-CLAIM", AUDIT_CLAIM), ("LP-THROTTLED-INTENT", LATE_CANCEL_WRITE)],
                         ids=["audit claim throttled", "late payment's cancel intent throttled"])
def test_a_throttled_audit_write_loses_nothing_and_never_cancels_without_its_intent(
    stack: LocalStack, published: Published, order_id: str, match: str
) -> None:
    pg_cno = add_kicc(stack, order_id, [kicc.pending()], **past_expiry(stack))
    expire(stack, KICC, published, order_id)
    stack.kicc.rescript(pg_cno, [kicc.approved()])
    an_hour_later(stack)
    stack.faults.add_fault("dynamodb", "UpdateItem", error="throttle", times=-1, match=match)
    run = stack.sweep(KICC)
    assert run.ok, run.error
    assert run.result["latePayments"] == 0 and kicc_revises(stack, pg_cno) == [], "no cancel without its intent"
    assert stack.order(order_id)["status"] == "FAILED" and stack.order(order_id)["auditKey"]
    if match == AUDIT_CLAIM:
        assert run.result["complete"] is False, "an audit left due is work left"
    stack.faults.clear_faults()

    stack.advance(LEASE_AND_MORE)
    assert stack.sweep(KICC).result["latePayments"] == 1
    stack.advance(60)
    assert stack.sweep(KICC).ok
    assert published.for_order(order_id)[-1]["reason"] == "LATE_PAYMENT"
    assert len(kicc_revises(stack, pg_cno)) == 1
    check_all(stack.orders(), [d.message for d in published.all])


def test_a_crash_mid_cancel_of_a_late_payment_resumes_under_the_same_key(stack: LocalStack, published: Published) -> None:
    pg_cno = add_kicc(stack, "LP-CRASH", [kicc.pending()], cancel_script=[kicc.timeout(20)], **past_expiry(stack))
    expire(stack, KICC, published, "LP-CRASH")
    stack.kicc.rescript(pg_cno, [kicc.approved()])
    an_hour_later(stack)
    running = stack.sweep_async(KICC)
    wait_until(lambda: any(r.response_status == 0 for r in kicc_revises(stack, pg_cno)))
    stack.functions[KICC].kill()  # the cancel is with KICC; its answer never reaches us
    assert running.result().error["errorType"] == "Runtime.ExitError"
    assert stack.order("LP-CRASH")["status"] == "CANCELLING"

    stack.advance(LEASE_AND_MORE)
    for _ in range(3):
        assert stack.sweep(KICC).ok
        stack.advance(60)
    late = published.for_order("LP-CRASH")[-1]
    assert (late["outcome"], late["reason"], late["supersedes"]) == ("CANCELLED", "LATE_PAYMENT", "LP-CRASH:FAILED")
    revises = kicc_revises(stack, pg_cno)
    assert {r.body["shopTransactionId"] for r in revises} == {revises[0].body["shopTransactionId"]}
    assert stack.kicc.payment(pg_cno).cancel_requests >= 1 and stack.kicc.payment(pg_cno).status == "TS02"
    check_all(stack.orders(), [d.message for d in published.all])


def test_overlapping_sweeps_audit_each_order_once(stack: LocalStack, published: Published) -> None:
    ids = [f"LP-OVER-{n:02d}" for n in range(24)]
    pg_cnos = {order_id: add_kicc(stack, order_id, [kicc.pending()], **past_expiry(stack)) for order_id in ids}
    expire(stack, KICC, published, *ids)
    for pg_cno in pg_cnos.values():
        stack.kicc.rescript(pg_cno, [kicc.slow(0.3, then=kicc.pending())])
    before = {order_id: stack.kicc.payment(pg_cno).lookups for order_id, pg_cno in pg_cnos.items()}
    an_hour_later(stack)
    runs = [stack.sweep_async(KICC) for _ in range(2)]
    results = [run.result() for run in runs]
    assert all(r.ok for r in results), [r.error for r in results]
    assert sum(r.result["audited"] for r in results) == len(ids)
    asked = {order_id: stack.kicc.payment(pg_cno).lookups - before[order_id] for order_id, pg_cno in pg_cnos.items()}
    assert set(asked.values()) == {1}, asked
    assert all(len(published.for_order(order_id)) == 1 for order_id in ids)


# -- LATE_PAYMENT_ACTION=review -----------------------------------------------------------------


@pytest.fixture(scope="module")
def honouring_stack() -> Iterator[LocalStack]:
    """A stack deployed with `KiccLatePaymentAction=review`: late payments go to a person."""
    with LocalStack(parameters={**INTEGRATION_PARAMETERS, "KiccLatePaymentAction": "review"}) as running:
        yield running


def test_a_merchant_who_honours_late_payments_gets_review_instead_of_a_cancel(honouring_stack: LocalStack) -> None:
    stack, published = honouring_stack, Published(honouring_stack)
    pg_cno = add_kicc(stack, "LP-HONOUR", [kicc.pending()], **past_expiry(stack))
    expire(stack, KICC, published, "LP-HONOUR")
    stack.kicc.rescript(pg_cno, [kicc.approved()])
    an_hour_later(stack)
    run = stack.sweep(KICC)
    assert run.result["latePayments"] == 1 and run.result["cancelsRequested"] == 0
    review = published.for_order("LP-HONOUR")[-1]
    assert (review["outcome"], review["reason"], review["supersedes"]) == ("REVIEW", "LATE_PAYMENT", "LP-HONOUR:FAILED")
    assert kicc_revises(stack, pg_cno) == [] and len(kicc_finds(stack, pg_cno)) == 2
    check_all(stack.orders(), [d.message for d in published.all])


def wait_until(condition: Callable[[], bool], seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition never met"
        time.sleep(0.02)
