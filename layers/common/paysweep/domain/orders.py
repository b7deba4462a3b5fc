"""Orders as the contract defines them (CONTRACT.md section 2): parsing and validation.

Two users: the sweep, which turns a claimed DynamoDB item into an `Order` (or a clear
`InvalidOrder` that ends in REVIEW), and the order writer, which builds a valid new item.
Both apply the same rules, so an order the writer accepts is one the sweep can check.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, NamedTuple

from paysweep.domain.answers import CancelIntent
from paysweep.domain.clock import parse_iso, to_iso
from paysweep.domain.money import CURRENCY_EXPONENTS, AmountError, fits_currency, to_decimal
from paysweep.domain.providers import PROFILES, ProviderProfile

# Amounts beyond this are certainly a writer's bug (a minor-unit value in a major-unit field).
MAX_AMOUNT = Decimal(1000000000000)
_ORDER_ID = re.compile(r"[A-Za-z0-9_\-.]+")
_PRINTABLE_REF = re.compile(r"[\x21-\x7e]+")


class OrderStatus(StrEnum):
    PENDING = "PENDING"
    CANCELLING = "CANCELLING"
    APPROVED = "APPROVED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    REVIEW = "REVIEW"


ACTIVE_STATUSES = frozenset({OrderStatus.PENDING, OrderStatus.CANCELLING})
"""Statuses of an order still being swept (in the due index). Members are `str`s too, so
`item["status"] in ACTIVE_STATUSES` works on raw items."""
TERMINAL_STATUSES = frozenset({OrderStatus.APPROVED, OrderStatus.FAILED, OrderStatus.CANCELLED, OrderStatus.REVIEW})


class InvalidOrder(ValueError):
    """An order item that breaks the contract; `problems` says every way it does."""

    def __init__(self, order_id: str, problems: list[str]) -> None:
        self.order_id = order_id
        self.problems = problems
        super().__init__(f"order {order_id!r} is invalid: " + "; ".join(problems))


class Order(NamedTuple):
    """A validated order, as the sweep sees it after claiming it."""

    order_id: str
    provider: str
    status: OrderStatus
    amount: Decimal
    currency: str
    created_at: datetime
    expires_at: datetime
    refs: dict[str, str]
    sweep_key: str
    attempts: int = 0
    generation: int = 0
    cancel: CancelIntent | None = None
    history: tuple[str, ...] = ()

    @property
    def pg_cno(self) -> str | None:
        return self.refs.get("pgCno")


def shard_of(order_id: str, shards: int) -> int:
    """Stable shard of an order: the same on every machine and in every language.

    SHA-256 rather than Python's `hash()`, which is salted per process.
    """
    digest = hashlib.sha256(order_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % shards


def sweep_key(provider: str, shard: int) -> str:
    return f"{provider}#{shard}"


def _check_order_id(value: object, profile: ProviderProfile | None, problems: list[str]) -> str:
    if not isinstance(value, str) or not value:
        problems.append("orderId must be a non-empty string")
        return str(value) if value is not None else ""
    limit = profile.max_order_id_length if profile else 40
    if len(value) > limit:
        problems.append(f"orderId is {len(value)} chars, the provider allows at most {limit}")
    if not _ORDER_ID.fullmatch(value):
        problems.append("orderId may only hold ASCII letters, digits and - _ .")
    return value


def _check_amount(item: dict[str, Any], profile: ProviderProfile | None, problems: list[str]) -> tuple[Decimal, str]:
    currency = item.get("currency")
    if not isinstance(currency, str) or currency not in CURRENCY_EXPONENTS:
        problems.append(f"currency must be one of {sorted(CURRENCY_EXPONENTS)}, got {currency!r}")
        currency = ""
    elif profile and currency not in profile.currencies:
        problems.append(f"currency {currency} is not offered by {profile.provider_id}")
    raw = item.get("amount")
    if isinstance(raw, str):
        problems.append(f"amount must be a number (DynamoDB N), got the string {raw!r}")
        return Decimal(0), currency
    try:
        amount = to_decimal(raw)
    except AmountError as error:
        problems.append(f"amount: {error}")
        return Decimal(0), currency
    if amount <= 0:
        problems.append(f"amount must be positive, got {amount}")
    elif amount > MAX_AMOUNT:
        problems.append(f"amount {amount} is implausibly large")
    elif currency and not fits_currency(amount, currency):
        problems.append(f"amount {amount} has more decimals than {currency} allows")
    return amount, currency


def _check_refs(item: dict[str, Any], profile: ProviderProfile | None, problems: list[str]) -> dict[str, str]:
    refs: dict[str, str] = {}
    for name in profile.required_refs if profile else ():
        value = item.get(name)
        if not isinstance(value, str) or not value:
            problems.append(f"{name} is required for {profile.provider_id if profile else '?'}")
        elif len(value) > (profile.ref_max_length if profile else 60) or not _PRINTABLE_REF.fullmatch(value):
            problems.append(f"{name} must be 1..{profile.ref_max_length if profile else 60} printable ASCII chars")
        else:
            refs[name] = value
    return refs


def _check_time(item: dict[str, Any], name: str, problems: list[str], required: bool) -> datetime | None:
    value = item.get(name)
    if value is None and not required:
        return None
    try:
        return parse_iso(value)
    except ValueError as error:
        problems.append(f"{name}: {error}")
        return None


def _sweeper_counter(item: dict[str, Any], name: str, problems: list[str]) -> int:
    value = item.get(name, 0)
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)) or value != int(value) or value < 0:
        problems.append(f"{name} must be a whole number >= 0, got {value!r}")
        return 0
    return int(value)


def parse_order(item: dict[str, Any], default_window: timedelta | None = None) -> Order:
    """Validate a DynamoDB item (deserialised) and return the `Order` it describes.

    Raises `InvalidOrder` listing every problem at once, so one log line tells the writer
    all that must change.
    """
    problems: list[str] = []
    provider = item.get("provider")
    profile = PROFILES.get(provider) if isinstance(provider, str) else None
    if profile is None:
        problems.append(f"provider must be one of {sorted(PROFILES)}, got {provider!r}")
    order_id = _check_order_id(item.get("orderId"), profile, problems)
    amount, currency = _check_amount(item, profile, problems)
    refs = _check_refs(item, profile, problems)
    created_at = _check_time(item, "createdAt", problems, required=True)
    expires_at = _check_time(item, "expiresAt", problems, required=False)
    try:
        status = OrderStatus(str(item.get("status")))
    except ValueError:
        problems.append(f"status must be one of {[s.value for s in OrderStatus]}, got {item.get('status')!r}")
        status = OrderStatus.PENDING
    attempts, generation = _sweeper_counter(item, "attempts", problems), _sweeper_counter(item, "generation", problems)
    if problems:
        raise InvalidOrder(order_id, problems)
    if profile is None or created_at is None:  # already a problem above; this only narrows the types
        raise InvalidOrder(order_id, problems or ["provider and createdAt are required"])
    window = default_window or profile.default_window
    cancel = item.get("cancel")
    return Order(
        order_id=order_id,
        provider=profile.provider_id,
        status=status,
        amount=amount,
        currency=currency,
        created_at=created_at,
        expires_at=expires_at or created_at + window,
        refs=refs,
        sweep_key=str(item.get("sweepKey", "")),
        attempts=attempts,
        generation=generation,
        cancel=CancelIntent.from_item(cancel) if isinstance(cancel, dict) else None,
        history=tuple(item.get("history", ()) or ()),
    )


def new_order_item(
    *,
    order_id: str,
    provider: str,
    amount: Decimal | int | str,
    currency: str,
    shards: int,
    created_at: datetime,
    first_check_after: timedelta = timedelta(minutes=1),
    expires_at: datetime | None = None,
    pg_cno: str | None = None,
) -> dict[str, Any]:
    """Build a valid pending-order item, computing `sweepKey` and `nextCheckAt`.

    Raises `InvalidOrder` (nothing is built) when the order breaks the contract.
    """
    if shards < 1:
        raise ValueError("shards must be at least 1 (the stack's SweepShards parameter)")
    item: dict[str, Any] = {
        "orderId": order_id,
        "provider": provider,
        "status": OrderStatus.PENDING.value,
        "amount": to_decimal(amount) if isinstance(amount, str) else amount,
        "currency": currency,
        "createdAt": to_iso(created_at),
    }
    if pg_cno is not None:
        item["pgCno"] = pg_cno
    if expires_at is not None:
        item["expiresAt"] = to_iso(expires_at)
    order = parse_order(item)  # raises InvalidOrder
    if expires_at is not None and expires_at <= created_at:
        raise InvalidOrder(order_id, ["expiresAt must be after createdAt"])
    item["amount"] = order.amount
    item["sweepKey"] = sweep_key(provider, shard_of(order_id, shards))
    item["nextCheckAt"] = to_iso(created_at + first_check_after)
    return item
