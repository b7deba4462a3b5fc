"""The rarest path, under the functions' own roles: an approval the orders table refuses to record.

The orders table stops taking the sweep's writes while the provider is answering (the test takes
the table out of the function's OrdersTable statement between the claim and the answer; the
indexes stay). The sweep must then compensate (KICC, Toss Payments: cancel; TeemoPay: REVIEW),
publish, and record it in the compensation journal (PutItem). The next sweep, after the abandoned lease,
reads the journal (GetItem), converges the order, and removes the entry (DeleteItem): every
action of the CompensationJournal statement is used, and allowed. Without that statement the
compensation cannot be journaled, and the sweep says so (`journal_unwritable`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from e2e.deployed import KICC, PROVIDER_IDS, TEEMO, TOSS, E2EStack, Invocation
from e2e.orders import abandon_lease, write_order
from e2e.outcomes import Subscriber
from e2e.policies import RolePolicies, as_list
from paysweep_local.simulators import kicc, teemopay, toss

ANSWER_DELAY_SECONDS = 1.5
"""How long the provider takes to answer: the window in which the table is taken away (below
the stack's 3 s HttpTimeoutSeconds)."""
CLAIM_WAIT_SECONDS = 45
"""Longest wait for the sweep to claim the order: a cold MiniStack worker on a loaded machine can
take well over ten seconds to import its handler."""
COMPENSATION = {KICC: ("CANCELLED", "CANCELLING"), TEEMO: ("REVIEW", "REVIEW"), TOSS: ("CANCELLED", "CANCELLING")}
"""Provider -> (outcome published, journal target)."""
CONVERGED = {KICC: {"CANCELLING", "CANCELLED"}, TEEMO: {"REVIEW"}, TOSS: {"CANCELLING", "CANCELLED"}}
"""Provider -> the statuses the next sweep may leave a compensated order in."""


def kicc_slow_approval(stack: E2EStack, order_id: str) -> None:
    stack.kicc.add_payment(f"PG-{order_id}", order_id, 1000, "KRW",
                           script=[kicc.slow(ANSWER_DELAY_SECONDS, then=kicc.approved()), kicc.approved()])
    write_order(stack, order_id, KICC, refs={"pgCno": f"PG-{order_id}"})


def teemopay_slow_approval(stack: E2EStack, order_id: str) -> None:
    stack.teemopay.add_order(order_id, "1000", script=[teemopay.slow(ANSWER_DELAY_SECONDS, then=teemopay.paid())])
    write_order(stack, order_id, TEEMO)


def toss_slow_approval(stack: E2EStack, order_id: str) -> None:
    """A card payment (the Toss cancel a compensation sends is a card's)."""
    stack.toss.add_payment(order_id, 1000, script=[toss.slow(ANSWER_DELAY_SECONDS, then=toss.done()), toss.done()])
    write_order(stack, order_id, TOSS)


SLOW_APPROVALS: dict[str, Callable[[E2EStack, str], None]] = {
    KICC: kicc_slow_approval, TEEMO: teemopay_slow_approval, TOSS: toss_slow_approval,
}


def add_slow_approval(stack: E2EStack, provider: str, order_id: str) -> None:
    """An order its provider approves, ANSWER_DELAY_SECONDS after being asked."""
    assert provider in SLOW_APPROVALS and provider in COMPENSATION, f"{provider}: give it its slow approval here"
    SLOW_APPROVALS[provider](stack, order_id)


def without(document: dict[str, Any], sid: str, keep: Callable[[str], bool] | None = None) -> dict[str, Any]:
    """The policy less statement `sid` (or, with `keep`, that statement with only the resources kept)."""
    statements = []
    for statement in as_list(document["Statement"]):
        if statement.get("Sid") != sid:
            statements.append(statement)
        elif keep is not None:
            statements.append({**statement, "Resource": [r for r in as_list(statement["Resource"]) if keep(r)]})
    return {**document, "Statement": statements}


def sweep_while_the_table_refuses_writes(
    stack: E2EStack, policies: RolePolicies, provider: str, order_id: str, *, journal: bool
) -> Invocation:
    """Invoke; as soon as the order is claimed, take the table (not its indexes) away."""
    name = policies.statement_policy()
    refusing = without(policies.deployed[name], "OrdersTable", keep=lambda arn: "/index/" in arn)
    if not journal:
        refusing = without(refusing, "CompensationJournal")
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(stack.invoke, provider)
        deadline = time.monotonic() + CLAIM_WAIT_SECONDS
        while "leaseOwner" not in read_item(stack, order_id):
            assert time.monotonic() < deadline and not running.done(), "the order was never claimed"
            time.sleep(0.05)
        policies.put(name, refusing)
        invocation = running.result(timeout=60)
    policies.restore()
    return invocation


def read_item(stack: E2EStack, order_id: str) -> dict[str, Any]:
    answer = stack.client("dynamodb").get_item(
        TableName=stack.local.table, Key={"orderId": {"S": order_id}}, ConsistentRead=True
    )
    return dict(answer.get("Item", {}))


def journal_entry(stack: E2EStack, order_id: str) -> dict[str, Any]:
    answer = stack.client("dynamodb").get_item(
        TableName=stack.output("CompensationsTableName"), Key={"orderId": {"S": order_id}}, ConsistentRead=True
    )
    return dict(answer.get("Item", {}))


@pytest.mark.parametrize("provider", PROVIDER_IDS)
def test_an_unrecordable_approval_is_compensated_journaled_and_converged(
    stack: E2EStack, role_policies: dict[str, RolePolicies], provider: str
) -> None:
    order_id = f"CP-{provider[:4].upper()}-OK"
    outcome, target = COMPENSATION[provider]
    add_slow_approval(stack, provider, order_id)
    first = sweep_while_the_table_refuses_writes(stack, role_policies[provider], provider, order_id, journal=True).summary
    assert first["errors"].get("db_update_failed") == 1 and "journal_unwritable" not in first["errors"], first
    message = Subscriber(stack).wait_for(order_id, timeout_seconds=15)
    assert (message["outcome"], message["reason"]) == (outcome, "DB_UPDATE_FAILED")
    assert journal_entry(stack, order_id)["target"]["S"] == target  # PutItem was allowed

    abandon_lease(stack, order_id)
    second = stack.invoke(provider).summary
    assert second["errors"] == {}, second
    assert journal_entry(stack, order_id) == {}, "the journal entry was not resolved (DeleteItem)"
    assert stack.order(order_id)["status"] in CONVERGED[provider]


@pytest.mark.parametrize("provider", PROVIDER_IDS)
def test_without_the_journal_statement_a_compensation_cannot_be_journaled(
    stack: E2EStack, role_policies: dict[str, RolePolicies], provider: str
) -> None:
    order_id = f"CP-{provider[:4].upper()}-NOJ"
    add_slow_approval(stack, provider, order_id)
    summary = sweep_while_the_table_refuses_writes(
        stack, role_policies[provider], provider, order_id, journal=False
    ).summary
    assert summary["errors"].get("db_update_failed") == 1, summary
    assert summary["errors"].get("journal_unwritable") == 1, summary  # PutItem on the journal refused
    assert journal_entry(stack, order_id) == {}
