"""Outcome messages: the public contract subscribers read (CONTRACT.md section 3).

A message is built once, at the terminal transition, stored with the order (the outbox)
and published from that stored text, so a re-publish is byte-for-byte the same message
under the same `eventId`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, NamedTuple

from paysweep.domain.answers import ReportedAmount
from paysweep.domain.money import format_amount

SCHEMA_ID = "paysweep.outcome/v1"


class Outcome(StrEnum):
    APPROVED = "APPROVED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    REVIEW = "REVIEW"


class Reason(StrEnum):
    AMOUNT_MISMATCH = "AMOUNT_MISMATCH"
    CURRENCY_MISMATCH = "CURRENCY_MISMATCH"
    DB_UPDATE_FAILED = "DB_UPDATE_FAILED"
    EXPIRED = "EXPIRED"
    PROVIDER_DECLINED = "PROVIDER_DECLINED"
    PROVIDER_CANCELLED = "PROVIDER_CANCELLED"
    PARTIAL_CANCEL = "PARTIAL_CANCEL"
    CANCEL_REFUSED = "CANCEL_REFUSED"
    INVALID_ORDER = "INVALID_ORDER"
    UNKNOWN_PROVIDER_STATE = "UNKNOWN_PROVIDER_STATE"
    LATE_PAYMENT = "LATE_PAYMENT"
    """Paid at the provider after the order was decided FAILED (or while it was in REVIEW
    UNKNOWN_PROVIDER_STATE): a correction, with `supersedes`."""


def event_id(order_id: str, outcome: Outcome, generation: int = 0) -> str:
    """Stable id of one terminal transition of one order.

    `ORD-1001:APPROVED` for the order's first life; an operator re-drive of a terminal
    order starts generation 1, whose transition is `ORD-1001:APPROVED:1`, so subscribers
    that de-duplicate on `eventId` still see it.
    """
    base = f"{order_id}:{outcome.value}"
    return base if generation == 0 else f"{base}:{generation}"


class OutcomeMessage(NamedTuple):
    """One outcome, ready to publish."""

    event_id: str
    order_id: str
    provider: str
    outcome: Outcome
    reason: Reason | None
    body: str
    """The exact JSON text published; stored in the outbox and re-published verbatim."""
    merchant_id: str | None = None
    """The order's merchant account, when it named one (`merchantId`)."""

    def attributes(self) -> dict[str, str]:
        """The message attributes (all strings), so subscribers can filter without parsing
        bodies: `provider`, `outcome`, `reason` when there is one, `merchantId` when the order
        named its account (a seller's subscription filters on it)."""
        attributes = {"provider": self.provider, "outcome": self.outcome.value}
        if self.reason is not None:
            attributes["reason"] = self.reason.value
        if self.merchant_id is not None:
            attributes["merchantId"] = self.merchant_id
        return attributes

    def to_item(self) -> dict[str, str]:
        item = {
            "eventId": self.event_id,
            "orderId": self.order_id,
            "provider": self.provider,
            "outcome": self.outcome.value,
            "body": self.body,
        }
        if self.reason is not None:
            item["reason"] = self.reason.value
        if self.merchant_id is not None:
            item["merchantId"] = self.merchant_id
        return item

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> OutcomeMessage:
        reason = item.get("reason")
        return cls(
            event_id=str(item["eventId"]),
            order_id=str(item["orderId"]),
            provider=str(item["provider"]),
            outcome=Outcome(str(item["outcome"])),
            reason=Reason(str(reason)) if reason else None,
            body=str(item["body"]),
            merchant_id=str(item["merchantId"]) if item.get("merchantId") else None,
        )


def _amount_json(amount: ReportedAmount | None) -> dict[str, str | None] | None:
    if amount is None or amount.amount is None:
        return None
    return {"amount": format_amount(amount.amount, amount.currency), "currency": amount.currency}


