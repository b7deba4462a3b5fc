"""What the order contract requires per provider (CONTRACT.md sections 1 and 2).

This is data about orders, not behaviour: the order writer validates against it, and
the sweep uses the profile its adapter names. The engine never branches on a provider id.
Adding a provider adds one profile here, one folder under `functions/` and one block in
`template.yaml`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import NamedTuple


class ProviderProfile(NamedTuple):
    """The order-side contract of one provider."""

    provider_id: str
    max_order_id_length: int
    required_refs: tuple[str, ...]
    currencies: frozenset[str]
    default_window: timedelta
    """How long an order stays worth polling when the writer gives no `expiresAt`."""
    ref_max_length: int = 60


KICC_WECHATPAY = ProviderProfile(
    provider_id="kicc-wechatpay",
    max_order_id_length=40,  # KICC shopOrderNo String(40)
    required_refs=("pgCno",),
    currencies=frozenset({"KRW", "USD"}),
    # WeChat QR codes lapse in less than a day; polling a full day is the documented bound.
    default_window=timedelta(hours=24),
)

TEEMOPAY = ProviderProfile(
    provider_id="teemopay",
    max_order_id_length=32,  # TeemoPay merchantOrderNo String(32)
    required_refs=(),
    currencies=frozenset({"KRW"}),
    # A Korean virtual account expires at `expirationTime`, at most (and by default) 2 h.
    default_window=timedelta(hours=2),
)

PROFILES: dict[str, ProviderProfile] = {p.provider_id: p for p in (KICC_WECHATPAY, TEEMOPAY)}


def profile_for(provider_id: str) -> ProviderProfile:
    try:
        return PROFILES[provider_id]
    except KeyError:
        known = ", ".join(sorted(PROFILES))
        raise KeyError(f"unknown provider {provider_id!r} (known: {known})") from None
