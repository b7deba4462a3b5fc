"""Nothing lost: one fault at a time, at each step of a sweep, then the invariants.

Each test injects a single fault (provider, DynamoDB query / claim / record, SNS, a crash),
lets the first sweep meet it, removes it, sweeps until everything settles, and checks the
architecture's invariants (README, Reliability; `support.invariants`) plus each order's outcome.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from paysweep.domain.item import unpublished
from paysweep_local.simulators import kicc, teemopay
from paysweep_local.stack import LocalStack
from support.invariants import check_all
from support.outcomes import Published
from support.scenarios import KICC, TEEMO, add_kicc, add_teemopay
from support.settle import settle
from support.writes import CLAIM_WRITE, CONFIRM_WRITE

EXPECTED = {
    "K-PAID": ("APPROVED", None),
    "K-LATE": ("APPROVED", None),
    "K-OFF": ("CANCELLED", "AMOUNT_MISMATCH"),
    "K-VOID": ("CANCELLED", "PROVIDER_CANCELLED"),
    "T-PAID": ("APPROVED", None),
    "T-DECLINED": ("FAILED", "PROVIDER_DECLINED"),
    "T-OVER": ("REVIEW", "AMOUNT_MISMATCH"),
}
RUN = iter(range(1, 10_000))


@pytest.fixture
def ids() -> dict[str, str]:
    """Order ids unique to the test: merchants never reuse an order number, nor does this suite."""
    run = next(RUN)
    return {name: f"F{run}-{name}" for name in EXPECTED}


def orders(stack: LocalStack, ids: dict[str, str]) -> None:
    add_kicc(stack, ids["K-PAID"], [kicc.approved()])
    add_kicc(stack, ids["K-LATE"], [kicc.pending(), kicc.approved()])
    add_kicc(stack, ids["K-OFF"], [kicc.approved(amount=990)])
    add_kicc(stack, ids["K-VOID"], [kicc.cancelled("TS12")])
    add_teemopay(stack, ids["T-PAID"], [teemopay.paid()])
    add_teemopay(stack, ids["T-DECLINED"], [teemopay.failed()])
    add_teemopay(stack, ids["T-OVER"], [teemopay.paid(amount="1100.00")])


def outcomes_and_invariants(stack: LocalStack, published: Published, ids: dict[str, str]) -> None:
    settle(stack, published)
    items = stack.orders()
    check_all(items, [d.message for d in published.all])
    got = {i["orderId"]: (i["status"], i["outcome"]["reason"]) for i in items}
    assert got == {ids[name]: outcome for name, outcome in EXPECTED.items()}
    for order_id in ids.values():  # one transition each, whatever was re-published
        assert len({m["eventId"] for m in published.for_order(order_id)}) == 1


Fault = Callable[[LocalStack], None]


def provider_5xx(stack: LocalStack) -> None:
    stack.kicc.fail_next(kicc.FIND_PATH, kicc.http_error(503), count=3)
    stack.teemopay.fail_next(teemopay.QUERY_PATH, teemopay.http_error(502), count=3)


def provider_timeout(stack: LocalStack) -> None:
    stack.kicc.fail_next(kicc.FIND_PATH, kicc.slow(5), count=2)
    stack.teemopay.fail_next(teemopay.QUERY_PATH, teemopay.slow(5), count=2)


def provider_malformed(stack: LocalStack) -> None:
    stack.kicc.fail_next(kicc.FIND_PATH, kicc.raw({"resCd": 0, "statusCd": ["TS01"]}), count=2)
    stack.teemopay.fail_next(teemopay.QUERY_PATH, teemopay.empty_body(), count=2)


def dynamodb(operation: str, error: str, match: str | None = None) -> Fault:
    def inject(stack: LocalStack) -> None:
        stack.faults.add_fault("dynamodb", operation, error=error, times=-1, match=match)
    return inject


def sns_publish_fails(stack: LocalStack) -> None:
    stack.faults.add_fault("sns", "PublishBatch", error="internal", times=-1)


FIRST_SWEEP_FAULTS: dict[str, Fault] = {
    "provider 5xx": provider_5xx,
    "provider timeout": provider_timeout,
    "provider answer breaks the docs": provider_malformed,
    "due-index query throttled": dynamodb("Query", "throttle"),
    "due-index query errors": dynamodb("Query", "internal"),
    "claim throttled": dynamodb("UpdateItem", "throttle", CLAIM_WRITE),
    "claim errors": dynamodb("UpdateItem", "unavailable", CLAIM_WRITE),
    "reschedule write errors": dynamodb("UpdateItem", "internal", '"#r0": "leaseOwner"'),
    "cancel intent write errors": dynamodb("UpdateItem", "internal", '"CANCELLING"'),
    "terminal write of a decline errors": dynamodb("UpdateItem", "internal", "-T-DECLINED:FAILED"),
    "publication confirm errors": dynamodb("UpdateItem", "internal", CONFIRM_WRITE),
    "SNS publish fails": sns_publish_fails,
}


@pytest.mark.parametrize("fault", FIRST_SWEEP_FAULTS.values(), ids=FIRST_SWEEP_FAULTS.keys())
def test_one_fault_in_the_first_sweep(stack: LocalStack, published: Published, ids: dict[str, str], fault: Fault) -> None:
    orders(stack, ids)
    fault(stack)
    for provider in (KICC, TEEMO):
        run = stack.sweep(provider)
        assert run.ok, run.error  # a fault never crashes the sweep
    stack.faults.clear_faults()
    outcomes_and_invariants(stack, published, ids)


def test_crash_after_claim_before_the_provider_answers(stack: LocalStack, published: Published, ids: dict[str, str]) -> None:
    orders(stack, ids)
    stack.kicc.fail_next(kicc.FIND_PATH, kicc.slow(20), count=1)
    running = stack.sweep_async(KICC)
    wait_until(lambda: any(r.response_status == 0 for r in stack.kicc.requests_for(kicc.FIND_PATH)))
    stack.functions[KICC].kill()
    assert running.result().error["errorType"] == "Runtime.ExitError"
    outcomes_and_invariants(stack, published, ids)


def test_crash_after_record_before_publish(stack: LocalStack, published: Published, ids: dict[str, str]) -> None:
    orders(stack, ids)
    stack.faults.add_fault("sns", "PublishBatch", error="hang", seconds=10, times=1)
    running = stack.sweep_async(TEEMO)
    wait_until(lambda: any(r["operation"] == "PublishBatch" and r["fired"] for r in stack.faults.fault_report()))
    stack.functions[TEEMO].kill()
    assert running.result().error["errorType"] == "Runtime.ExitError"
    recorded = [i for i in stack.orders() if i.get("status") in ("APPROVED", "FAILED", "REVIEW")]
    assert recorded and all(unpublished(i) for i in recorded), "the crash should leave recorded, unpublished outcomes"
    time.sleep(10)  # let the held publish finish, as a real in-flight request would
    outcomes_and_invariants(stack, published, ids)


def wait_until(condition: Callable[[], bool], seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition never met"
        time.sleep(0.02)
