"""Exact money: `Decimal` amounts in the currency's major unit, never floats.

Orders store the requested amount in the major unit (KRW 1000, USD 12.03). Providers
report in their own shapes (integer minor units, decimal strings); the adapters convert into `Money`, and the engine compares `Money` exactly.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import NamedTuple

# ISO 4217 minor-unit exponents of the currencies the product accepts on orders.
CURRENCY_EXPONENTS: dict[str, int] = {"KRW": 0, "USD": 2}

_DECIMAL_TEXT = re.compile(r"[0-9]+(\.[0-9]+)?")


class AmountError(ValueError):
    """An amount that is not an exact, finite, well-formed number."""


class Money(NamedTuple):
    """An exact amount in a currency's major unit."""

    amount: Decimal
    currency: str

    def __str__(self) -> str:
        return f"{format_amount(self.amount, self.currency)} {self.currency}"


def parse_decimal_text(text: str) -> Decimal:
    """Parse a plain decimal string such as `"1000"` or `"1000.00"` exactly.

    Signs, exponents, spaces, `NaN` and `Infinity` are refused: providers document plain
    digits, and anything else is a provider answer we do not trust.
    """
    if not isinstance(text, str) or not _DECIMAL_TEXT.fullmatch(text):
        raise AmountError(f"not a plain decimal amount: {text!r}")
    return Decimal(text)


def to_decimal(value: object) -> Decimal:
    """Convert an order attribute (DynamoDB `N` arrives as `Decimal`) into an exact `Decimal`.

    Floats are refused outright: by the time a float exists, the cents may already be wrong.
    """
    if isinstance(value, (bool, float)):
        raise AmountError(f"amount must be exact, got {type(value).__name__} {value!r}")
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, str):
        try:
            amount = Decimal(value)
        except InvalidOperation as error:
            raise AmountError(f"not a number: {value!r}") from error
    else:
        raise AmountError(f"amount must be a number, got {type(value).__name__}")
    if not amount.is_finite():
        raise AmountError(f"amount must be finite, got {value!r}")
    return amount


def fits_currency(amount: Decimal, currency: str) -> bool:
    """True when `amount` has no more decimal places than `currency` allows."""
    exponent = CURRENCY_EXPONENTS.get(currency)
    if exponent is None:
        return False
    try:
        return amount == amount.quantize(Decimal(1).scaleb(-exponent))
    except InvalidOperation:  # more digits than the decimal context holds
        return False


def format_amount(amount: Decimal, currency: str | None) -> str:
    """Text form for messages: the currency's own precision when it fits, else exact.

    `Decimal("1000.00")` in KRW reads `"1000"`; a fractional KRW amount reported by a
    provider keeps its fraction (`"1000.50"`) so a person can see what was wrong.
    """
    exponent = CURRENCY_EXPONENTS.get(currency or "")
    if exponent is not None and fits_currency(amount, currency or ""):
        return f"{amount.quantize(Decimal(1).scaleb(-exponent)):f}"
    return f"{amount:f}"


def from_minor_units(units: int | Decimal, exponent: int) -> Decimal:
    """Major-unit amount of an integer count of minor units (1203 cents -> 12.03)."""
    return Decimal(units).scaleb(-exponent)
