"""The simulated provider: its books (the truth about each payment) and the adapter the sweep
talks to, with latency and faults drawn from the seed.

The adapter answers in the sweep's normalised vocabulary (`paysweep.domain.answers`), as a
real adapter behind `GuardedAdapter` does: a timeout or a 5xx is RETRY_LATER, a garbled
answer UNRECOGNISED. The real adapters' parsing is covered by the contract and simulator
suites; what this one must get right is the cancel rules of the providers that cancel, in two
shapes:
- KICC's (`looks_up_first=False`): one key per cancellation, a second key refused once a cancel
  stands, a cancel only of an approved payment, confirmed by the cancel's own reference;
- Toss Payments' (`looks_up_first=True`): the cancel is two calls under one lease, a lookup by
  order id (for the payment's key) and then the cancel, which the lookup may settle without
  sending anything (cancelled already: CONFIRMED; not a payment paysweep can cancel: REFUSED);
  a deposited virtual account (`refuses_cancel`) is answered `cancellable=False` as the real
  adapter does, so the engine never decides to cancel it (REVIEW with the real reason), the
  canceller's refusal staying as a second line of defence; every confirmation is a lookup by order id, whatever
  reference the cancel's answer gave; a lookup may lag behind a cancel for a while (still DONE),
  so the engine sends the cancel again under its one key, and Toss replays the first answer.

Merchant accounts: the provider keeps each payment under the account it was paid to, and knows
each account by its credentials. The adapter picks an order's credentials as the real adapters do
(`account_of(secret, order.merchant_id)` over the simulated secret) and presents them with every
call; the books note whose credentials came with each call (`Payment.presented`, for the
invariant), answer a credential they do not know, or one revoked for a while, as a real provider
refuses a key (MISCONFIGURED), and a payment of another account as one they do not hold.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from kicc_profile import PROFILE as KICC_PROFILE
from paysweep.domain.answers import (
    CancelAnswer,
    CancelIntent,
    CancelState,
    PaymentAnswer,
    PaymentState,
    ReportedAmount,
)
from paysweep.domain.clock import to_iso
from paysweep.domain.orders import Order
from paysweep.domain.providers import ProviderProfile
from paysweep.provider.accounts import account_of
from paysweep.provider.client import SecretUnavailable
from teemopay_profile import PROFILE as TEEMOPAY_PROFILE
from toss_assumptions import cancel_key as toss_cancel_key
from toss_profile import PROFILE as TOSS_PROFILE

from simulation.faults import Faults
from simulation.scheduler import Scheduler

APPROVED, UNPAID, NOT_FOUND, DECLINED, CANCELLED, PARTIAL = (
    "approved", "unpaid", "not_found", "declined", "cancelled", "partial"
)
MISCONFIGURED = "misconfigured"
"""The books' verdict on a call presenting a credential they refuse (unknown, or revoked)."""
UNAUTHORIZED = "UNAUTHORIZED_KEY"
"""What a refused key is answered (Toss's code; every provider answers one its own way)."""
FOREIGN = "<a credential the provider does not know>"
"""Whose credentials a call presented, when they are no account's (`Payment.presented`)."""
CREDENTIAL_FIELDS = {
    KICC_PROFILE.provider_id: ("mallId", "secretKey"),
    TOSS_PROFILE.provider_id: ("secretKey",),
    TEEMOPAY_PROFILE.provider_id: ("appCode", "privateKey"),
}
"""The fields of one account in each provider's secret that a call presents (the real adapters':
KICC's mall id and key, Toss's secret key, TeemoPay's app code and signing key)."""


@dataclass
class Payment:
    """One payment as the provider's books hold it."""

    order_id: str
    state: str
    paid: ReportedAmount | None = None
    pays_at: float | None = None
    """Simulated second at which an unpaid payment becomes approved (a late payment)."""
    refuses_cancel: bool = False
    """KICC refuses the cancel; on Toss it is a deposited virtual account: its answers say
    `cancellable=False` (the engine does not cancel it), and the canceller refuses it on its lookup."""
    confirm_delay: float = 0.0
    """Seconds after a cancel until it shows: KICC's confirmation says PENDING meanwhile; Toss's
    lookups still show the payment DONE (a read behind the cancel)."""
    cancelled_under: str | None = None
    """The key of the cancel that stands, once one does."""
    cancelled_at: float | None = None
    cancel_keys: list[str] = field(default_factory=list)
    calls: list[tuple[float, float, str]] = field(default_factory=list)
    """(start, end, kind) of every call about this payment, for the overlap invariant."""
    account: str | None = None
    """The merchant account the payment was made to (None: the provider's default account)."""
    presented: list[tuple[float, str, str | None]] = field(default_factory=list)
    """(start, kind, whose credentials) of every call about this payment: an account of the
    provider's, or FOREIGN; for the invariant that each was its own account's."""

    def state_at(self, now: float) -> str:
        if self.state == UNPAID and self.pays_at is not None and now >= self.pays_at:
            return APPROVED
        return self.state


