"""Every KICC behaviour the public documentation does not settle, in one place.

Each name below is an assumption marked [GAP], listed in the README's table (Assumptions about
the providers).
When KICC confirms or contradicts one, this module is the only code that changes.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from decimal import Decimal

from paysweep.domain.clock import KST
from paysweep.domain.money import from_minor_units

# [GAP KICC-AMOUNT] `amountInfo.totAmount` in /find answers uses the same minor units as the
# create request: KRW in whole won, USD x100 (cents). No source states it for responses.
RESPONSE_AMOUNT_EXPONENTS: dict[str, int] = {"KRW": 0, "USD": 2}


def reported_major_amount(tot_amount: Decimal, currency: str) -> Decimal:
    """Major-unit amount of a /find `totAmount` ([GAP KICC-AMOUNT]).

    An unknown currency keeps the raw number: it will not match the order anyway.
    """
    return from_minor_units(tot_amount, RESPONSE_AMOUNT_EXPONENTS.get(currency, 0))


def is_unpaid_answer(status_cd: object) -> bool:
    """[GAP KICC-UNPAID] A payment not paid yet answers `resCd` "0000" without a `statusCd`.

    KICC documents no "pending" status and no code for "not paid yet". A `resCd` other
    than "0000" is never read as unpaid: it is an error to retry (and, if it persists to
    the order's expiry, REVIEW rather than FAILED).
    """
    return status_cd is None or status_cd == ""


def msg_auth_value(secret_key: str, pg_cno: str, shop_transaction_id: str) -> str:
    """[GAP KICC-MSGAUTH] `msgAuthValue` of a /revise request.

    hex(HMAC-SHA256(secretKey, pgCno + "|" + shopTransactionId)), lower case, as public
    integrations of KICC's online-card `/api/trades/revise` compute it. KICC's "Message
    Authentication" page could not be read, so this is unverified for global WeChat Pay.
    """
    message = f"{pg_cno}|{shop_transaction_id}".encode()
    return hmac.new(secret_key.encode("utf-8"), message, hashlib.sha256).hexdigest()


def cancel_request_date(moment: datetime) -> str:
    """[GAP KICC-DATE] `cancelReqDate` (yyyyMMdd) is a Korean calendar date (KST)."""
    return moment.astimezone(KST).strftime("%Y%m%d")


# [GAP KICC-RETRYABLE] Codes that mean "retry the same cancel later with the same key and
# date". Only the Alipay cancel page lists them (A210-A219); assumed to hold for WeChat.
CANCEL_RETRY_CODES = frozenset(f"A2{n}" for n in range(10, 20))

# [GAP KICC-NOTIFY] `notifyUrl` of /revise is treated as optional: sent only when the stack
# is given one (parameter KiccCancelNotifyUrl); paysweep confirms cancels by polling /find.
