"""What operators read: every log line of a sweep is correlated, every per-order line is attributed.

The schedule's execution id (EventBridge Scheduler input) is the correlation id of every
line a sweep writes; every line written while working on an order names that order and the
provider, even with many orders on concurrent worker threads; a decision line carries the
normalised provider answer, URL-decoded. Metrics go out as one EMF record per sweep.
"""

from __future__ import annotations

from typing import Any

from paysweep_local.simulators import kicc, teemopay
from paysweep_local.stack import LocalStack
from support.scenarios import KICC, TEEMO, add_kicc, add_teemopay

ORDERS = 12


def sweep_records(stack: LocalStack, provider: str) -> tuple[str, list[dict[str, Any]], list[dict[str, Any]]]:
    """(execution id, log records, EMF metric records) of one real sweep of the provider."""
    event = stack.schedule_event(provider)
    run = stack.functions[provider].invoke(event)
    assert run.ok, run.error
    stray = [line for line in run.logs if not isinstance(line, dict)]
    assert not stray, f"lines that are not structured logs: {stray[:3]}"
    records = run.log_records()
    return event["executionId"], [r for r in records if "_aws" not in r], [r for r in records if "_aws" in r]


def as_list(value: Any) -> list[float]:
    """EMF values: one number, or a list of them."""
    return value if isinstance(value, list) else [value]


def check_attribution(provider: str, execution_id: str, logs: list[dict[str, Any]], order_ids: set[str]) -> None:
    assert logs, "the sweep logged nothing"
    uncorrelated = [r for r in logs if r.get("correlation_id") != execution_id]
    assert not uncorrelated, f"lines without the schedule's execution id: {uncorrelated[:2]}"
    per_order = [r for r in logs if "orderId" in r]
    assert {r["orderId"] for r in per_order} == order_ids
    assert all(r["provider"] == provider for r in per_order)
    checked = [r for r in per_order if r["message"] == "order checked"]
    assert {r["orderId"] for r in checked} == order_ids, "every order gets one decision line"
    for record in per_order:
        if record["message"] == "outcome recorded":
            assert record["eventId"].startswith(f"{record['orderId']}:"), f"a line names the wrong order: {record}"


def test_kicc_lines_are_correlated_attributed_and_decoded(stack: LocalStack) -> None:
    scripts = [[kicc.approved()], [kicc.pending()], [kicc.error(res_cd="W002", detail="사용자 결제 취소")]]
    order_ids = {f"OB-K{n:02d}" for n in range(ORDERS)}
    for n, order_id in enumerate(sorted(order_ids)):
        add_kicc(stack, order_id, scripts[n % len(scripts)])
    execution_id, logs, metrics = sweep_records(stack, KICC)
    check_attribution(KICC, execution_id, logs, order_ids)
    with_refs = [r for r in logs if r["message"] == "order checked" and "refs" in r["answer"]]
    assert len(with_refs) == ORDERS - ORDERS // len(scripts)
    for record in with_refs:
        # The adapter's answer is about this order: its pgCno is the order's, not a neighbour's.
        assert record["answer"]["refs"]["pgCno"] == f"PG-{record['orderId']}"
    decoded = [r for r in logs if r["message"] == "order checked" and r["answer"]["state"] == "RETRY_LATER"]
    assert len(decoded) == ORDERS // len(scripts)
    assert all("사용자 결제 취소" in r["answer"]["detail"] and "%" not in r["answer"]["detail"] for r in decoded)
    main = [m for m in metrics if "OrdersChecked" in m]
    assert len(main) == 1 and main[0]["provider"] == KICC and main[0]["OrdersChecked"] == [ORDERS]


def test_teemopay_lines_are_correlated_and_attributed(stack: LocalStack) -> None:
    scripts = [[teemopay.paid()], [teemopay.pending()], [teemopay.http_error(503)], [teemopay.paid(amount="999")]]
    order_ids = {f"OB-T{n:02d}" for n in range(ORDERS)}
    for n, order_id in enumerate(sorted(order_ids)):
        add_teemopay(stack, order_id, scripts[n % len(scripts)])
    execution_id, logs, metrics = sweep_records(stack, TEEMO)
    check_attribution(TEEMO, execution_id, logs, order_ids)
    answers = {r["orderId"]: r["answer"] for r in logs if r["message"] == "order checked"}
    mismatched = {o for o, a in answers.items() if a["state"] == "APPROVED" and a["paid"] != "1000 KRW"}
    assert mismatched == {o for n, o in enumerate(sorted(order_ids)) if n % len(scripts) == 3}
    main = [m for m in metrics if "OrdersChecked" in m]
    assert len(main) == 1 and main[0]["OutcomeReview"] == [len(mismatched)]
    by_kind = {m["kind"]: sum(as_list(m["ProviderErrorsByKind"])) for m in metrics if "ProviderErrorsByKind" in m}
    failed = sum(1 for a in answers.values() if a["state"] == "RETRY_LATER")
    assert failed and sum(by_kind.values()) == failed and main[0]["ProviderErrors"] == [failed]
    assert all(m["provider"] == TEEMO and m["service"] == "paysweep" for m in metrics if "ProviderErrorsByKind" in m)
