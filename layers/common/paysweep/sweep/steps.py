"""What the parts of one order's work share, as values and plain functions.

An order's work runs one way: `order_flow.OrderFlow` hands a compensation or an audit the
order's `lease.OrderLease` (its only writer); each does its part and returns what the flow
carries on with (a `Cancel`), never calling back into the flow. Nothing here calls anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import NamedTuple

from paysweep.config import SweepConfig
from paysweep.domain import item
from paysweep.domain.answers import CancelAnswer, CancelIntent, PaymentAnswer, ReportedAmount
from paysweep.domain.clock import to_iso
from paysweep.domain.orders import Order
from paysweep.domain.outcomes import Outcome, OutcomeMessage, Reason, build_message
from paysweep.sweep.ports import Canceller, ConditionFailed


class Written(NamedTuple):
    """What became of one write."""

    done: bool
    refusal: ConditionFailed | None = None
    """When the write's guard did not hold: the refusal, with the order as it was."""


class LeaseLapsed(Exception):
    """This sweep's lease on the order can no longer cover a provider call."""


class Cancel(NamedTuple):
    """A cancel a compensation or an audit recorded, for the flow to carry on with: sent now
    (`send`; its intent is `order.cancel`), or confirmed (`send=False`)."""

    order: Order
    send: bool


def check_of(now: datetime, kind: str, answer: PaymentAnswer | CancelAnswer) -> item.Check:
    """A provider answer as the order's record keeps it."""
    return item.Check(to_iso(now), kind, answer.state.value, answer.provider_status, answer.detail)


def outcome_message(
    order: Order,
    outcome: Outcome,
    reason: Reason | None,
    now: datetime,
    reported: ReportedAmount | None,
    provider_status: str | None,
    refs: Mapping[str, str],
    *,
    attempts: int,
    supersedes: str | None = None,
) -> OutcomeMessage:
    """The message of a valid order's decision. Its `providerRefs` are the order's references
    (named by the provider's profile) and `refs` (named by the adapter), copied: the engine
    names none of them."""
    return build_message(
        order_id=order.order_id,
        provider=order.provider,
        outcome=outcome,
        reason=reason,
        requested=ReportedAmount(order.amount, order.currency),
        reported=reported,
        provider_status=provider_status,
        provider_refs={**order.refs, **{name: value for name, value in refs.items() if value}},
        occurred_at=to_iso(now),
        attempts=attempts,
        generation=order.generation,
        supersedes=supersedes,
        merchant_id=order.merchant_id,
    )


def new_intent(
    canceller: Canceller, order: Order, reason: Reason, paid: ReportedAmount | None, now: datetime, config: SweepConfig
) -> CancelIntent:
    """A cancel intent (its key and date from the provider), confirmed until the later of the
    order's final check and CANCEL_CONFIRM_WINDOW_SECONDS from now; what was paid goes with it,
    for the message that ends the cancel."""
    deadline = max(order.expires_at + config.expiry_grace, now + config.cancel_window)
    intent = canceller.new_intent(order, reason.value, now, deadline)
    if paid is not None and paid.amount is not None:
        intent = intent._replace(reported_amount=f"{paid.amount:f}", reported_currency=paid.currency)
    return intent


def required[T](value: T | None, what: str) -> T:
    """A value the decision tables guarantee (a CANCEL decision has a reason, a final one an
    outcome, a cancel decision a provider with a canceller): its absence is a bug, reported as
    one rather than decided around."""
    if value is None:
        raise RuntimeError(f"missing {what}")
    return value
