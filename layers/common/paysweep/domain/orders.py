"""Orders as the contract defines them (CONTRACT.md section 2): parsing and validation.

Two users: the sweep, which turns a claimed order into an `Order` (or a clear `InvalidOrder`
that ends in REVIEW), and the order writer, which builds a valid new item. Both apply the same
rules. The contract's common rules hold for every order; a provider's own rules (its order id
length, currencies and the references its calls need) come from its `ProviderProfile`, which
the sweep always has (its adapter's) and the writer has when its caller gives it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, NamedTuple

from paysweep.domain.answers import CancelIntent, ReportedAmount
from paysweep.domain.clock import parse_iso, to_iso
from paysweep.domain.money import CURRENCY_EXPONENTS, AmountError, fits_currency, to_decimal
from paysweep.domain.providers import REF_MAX_LENGTH, ProviderProfile

# Amounts beyond this are certainly a writer's bug (a minor-unit value in a major-unit field).
MAX_AMOUNT = Decimal(1000000000000)
MAX_ORDER_ID_LENGTH = 40
"""The contract's longest order id, whatever the provider (a provider may allow fewer)."""
_ORDER_ID = re.compile(r"[A-Za-z0-9_\-.]+")
_PRINTABLE_REF = re.compile(r"[\x21-\x7e]+")
_PROVIDER_ID = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_REF_NAME = re.compile(r"[a-z][A-Za-z0-9]{0,39}")
_MERCHANT_ID = re.compile(r"[A-Za-z0-9_\-.]{1,32}")

RESERVED_ATTRIBUTES = frozenset({
    # the writer's (CONTRACT.md section 2)
    "orderId", "provider", "status", "amount", "currency", "createdAt", "expiresAt", "sweepKey", "nextCheckAt",
    "merchantId",
    # the sweeper's (`paysweep.domain.item`; a unit test keeps the two lists together)
    "attempts", "generation", "leaseOwner", "leaseUntil", "lastCheck", "history", "outcome", "cancel",
    "auditKey", "auditAt", "updatedAt",
})
"""Names an order reference can never have: every other top-level attribute is the contract's."""


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
    merchant_id: str | None = None
    """The merchant account the order was paid to (`merchantId`); None: the provider's default."""


