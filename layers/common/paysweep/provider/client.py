"""What a provider adapter gets to reach its provider: the base URL, a pooled HTTP session,
the provider's credentials and the time and size bounds of one call.

Adapters (in `functions/<provider>/`) build their requests and parse their answers; this
module and `http` carry them. A transport failure is raised (`ProviderUnreachable`,
`AnswerTooLarge`, `SecretUnavailable`) and turned into a normalised answer, once for every
provider, by `paysweep.provider.guard`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import requests
from paysweep.provider.http import HttpReply, request_json
from paysweep.sweep.ports import ProviderAdapter

CredentialSource = Callable[[], Mapping[str, Any]]
"""Returns the provider secret's JSON object (cached); raises `SecretUnavailable`."""


class SecretUnavailable(Exception):
    """The provider secret could not be read or is not the documented JSON object."""


class ProviderClient(NamedTuple):
    """What an adapter needs to reach its provider; built once per container."""

    base_url: str
    session: requests.Session
    credentials: CredentialSource
    connect_timeout: int
    read_timeout: int
    max_answer_bytes: int

    def post(self, path: str, payload: dict[str, Any], headers: dict[str, str] | None = None) -> HttpReply:
        """POST a JSON body to `path` of the provider's base URL."""
        return self.request("POST", path, payload, headers)

    def get(self, path: str, headers: dict[str, str] | None = None) -> HttpReply:
        """GET `path` of the provider's base URL (a provider whose status query is a GET)."""
        return self.request("GET", path, None, headers)

    def request(
        self, method: str, path: str, payload: dict[str, Any] | None = None, headers: dict[str, str] | None = None
    ) -> HttpReply:
        """Any one call an adapter needs: the method, the path and the headers are the adapter's
        (its own authentication among them); the time and size bounds are the function's."""
        return request_json(
            self.session,
            method,
            self.base_url + path,
            payload,
            headers=headers,
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            max_bytes=self.max_answer_bytes,
        )


AdapterFactory = Callable[[ProviderClient, Mapping[str, str]], ProviderAdapter]
"""How a function builds its provider's adapter (`functions/<provider>/app.py` names it): from the
client and the function's environment, where the adapter reads its own settings (the engine's are
`paysweep.config`'s)."""


def http_failure_kind(status: int) -> str:
    return f"http_{status // 100}xx"


def is_transient_http(status: int) -> bool:
    """5xx and 429: the provider is down or busy, not saying anything about the payment."""
    return status >= 500 or status == 429
