"""KICC WeChat Pay's order contract (CONTRACT.md sections 1 and 2): what its orders must carry.

Only data and only the layer's type, so the order writer's callers and `paysweep register` can
load it without the adapter (`PROFILE`, as every function folder names its profile).
"""

from __future__ import annotations

from datetime import timedelta

from paysweep.domain.providers import ProviderProfile

PG_CNO = "pgCno"
"""The order's KICC payment transaction id (from transaction creation): every /find and /revise
names the payment by it, and every outcome publishes it."""
CANCEL_PG_CNO = "cancelPgCno"
"""KICC's id of a cancellation: published in a cancelled order's `providerRefs`."""
APPROVAL_DATE = "approvalDate"
"""When KICC approved the payment: published with the answer that reports it."""

PROFILE = ProviderProfile(
    provider_id="kicc-wechatpay",
    max_order_id_length=40,  # KICC shopOrderNo String(40)
    required_refs=(PG_CNO,),
    currencies=frozenset({"KRW", "USD"}),
    # WeChat QR codes lapse in less than a day; polling a full day is the documented bound.
    default_window=timedelta(hours=24),
)