def shard_of(order_id: str, shards: int) -> int:
    """Stable shard of an order: the same on every machine and in every language.

    SHA-256 rather than Python's `hash()`, which is salted per process.
    """
    digest = hashlib.sha256(order_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % shards


def sweep_key(provider: str, shard: int) -> str:
    return f"{shard_prefix(provider)}{shard}"


def shard_prefix(provider: str) -> str:
    """What every sweep key of the provider starts with."""
    return f"{provider}#"


def valid_provider_id(value: object) -> bool:
    """The contract's form of a provider id: it names a function and a due-index shard."""
    return isinstance(value, str) and bool(_PROVIDER_ID.fullmatch(value))


def _check_provider(value: object, profile: ProviderProfile | None, problems: list[str]) -> str:
    if profile is not None:
        if value != profile.provider_id:
            problems.append(f"provider must be one of {[profile.provider_id]}, got {value!r}")
        return profile.provider_id
    if not valid_provider_id(value):
        problems.append(f"provider must be a provider id (lower-case letters and digits, '-' between), got {value!r}")
    return str(value)


def order_id_problems(value: object) -> list[str]:
    """What makes `value` not an order id by the contract's rule (CONTRACT.md section 2)."""
    problems: list[str] = []
    _check_order_id(value, None, problems)
    return problems


def _check_order_id(value: object, profile: ProviderProfile | None, problems: list[str]) -> str:
    if not isinstance(value, str) or not value:
        problems.append("orderId must be a non-empty string")
        return str(value) if value is not None else ""
    limit = profile.max_order_id_length if profile else MAX_ORDER_ID_LENGTH
    if len(value) > limit:
        who = "the provider" if profile else "the contract"
        problems.append(f"orderId is {len(value)} chars, {who} allows at most {limit}")
    if not _ORDER_ID.fullmatch(value):
        problems.append("orderId may only hold ASCII letters, digits and - _ .")
    elif profile and profile.order_id_rule and not re.fullmatch(profile.order_id_rule, value):
        problems.append(f"orderId does not match {profile.provider_id}'s rule {profile.order_id_rule}")
    return value


def _check_amount(
    item: Mapping[str, Any], profile: ProviderProfile | None, problems: list[str]
) -> tuple[Decimal, str]:
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


def _check_refs(
    item: Mapping[str, Any], names: tuple[str, ...], profile: ProviderProfile | None, problems: list[str]
) -> dict[str, str]:
    """The order's references: every name in `names` present, each 1..`ref_max_length`
    printable ASCII characters."""
    longest = profile.ref_max_length if profile else REF_MAX_LENGTH
    refs: dict[str, str] = {}
    for name in names:
        value = item.get(name)
        if not isinstance(value, str) or not value:
            problems.append(f"{name} is required for {profile.provider_id if profile else item.get('provider')}")
        elif len(value) > longest or not _PRINTABLE_REF.fullmatch(value):
            problems.append(f"{name} must be 1..{longest} printable ASCII chars")
        else:
            refs[name] = value
    return refs


def _check_time(item: Mapping[str, Any], name: str, problems: list[str], required: bool) -> datetime | None:
    value = item.get(name)
    if value is None and not required:
        return None
    try:
        return parse_iso(value)
    except ValueError as error:
        problems.append(f"{name}: {error}")
        return None


def _sweeper_counter(item: Mapping[str, Any], name: str, problems: list[str]) -> int:
    value = item.get(name, 0)
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)) or value != int(value) or value < 0:
        problems.append(f"{name} must be a whole number >= 0, got {value!r}")
        return 0
    return int(value)


class _Checked(NamedTuple):
    """An item read by the contract's rules, with every problem found."""

    order_id: str
    provider: str
    amount: Decimal
    currency: str
    refs: dict[str, str]
    created_at: datetime | None
    expires_at: datetime | None
    merchant_id: str | None
    problems: list[str]


def _check(item: Mapping[str, Any], profile: ProviderProfile | None, ref_names: tuple[str, ...]) -> _Checked:
    """Every rule of the contract (and of the provider, with its profile) at once, so one log
    line tells the writer all that must change."""
    problems: list[str] = []
    provider = _check_provider(item.get("provider"), profile, problems)
    order_id = _check_order_id(item.get("orderId"), profile, problems)
    amount, currency = _check_amount(item, profile, problems)
    refs = _check_refs(item, ref_names, profile, problems)
    created_at = _check_time(item, "createdAt", problems, required=True)
    expires_at = _check_time(item, "expiresAt", problems, required=False)
    merchant_id = _check_merchant_id(item.get("merchantId"), problems)
    return _Checked(order_id, provider, amount, currency, refs, created_at, expires_at, merchant_id, problems)


def valid_merchant_id(value: object) -> bool:
    """A merchant account's id (CONTRACT.md section 2): 1..32 ASCII letters, digits, `-`, `_`, `.`."""
    return isinstance(value, str) and bool(_MERCHANT_ID.fullmatch(value))


def _check_merchant_id(value: object, problems: list[str]) -> str | None:
    if value is None:
        return None
    if not valid_merchant_id(value):
        problems.append(f"merchantId must be 1..32 ASCII letters, digits and - _ ., got {value!r}")
        return None
    return str(value)


