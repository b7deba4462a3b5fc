"""Least privilege, enforced: every statement and every resource of the functions' policies is
needed, and the deployed policies allow every call a sweep makes.

MiniStack runs with AUTH=true, so each AWS call of a function is authorised against its own
execution role as `sam deploy` created it from template.yaml. For each function, each statement
of its policy is taken away in turn (and each resource of a statement with several), by
rewriting the deployed role's inline policy (MiniStack re-reads it on every request: the first
test proves it); then the sweep that needs that statement runs, and the test asserts that it
failed on exactly the call the statement covers (the summary's `errors` kind, the order left
as it was, the message not delivered), and nothing else. The rare paths get their scenario:
the compensation journal is only read after an abandoned lease, so that scenario leaves one.

The conditional OutcomeTopicsKey statement (KMS, only with TopicKmsKeyArn) is not deployed here:
MiniStack does not ask SNS publishers for KMS permissions (README, MiniStack gaps); the template
rules test checks that statement. Nor is the CheckQueue statement taken away (`NOT_SHOWN_HERE`).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError
from e2e.deployed import KICC, PROVIDER_IDS, TEEMO, TOSS, E2EStack, now_ms
from e2e.orders import abandon_lease, expired_since, write_order
from e2e.outcomes import Subscriber
from e2e.policies import RolePolicies, Variant, variants
from paysweep.domain.item import unpublished
from paysweep_local.providers import BY_ID
from paysweep_local.simulators import kicc, teemopay, toss
from paysweep_local.stack import OUTCOMES

# -- scenarios: orders whose sweep makes every call a statement covers --------------------------


def kicc_outcomes(stack: E2EStack, tag: str) -> dict[str, str]:
    """APPROVED, CANCELLED, REVIEW (a partial cancel) and FAILED (unpaid past its final check)."""
    scripts = {
        "APPROVED": ([kicc.approved()], {}),
        "CANCELLED": ([kicc.cancelled("TS02")], {}),
        "REVIEW": ([kicc.partial_cancel()], {}),
        "FAILED": ([kicc.pending()], expired_since(10)),  # unpaid past its final check: EXPIRED
    }
    orders: dict[str, str] = {}
    for outcome, (script, times) in scripts.items():
        order_id = f"LP-{tag}-{outcome[:3]}"
        stack.kicc.add_payment(f"PG-{order_id}", order_id, 1000, "KRW", script=script)
        write_order(stack, order_id, KICC, refs={"pgCno": f"PG-{order_id}"}, **times)
        orders[outcome] = order_id
    return orders


def teemopay_outcomes(stack: E2EStack, tag: str) -> dict[str, str]:
    """APPROVED, FAILED and REVIEW (an amount mismatch): TeemoPay never reaches CANCELLED."""
    steps = {"APPROVED": teemopay.paid(), "FAILED": teemopay.failed(), "REVIEW": teemopay.paid(amount="900")}
    orders: dict[str, str] = {}
    for outcome, step in steps.items():
        order_id = f"LP-{tag}-{outcome[:3]}"
        stack.teemopay.add_order(order_id, "1000", script=[step])
        write_order(stack, order_id, TEEMO)
        orders[outcome] = order_id
    return orders


def toss_outcomes(stack: E2EStack, tag: str) -> dict[str, str]:
    """APPROVED, CANCELLED (cancelled at Toss), REVIEW (a partial cancel) and FAILED (aborted)."""
    steps = {"APPROVED": toss.done(), "CANCELLED": toss.canceled(), "REVIEW": toss.partial_canceled(),
             "FAILED": toss.aborted()}
    orders: dict[str, str] = {}
    for outcome, step in steps.items():
        order_id = f"LP-{tag}-{outcome[:3]}"
        stack.toss.add_payment(order_id, 1000, script=[step])
        write_order(stack, order_id, TOSS)
        orders[outcome] = order_id
    return orders


ALL_OUTCOMES: dict[str, Callable[[E2EStack, str], dict[str, str]]] = {
    KICC: kicc_outcomes, TEEMO: teemopay_outcomes, TOSS: toss_outcomes,
}


def all_outcomes(stack: E2EStack, provider: str, tag: str) -> dict[str, str]:
    """One order per outcome the provider can reach in one sweep; returns outcome -> order id."""
    assert provider in ALL_OUTCOMES, f"{provider}: give it its one-order-per-outcome scenario here"
    return ALL_OUTCOMES[provider](stack, tag)


@dataclass
class Sweep:
    """One scenario's sweep: its summary, what subscribers got, and the orders afterwards."""

    summary: dict[str, Any]
    orders: dict[str, str]
    delivered: dict[str, str]
    """order id -> outcome delivered."""
    items: dict[str, dict[str, Any]]
    log: list[dict[str, Any]]
    """The function's structured log lines of this sweep (CloudWatch Logs)."""

    def logged(self, message: str, error: str) -> list[dict[str, Any]]:
        """Log lines starting with `message` whose `error` is `error` (the call that was refused)."""
        return [r for r in self.log if str(r.get("message", "")).startswith(message) and r.get("error") == error]


