"""Provider HTTP: one pooled `requests.Session` per provider, bounded in time and size.

Retries happen only where a request cannot have reached the provider (connection
failures). A status query that reached the provider is never re-sent with the same
idempotency key, because providers refuse a reused one (a query key within the same day, a
nonce within its window); the next sweep asks again with a fresh key instead.
"""

from __future__ import annotations

import json
import time
from typing import Any, NamedTuple

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry


class ProviderUnreachable(Exception):
    """No answer: connection refused, DNS, TLS, or the timeout expired."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


class AnswerTooLarge(Exception):
    """The provider sent more than the configured cap: not an answer we will parse."""


class HttpReply(NamedTuple):
    status: int
    body: bytes
    elapsed_ms: int
    content_type: str


def build_session(pool_size: int, connect_retries: int) -> requests.Session:
    """A keep-alive session whose pool fits the sweep's concurrency."""
    retry = Retry(
        total=connect_retries,
        connect=connect_retries,
        # A read error is raised as itself (a timeout stays a timeout) and never retried:
        # the request went out, and POST is not in urllib3's retryable methods anyway.
        read=False,
        status=0,
        other=0,
        backoff_factor=0.5,
        raise_on_status=False,
    )
    adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=retry, pool_block=True)
    session = requests.Session()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = "paysweep/0.1"
    return session


def request_json(
    session: requests.Session,
    method: str,
    url: str,
    payload: dict[str, Any] | None = None,
    *,
    headers: dict[str, str] | None = None,
    connect_timeout: float,
    read_timeout: float,
    max_bytes: int,
) -> HttpReply:
    """Send one request (a JSON body with it, if any) and read at most `max_bytes` of the answer.

    A body is UTF-8 JSON without ASCII escaping, as providers document
    (`Content-type: application/json; charset=utf-8`); a request without one (a GET) has none.
    Redirects are not followed: no provider documents one, and following it would send the
    request, its signature or `Authorization` header among it, somewhere else (a POST would even
    become a GET); a 3xx is answered as it came, and the adapter reads it as any unexpected status.
    """
    body = None if payload is None else json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    request_headers = {"Accept": "application/json"}
    if body is not None:
        request_headers["Content-Type"] = "application/json; charset=utf-8"
    request_headers.update(headers or {})
    started = time.monotonic()
    try:
        with session.request(
            method, url, data=body, headers=request_headers, timeout=(connect_timeout, read_timeout), stream=True,
            verify=True, allow_redirects=False,
        ) as response:
            content = _read_capped(response, max_bytes)
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


def _read_capped(response: requests.Response, max_bytes: int) -> bytes:
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
