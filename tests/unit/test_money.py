from decimal import Decimal

import pytest
from paysweep.domain.money import (
    AmountError,
    fits_currency,
    format_amount,
    from_minor_units,
    parse_decimal_text,
    to_decimal,
)


@pytest.mark.parametrize("text, expected", [("1000", Decimal(1000)), ("1000.00", Decimal("1000.00")), ("0.5", Decimal("0.5"))])
def test_plain_decimal_text_parses_exactly(text, expected):
    assert parse_decimal_text(text) == expected


@pytest.mark.parametrize("text", ["", "-1", "+1", "1e3", "1,000", " 1000", "1000.", ".5", "NaN", "Infinity", "１０００", "1000\n"])
def test_decimal_text_refuses_anything_but_plain_digits(text):
    with pytest.raises(AmountError):
        parse_decimal_text(text)


def test_decimal_text_refuses_non_strings():
    with pytest.raises(AmountError):
        parse_decimal_text(1000)  # type: ignore[arg-type]


def test_floats_are_refused_before_any_rounding_happens():
    with pytest.raises(AmountError, match="exact"):
        to_decimal(12.03)
    with pytest.raises(AmountError):
        to_decimal(True)


@pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("Infinity"), "NaN", "abc"])
def test_non_finite_or_non_numeric_amounts_are_refused(value):
    with pytest.raises(AmountError):
        to_decimal(value)


def test_ints_strings_and_decimals_become_exact_decimals():
    assert to_decimal(1000) == Decimal(1000)
    assert to_decimal("12.03") == Decimal("12.03")
    assert to_decimal(Decimal("12.030")) == Decimal("12.03")


@pytest.mark.parametrize(
    "amount, currency, fits",
    [
        (Decimal(1000), "KRW", True),
        (Decimal("1000.00"), "KRW", True),
        (Decimal("1000.5"), "KRW", False),
        (Decimal("12.03"), "USD", True),
        (Decimal("12.035"), "USD", False),
        (Decimal(1), "EUR", False),
        (Decimal("1E+40"), "KRW", False),
    ],
)
def test_fits_currency_knows_each_currencys_minor_unit(amount, currency, fits):
    assert fits_currency(amount, currency) is fits


def test_format_uses_the_currency_precision_and_keeps_unexpected_fractions():
    assert format_amount(Decimal("1000.00"), "KRW") == "1000"
    assert format_amount(Decimal("12.3"), "USD") == "12.30"
    assert format_amount(Decimal("1000.50"), "KRW") == "1000.50"
    assert format_amount(Decimal("1E+3"), "KRW") == "1000"
    assert format_amount(Decimal(7), None) == "7"


def test_minor_units_convert_to_the_major_unit_exactly():
    assert from_minor_units(1203, 2) == Decimal("12.03")
    assert from_minor_units(1000, 0) == Decimal(1000)