def run_scenario(stack: E2EStack, provider: str, *, abandoned: bool = False) -> Sweep:
    tag = uuid.uuid4().hex[:6]
    orders = all_outcomes(stack, provider, tag)
    if abandoned:
        for order_id in orders.values():
            abandon_lease(stack, order_id)
    started = now_ms()
    summary = stack.invoke(provider).summary
    delivered = settled_deliveries(Subscriber(stack))
    items = {order_id: stack.order(order_id) for order_id in orders.values()}
    return Sweep(summary, orders, delivered, items, stack.function_log(provider, started))


def settled_deliveries(subscriber: Subscriber, quiet_seconds: float = 1.0, limit_seconds: float = 10) -> dict[str, str]:
    """What subscribers got, once nothing new has arrived for `quiet_seconds`."""
    deadline = time.monotonic() + limit_seconds
    seen = -1
    while len(subscriber.messages) != seen and time.monotonic() < deadline:
        seen = len(subscriber.messages)
        time.sleep(quiet_seconds)
        subscriber.collect()
    return {m["orderId"]: m["outcome"] for m in subscriber.messages}


# -- what each statement is for -----------------------------------------------------------------


@dataclass(frozen=True)
class Resources:
    """ARNs of what the functions may touch, from the deployed stack."""

    orders_table: str
    topics: dict[str, str]

    @classmethod
    def of(cls, stack: E2EStack) -> Resources:
        table = stack.client("dynamodb").describe_table(TableName=stack.local.table)["Table"]["TableArn"]
        return cls(table, {stack.topic_arn(o): o for o in OUTCOMES})


Check = Callable[[Sweep], None]
DYNAMODB_DENIED = "AccessDeniedException"
SNS_DENIED = "AuthorizationError"
"""The error codes AWS (and MiniStack) answer a refused DynamoDB / SNS call with."""


def denied(kind: str) -> Check:
    """The sweep counted `kind` errors (the call the statement covers) and nothing was decided."""

    def check(sweep: Sweep) -> None:
        assert kind in sweep.summary["errors"], f"expected {kind} errors: {sweep.summary}"
        assert sweep.delivered == {}, f"outcomes went out without the grant: {sweep.delivered}"
        for order_id, item in sweep.items.items():
            assert item["status"] == "PENDING", f"{order_id} was decided without the grant: {item['status']}"

    return check


def claim_denied(sweep: Sweep) -> None:
    """UpdateItem on the table refused: every claim fails; the index (Query) still answered."""
    denied("claim")(sweep)
    assert "due_query" not in sweep.summary["errors"], sweep.summary
    # The engine ends a sweep early when DynamoDB keeps refusing: not every order is tried.
    assert len(sweep.logged("claim failed", DYNAMODB_DENIED)) == sweep.summary["errors"]["claim"] > 0, sweep.log


def due_query_denied(sweep: Sweep) -> None:
    denied("due_query")(sweep)
    assert "claim" not in sweep.summary["errors"], sweep.summary  # nothing was found to claim
    assert sweep.logged("cannot read the due index", DYNAMODB_DENIED), sweep.log


