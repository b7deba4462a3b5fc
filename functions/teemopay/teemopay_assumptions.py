"""Every TeemoPay behaviour the public documentation does not settle, in one place.

Each name below is an assumption marked [GAP] (or a place where the documentation contradicts
itself), listed in the README's table (Assumptions about the providers).
"""

from __future__ import annotations

from decimal import Decimal

# [GAP TEEMO-CURRENCY] Query answers carry no currency: amounts are in the currency of the
# `country` header. Only Korea is swept.
COUNTRY_CURRENCIES: dict[str, str] = {"KR": "KRW"}

# [GAP TEEMO-CONFIG-CODES] Envelope codes that mean our configuration is wrong, not the
# payment: 414 (bad parameter: TeemoPay also reports a refused signature or a reused nonce
# this way, with `msg` naming it) and 416 (application not found). The documentation gives
# no separate code for a refused signature.
MISCONFIGURATION_CODES = frozenset({414, 416})

# [GAP TEEMO-STATUS] `data.status` is typed String in the table and Integer in every example;
# both spellings are accepted. Status 0 ("accepted, not submitted": Pakistan, and Korea's
# KYC VA 802 at creation) is read as still in progress.
IN_PROGRESS_STATUSES = frozenset({0, 1})
SUCCESS_STATUS = 2
FAILED_STATUS = 3


def status_number(value: object) -> int | None:
    """`data.status` as an int, accepting `2` and `"2"` ([GAP TEEMO-STATUS]); None if neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def sign_value(value: object) -> str:
    """[GAP TEEMO-SIGN-NESTED] How a value is written into the string to sign.

    Strings as they are, integers in plain decimal (`paymentType=801`), exact decimals
    without exponent. Nested objects and lists are refused: the documentation does not say
    how they are serialised, and no payin query field needs them.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return f"{value:f}"
    raise ValueError(f"cannot sign a {type(value).__name__} value: TeemoPay documents flat fields only")


# [GAP TEEMO-RESPONSE-AUTH] Synchronous answers carry no signature; only TLS authenticates
# them. paysweep checks that an answer is about the order it asked for, nothing more.
