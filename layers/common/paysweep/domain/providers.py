"""What the order contract requires of one provider's orders (CONTRACT.md sections 1 and 2).

This is the type only. Each provider's profile is the provider's own business and lives in
its function folder (`functions/<provider>/<provider>_profile.py`, named `PROFILE`): its adapter
names it, the sweep validates every claimed order against it, and the order writer checks it
when its caller passes it. The layer knows no provider, so adding one changes nothing here.
"""

from __future__ import annotations

from datetime import timedelta
from typing import NamedTuple

REF_MAX_LENGTH = 60
"""The contract's longest order reference (1..60 printable ASCII characters), for every provider."""


class ProviderProfile(NamedTuple):
    """The order-side contract of one provider."""

    provider_id: str
    max_order_id_length: int
    required_refs: tuple[str, ...]
    """The order attributes (references from the payment's creation) the provider's calls need,
    each a top-level attribute of the order item; published in every message's `providerRefs`."""
    currencies: frozenset[str]
    default_window: timedelta
    """How long an order stays worth polling when the writer gives no `expiresAt`."""
    ref_max_length: int = REF_MAX_LENGTH