@dataclass
class Revocation:
    """One account's credentials refused for a while (a key rotated at the provider first)."""

    account: str | None
    start: float
    end: float


class ProviderBooks:
    def __init__(self) -> None:
        self.payments: dict[str, Payment] = {}
        self.accounts: dict[tuple[str, ...], str | None] = {}
        """The accounts the provider knows, by the credentials a call presents."""
        self.revocation: Revocation | None = None
        self.refused: list[tuple[float, str, str | None]] = []
        """(start, order id, whose credentials) of every call refused as misconfigured."""

    def add(self, payment: Payment) -> None:
        self.payments[payment.order_id] = payment

    def open_account(self, merchant_id: str | None, credential: tuple[str, ...]) -> None:
        self.accounts[credential] = merchant_id

    def receive(self, payment: Payment, kind: str, credential: tuple[str, ...], now: float) -> str | None:
        """A call about `payment` presenting `credential`: None when the provider answers it,
        MISCONFIGURED when it refuses the credential, NOT_FOUND when the payment is another
        account's."""
        whose = self.accounts.get(credential, FOREIGN)
        payment.presented.append((now, kind, whose))
        revoked = self.revocation
        if whose == FOREIGN or (revoked and whose == revoked.account and revoked.start <= now < revoked.end):
            self.refused.append((now, payment.order_id, whose))
            return MISCONFIGURED
        return NOT_FOUND if whose != payment.account else None


