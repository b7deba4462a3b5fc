"""Checks on demand, through each real handler (awslambdaric in a sandbox) over real HTTPS to
MiniStack and the provider simulators: the synchronous `{"check": [...]}` request and a batch of
the check queue, answered as CONTRACT.md section 6 says (each answer against its JSON Schema)."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from paysweep_local.simulators import kicc, teemopay, toss
from paysweep_local.stack import LocalStack
from support.invariants import check_all
from support.outcomes import Published
from support.scenarios import KICC, TEEMO, TOSS, add_toss, kicc_finds, kicc_revises, toss_lookups
from support.schema import assert_valid_check_answer

REPO = Path(__file__).resolve().parents[2]
LATER = timedelta(hours=1)
"""Orders in these tests are first due an hour after they are written: only a check reaches them."""


def add_kicc_later(stack: LocalStack, order_id: str, script: list[Any], amount: int = 1000) -> str:
    pg_cno = f"PG-{order_id}"
    stack.kicc.add_payment(pg_cno, order_id, amount, "KRW", script=script)
    stack.register(order_id, KICC, "1000", "KRW", refs={"pgCno": pg_cno}, first_check_after=LATER)
    return pg_cno


def check(stack: LocalStack, provider: str, *order_ids: str) -> dict[str, dict[str, Any]]:
    run = stack.functions[provider].invoke({"check": list(order_ids)}, timeout_seconds=60)
    assert run.ok, run.error
    answer = assert_valid_check_answer(run.result)
    assert [a["orderId"] for a in answer["checks"]] == list(dict.fromkeys(order_ids))
    return {a["orderId"]: a for a in answer["checks"]}


def test_a_check_approves_an_order_not_yet_due_and_publishes_it_once(stack: LocalStack, published: Published) -> None:
    pg_cno = add_kicc_later(stack, "CK-NOW", [kicc.approved()])
    answer = check(stack, KICC, "CK-NOW")["CK-NOW"]
    assert (answer["status"], answer["checked"], answer["reason"]) == ("APPROVED", True, None)
    message = published.only("CK-NOW")
    assert answer["outcome"] == message and message["eventId"] == "CK-NOW:APPROVED"
    assert len(kicc_finds(stack, pg_cno)) == 1
    again = check(stack, KICC, "CK-NOW")["CK-NOW"]
    assert (again["checked"], again["reason"], again["outcome"]) == (False, "ALREADY_DECIDED", message)
    assert len(kicc_finds(stack, pg_cno)) == 1 and len(published.for_order("CK-NOW")) == 1
    check_all(stack.orders(), [d.message for d in published.all])


def test_a_kicc_amount_mismatch_checked_on_demand_is_cancelled_under_one_intent(
    stack: LocalStack, published: Published
) -> None:
    pg_cno = add_kicc_later(stack, "CK-SHORT", [kicc.approved(amount=999)])
    answer = check(stack, KICC, "CK-SHORT")["CK-SHORT"]
    assert (answer["status"], answer["checked"], answer["outcome"]) == ("CANCELLING", True, None)
    assert answer["nextCheckAt"] is not None
    [revise] = kicc_revises(stack, pg_cno)
    key = stack.order("CK-SHORT")["cancel"]["key"]
    assert revise.body["shopTransactionId"] == key
    stack.advance(120)
    assert stack.sweep(KICC).ok  # the schedule confirms the cancel on the usual backoff
    message = published.only("CK-SHORT")
    assert (message["outcome"], message["reason"]) == ("CANCELLED", "AMOUNT_MISMATCH")
    assert stack.kicc.payment(pg_cno).cancel_keys == [key] and len(kicc_revises(stack, pg_cno)) == 1


def test_a_check_racing_a_sweep_makes_one_provider_query_between_them(stack: LocalStack, published: Published) -> None:
    pg_cno = "PG-CK-RACE"
    # Two warm sandboxes first: the check then claims within KICC's 2 s hold of the sweep's answer
    # (under the stack's 3 s provider timeout), not after a cold start.
    warm = [stack.functions[KICC].invoke_async({"check": ["CK-WARM"]}, 60) for _ in range(2)]
    assert all(w.result().ok for w in warm)
    stack.kicc.add_payment(pg_cno, "CK-RACE", 1000, "KRW", script=[kicc.slow(2), kicc.approved()])
    stack.register("CK-RACE", KICC, "1000", "KRW", refs={"pgCno": pg_cno})
    sweep = stack.sweep_async(KICC)
    deadline = time.monotonic() + 15
    while not kicc_finds(stack, pg_cno) and not any(r.response_status == 0 for r in stack.kicc.requests_for(kicc.FIND_PATH)):
        assert time.monotonic() < deadline, "the sweep never asked KICC"
        time.sleep(0.02)
    answer = check(stack, KICC, "CK-RACE")["CK-RACE"]
    assert (answer["status"], answer["checked"], answer["reason"]) == ("PENDING", False, "LEASED")
    assert sweep.result().ok
    assert len(kicc_finds(stack, pg_cno)) == 1, "one provider query between the sweep and the check"
    assert published.only("CK-RACE")["outcome"] == "APPROVED"


def test_another_providers_order_and_an_unknown_one_are_refused_and_nothing_is_asked(
    stack: LocalStack, published: Published
) -> None:
    stack.teemopay.add_order("CK-TEEMO", "1000", script=[teemopay.paid()])
    stack.register("CK-TEEMO", TEEMO, "1000", "KRW", first_check_after=LATER)
    answers = check(stack, KICC, "CK-TEEMO", "CK-NOBODY")
    assert [(a["status"], a["checked"], a["reason"]) for a in answers.values()] == [
        (None, False, "OTHER_PROVIDER"), (None, False, "NOT_FOUND")]
    assert stack.teemopay.requests_for(teemopay.QUERY_PATH) == [] and stack.kicc.requests_for(kicc.FIND_PATH) == []
    assert "leaseOwner" not in stack.order("CK-TEEMO")
    assert check(stack, TEEMO, "CK-TEEMO")["CK-TEEMO"]["status"] == "APPROVED"


def test_toss_payments_is_checked_by_order_id_too(stack: LocalStack, published: Published) -> None:
    add_toss(stack, "CK-TOSS", [toss.done()])
    answer = check(stack, TOSS, "CK-TOSS")["CK-TOSS"]
    assert (answer["status"], answer["checked"]) == ("APPROVED", True) and len(toss_lookups(stack, "CK-TOSS")) == 1
    assert published.only("CK-TOSS")["eventId"] == "CK-TOSS:APPROVED"


def test_a_malformed_request_or_an_unknown_event_is_an_error_that_touches_nothing(stack: LocalStack) -> None:
    add_kicc_later(stack, "CK-TOUCHED", [kicc.approved()])
    stack.advance(2 * 3600)  # due: a sweep would check it
    before = stack.order("CK-TOUCHED")
    for event, error in [({"check": "CK-TOUCHED"}, "InvalidCheckRequest"),
                         ({"check": [f"CK-{n}" for n in range(21)]}, "InvalidCheckRequest"),
                         ({"check": ["CK-TOUCHED", "not an id"]}, "InvalidCheckRequest"),
                         ({}, "UnrecognisedEvent"), ({"orderId": "CK-TOUCHED"}, "UnrecognisedEvent")]:
        run = stack.functions[KICC].invoke(event, timeout_seconds=60)
        assert run.error is not None and run.error["errorType"] == error, (event, run.error)
        assert "nothing was" in run.error["errorMessage"]
    assert stack.order("CK-TOUCHED") == before and stack.kicc.requests_for(kicc.FIND_PATH) == []


def test_a_queued_batch_reports_only_its_poison_and_unknown_orders(stack: LocalStack, published: Published) -> None:
    add_kicc_later(stack, "CK-QUEUED", [kicc.approved()])
    template = json.loads((REPO / "events" / "check-queue.json").read_text())["Records"][0]
    bodies = ['{"orderId": "CK-QUEUED"}', "poison", '{"orderId": "CK-NOBODY"}', '{"orderId": "CK-QUEUED"}']
    event = {"Records": [{**template, "messageId": f"m-{n}", "body": body} for n, body in enumerate(bodies)]}
    run = stack.functions[KICC].invoke(event, timeout_seconds=60)
    assert run.ok, run.error
    assert run.result == {"batchItemFailures": [{"itemIdentifier": "m-1"}, {"itemIdentifier": "m-2"}]}
    assert published.only("CK-QUEUED")["outcome"] == "APPROVED"
    [summary] = [r["summary"] for r in run.log_records("check finished")]
    assert (summary["trigger"], summary["checked"]) == ("queue", 1)
