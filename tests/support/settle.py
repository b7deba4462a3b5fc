"""Run the real sweepers until every order has settled, for fault and soak tests."""

from __future__ import annotations

from typing import Any

from paysweep_local.stack import LocalStack

from support.outcomes import Published

PROVIDERS = ("kicc-wechatpay", "teemopay")


def unsettled(stack: LocalStack, items: list[dict[str, Any]] | None = None, *, audits: bool = False) -> list[dict[str, Any]]:
    """Orders still due, or terminal with an outcome not yet confirmed published; with `audits`,
    also decided orders with an audit still to come."""
    found = stack.orders() if items is None else items
    return [item for item in found if "sweepKey" in item or "outbox" in item or (audits and "auditKey" in item)]


def settle(stack: LocalStack, published: Published, *, max_rounds: int = 40, step_seconds: int = 60) -> int:
    """Sweep both providers once a simulated minute until nothing is due or unpublished.

    Returns the number of rounds it took; fails the test if it never settles.
    """
    for rounds in range(1, max_rounds + 1):
        for provider in PROVIDERS:
            run = stack.sweep(provider)
            assert run.ok, f"{provider} sweep failed: {run.error}"
        published.collect()
        if not unsettled(stack):
            return rounds
        stack.advance(step_seconds)
    left = [(i["orderId"], i.get("status")) for i in unsettled(stack)]
    raise AssertionError(f"not settled after {max_rounds} rounds: {left[:10]}")
