"""Orders with their provider-side script, registered the way merchants register them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from paysweep_local.simulators import kicc
from paysweep_local.stack import LocalStack

KICC = "kicc-wechatpay"
TEEMO = "teemopay"

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
