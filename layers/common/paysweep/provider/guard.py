"""Transport failures as answers: a provider call that could not be made or read is still an
answer the decision table understands, classified here once for every provider.

A timeout or a refused connection is RETRY_LATER, an oversized answer UNRECOGNISED, an
unreadable secret (or one that lost the order's merchant account) MISCONFIGURED. The runtime wraps each function's adapter in
`GuardedAdapter`, so the sweep never sees an HTTP exception and knows nothing of HTTP.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from paysweep.domain.answers import CancelAnswer, CancelIntent, CancelState, PaymentAnswer, PaymentState
from paysweep.domain.orders import Order
from paysweep.domain.providers import ProviderProfile
from paysweep.provider.accounts import UnknownAccount
from paysweep.provider.client import SecretUnavailable
from paysweep.provider.http import AnswerTooLarge, ProviderUnreachable
from paysweep.sweep.ports import Canceller, ProviderAdapter


def guarded_payment(call: Callable[[], PaymentAnswer]) -> PaymentAnswer:
    """A status query whose transport failures come back as answers."""
    try:
        return call()
    except ProviderUnreachable as error:
        return PaymentAnswer(PaymentState.RETRY_LATER, detail=str(error), error_kind=error.kind)
    except AnswerTooLarge as error:
        return PaymentAnswer(PaymentState.UNRECOGNISED, detail=str(error), error_kind="too_large")
    except SecretUnavailable as error:
        return PaymentAnswer(PaymentState.MISCONFIGURED, detail=str(error), error_kind="secret")
    except UnknownAccount as error:  # the secret lost the account since the sweep looked
        return PaymentAnswer(PaymentState.MISCONFIGURED, detail=str(error), error_kind="unknown_account")


def guarded_cancel(call: Callable[[], CancelAnswer]) -> CancelAnswer:
    """A cancel request or confirmation whose transport failures come back as answers."""
    try:
        return call()
    except ProviderUnreachable as error:
        return CancelAnswer(CancelState.RETRY_LATER, detail=str(error), error_kind=error.kind)
    except AnswerTooLarge as error:
        return CancelAnswer(CancelState.UNRECOGNISED, detail=str(error), error_kind="too_large")
    except SecretUnavailable as error:
        return CancelAnswer(CancelState.MISCONFIGURED, detail=str(error), error_kind="secret")
    except UnknownAccount as error:
        return CancelAnswer(CancelState.MISCONFIGURED, detail=str(error), error_kind="unknown_account")


class _GuardedCanceller:
    def __init__(self, canceller: Canceller) -> None:
        self._canceller = canceller

    def new_intent(self, order: Order, reason: str, now: datetime, deadline: datetime) -> CancelIntent:
        return self._canceller.new_intent(order, reason, now, deadline)

    def request_cancel(self, order: Order, intent: CancelIntent) -> CancelAnswer:
        return guarded_cancel(lambda: self._canceller.request_cancel(order, intent))

    def confirm_cancel(self, order: Order, intent: CancelIntent) -> CancelAnswer:
        return guarded_cancel(lambda: self._canceller.confirm_cancel(order, intent))

    def cancel_refs(self, reference: str) -> Mapping[str, str]:
        return self._canceller.cancel_refs(reference)


class GuardedAdapter:
    """A provider adapter whose calls answer instead of raising transport failures."""

    def __init__(self, adapter: ProviderAdapter) -> None:
        self._adapter = adapter
        canceller = adapter.canceller
        self._canceller = _GuardedCanceller(canceller) if canceller is not None else None

    @property
    def profile(self) -> ProviderProfile:
        return self._adapter.profile

    @property
    def canceller(self) -> Canceller | None:
        return self._canceller

    def check_payment(self, order: Order) -> PaymentAnswer:
        return guarded_payment(lambda: self._adapter.check_payment(order))
