"""A thin HTTPS proxy in front of MiniStack that fails chosen AWS calls, as the services do.

MiniStack has no fault-injection API, so the local functions reach it through this proxy
(their ``AWS_ENDPOINT_URL``). A rule fails (or holds) the next matching requests with the exact
error body the real service sends in the request's own protocol, so the product's real
botocore paths run: standard-mode retries, conditional failures, a request that hangs. The
proxy also counts calls by ``service.Operation`` for the benchmark. Everything else is passed
through byte for byte, the SigV4 signature included.
"""

from __future__ import annotations

import http.client
import itertools
import json
import random
import re
import select
import ssl
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

ERRORS: dict[tuple[str, str], tuple[int, str, str]] = {
    ("dynamodb", "throttle"): (400, "ProvisionedThroughputExceededException",
                               "The level of configured provisioned throughput for the table was exceeded."),
    ("dynamodb", "internal"): (500, "InternalServerError", "Internal server error"),
    ("dynamodb", "conditional"): (400, "ConditionalCheckFailedException", "The conditional request failed"),
    ("dynamodb", "unavailable"): (503, "ServiceUnavailable", "Service is unavailable. Try again later."),
    ("sns", "throttle"): (400, "Throttling", "Rate exceeded"),
    ("sns", "internal"): (500, "InternalError", "Internal Error"),
    ("sns", "unavailable"): (503, "ServiceUnavailable", "Service is unavailable. Try again later."),
    ("secretsmanager", "internal"): (500, "InternalServiceError", "An error occurred on the server side."),
    ("secretsmanager", "throttle"): (400, "ThrottlingException", "Rate exceeded"),
}
"""(status, code, message) of each fault kind, as AWS's documentation and SDK models give them."""
WAIT_KINDS = frozenset({"hang"})
"""`hang`: hold the request `seconds`, then pass it on (an answer that comes late, or never in time)."""
SIGNING_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request")
UPSTREAM_IDLE_SECONDS = 30.0
"""A kept-alive connection to MiniStack idle this long is replaced before its next request: MiniStack
closes idle connections after 75 s (hypercorn's keep_alive_timeout), and a request sent on one it
has closed fails, so the caller would see a dropped connection that nobody injected (an SDK retry
hides it only while the client's retry quota lasts, and fault tests drain that quota)."""


