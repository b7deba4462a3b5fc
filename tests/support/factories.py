"""Orders and answers for tests, valid unless a test says otherwise."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from paysweep.domain.answers import PaymentAnswer, PaymentState, ReportedAmount
from paysweep.domain.orders import Order, OrderStatus

T0 = datetime(2026, 11, 22, 3, 14, 15, tzinfo=UTC)


def order(
    *,
    order_id: str = "ORD-1001",
    provider: str = "kicc-wechatpay",
    amount: str = "1000",
    currency: str = "KRW",
    status: OrderStatus = OrderStatus.PENDING,
    created_at: datetime = T0,
    window: timedelta = timedelta(hours=2),
    attempts: int = 0,
    pg_cno: str | None = "PG0001",
) -> Order:
    return Order(
        order_id=order_id,
        provider=provider,
        status=status,
        amount=Decimal(amount),
        currency=currency,
        created_at=created_at,
        expires_at=created_at + window,
        refs={"pgCno": pg_cno} if pg_cno else {},
        sweep_key=f"{provider}#0",
        attempts=attempts,
    )


def approved(amount: str | None, currency: str | None = "KRW", expected: str | None | type = ..., **kwargs: Any) -> PaymentAnswer:
    """An approval reporting `amount` paid (None: the provider omitted it)."""
    paid = ReportedAmount(Decimal(amount) if amount is not None else None, currency)
    echo = None if expected is ... else ReportedAmount(Decimal(expected) if expected is not None else None, currency)
    return PaymentAnswer(PaymentState.APPROVED, provider_status="TS01", paid=paid, expected=echo, **kwargs)


def item(**overrides: Any) -> dict[str, Any]:
    """A raw order item as a merchant writes it (deserialised: amounts are Decimals)."""
    base: dict[str, Any] = {
        "orderId": "ORD-1001",
        "provider": "kicc-wechatpay",
        "status": "PENDING",
        "amount": Decimal(1000),
        "currency": "KRW",
        "pgCno": "PG0001",
        "createdAt": "2026-11-22T03:14:15Z",
        "sweepKey": "kicc-wechatpay#0",
        "nextCheckAt": "2026-11-22T03:15:15Z",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}
