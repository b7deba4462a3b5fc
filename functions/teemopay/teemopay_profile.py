"""TeemoPay Korea payins' order contract (CONTRACT.md sections 1 and 2): what its orders must carry.

Only data and only the layer's type, so the order writer's callers and `paysweep register` can
load it without the adapter (`PROFILE`, as every function folder names its profile).
"""

from __future__ import annotations

from datetime import timedelta

from paysweep.domain.providers import ProviderProfile

TRADE_NO = "tradeNo"
"""TeemoPay's id of the payin: published with the answer that reports it."""

PROFILE = ProviderProfile(
    provider_id="teemopay",
    max_order_id_length=32,  # TeemoPay merchantOrderNo String(32)
    required_refs=(),  # the order id is TeemoPay's merchantOrderNo: nothing else is needed
    currencies=frozenset({"KRW"}),
    # A Korean virtual account expires at `expirationTime`, at most (and by default) 2 h.
    default_window=timedelta(hours=2),
)