def audit_query_denied(sweep: Sweep) -> None:
    """Query on audit-index refused: only the audits fail (every sweep reads the index for due
    audits after its due orders); the due orders are decided, and the sweep says it left work."""
    assert set(sweep.summary["errors"]) == {"audit_query"}, sweep.summary
    assert sweep.summary["complete"] is False, sweep.summary
    assert set(sweep.delivered) == set(sweep.orders.values()), sweep.delivered
    assert sweep.logged("cannot read the audit index", DYNAMODB_DENIED), sweep.log


def publish_denied_for(outcome: str) -> Check:
    def check(sweep: Sweep) -> None:
        """PublishBatch to that topic refused: its outcome stays in the outbox, others go out."""
        order_id = sweep.orders[outcome]
        assert sweep.summary["errors"] == {"publish": 1}, sweep.summary
        assert order_id not in sweep.delivered, f"{order_id} reached subscribers without the grant"
        assert set(sweep.delivered) == set(sweep.orders.values()) - {order_id}, sweep.delivered
        assert unpublished(sweep.items[order_id]), f"{order_id}'s unpublished outcome left the outbox"
        refused = sweep.logged("outcome not published", SNS_DENIED)
        assert [r.get("orderId") for r in refused] == [order_id], sweep.log

    return check


def publish_denied_everywhere(sweep: Sweep) -> None:
    assert sweep.summary["errors"] == {"publish": len(sweep.orders)}, sweep.summary
    assert sweep.delivered == {}
    assert all(unpublished(item) for item in sweep.items.values()), "an unpublished outcome left the outbox"
    assert len(sweep.logged("outcome not published", SNS_DENIED)) == len(sweep.orders), sweep.log


def journal_read_denied(sweep: Sweep) -> None:
    """GetItem on the journal refused, after an abandoned lease: no order is decided blind."""
    assert sweep.summary["errors"] == {"journal_read": len(sweep.orders)}, sweep.summary
    assert sweep.delivered == {}
    assert len(sweep.logged("cannot read the compensation journal", DYNAMODB_DENIED)) == len(sweep.orders), sweep.log


def secret_denied(sweep: Sweep) -> None:
    """GetSecretValue refused: every check is MISCONFIGURED, no request reaches the provider."""
    assert sweep.summary["misconfigured"] == len(sweep.orders), sweep.summary
    assert sweep.summary["providerErrors"] == {"secret": len(sweep.orders)}, sweep.summary
    assert sweep.delivered == {}
    refusals = [r for r in sweep.log if str(r.get("message", "")).startswith("the provider refuses our configuration")]
    assert len(refusals) == len(sweep.orders), sweep.log
    assert all("cannot read provider secret" in json.dumps(r.get("answer")) for r in refusals), refusals


def expectation(variant: Variant, resources: Resources) -> tuple[Check, bool]:
    """What must fail without this variant's grant, and whether the scenario abandons leases."""
    removed = variant.removed_resource
    if variant.sid == "OrdersTable":
        if removed is None or removed.endswith("/index/due-index"):
            return due_query_denied, False
        if removed.endswith("/index/audit-index"):
            return audit_query_denied, False
        assert removed == resources.orders_table, removed
        return claim_denied, False
    if variant.sid == "CompensationJournal":
        return journal_read_denied, True
    if variant.sid == "OutcomeTopics":
        if removed is None:
            return publish_denied_everywhere, False
        return publish_denied_for(resources.topics[removed]), False
    if variant.sid == "ProviderSecret":
        return secret_denied, False
    raise AssertionError(f"a statement this test does not know: {variant.label}; say what needs it")


# -- the tests ------------------------------------------------------------------------------------


