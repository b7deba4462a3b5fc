"""What the sweep needs from the world, and nothing more: the ports its adapters implement.

The sweep talks to a provider, an order store, a compensation journal and an outcome
publisher only through these protocols. In Lambda they are the provider adapter of the
function and the DynamoDB and SNS implementations in `paysweep.aws`; in the deterministic
simulation (tests/simulation) they are in-memory doubles that pass the same conformance
suite as the DynamoDB store.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple, Protocol

from paysweep.domain.answers import CancelAnswer, CancelIntent, PaymentAnswer
from paysweep.domain.item import StoredOrder, Transition
from paysweep.domain.orders import Order
from paysweep.domain.outcomes import OutcomeMessage
from paysweep.domain.providers import ProviderProfile

Clock = Callable[[], datetime]
RemainingMillis = Callable[[], int]


# -- the provider -------------------------------------------------------------------------


class Canceller(Protocol):
    """A provider's cancellation API: request, then confirm (both idempotent by key)."""

    def new_intent(self, order: Order, reason: str, now: datetime, deadline: datetime) -> CancelIntent:
        """A cancel intent with the key and date every retry of this cancel will reuse."""
        ...

    def request_cancel(self, order: Order, intent: CancelIntent) -> CancelAnswer: ...

    def confirm_cancel(self, order: Order, intent: CancelIntent) -> CancelAnswer: ...

    def cancel_refs(self, reference: str) -> Mapping[str, str]:
        """The provider references that name this cancellation (`CancelAnswer.reference`) in an
        outcome's `providerRefs`: the provider names them, the engine copies them."""
        ...


class ProviderAdapter(Protocol):
    """One payment provider, as the sweep sees it: a plug-in from the provider's function folder.

    Its calls answer in the normalised vocabulary of `paysweep.domain.answers`; a transport
    failure is an answer too (RETRY_LATER, UNRECOGNISED, MISCONFIGURED), never an exception
    (`paysweep.provider.guard`). Everything named after the provider comes from it: the order
    attributes it needs (its profile's `required_refs`, validated into `Order.refs`), the
    references its answers and cancels publish (`PaymentAnswer.refs`, `Canceller.cancel_refs`),
    its own settings (read by its factory, `paysweep.provider.client.AdapterFactory`)."""

    @property
    def profile(self) -> ProviderProfile:
        """The provider's order contract: the sweep validates every order it claims against it."""
        ...

    @property
    def canceller(self) -> Canceller | None:
        """None when the provider has no cancel API: integrity failures then go to REVIEW."""
        ...

    def check_payment(self, order: Order) -> PaymentAnswer: ...


class AccountDirectory(Protocol):
    """The merchant accounts the provider's credentials hold (`paysweep.provider.accounts`)."""

    def account_problem(self, merchant_id: str | None) -> str | None:
        """Why an order naming `merchant_id` (None: the default account) cannot be worked, or None."""
        ...


class EveryAccount:
    """A directory that knows of no problem: a provider with one account, and the tests'."""

    def account_problem(self, merchant_id: str | None) -> str | None:
        return None


# -- the order store ----------------------------------------------------------------------


class StoreError(Exception):
    """Base of the store's failures."""


class ConditionFailed(StoreError):
    """The item was not in the state the write required (lease lost, already decided).

    `current` is the order as the store saw it when the condition failed, when available.
    """

    def __init__(self, message: str, current: StoredOrder | None) -> None:
        super().__init__(message)
        self.current = current


class StoreUnavailable(StoreError):
    """The store did not take the request, even after retries (throttling, 5xx)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class DueOrder(NamedTuple):
    """One entry of the due index: enough to claim the order."""

    next_check_at: str
    order_id: str
    sweep_key: str


class OrderStore(Protocol):
    """The orders table and its sparse indexes (due orders, due audits). Orders come back as
    `StoredOrder`s: the item's shape stays with `paysweep.domain.item` and the store."""

    def due_in_shard(
        self, sweep_key: str, now: str, page_size: int, *, newest_first: bool = False
    ) -> Iterator[DueOrder]:
        """Due orders of one shard, oldest first (or newest first), a page at a time
        (eventually consistent)."""
        ...

    def audits_due(self, audit_key: str, now: str, page_size: int) -> Iterator[DueOrder]:
        """Audits of one shard due by `now`, oldest first (eventually consistent; `next_check_at`
        holds the audit's `auditAt`, `sweep_key` its `auditKey`)."""
        ...

    def count_due(self, sweep_keys: Iterable[str], now: str) -> int: ...

    def read(self, order_id: str) -> StoredOrder | None:
        """The order as it is now (strongly consistent)."""
        ...

    def claim(self, transition: Transition) -> StoredOrder:
        """Apply a claim and return the order as it was before it (ALL_OLD)."""
        ...

    def apply(self, transition: Transition) -> None:
        """Apply a transition; `ConditionFailed` (with the current item) when its guard fails."""
        ...


# -- the compensation journal -------------------------------------------------------------


class JournalTarget(StrEnum):
    CANCELLING = "CANCELLING"
    """A cancel was requested: the order continues as a cancelling order."""
    REVIEW = "REVIEW"
    """Nothing could be cancelled: the order ends in REVIEW."""


class Compensation(NamedTuple):
    """What a sweep did for an approval the orders table refused to record."""

    order_id: str
    target: JournalTarget
    message: OutcomeMessage
    """The outcome already published for this compensation."""
    intent: CancelIntent | None
    created_at: str
    expires_at_epoch: int
    """Expiry (epoch seconds): the entry is useless once the order can no longer be claimed."""


class CompensationJournal(Protocol):
    def record(self, entry: Compensation) -> None:
        """Write an entry; the first entry of an order wins (`ConditionFailed` for a second)."""
        ...

    def find(self, order_id: str) -> Compensation | None: ...

    def resolve(self, order_id: str) -> None:
        """Delete an entry once the orders table holds what it says."""
        ...


# -- the outcome publisher ----------------------------------------------------------------


class PublishReport(NamedTuple):
    published: list[OutcomeMessage]
    failed: list[tuple[OutcomeMessage, str]]


class OutcomePublisher(Protocol):
    def publish(self, messages: Sequence[OutcomeMessage]) -> PublishReport:
        """Publish each message to its outcome's topic; every message is in exactly one list."""
        ...