class SimulatedAdapter:
    """`ProviderAdapter` (and `Canceller` where the provider can cancel) over the books."""

    def __init__(self, books: ProviderBooks, scheduler: Scheduler, faults: Faults, *, can_cancel: bool,
                 http_timeout: float, latency: tuple[float, float],
                 credentials: Callable[[], Mapping[str, Any]], looks_up_first: bool = False) -> None:
        self.books = books
        self.credentials = credentials
        """The provider secret (`CredentialSource`): the default account's fields, others under "accounts"."""
        self.latency = latency
        self._scheduler = scheduler
        self._faults = faults
        self._http_timeout = http_timeout
        self.looks_up_first = can_cancel and looks_up_first
        self._profile = TOSS_PROFILE if self.looks_up_first else KICC_PROFILE if can_cancel else TEEMOPAY_PROFILE
        self._canceller = self if can_cancel else None
        self._fields = CREDENTIAL_FIELDS[self._profile.provider_id]

    @property
    def profile(self) -> ProviderProfile:
        return self._profile

    @property
    def canceller(self) -> SimulatedAdapter | None:
        return self._canceller

    # -- the calls -------------------------------------------------------------------------

    def account(self, order: Order) -> Mapping[str, Any]:
        """The order's account's fields, picked from the secret as the real adapters pick them."""
        return account_of(self.credentials(), order.merchant_id)

    def _credential(self, order: Order) -> tuple[str, ...]:
        """What a call presents; raises as a real adapter does before sending anything
        (`UnknownAccount`, `SecretUnavailable`: MISCONFIGURED behind the `GuardedAdapter`)."""
        account = self.account(order)
        credential = tuple(account.get(name) for name in self._fields)
        if not all(isinstance(value, str) and value for value in credential):
            raise SecretUnavailable(f"the account's secret lacks {', '.join(self._fields)}")
        return credential  # type: ignore[return-value]

    def _call(self, order: Order, kind: str) -> tuple[Payment, str | None, float, str | None]:
        """Draw this call's fault and latency; the request reaches the provider at once, with
        the order's account's credentials: the books' verdict on them is the last item."""
        credential = self._credential(order)
        payment = self.books.payments[order.order_id]
        fault = self._faults.provider(kind)
        latency = self._faults.latency(*self.latency)
        if fault in ("timeout", "lost"):
            latency = self._http_timeout
        start = self._scheduler.now
        payment.calls.append((start, start + latency, kind))
        refusal = self.books.receive(payment, kind, credential, start)
        if fault == "stall":  # the answer came; then the invocation froze for longer than a lease
            latency += self._faults.stall_seconds(self._scheduler.current_group)
        return payment, fault, latency, refusal

    def _seen(self, payment: Payment, now: float) -> str:
        """The state a lookup shows: Toss's lookups may lag behind a cancel (still DONE)."""
        lagging = self.looks_up_first and payment.cancelled_at is not None and now < payment.cancelled_at
        return APPROVED if lagging else payment.state_at(now)

    def check_payment(self, order: Order) -> PaymentAnswer:
        payment, fault, latency, refusal = self._call(order, "status")
        state = refusal or self._seen(payment, self._scheduler.now)
        self._scheduler.pause(latency)
        if fault in ("timeout", "lost"):
            return PaymentAnswer(PaymentState.RETRY_LATER, detail="timed out", error_kind="timeout")
        if fault == "error":
            return PaymentAnswer(PaymentState.RETRY_LATER, detail="HTTP 502", error_kind="http_5xx")
        if fault == "garbage":
            return PaymentAnswer(PaymentState.UNRECOGNISED, detail="not JSON", error_kind="bad_answer")
        if state == MISCONFIGURED:
            return PaymentAnswer(PaymentState.MISCONFIGURED, provider_status=UNAUTHORIZED, error_kind="config")
        answer = _payment_answer(payment, state)
        if self.looks_up_first and payment.refuses_cancel and state in (APPROVED, PARTIAL):
            return answer._replace(cancellable=False)  # toss_adapter.refundable_by_cancel
        return answer

    def new_intent(self, order: Order, reason: str, now: datetime, deadline: datetime) -> CancelIntent:
        key = toss_cancel_key(order.order_id, order.generation) if self.looks_up_first else (
            f"PSC-{order.order_id}-{order.generation}")
        return CancelIntent(
            key=key, request_date=now.strftime("%Y%m%d"), reason=reason, requested_at=to_iso(now),
            deadline=to_iso(deadline),
        )

    def request_cancel(self, order: Order, intent: CancelIntent) -> CancelAnswer:
        if self.looks_up_first:
            settled = self._lookup_before_cancel(order)
            if settled is not None:
                return settled
        payment, fault, latency, refusal = self._call(order, "cancel")
        if fault not in ("timeout", "error", "garbage"):  # the request was processed (maybe the answer is lost)
            answer = _refused_cancel(refusal) if refusal else self._cancel(payment, intent.key)
        else:
            answer = CancelAnswer(CancelState.RETRY_LATER, detail="timed out", error_kind="timeout")
        self._scheduler.pause(latency)
        if fault == "lost":
            return CancelAnswer(CancelState.RETRY_LATER, detail="timed out", error_kind="timeout")
        if fault == "garbage":
            return CancelAnswer(CancelState.UNRECOGNISED, detail="not JSON", error_kind="bad_answer")
        return answer

    def _cancel(self, payment: Payment, key: str) -> CancelAnswer:
        payment.cancel_keys.append(key)
        now = self._scheduler.now
        if payment.cancelled_under == key:
            return CancelAnswer(CancelState.ACCEPTED, reference=f"CX-{key}")  # an identical retry replays
        if payment.cancelled_under is not None or payment.state_at(now) == CANCELLED:
            if self.looks_up_first:  # Toss's ALREADY_CANCELED_PAYMENT: accepted, to be confirmed by lookup
                return CancelAnswer(CancelState.ACCEPTED, provider_status="ALREADY_CANCELED_PAYMENT")
            return CancelAnswer(CancelState.REFUSED, provider_status="ALREADY_CANCELLED", detail="already cancelled")
        if payment.state_at(now) != APPROVED or payment.refuses_cancel:
            return CancelAnswer(CancelState.REFUSED, provider_status="REFUSED", detail="not cancellable")
        payment.state = CANCELLED
        payment.pays_at = None
        payment.cancelled_under = key
        payment.cancelled_at = now + payment.confirm_delay
        return CancelAnswer(CancelState.ACCEPTED, reference=f"CX-{key}")

    def _lookup_before_cancel(self, order: Order) -> CancelAnswer | None:
        """Toss's canceller looks the order up for its paymentKey first (one more call under the same
        lease): the lookup may settle the cancel; None when the cancel is to be sent."""
        payment, fault, latency, refusal = self._call(order, "cancel_lookup")
        state = refusal or self._seen(payment, self._scheduler.now)
        self._scheduler.pause(latency)
        if fault in ("timeout", "lost", "error"):
            return CancelAnswer(CancelState.RETRY_LATER, detail="timed out", error_kind="timeout")
        if fault == "garbage":
            return CancelAnswer(CancelState.UNRECOGNISED, detail="not JSON", error_kind="bad_answer")
        if state == MISCONFIGURED:
            return _refused_cancel(state)
        if state == APPROVED and not payment.refuses_cancel:
            return None
        return self._looked_up(payment, state, before_cancel=True)

    def _looked_up(self, payment: Payment, state: str, *, before_cancel: bool) -> CancelAnswer:
        """What a lookup by order id says of a cancel (toss_adapter.before_cancel, confirm_answer)."""
        if state == CANCELLED:  # fully cancelled: confirmed, whoever sent it (an earlier send of ours)
            reference = f"CX-{payment.cancelled_under}" if payment.cancelled_under else None
            return CancelAnswer(CancelState.CONFIRMED, reference=reference, provider_status="CANCELED")
        if state == NOT_FOUND:  # a payment decided on and now not found
            return CancelAnswer(CancelState.UNRECOGNISED, provider_status="NOT_FOUND_PAYMENT", error_kind="bad_answer")
        if before_cancel:  # a deposited virtual account (refuses_cancel), or not a payment to cancel in full
            return CancelAnswer(CancelState.REFUSED, provider_status="DONE" if state == APPROVED else state)
        if state in (APPROVED, UNPAID):  # still charged (or awaiting a deposit): not cancelled
            return CancelAnswer(CancelState.PENDING, provider_status="DONE" if state == APPROVED else state)
        if state == PARTIAL:
            return CancelAnswer(CancelState.REFUSED, provider_status=state)
        return CancelAnswer(CancelState.UNRECOGNISED, error_kind="bad_answer", detail=f"payment {state}")

    def confirm_cancel(self, order: Order, intent: CancelIntent) -> CancelAnswer:
        payment, fault, latency, refusal = self._call(order, "cancel_confirm")
        now = self._scheduler.now
        self._scheduler.pause(latency)
        if fault in ("timeout", "lost", "error"):
            return CancelAnswer(CancelState.RETRY_LATER, detail="timed out", error_kind="timeout")
        if fault == "garbage":
            return CancelAnswer(CancelState.UNRECOGNISED, detail="not JSON", error_kind="bad_answer")
        if refusal == MISCONFIGURED or (refusal and not self.looks_up_first):
            return _refused_cancel(refusal)
        if refusal:  # Toss: a lookup by order id of a payment this account does not hold
            return self._looked_up(payment, NOT_FOUND, before_cancel=False)
        if self.looks_up_first:  # Toss: a lookup by order id, whatever reference the cancel gave
            return self._looked_up(payment, self._seen(payment, now), before_cancel=False)
        if intent.reference:
            if payment.cancelled_under is None or f"CX-{payment.cancelled_under}" != intent.reference:
                return CancelAnswer(CancelState.RETRY_LATER, detail="unknown cancel", error_kind="provider_error")
            settled = payment.cancelled_at is not None and now >= payment.cancelled_at
            return CancelAnswer(CancelState.CONFIRMED if settled else CancelState.PENDING, reference=intent.reference)
        state = payment.state_at(now)
        if state == CANCELLED:
            return CancelAnswer(CancelState.CONFIRMED, provider_status="TS02")
        if state == APPROVED:
            return CancelAnswer(CancelState.PENDING, provider_status="TS01")
        if state == PARTIAL:
            return CancelAnswer(CancelState.REFUSED, provider_status="TS06")
        return CancelAnswer(CancelState.RETRY_LATER, detail=f"payment {state}", error_kind="provider_error")

    def cancel_refs(self, reference: str) -> Mapping[str, str]:
        return {"cancelReference": reference}


def _refused_cancel(refusal: str) -> CancelAnswer:
    """A cancel or confirmation the books would not act on: a refused credential, or (KICC) a
    payment of another account, unknown to this one."""
    if refusal == MISCONFIGURED:
        return CancelAnswer(CancelState.MISCONFIGURED, provider_status=UNAUTHORIZED, error_kind="config")
    return CancelAnswer(CancelState.RETRY_LATER, provider_status="NOT_FOUND", detail="no such payment",
                        error_kind="provider_error")


def _payment_answer(payment: Payment, state: str) -> PaymentAnswer:
    if state == APPROVED:
        return PaymentAnswer(PaymentState.APPROVED, provider_status="TS01", paid=payment.paid)
    return PaymentAnswer({
        UNPAID: PaymentState.IN_PROGRESS,
        NOT_FOUND: PaymentState.NOT_FOUND,
        DECLINED: PaymentState.DECLINED,
        CANCELLED: PaymentState.CANCELLED,
        PARTIAL: PaymentState.PARTIALLY_CANCELLED,
    }[state], provider_status=state)


def matches(order_amount: Decimal, currency: str, paid: ReportedAmount | None) -> bool:
    return paid is not None and paid.amount == order_amount and paid.currency == currency