def parse_order(item: Mapping[str, Any], profile: ProviderProfile, default_window: timedelta | None = None) -> Order:
    """Validate an order item (deserialised) against the contract and the sweeping provider's
    profile, and return the `Order` it describes.

    Raises `InvalidOrder` listing every problem at once.
    """
    checked = _check(item, profile, profile.required_refs)
    problems = checked.problems
    try:
        status = OrderStatus(str(item.get("status")))
    except ValueError:
        problems.append(f"status must be one of {[s.value for s in OrderStatus]}, got {item.get('status')!r}")
        status = OrderStatus.PENDING
    attempts, generation = _sweeper_counter(item, "attempts", problems), _sweeper_counter(item, "generation", problems)
    if problems or checked.created_at is None:  # a missing createdAt is a problem already
        raise InvalidOrder(checked.order_id, problems)
    cancel = item.get("cancel")
    return Order(
        order_id=checked.order_id,
        provider=profile.provider_id,
        status=status,
        amount=checked.amount,
        currency=checked.currency,
        created_at=checked.created_at,
        expires_at=checked.expires_at or checked.created_at + (default_window or profile.default_window),
        refs=checked.refs,
        sweep_key=str(item.get("sweepKey", "")),
        attempts=attempts,
        generation=generation,
        cancel=CancelIntent.from_item(cancel) if isinstance(cancel, dict) else None,
        history=tuple(item.get("history", ()) or ()),
        merchant_id=checked.merchant_id,
    )


def requested_amount(item: Mapping[str, Any]) -> ReportedAmount | None:
    """The amount and currency as written, when they make a valid amount: what a REVIEW
    `INVALID_ORDER` message reports of an order that breaks the contract."""
    amount, currency = item.get("amount"), item.get("currency")
    if isinstance(amount, Decimal) and isinstance(currency, str) and amount > 0 and fits_currency(amount, currency):
        return ReportedAmount(amount, currency)
    return None


def _ref_name_problems(refs: Mapping[str, str]) -> list[str]:
    return [
        f"reference name {name!r} must be a camelCase attribute name that is not the contract's"
        for name in refs
        if not isinstance(name, str) or not _REF_NAME.fullmatch(name) or name in RESERVED_ATTRIBUTES
    ]


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
    refs: Mapping[str, str] | None = None,
    profile: ProviderProfile | None = None,
    merchant_id: str | None = None,
) -> dict[str, Any]:
    """Build a valid pending-order item, computing `sweepKey` and `nextCheckAt`.

    Checked: the contract's common rules always (the order id's form and at most 40 chars, a
    provider id, an exact positive amount the currency can hold, a known currency, each
    reference 1..60 printable ASCII under a name that is not the contract's, `expiresAt` after
    `createdAt`); with the provider's `profile`, its own rules too (its id, order id length,
    currencies and required references). `merchant_id` names the merchant account the order
    was paid to (absent: the provider's default account). Raises `InvalidOrder` (nothing is
    built) listing every problem.
    """
    if shards < 1:
        raise ValueError("shards must be at least 1 (the stack's SweepShards parameter)")
    given = dict(refs or {})
    item: dict[str, Any] = {
        "orderId": order_id,
        "provider": provider,
        "status": OrderStatus.PENDING.value,
        "amount": to_decimal(amount) if isinstance(amount, str) else amount,
        "currency": currency,
        "createdAt": to_iso(created_at),
    }
    if merchant_id is not None:
        item["merchantId"] = merchant_id
    problems = _ref_name_problems(given)
    item.update({name: value for name, value in given.items() if name not in RESERVED_ATTRIBUTES})
    if expires_at is not None:
        item["expiresAt"] = to_iso(expires_at)
        if expires_at <= created_at:
            problems.append("expiresAt must be after createdAt")
    names = tuple(dict.fromkeys((*given, *(profile.required_refs if profile else ()))))
    checked = _check(item, profile, names)
    if problems or checked.problems:
        raise InvalidOrder(order_id, checked.problems + problems)
    item["amount"] = checked.amount
    item["sweepKey"] = sweep_key(provider, shard_of(order_id, shards))
    item["nextCheckAt"] = to_iso(created_at + first_check_after)
    return item
