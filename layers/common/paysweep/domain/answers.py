"""Normalised provider answers: what an adapter tells the engine, in one vocabulary.

Adapters turn each provider's codes into these types; the decision table works only on
them. Every answer keeps a short, secret-free `detail` for logs and the order history.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import Any, NamedTuple

NO_REFS: Mapping[str, str] = MappingProxyType({})
"""The shared, read-only `refs` of an answer that carries none."""


class PaymentState(StrEnum):
    """The provider's view of a payment, as far as a decision is concerned."""

    IN_PROGRESS = "IN_PROGRESS"
    """Known to the provider, not paid yet."""
    NOT_FOUND = "NOT_FOUND"
    """The provider does not know the order (yet): nothing has been paid."""
    APPROVED = "APPROVED"
    DECLINED = "DECLINED"
    CANCELLED = "CANCELLED"
    """Fully cancelled or voided at the provider."""
    PARTIALLY_CANCELLED = "PARTIALLY_CANCELLED"
    RETRY_LATER = "RETRY_LATER"
    """A transient failure: timeout, 5xx, throttling, an error code. Not a decision."""
    MISCONFIGURED = "MISCONFIGURED"
    """The provider refuses our credentials or parameters: an operator must fix config."""
    UNRECOGNISED = "UNRECOGNISED"
    """An answer that breaks the provider's documentation: never trusted for a decision."""


class CancelState(StrEnum):
    """The provider's view of a cancellation we requested."""

    ACCEPTED = "ACCEPTED"
    """The request was accepted; the result must still be confirmed."""
    CONFIRMED = "CONFIRMED"
    """The payment is cancelled."""
    PENDING = "PENDING"
    """Accepted but not final yet."""
    REFUSED = "REFUSED"
    """The provider says no: a person must look."""
    RETRY_LATER = "RETRY_LATER"
    MISCONFIGURED = "MISCONFIGURED"
    UNRECOGNISED = "UNRECOGNISED"


class ReportedAmount(NamedTuple):
    """An amount as the provider reported it, converted exactly to the major unit.

    `amount` is None when the provider gave none; `currency` is None when it named none.
    Either is a mismatch for an approval, never a pass.
    """

    amount: Decimal | None
    currency: str | None


class PaymentAnswer(NamedTuple):
    """One status query's answer, normalised."""

    state: PaymentState
    provider_status: str | None = None
    """The provider's own status code (`TS01`, `2`), for messages and history."""
    paid: ReportedAmount | None = None
    """What the provider says was paid; required for an approval."""
    expected: ReportedAmount | None = None
    """The provider's echo of the order amount, when it sends one."""
    refs: Mapping[str, str] = NO_REFS
    """Provider references worth publishing, named by the adapter: copied into the outcome's
    `providerRefs` beside the order's own references."""
    detail: str | None = None
    """Short human-readable reason, URL-decoded, free of secrets."""
    error_kind: str | None = None
    """For RETRY_LATER / MISCONFIGURED / UNRECOGNISED: a metric dimension (`http_5xx`)."""
    cancellable: bool = True
    """False when the provider has a cancel API but we cannot refund this payment through it (a
    deposited virtual account: the refund needs the customer's bank account). An integrity failure,
    a refused approval write or a late payment then goes to REVIEW, as for a provider without one."""

    def can_cancel(self, canceller: object) -> bool:
        """Whether the sweep may cancel this payment: a canceller exists and the payment allows it."""
        return canceller is not None and self.cancellable


class CancelAnswer(NamedTuple):
    """One cancel request's or cancel confirmation's answer, normalised."""

    state: CancelState
    reference: str | None = None
    """The provider's id of the cancellation, kept in the cancel intent; the canceller names it
    for the outcome (`Canceller.cancel_refs`)."""
    provider_status: str | None = None
    detail: str | None = None
    error_kind: str | None = None


class CancelIntent(NamedTuple):
    """A cancellation we decided on, recorded before the provider is called.

    The idempotency `key` and `request_date` never change across retries: a provider may require
    the same key and the initial request date when a cancel is sent again after a timeout.
    """

    key: str
    request_date: str
    reason: str
    requested_at: str
    deadline: str
    reference: str | None = None
    sends: int = 0
    confirms: int = 0
    """Confirmation queries so far: with `sends`, it paces the cancel's own backoff."""
    reported_amount: str | None = None
    """What the provider reported as paid when the cancel was decided (for the message)."""
    reported_currency: str | None = None
    supersedes: str | None = None
    """For the cancel of a late payment: the eventId of the decision it corrects."""

    def reported(self) -> ReportedAmount | None:
        if self.reported_amount is None:
            return None
        return ReportedAmount(Decimal(self.reported_amount), self.reported_currency)

    def to_item(self) -> dict[str, object]:
        item: dict[str, object] = {
            "key": self.key,
            "requestDate": self.request_date,
            "reason": self.reason,
            "requestedAt": self.requested_at,
            "deadline": self.deadline,
            "sends": self.sends,
            "confirms": self.confirms,
        }
        if self.reference:
            item["reference"] = self.reference
        if self.reported_amount is not None:
            item["reportedAmount"] = self.reported_amount
            item["reportedCurrency"] = self.reported_currency
        if self.supersedes is not None:
            item["supersedes"] = self.supersedes
        return item

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> CancelIntent:
        return cls(
            key=str(item["key"]),
            request_date=str(item["requestDate"]),
            reason=str(item["reason"]),
            requested_at=str(item["requestedAt"]),
            deadline=str(item["deadline"]),
            reference=str(item["reference"]) if item.get("reference") else None,
            sends=int(item.get("sends", 0)),
            confirms=int(item.get("confirms", 0)),
            reported_amount=str(item["reportedAmount"]) if item.get("reportedAmount") is not None else None,
            reported_currency=str(item["reportedCurrency"]) if item.get("reportedCurrency") else None,
            supersedes=str(item["supersedes"]) if item.get("supersedes") else None,
        )
