"""The steps of one order's flow (`order_flow.OrderFlow`) as the compensation protocol and the
audits reuse them, and what a write step reports."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import NamedTuple, Protocol

from paysweep.domain import item
from paysweep.domain.answers import CancelAnswer, CancelIntent, PaymentAnswer, ReportedAmount
from paysweep.domain.orders import Order
from paysweep.domain.outcomes import Outcome, OutcomeMessage, Reason
from paysweep.sweep.ports import Canceller, ConditionFailed


class Written(NamedTuple):
    """What became of one write."""

    done: bool
    refusal: ConditionFailed | None = None
    """When the write's guard did not hold: the refusal, with the item as it was."""


class LeaseLapsed(Exception):
    """This sweep's lease on the order can no longer cover a provider call."""


class OrderSteps(Protocol):
    """The steps of one order's flow (`order_flow.OrderFlow`) that a compensation or an audit reuses."""

    token: str
    calls: int
    history: list[str]

    @property
    def canceller(self) -> Canceller: ...

    def call[Answer: (PaymentAnswer, CancelAnswer)](
        self, call: Callable[[], Answer], answer_type: type[Answer], *, under_lease: bool = True
    ) -> Answer: ...

    def check(self, now: datetime, kind: str, answer: PaymentAnswer | CancelAnswer) -> item.Check: ...

    def lease_until(self, now: datetime) -> str: ...

    def write(self, transition: item.Transition, *, what: str) -> Written: ...

    def new_intent(self, order: Order, reason: Reason, paid: ReportedAmount | None, now: datetime) -> CancelIntent: ...

    def send_cancel(self, order: Order, intent: CancelIntent) -> None: ...

    def continue_cancel(self, order: Order) -> None: ...

    def message(
        self, order: Order, outcome: Outcome, reason: Reason | None, now: datetime,
        reported: ReportedAmount | None, provider_status: str | None, refs: Mapping[str, str],
        *, supersedes: str | None = None,
    ) -> OutcomeMessage: ...

    def record_terminal(
        self, order: Order, message: OutcomeMessage, check: item.Check, *, free_lease_ok: bool = False,
    ) -> Written: ...
