"""The transport of Toss's calls: a GET for the lookups beside the client's POST for the cancel.

Toss looks payments up with `GET /v1/payments/orders/{orderId}` (PROVIDERS-toss.md T.2), and the
layer's `ProviderClient` only POSTs (`paysweep.provider.http.post_json`). This module adds the GET
on the same pooled session, base URL, timeouts and answer-size cap, and raises the layer's own
transport failures (`ProviderUnreachable`, `AnswerTooLarge`), so `paysweep.provider.guard` turns
them into answers exactly as it does for a POST. Should the layer's client grow a
`get(path, headers)`, `ClientTransport` reduces to that client and this module to nothing.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Protocol

import requests
from paysweep.provider.client import ProviderClient
from paysweep.provider.http import AnswerTooLarge, HttpReply, ProviderUnreachable


class Transport(Protocol):
    """What the Toss adapter needs to reach Toss: the secret, a GET and a JSON POST."""

    def credentials(self) -> Mapping[str, Any]: ...

    def get(self, path: str, headers: dict[str, str] | None = None) -> HttpReply: ...

    def post(self, path: str, payload: dict[str, Any], headers: dict[str, str] | None = None) -> HttpReply: ...


class ClientTransport:
    """The function's `ProviderClient`, with a GET on its session."""

    def __init__(self, client: ProviderClient) -> None:
        self._client = client

    def credentials(self) -> Mapping[str, Any]:
        return self._client.credentials()

    def post(self, path: str, payload: dict[str, Any], headers: dict[str, str] | None = None) -> HttpReply:
        return self._client.post(path, payload, headers)

    def get(self, path: str, headers: dict[str, str] | None = None) -> HttpReply:
        client = self._client
        return get_json(
            client.session,
            client.base_url + path,
            headers=headers,
            connect_timeout=client.connect_timeout,
            read_timeout=client.read_timeout,
            max_bytes=client.max_answer_bytes,
        )


def get_json(
    session: requests.Session,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    connect_timeout: float,
    read_timeout: float,
    max_bytes: int,
) -> HttpReply:
    """GET `url` and read at most `max_bytes` of the answer (as `post_json` does for a POST).

    Redirects are not followed: Toss documents none, and following one would send the
    `Authorization` header's target somewhere else (a 3xx is answered as it came).
    """
    request_headers = {"Accept": "application/json"}
    request_headers.update(headers or {})
    started = time.monotonic()
    try:
        with session.get(
            url, headers=request_headers, timeout=(connect_timeout, read_timeout), stream=True, verify=True,
            allow_redirects=False,
        ) as response:
            content = read_capped(response, max_bytes)
            return HttpReply(
                status=response.status_code,
                body=content,
                elapsed_ms=int((time.monotonic() - started) * 1000),
                content_type=response.headers.get("Content-Type", ""),
            )
    except requests.Timeout as error:
        raise ProviderUnreachable(f"timed out after {read_timeout}s", "timeout") from error
    except requests.ConnectionError as error:
        raise ProviderUnreachable(f"connection failed: {type(error).__name__}", "connection") from error
    except requests.RequestException as error:
        raise ProviderUnreachable(f"request failed: {type(error).__name__}", "request") from error


def read_capped(response: requests.Response, max_bytes: int) -> bytes:
    """The answer's body, refused as soon as it is (or declares itself) larger than `max_bytes`."""
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise AnswerTooLarge(f"answer declares {declared} bytes, the cap is {max_bytes}")
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(chunk_size=16384):
        size += len(chunk)
        if size > max_bytes:
            raise AnswerTooLarge(f"answer exceeds the cap of {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
