"""Checks on demand on the stack `sam deploy` created, through Lambda's and SQS's own APIs.

MiniStack runs the functions (its Invoke API for the synchronous check, its SQS event-source
mapping for the check queues, with partial batch responses and the queues' redrive policy) under
the functions' roles, IAM enforced (AUTH=true); callers are IAM users of their own, with or
without the stack's exported `CheckRequesterPolicyArn`. Outcomes are read from the subscribers'
queues, each checked against the schema.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from e2e.deployed import KICC, TEEMO, E2EStack
from e2e.orders import write_order
from e2e.outcomes import Subscriber
from paysweep_local.providers import BY_ID
from paysweep_local.simulators import kicc, teemopay
from support.schema import assert_valid_check_answer

DELIVERY_SECONDS = 15
LATER = {"first_check_after": timedelta(hours=1)}
"""Orders first due in an hour: only a check reaches them during a test."""


def check(stack: E2EStack, provider: str, *order_ids: str, client: Any = None) -> dict[str, dict[str, Any]]:
    """A synchronous check through Lambda's Invoke API (RequestResponse)."""
    client = client or stack.local.client("lambda", read_timeout=120, retries={"max_attempts": 1})
    answer = client.invoke(FunctionName=stack.function_name(provider), Payload=json.dumps({"check": list(order_ids)}))
    payload = json.loads(answer["Payload"].read())
    assert "FunctionError" not in answer, payload
    return {c["orderId"]: c for c in assert_valid_check_answer(payload)["checks"]}


def add_kicc_later(stack: E2EStack, order_id: str, script: list[Any], amount: int = 1000) -> str:
    pg_cno = f"PG-{order_id}"
    stack.kicc.add_payment(pg_cno, order_id, amount, "KRW", script=script)
    stack.local.register(order_id, KICC, "1000", "KRW", refs={"pgCno": pg_cno}, **LATER)
    return pg_cno


def finds(stack: E2EStack, pg_cno: str) -> list[Any]:
    return [r for r in stack.kicc.requests_for(kicc.FIND_PATH) if r.body and r.body.get("pgCno") == pg_cno]


def test_a_check_approves_a_pending_order_not_yet_due_and_publishes_it_once(
    stack: E2EStack, subscriber: Subscriber
) -> None:
    pg_cno = add_kicc_later(stack, "E2E-CK-NOW", [kicc.approved()])
    answer = check(stack, KICC, "E2E-CK-NOW")["E2E-CK-NOW"]
    assert (answer["status"], answer["checked"], answer["reason"]) == ("APPROVED", True, None)
    message = subscriber.wait_for("E2E-CK-NOW", DELIVERY_SECONDS)
    assert message == answer["outcome"] and len(finds(stack, pg_cno)) == 1
    time.sleep(1)
    assert len(subscriber.for_order("E2E-CK-NOW")) == 1, "published once"


def test_a_kicc_amount_mismatch_checked_on_demand_is_cancelled_under_one_intent_and_confirmed(
    stack: E2EStack, subscriber: Subscriber
) -> None:
    pg_cno = add_kicc_later(stack, "E2E-CK-OFF", [kicc.approved(amount=999)])
    first = check(stack, KICC, "E2E-CK-OFF")["E2E-CK-OFF"]
    assert (first["status"], first["checked"], first["outcome"]) == ("CANCELLING", True, None)
    stack.cli("redrive", "E2E-CK-OFF")  # the confirmation is due now instead of in a minute
    second = check(stack, KICC, "E2E-CK-OFF")["E2E-CK-OFF"]
    assert (second["status"], second["outcome"]["reason"]) == ("CANCELLED", "AMOUNT_MISMATCH")
    message = subscriber.wait_for("E2E-CK-OFF", DELIVERY_SECONDS)
    assert message["eventId"] == "E2E-CK-OFF:CANCELLED"
    revises = [r for r in stack.kicc.requests_for(kicc.REVISE_PATH) if r.body and r.body.get("pgCno") == pg_cno]
    assert len(revises) == 1 and stack.kicc.payment(pg_cno).cancel_keys == [revises[0].body["shopTransactionId"]]


def test_a_check_racing_a_sweep_makes_one_provider_query_and_one_event(stack: E2EStack, subscriber: Subscriber) -> None:
    pg_cno = "PG-E2E-CK-RACE"
    # Two warm workers first (MiniStack starts one per concurrent invocation): the check then
    # claims within KICC's 2 s hold of the sweep's answer (under the stack's 3 s provider timeout).
    warm = [threading.Thread(target=check, args=(stack, KICC, "E2E-CK-WARM")) for _ in range(2)]
    for thread in warm:
        thread.start()
    for thread in warm:
        thread.join(60)
    stack.kicc.add_payment(pg_cno, "E2E-CK-RACE", 1000, "KRW", script=[kicc.slow(2), kicc.approved()])
    write_order(stack, "E2E-CK-RACE", KICC, refs={"pgCno": pg_cno})
    sweep: dict[str, Any] = {}
    running = threading.Thread(target=lambda: sweep.update(summary=stack.invoke(KICC).summary))
    running.start()
    deadline = time.monotonic() + 30
    while not finds(stack, pg_cno):
        assert time.monotonic() < deadline, "the sweep never asked KICC"
        time.sleep(0.05)
    answer = check(stack, KICC, "E2E-CK-RACE")["E2E-CK-RACE"]
    running.join(60)
    assert (answer["checked"], answer["reason"]) == (False, "LEASED")
    assert sweep["summary"]["outcomes"] == {"APPROVED": 1}
    assert len(finds(stack, pg_cno)) == 1
    assert subscriber.wait_for("E2E-CK-RACE", DELIVERY_SECONDS)["eventId"] == "E2E-CK-RACE:APPROVED"


