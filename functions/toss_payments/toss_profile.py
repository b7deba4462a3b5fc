"""Toss Payments' order contract (CONTRACT.md sections 1 and 2): what its orders must carry.

Only data and only the layer's type, so the order writer's callers and `paysweep register` can
load it without the adapter (`PROFILE`, as every function folder names its profile).
"""

from __future__ import annotations

from datetime import timedelta

from paysweep.domain.providers import ProviderProfile

PAYMENT_KEY = "paymentKey"
"""Toss's id of the payment (PROVIDERS-toss.md T.3: unique, the same across status changes, needed
to cancel). Discovered by the lookup and published with the answer that reports it."""
LAST_TRANSACTION_KEY = "lastTransactionKey"
"""The key of the payment's last transaction, its approval or latest cancel (T.3, T.9.1)."""
CANCEL_TRANSACTION_KEY = "cancelTransactionKey"
"""`cancels[].transactionKey` of the cancellation paysweep made (T.3): published in a cancelled
order's `providerRefs`."""

PROFILE = ProviderProfile(
    provider_id="toss-payments",
    # Toss's orderId is 6..64 chars (T.2); the contract's order id is at most 40 (CONTRACT.md section 2).
    max_order_id_length=40,
    # The lookup is by the merchant's order id (GET /v1/payments/orders/{orderId}, T.2, T.9.4): the
    # paymentKey a cancel needs is discovered by that lookup, never stored on the order.
    required_refs=(),
    # T.8: Toss reports KRW in whole won and other currencies (PayPal's USD, PHP, the unexplained
    # MUSD) in shapes the reference could not pin down; the merchant's Toss orders are Korean
    # payments in KRW. Any other currency in an answer is a CURRENCY_MISMATCH, never rescaled.
    currencies=frozenset({"KRW"}),
    # Card, transfer and easy-pay attempts end within 30 min (READY) and 10 min (IN_PROGRESS) (T.3);
    # a virtual account waits for its deposit until its `dueDate`, which the merchant sets and the
    # reference does not bound (T.3 [GAP]). Toss's SDK documentation gives `validHours` a default of
    # 168 h (7 days) and a maximum of 720 h [GAP TOSS-VA-WINDOW in toss_assumptions]: the default
    # window covers a virtual account issued with the default; a merchant issuing longer ones writes
    # `expiresAt`, and a deposit after the window is still found by the engine's audits.
    default_window=timedelta(days=7),
    # T.2: 6..64 chars of A-Z a-z 0-9 - _ = ; the contract caps the length at 40 and has no '='
    # in its own rule ([A-Za-z0-9_.-]), so a Toss order id is 6..40 chars of [A-Za-z0-9_-].
    order_id_rule=r"[A-Za-z0-9_=-]{6,40}",
)