def test_ministack_rereads_a_roles_inline_policy_on_every_request(stack: E2EStack) -> None:
    """The ground the rest stands on: a policy rewritten through IAM takes effect on the next
    request of a session that already exists, in both directions."""
    iam, sts = stack.client("iam"), stack.client("sts")
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]}
    role = iam.create_role(RoleName=f"probe-{uuid.uuid4().hex[:8]}", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    secret_arn = stack.client("secretsmanager").describe_secret(SecretId=BY_ID[KICC].secret_name)["ARN"]
    allow = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": secret_arn}]}
    iam.put_role_policy(RoleName=role["RoleName"], PolicyName="p", PolicyDocument=json.dumps(allow))
    keys = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="probe")["Credentials"]
    session = stack.ministack.client("secretsmanager", {
        "AWS_ACCESS_KEY_ID": keys["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": keys["SecretAccessKey"],
        "AWS_SESSION_TOKEN": keys["SessionToken"]}, retries={"max_attempts": 1})

    assert session.get_secret_value(SecretId=secret_arn)["SecretString"]
    iam.put_role_policy(RoleName=role["RoleName"], PolicyName="p", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sns:Publish", "Resource": "*"}]}))
    with pytest.raises(ClientError) as refused:
        session.get_secret_value(SecretId=secret_arn)
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    iam.put_role_policy(RoleName=role["RoleName"], PolicyName="p", PolicyDocument=json.dumps(allow))
    assert session.get_secret_value(SecretId=secret_arn)["SecretString"]


@pytest.mark.parametrize("provider", PROVIDER_IDS)
@pytest.mark.parametrize("abandoned", [False, True], ids=["fresh", "abandoned-lease"])
def test_the_deployed_policy_allows_every_call_of_a_sweep(stack: E2EStack, provider: str, abandoned: bool) -> None:
    """Every outcome (so every topic), the due index, claims, records, the secret, and (after an
    abandoned lease) the journal: no call is refused."""
    sweep = run_scenario(stack, provider, abandoned=abandoned)
    assert sweep.summary["errors"] == {} and sweep.summary["misconfigured"] == 0, sweep.summary
    assert sweep.delivered == {order_id: outcome for outcome, order_id in sweep.orders.items()}


NOT_SHOWN_HERE = {
    "CheckQueue": "Lambda's poller of the function's check queue uses it, never a sweep, and MiniStack's "
    "poller is not authorised against the function's role (README, MiniStack gaps): removing it fails "
    "nothing here. tests/template checks it: exactly the poller's actions on the function's own queue.",
}
"""Statements of the deployed policies whose need a local sweep cannot show, with the reason."""

VARIANTS_PER_FUNCTION = {KICC: 11, TEEMO: 10, TOSS: 11}
"""OrdersTable: the statement and each of its 3 resources (the table, the due and audit indexes);
CompensationJournal; OutcomeTopics:
the statement and each of its topics (4 for KICC and Toss Payments; 3 for TeemoPay, which never
publishes CANCELLED); ProviderSecret (CheckQueue is left out, NOT_SHOWN_HERE). A grant added to or
taken from the template changes the count, and the test below fails on it: no grant goes untested."""


def cases() -> list[tuple[str, int]]:
    """(provider, variant number): the variants themselves are only known after the deploy."""
    assert set(VARIANTS_PER_FUNCTION) == set(PROVIDER_IDS), f"count the variants of every provider: {PROVIDER_IDS}"
    return [(provider, number) for provider in PROVIDER_IDS for number in range(VARIANTS_PER_FUNCTION[provider])]


@pytest.mark.parametrize(("provider", "number"), cases())
def test_without_each_statement_or_resource_the_sweep_fails_on_that_call(
    stack: E2EStack, role_policies: dict[str, RolePolicies], provider: str, number: int
) -> None:
    policies = role_policies[provider]
    name = policies.statement_policy()
    every = [v for v in variants(policies.deployed[name]) if v.sid not in NOT_SHOWN_HERE]
    assert len(every) == VARIANTS_PER_FUNCTION[provider], (
        f"{provider}'s policy now has {len(every)} statement/resource variants, not {VARIANTS_PER_FUNCTION[provider]}: "
        f"{[v.label for v in every]}; give the new one its scenario in expectation()"
    )
    variant = every[number]
    resources = Resources.of(stack)
    check, abandoned = expectation(variant, resources)
    policies.put(name, variant.document)
    sweep = run_scenario(stack, provider, abandoned=abandoned)
    check(sweep)