def test_a_decided_order_is_answered_from_its_record_and_another_providers_refused(stack: E2EStack) -> None:
    pg_cno = add_kicc_later(stack, "E2E-CK-DONE", [kicc.approved()])
    check(stack, KICC, "E2E-CK-DONE")
    stack.teemopay.add_order("E2E-CK-TEEMO", "1000", script=[teemopay.paid()])
    stack.local.register("E2E-CK-TEEMO", TEEMO, "1000", "KRW", **LATER)
    answers = check(stack, KICC, "E2E-CK-DONE", "E2E-CK-TEEMO")
    assert (answers["E2E-CK-DONE"]["checked"], answers["E2E-CK-DONE"]["reason"]) == (False, "ALREADY_DECIDED")
    assert answers["E2E-CK-DONE"]["outcome"]["eventId"] == "E2E-CK-DONE:APPROVED" and len(finds(stack, pg_cno)) == 1
    assert (answers["E2E-CK-TEEMO"]["status"], answers["E2E-CK-TEEMO"]["reason"]) == (None, "OTHER_PROVIDER")
    assert stack.teemopay.requests_for(teemopay.QUERY_PATH) == []


# -- the check queue -----------------------------------------------------------------------------


def queue_url(stack: E2EStack, provider: str, kind: str = "CheckQueueUrl") -> str:
    """A provider's check queue (or its dead-letter queue), from the stack's outputs."""
    prefix = BY_ID[provider].function_output.removesuffix("FunctionName")
    return stack.output(f"{prefix}{kind}")


def test_a_queued_check_is_consumed_and_published(stack: E2EStack, subscriber: Subscriber) -> None:
    add_kicc_later(stack, "E2E-CK-QUEUED", [kicc.approved()])
    stack.client("sqs").send_message(QueueUrl=queue_url(stack, KICC), MessageBody=json.dumps({"orderId": "E2E-CK-QUEUED"}))
    message = subscriber.wait_for("E2E-CK-QUEUED", 60)
    assert message["eventId"] == "E2E-CK-QUEUED:APPROVED"


def test_a_poison_message_lands_in_the_dead_letter_queue_while_its_batch_succeeds(
    stack: E2EStack, subscriber: Subscriber
) -> None:
    add_kicc_later(stack, "E2E-CK-BATCH", [kicc.approved()])
    sqs = stack.client("sqs")
    sqs.send_message_batch(QueueUrl=queue_url(stack, KICC), Entries=[
        {"Id": "good", "MessageBody": json.dumps({"orderId": "E2E-CK-BATCH"})},
        {"Id": "poison", "MessageBody": "this is not a check"},
    ])
    assert subscriber.wait_for("E2E-CK-BATCH", 60)["outcome"] == "APPROVED"
    dead_letters = queue_url(stack, KICC, "CheckDeadLetterQueueUrl")
    deadline, bodies = time.monotonic() + 90, []
    while not bodies:
        assert time.monotonic() < deadline, "the poison message never reached the dead-letter queue"
        received = sqs.receive_message(QueueUrl=dead_letters, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        bodies = [m["Body"] for m in received.get("Messages", [])]
    assert bodies == ["this is not a check"]


# -- who may ask ---------------------------------------------------------------------------------


@pytest.fixture
def requester(stack: E2EStack) -> Iterator[tuple[Any, Any]]:
    """An IAM user of the merchant's, with keys; detached and deleted afterwards."""
    iam = stack.client("iam")
    name = "merchant-webhook-receiver"
    iam.create_user(UserName=name)
    keys = iam.create_access_key(UserName=name)["AccessKey"]
    yield iam, {"AWS_ACCESS_KEY_ID": keys["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": keys["SecretAccessKey"]}
    for attached in iam.list_attached_user_policies(UserName=name)["AttachedPolicies"]:
        iam.detach_user_policy(UserName=name, PolicyArn=attached["PolicyArn"])
    iam.delete_access_key(UserName=name, AccessKeyId=keys["AccessKeyId"])
    iam.delete_user(UserName=name)


def test_a_caller_without_the_exported_policy_is_denied_and_with_it_allowed(
    stack: E2EStack, requester: tuple[Any, Any]
) -> None:
    iam, keys = requester
    add_kicc_later(stack, "E2E-CK-IAM", [kicc.approved()])
    lam = stack.ministack.client("lambda", credentials=keys, read_timeout=120, retries={"max_attempts": 1})
    sqs = stack.ministack.client("sqs", credentials=keys)
    for call in (lambda: check(stack, KICC, "E2E-CK-IAM", client=lam),
                 lambda: sqs.send_message(QueueUrl=queue_url(stack, KICC), MessageBody='{"orderId": "E2E-CK-IAM"}')):
        with pytest.raises(ClientError) as denied:
            call()
        assert denied.value.response["Error"]["Code"] in ("AccessDenied", "AccessDeniedException")
    iam.attach_user_policy(UserName="merchant-webhook-receiver", PolicyArn=stack.output("CheckRequesterPolicyArn"))
    assert check(stack, KICC, "E2E-CK-IAM", client=lam)["E2E-CK-IAM"]["status"] == "APPROVED"
    sqs.send_message(QueueUrl=queue_url(stack, KICC), MessageBody='{"orderId": "E2E-CK-IAM"}')
