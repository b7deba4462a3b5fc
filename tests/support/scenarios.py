"""Orders with their provider-side script, registered the way merchants register them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from paysweep_local.simulators import kicc, toss
from paysweep_local.simulators.keys import kicc_secret, teemopay_secret, toss_secret
from paysweep_local.stack import LocalStack

KICC = "kicc-wechatpay"
TEEMO = "teemopay"
TOSS = "toss-payments"

LONGEST_ACCOUNT = "seller-" + "0" * 24 + "z"
"""The longest merchant id the contract allows (32 characters): the item-size test's worst case."""
ACCOUNTS = ("seller-b", "seller-c", LONGEST_ACCOUNT)
"""The merchant accounts the integration stack's secrets hold beside each provider's default."""
ACCOUNT_SECRETS = {
    "kicc-wechatpay": kicc_secret(accounts=ACCOUNTS),
    "teemopay": teemopay_secret(accounts=ACCOUNTS),
    "toss-payments": toss_secret(accounts=ACCOUNTS),
}
ACCOUNT_FIELD = {KICC: "mallId", TEEMO: "appCode", TOSS: "secretKey"}
"""What names an account in a simulator's kept requests (`RecordedRequest.account`)."""


def simulator_account(stack: LocalStack, provider: str, merchant: str | None) -> str:
    """The simulator's name of a merchant account (None: the default): its mallId, app code or key."""
    secret = stack.credentials[provider]
    fields = secret if merchant is None else secret["accounts"][merchant]
    return str(fields[ACCOUNT_FIELD[provider]])


INTEGRATION_PARAMETERS = {"HttpTimeoutSeconds": "3"}
"""The integration stack's template parameters: provider timeouts of 3 s (instead of the
documented 30 s) keep timeout tests quick."""


def add_kicc(stack: LocalStack, order_id: str, script: list[Any], amount: int = 1000, currency: str = "KRW", *,
             expires_at: datetime | None = None, **simulator: Any) -> str:
    """A KICC payment of `amount` minor units (KICC's unit) and its pending order; returns the pgCno."""
    pg_cno = f"PG-{order_id}"
    stack.kicc.add_payment(pg_cno, order_id, amount, currency, script=script, **simulator)
    major = str(Decimal(amount).scaleb(-2)) if currency == "USD" else str(amount)
    stack.register(order_id, KICC, major, currency, refs={"pgCno": pg_cno}, expires_at=expires_at)
    return pg_cno


def add_teemopay(stack: LocalStack, order_id: str, script: list[Any], amount: str = "1000", *,
                 expires_at: datetime | None = None) -> None:
    stack.teemopay.add_order(order_id, amount, script=script)
    stack.register(order_id, TEEMO, amount, "KRW", expires_at=expires_at)


def add_toss(stack: LocalStack, order_id: str, script: list[Any], amount: int = 15000, currency: str = "KRW", *,
             paid: int | None = None, method: str = toss.CARD, cancel_script: list[Any] | None = None,
             expires_at: datetime | None = None) -> str:
    """A pending order of `amount` won (major units, Toss's unit) and its Toss payment of `paid` (the
    same by default), written without references (Toss is looked up by order id); returns the
    paymentKey. A step's `amount=` changes only `totalAmount` in an answer, not `balanceAmount`: a
    payment of another amount is `paid=`."""
    payment_key = stack.toss.add_payment(order_id, amount if paid is None else paid, currency, method=method,
                                         script=script, cancel_script=cancel_script or ())
    stack.register(order_id, TOSS, str(amount), currency, expires_at=expires_at)
    return payment_key


def toss_lookup_path(order_id: str) -> str:
    return f"/v1/payments/orders/{order_id}"


def toss_cancel_path(payment_key: str) -> str:
    return f"/v1/payments/{payment_key}/cancel"


def toss_lookups(stack: LocalStack, order_id: str) -> list[Any]:
    return stack.toss.requests_for(toss_lookup_path(order_id))


def toss_cancels(stack: LocalStack, payment_key: str) -> list[Any]:
    return stack.toss.requests_for(toss_cancel_path(payment_key))


def kicc_finds(stack: LocalStack, pg_cno: str) -> list[Any]:
    return [r for r in stack.kicc.requests_for(kicc.FIND_PATH) if r.body and r.body.get("pgCno") == pg_cno]


def kicc_revises(stack: LocalStack, pg_cno: str) -> list[Any]:
    return [r for r in stack.kicc.requests_for(kicc.REVISE_PATH) if r.body and r.body.get("pgCno") == pg_cno]


def emf(run: Any, metric: str) -> list[float]:
    """Values of one metric in the Embedded Metric Format blobs a handler printed."""
    values: list[float] = []
    for record in run.logs:
        if isinstance(record, dict) and "_aws" in record and metric in record:
            value = record[metric]
            values.extend(value if isinstance(value, list) else [value])
    return values
