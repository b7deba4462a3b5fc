"""The provider protocol: the only thing the engine knows about a provider.

An adapter turns one order into one provider request and the provider's answer into a
normalised answer (`paysweep.answers`). Transport failures are raised as exceptions and
classified here, once, for every provider: a timeout is RETRY_LATER, an oversized or
unparseable answer is UNRECOGNISED, an unreadable secret is MISCONFIGURED.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, NamedTuple, Protocol

import requests

from paysweep.answers import CancelAnswer, CancelIntent, CancelState, PaymentAnswer, PaymentState
from paysweep.http import AnswerTooLarge, HttpReply, ProviderUnreachable, post_json
from paysweep.orders import Order
from paysweep.providers import ProviderProfile
from paysweep.secrets import CredentialSource, SecretUnavailable


class ProviderClient(NamedTuple):
    """What an adapter needs to reach its provider; built once per container."""

    base_url: str
    session: requests.Session
    credentials: CredentialSource
    connect_timeout: int
    read_timeout: int
    max_answer_bytes: int
    cancel_notify_url: str | None = None

    def post(self, path: str, payload: dict[str, Any], headers: dict[str, str] | None = None) -> HttpReply:
        return post_json(
            self.session,
            self.base_url + path,
            payload,
            headers=headers,
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            max_bytes=self.max_answer_bytes,
        )


class Canceller(Protocol):
    """A provider's cancellation API: request, then confirm (both idempotent by key)."""

    def new_intent(self, order: Order, reason: str, now: datetime, deadline: datetime) -> CancelIntent:
        """A cancel intent with the key and date every retry of this cancel will reuse."""
        ...

    def request_cancel(self, order: Order, intent: CancelIntent) -> CancelAnswer: ...

    def confirm_cancel(self, order: Order, intent: CancelIntent) -> CancelAnswer: ...


class ProviderAdapter(Protocol):
    """One payment provider, as the sweep engine sees it."""

    @property
    def profile(self) -> ProviderProfile: ...

    @property
    def canceller(self) -> Canceller | None:
        """None when the provider has no cancel API: integrity failures then go to REVIEW."""
        ...

    def check_payment(self, order: Order) -> PaymentAnswer: ...


AdapterFactory = Callable[[ProviderClient], ProviderAdapter]


def guarded[Answer: (PaymentAnswer, CancelAnswer)](call: Callable[[], Answer], answer_type: type[Answer]) -> Answer:
    """Run one provider call and turn every transport failure into a normalised answer.

    An unexpected exception is an adapter bug or an answer nobody foresaw: it becomes
    UNRECOGNISED for this order (logged by the engine) and never stops the sweep.
    """
    states = _STATES[answer_type]
    try:
        return call()
    except ProviderUnreachable as error:
        return answer_type(states["retry"], detail=str(error), error_kind=error.kind)
    except AnswerTooLarge as error:
        return answer_type(states["unrecognised"], detail=str(error), error_kind="too_large")
    except SecretUnavailable as error:
        return answer_type(states["misconfigured"], detail=str(error), error_kind="secret")


_STATES: dict[type, dict[str, Any]] = {
    PaymentAnswer: {
        "retry": PaymentState.RETRY_LATER,
        "unrecognised": PaymentState.UNRECOGNISED,
        "misconfigured": PaymentState.MISCONFIGURED,
    },
    CancelAnswer: {
        "retry": CancelState.RETRY_LATER,
        "unrecognised": CancelState.UNRECOGNISED,
        "misconfigured": CancelState.MISCONFIGURED,
    },
}


def http_failure_kind(status: int) -> str:
    return f"http_{status // 100}xx"


def is_transient_http(status: int) -> bool:
    """5xx and 429: the provider is down or busy, not saying anything about the payment."""
    return status >= 500 or status == 429