@dataclass(frozen=True)
class Call:
    """One AWS request as it crossed the proxy."""

    service: str
    operation: str
    protocol: str
    body: bytes

    @classmethod
    def parse(cls, headers: Any, body: bytes) -> Call:
        scope = SIGNING_SCOPE.search(headers.get("Authorization", ""))
        service = scope.group(1) if scope else "unknown"
        target = headers.get("X-Amz-Target")
        if target:
            return cls(service, target.rsplit(".", 1)[-1], "json", body)
        action = parse_qs(body.decode("utf-8", "replace")).get("Action", ["?"])[0]
        return cls(service, action, "query", body)

    def error(self, kind: str) -> tuple[int, dict[str, str], bytes]:
        status, code, message = ERRORS[(self.service, kind)]
        request_id = str(uuid.uuid4())
        if self.protocol == "json":
            kind_name = f"com.amazonaws.dynamodb.v20120810#{code}" if self.service == "dynamodb" else code
            body = json.dumps({"__type": kind_name, "message": message}).encode()
            return status, {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": request_id}, body
        fault = "Sender" if status < 500 else "Receiver"
        xml = (f'<ErrorResponse xmlns="http://{self.service}.amazonaws.com/doc/2010-03-31/"><Error><Type>{fault}</Type>'
               f"<Code>{code}</Code><Message>{message}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>")
        return status, {"Content-Type": "text/xml", "x-amzn-RequestId": request_id}, xml.encode()


@dataclass
class FaultRule:
    """Fail (or hold) the next `times` (-1: every) calls of one service/operation whose body has `match`."""

    id: int
    service: str
    operation: str | None
    error: str
    times: int = 1
    match: str | None = None
    seconds: float = 0.0
    probability: float = 1.0
    seed: int = 0
    fired: int = 0
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def __post_init__(self) -> None:
        if self.error not in WAIT_KINDS and (self.service, self.error) not in ERRORS or self.times == 0 or self.times < -1:
            raise ValueError(f"no fault {self.error!r} x {self.times} for {self.service}: see ERRORS, or 'hang'")
        self.rng = random.Random(self.seed)

    def matches(self, call: Call) -> bool:
        live = self.times == -1 or self.fired < self.times
        wanted = self.service == call.service and self.operation in (None, call.operation)
        if not (live and wanted) or (self.match is not None and self.match.encode() not in call.body):
            return False
        return self.probability >= 1 or self.rng.random() < self.probability


class FaultProxy:
    """Serve on 127.0.0.1 (HTTPS with `tls`) and forward to `upstream_port`; `start()` / `stop()`."""

    def __init__(self, upstream_port: int, tls: ssl.SSLContext | None = None) -> None:
        self.upstream_port = upstream_port
        self.calls: Counter[str] = Counter()
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._server = _Server(self, tls)
        self.scheme = "https" if tls else "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FaultProxy:
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                         name="fault-proxy", daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- rules -------------------------------------------------------------------------------

    def add_fault(self, service: str, operation: str | None = None, *, error: str = "throttle", times: int = 1,
                  match: str | None = None, seconds: float = 0.0, probability: float = 1.0, seed: int = 0) -> int:
        """Make the next `times` matching calls fail with `error` (or `hang` `seconds`); returns the rule id."""
        rule = FaultRule(next(self._ids), service, operation, error, times, match, seconds, probability, seed)
        with self._lock:
            self._rules.append(rule)
        return rule.id

    def remove_fault(self, rule_id: int) -> None:
        with self._lock:
            self._rules = [rule for rule in self._rules if rule.id != rule_id]

    def clear_faults(self) -> None:
        with self._lock:
            self._rules.clear()

    def fault_report(self) -> list[dict[str, Any]]:
        """Every rule with how many times it fired."""
        with self._lock:
            return [{k: v for k, v in vars(rule).items() if k != "rng"} for rule in self._rules]

    def fire(self, call: Call) -> FaultRule | None:
        with self._lock:
            self.calls[f"{call.service}.{call.operation}"] += 1
            for rule in self._rules:
                if rule.matches(call):
                    rule.fired += 1
                    return rule
        return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, proxy: FaultProxy, tls: ssl.SSLContext | None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.proxy = proxy
        if tls is not None:
            self.socket = tls.wrap_socket(self.socket, server_side=True)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away (a killed sandbox, a closed keep-alive) is no error of the proxy's."""
        if not isinstance(sys.exception(), (ConnectionError, ssl.SSLError, TimeoutError)):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else headers and body in two packets wait on the client's delayed ACK
    server: _Server
    upstream: http.client.HTTPConnection | None = None
    """One keep-alive connection to MiniStack per client connection."""
    upstream_used = 0.0
    """time.monotonic() when `upstream` last answered."""

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests read what matters from the rules and counters."""

    def do_POST(self) -> None:
        self._forward()

    def do_GET(self) -> None:
        self._forward()

    def _forward(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        call = Call.parse(self.headers, body)
        rule = self.server.proxy.fire(call)
        if rule is not None and rule.error in WAIT_KINDS:
            time.sleep(rule.seconds)
        elif rule is not None:
            self._answer(*call.error(rule.error))
            return
        upstream = self._upstream()
        try:
            upstream.request(self.command, self.path, body, dict(self.headers.items()))
            answer = upstream.getresponse()
            status, headers, payload = answer.status, answer.getheaders(), answer.read()
        except (OSError, http.client.HTTPException):
            upstream.close()
            raise
        self.upstream_used = time.monotonic()
        self._answer(status, {k: v for k, v in headers if k.lower() not in ("transfer-encoding", "connection")}, payload)

    def _upstream(self) -> http.client.HTTPConnection:
        """The connection to MiniStack, never one MiniStack may have closed while it was idle (a
        closed one reconnects on its next request)."""
        if self.upstream is None:
            self.upstream = http.client.HTTPConnection("127.0.0.1", self.server.proxy.upstream_port, timeout=120)
        elif time.monotonic() - self.upstream_used > UPSTREAM_IDLE_SECONDS or _closed_by_peer(self.upstream):
            self.upstream.close()
        return self.upstream

    def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
        try:
            self.send_response(status)
            for name, value in headers.items():
                if name.lower() != "content-length":
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            self.close_connection = True  # the caller gave up (its read timeout, or a killed sandbox)


def _closed_by_peer(connection: http.client.HTTPConnection) -> bool:
    """An idle keep-alive connection with something to read: the server closed it (or sent what
    nobody asked for); either way no request may go on it."""
    if connection.sock is None:
        return False
    poller = select.poll()  # not select.select: a busy test process has descriptors past FD_SETSIZE
    poller.register(connection.sock, select.POLLIN)
    return bool(poller.poll(0))