def build_message(
    *,
    order_id: str,
    provider: str,
    outcome: Outcome,
    reason: Reason | None,
    requested: ReportedAmount | None,
    reported: ReportedAmount | None,
    provider_status: str | None,
    provider_refs: dict[str, str],
    occurred_at: str,
    attempts: int,
    generation: int = 0,
    supersedes: str | None = None,
    merchant_id: str | None = None,
) -> OutcomeMessage:
    """Build the message of one terminal transition (CONTRACT.md section 3).

    A correction (an audit found the provider's books changed after the decision) names the
    `eventId` it corrects in `supersedes`; an order that named its merchant account carries it in
    `merchantId`; each field is absent otherwise, so every other message is what it always was."""
    eid = event_id(order_id, outcome, generation)
    document: dict[str, object] = {
        "schema": SCHEMA_ID,
        "eventId": eid,
        "orderId": order_id,
        "provider": provider,
        **({"merchantId": merchant_id} if merchant_id is not None else {}),
        "outcome": outcome.value,
        "reason": reason.value if reason else None,
        "requested": _amount_json(requested),
        "reported": _amount_json(reported),
        "providerStatus": provider_status,
        "providerRefs": dict(sorted(provider_refs.items())),
        "occurredAt": occurred_at,
        "attempts": attempts,
    }
    if supersedes is not None:
        document["supersedes"] = supersedes
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    return OutcomeMessage(eid, order_id, provider, outcome, reason, body, merchant_id)


# -- the order's record of its outcome ----------------------------------------------------

RECORD_FIELDS = ("provider", "requested", "reported", "providerStatus", "providerRefs", "attempts")
"""What the order keeps of its message beyond `outcome`, `reason`, `eventId`, `occurredAt`:
once the outbox marker is cleared, these let `paysweep republish` rebuild the same body."""


class IncompleteRecord(Exception):
    """The order's outcome record cannot rebuild its message exactly (recorded before the
    record kept every field, or altered by hand)."""


def outcome_record(message: OutcomeMessage) -> dict[str, object]:
    """The `outcome` attribute of a terminal order: the transition and the message's inputs.

    Taken from the published body itself, so what is recorded is what subscribers received.
    """
    document = json.loads(message.body)
    return {
        "outcome": message.outcome.value,
        "reason": message.reason.value if message.reason else None,
        "eventId": message.event_id,
        "occurredAt": document["occurredAt"],
        **{name: document[name] for name in RECORD_FIELDS},
        **({"supersedes": document["supersedes"]} if "supersedes" in document else {}),
    }


def _recorded_amount(value: object, name: str) -> ReportedAmount | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or not isinstance(value.get("amount"), str):
        raise IncompleteRecord(f"{name} is not an amount record: {value!r}")
    try:
        amount = Decimal(value["amount"])
    except InvalidOperation:
        raise IncompleteRecord(f"{name} amount is not a decimal: {value['amount']!r}") from None
    currency = value.get("currency")
    return ReportedAmount(amount, str(currency) if currency is not None else None)


def message_from_record(
    order_id: str, generation: int, record: Mapping[str, Any], merchant_id: str | None = None
) -> OutcomeMessage:
    """Rebuild a terminal order's message from its `outcome` record, with the same builder; the
    merchant account is the order's own attribute (written once, by the order's writer).

    `format_amount` gives back the recorded text for the amounts it formatted, and the
    builder is deterministic, so the body is the one that was published. Raises
    `IncompleteRecord` when a field is missing or the rebuilt `eventId` differs.
    """
    missing = [name for name in (*RECORD_FIELDS, "outcome", "eventId", "occurredAt") if name not in record]
    if missing:
        raise IncompleteRecord(f"the outcome record lacks {', '.join(missing)}")
    try:
        outcome = Outcome(str(record["outcome"]))
        reason = Reason(str(record["reason"])) if record.get("reason") else None
        refs = record["providerRefs"]
        status = record["providerStatus"]
        if not isinstance(refs, Mapping):
            raise IncompleteRecord(f"providerRefs is not a map: {refs!r}")
        message = build_message(
            order_id=order_id,
            provider=str(record["provider"]),
            outcome=outcome,
            reason=reason,
            requested=_recorded_amount(record["requested"], "requested"),
            reported=_recorded_amount(record["reported"], "reported"),
            provider_status=str(status) if status is not None else None,
            provider_refs={str(k): str(v) for k, v in refs.items()},
            occurred_at=str(record["occurredAt"]),
            attempts=int(record["attempts"]),
            generation=generation,
            supersedes=str(record["supersedes"]) if record.get("supersedes") else None,
            merchant_id=merchant_id,
        )
    except (ValueError, TypeError) as error:
        raise IncompleteRecord(f"the outcome record is not usable: {error}") from None
    if message.event_id != record["eventId"]:
        recorded = record["eventId"]
        raise IncompleteRecord(f"rebuilt eventId {message.event_id} differs from the recorded {recorded}")
    return message
