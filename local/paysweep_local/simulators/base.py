"""Shared plumbing of the provider simulators: HTTP server, request log, scripts, faults.

Why a real HTTP server: integration tests and the local demo run the product's own
`requests` code against it, so timeouts, keep-alive pools, oversized answers and
concurrency behave as they would against the real providers.

A simulator subclass supplies `paths` (anything else is 404), `_handle(request)` (the
provider's checks and scripted answer, called under `_lock`), `_render_specific` (its own
steps), `_sample_answer` (a valid-looking answer, padded by `oversized`), and for its
payments or orders (`Subject`): `subject_field`, `statuses`, `paid_status` and `_stand_in`.

Accounts: a simulator serves several merchant accounts of its provider. The default one is
given by the constructor's arguments (`account_fields` names them), the others by `accounts`
(id -> what the simulator holds of it); a payment or order belongs to one (`account=`, default:
the default account, whatever its id at the time), and a request made as another account does
not find it. `revoke(account)` refuses one account's credentials as an unknown account's.

Scripts: each payment/order has a list of steps; every status query consumes the first
remaining step (a step with `times=n` is used n times); the last step repeats forever.
Step factories are the step classes under lowercase names (`http_error = HttpError`).

`fail_next(path, step, count)` puts a fault in front of the provider: the next `count`
requests on that path get `step` without reaching the provider's logic, so no key,
nonce or script step is consumed. `slow(seconds)` with no `then` is the exception by
design: it delays the answer the provider would otherwise give (and so does process it).
"""

from __future__ import annotations

import json
import random
import socket
import ssl
import threading
import time
import traceback
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import KW_ONLY, dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Self
from urllib.parse import urlsplit

Clock = Callable[[], datetime]
KST = timezone(timedelta(hours=9), "KST")
MAX_BODY_BYTES = 64 * 1024
_DISCARD_LIMIT = 16 * 1024 * 1024  # larger bodies are not read at all: the connection closes
JSON_CONTENT_TYPE = "application/json; charset=utf-8"
DEFAULT_BAD_GATEWAY = b"<html><body>502 Bad Gateway</body></html>"


def utc_now() -> datetime:
    return datetime.now(UTC)


def kst(moment: datetime) -> datetime:
    """Both providers speak Korean local time (UTC+9) in dates they send or check."""
    return moment.astimezone(KST)


def json_bytes(value: Any) -> bytes:
    """Compact UTF-8 JSON, non-ASCII kept as is (as the providers send it)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class ManualClock:
    """A clock tests set and move, so "today" (KST) and the nonce window are controllable."""

    def __init__(self, start: datetime | None = None) -> None:
        self._lock = threading.Lock()
        self.set(start or utc_now())

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, moment: datetime) -> None:
        if moment.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware datetime")
        with self._lock:
            self._now = moment.astimezone(UTC)

    def advance(self, **parts: float) -> datetime:
        """Move forward by timedelta keyword parts (`hours=25`)."""
        with self._lock:
            self._now += timedelta(**parts)
            return self._now


# -- requests and answers -------------------------------------------------------------------


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the simulator saw it, with the answer it gave.

    `response_status` is 0 while the answer is still being prepared (a slow step).
    """

    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None
    raw: bytes
    at: datetime
    response_status: int = 0
    response_body: bytes = b""
    received_s: float = 0.0
    """time.monotonic() when the request arrived (wall time, for overlap checks)."""
    answered_s: float = 0.0
    """time.monotonic() when its answer was ready; 0 while still being prepared."""
    account: str | None = None
    """The account the request was made as (the mallId, app_code or secret key it names); None: none."""

    def response_json(self) -> Any:
        return json.loads(self.response_body)


@dataclass(frozen=True)
class Incoming:
    """A request handed to a simulator's `_handle`; `body` is None unless it is a JSON object."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None


@dataclass(frozen=True)
class Reply:
    """An answer to send; `delay` seconds pass before it is written (other requests go on)."""

    status: int
    body: bytes
    content_type: str = JSON_CONTENT_TYPE
    delay: float = 0.0


def json_reply(value: Any, status: int = 200) -> Reply:
    return Reply(status, json_bytes(value))


def json_object_problem(request: Incoming) -> str | None:
    """Why the request is not a documented one (JSON object, JSON Content-Type); None if it is."""
    if not is_json_content_type(request.headers.get("content-type")):
        return "Content-Type must be application/json; charset=utf-8"
    return "body must be a JSON object" if request.body is None else None


def is_json_content_type(value: str | None) -> bool:
    """`application/json`, optionally with `charset=utf-8` (the providers' documented type)."""
    media, *params = (part.strip().lower() for part in (value or "").split(";"))
    if media != "application/json":
        return False
    for param in params:
        name, _, val = param.partition("=")
        if name.strip() == "charset" and val.strip().strip('"') not in ("utf-8", "utf8"):
            return False
    return True


# -- steps ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One scripted answer. `times` says how many queries it answers before the next step."""

    _: KW_ONLY
    times: int = 1

    def __post_init__(self) -> None:
        if isinstance(self.times, bool) or not isinstance(self.times, int) or self.times < 1:
            raise ValueError(f"times must be a positive integer, got {self.times!r}")


@dataclass(frozen=True)
class HttpError(Step):
    """An HTTP failure page, as a gateway in front of the provider would send it."""

    status: int = 502
    body: bytes = DEFAULT_BAD_GATEWAY
    content_type: str = "text/html"


@dataclass(frozen=True)
class NonJson(Step):
    """HTTP 200 whose body claims to be JSON and is not."""

    body: bytes = b"this is not json"


@dataclass(frozen=True)
class EmptyBody(Step):
    """HTTP 200 with no body at all."""


@dataclass(frozen=True)
class Raw(Step):
    """Exactly this answer: bytes as they are, a dict or list JSON-encoded."""

    body: dict[str, Any] | list[Any] | bytes = b""
    status: int = 200


@dataclass(frozen=True)
class Slow(Step):
    """Wait `seconds` (without blocking other requests), then answer as `then`.

    Without `then`: the answer the simulator would give anyway (current state in a
    payment script, accept in a cancel script, normal processing in `fail_next`).
    """

    seconds: float
    then: Step | None = None


@dataclass(frozen=True)
class Oversized(Step):
    """A valid-looking JSON answer padded (field `padding`) to `size_bytes` bytes."""

    size_bytes: int


http_error, non_json, empty_body, raw, slow, oversized = HttpError, NonJson, EmptyBody, Raw, Slow, Oversized


class Script:
    """An ordered list of steps; the last one repeats forever. Not thread-safe by itself:
    the simulator consumes it under its lock."""

    def __init__(self, steps: Iterable[Step], what: str = "script") -> None:
        self._steps: deque[Step] = deque(steps)
        if not self._steps:
            raise ValueError(f"{what} needs at least one step")
        for step in self._steps:
            if not isinstance(step, Step):
                raise TypeError(f"{what}: {step!r} is not a Step (use the step factory functions)")
        self._used = 0

    def next(self) -> Step:
        head = self._steps[0]
        if len(self._steps) > 1:
            self._used += 1
            if self._used >= head.times:
                self._steps.popleft()
                self._used = 0
        return head


@dataclass(kw_only=True)
class Subject:
    """A payment or order with its script and the state its steps have revealed so far."""

    script: Script
    status: Any = None
    paid_at: datetime | None = None
    """When a step first revealed it paid: the provider's date stays fixed after that."""
    queries: int = 0
    """Queries that passed every check and reached its script."""
    account: str | None = None
    """The account it belongs to; None: the default account."""


@dataclass(frozen=True)
class Ctx:
    """What a step is rendered about. Only steps from the subject's own script (`scripted`)
    move its state: a `fail_next` fault reaches no payment or order."""

    subject: Any
    body: dict[str, Any]
    scripted: bool


# -- the server -------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the product's pooled session expects
    # TCP_NODELAY, as production web servers set it: http.server writes the headers, then the
    # body, and on a kept-alive connection Nagle's algorithm would hold the body back until the
    # client's delayed ACK of the headers, a stall on every answer.
    disable_nagle_algorithm = True
    server_version = "paysweep-simulator"
    sys_version = ""
    timeout = 120  # idle keep-alive connections are dropped eventually

    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests and benchmarks make thousands of requests."""

    def _serve(self) -> None:
        self.server.simulator._serve(self)

    do_POST = do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 1024  # many clients connect at once

    def __init__(self, simulator: SimulatorBase, tls: ssl.SSLContext | None = None) -> None:
        self.simulator = simulator
        self.tls = tls
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        """With TLS, the handshake happens here, in the connection's own thread: a slow or
        failing client cannot hold up the accept loop, and a client that does not trust the
        certificate is simply dropped (as a real provider's server would)."""
        if self.tls is not None:
            try:
                request = self.tls.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                request.close()
                return
        super().finish_request(request, client_address)

    def track(self, connection: socket.socket, *, add: bool) -> None:
        with self._connections_lock:
            if add:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def close_connections(self) -> None:
        """Wake handler threads idling on keep-alive connections, so stop() is clean."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that time out and hang up are expected; say nothing about them."""


@dataclass
class _Slot:
    record: RecordedRequest


class SimulatorBase:
    """An HTTP simulator of one provider on 127.0.0.1 with an OS-assigned port."""

    paths: ClassVar[frozenset[str]] = frozenset()
    subject_field: ClassVar[str] = ""
    """The body field naming the payment or order a request is about."""
    statuses: ClassVar[dict[type, Callable[[Any], Any]]] = {}
    """Step type -> the status that step reveals."""
    paid_status: ClassVar[Any] = None
    account_fields: ClassVar[tuple[str, str]] = ("", "")
    """The attributes holding the default account's id (what its requests name) and what is held of it."""

    def __init__(self, clock: Clock | None = None, accounts: Mapping[str, Any] | None = None) -> None:
        self._clock: Clock = clock or utc_now
        self.accounts: dict[str, Any] = dict(accounts or {})
        """The other accounts: id -> what the simulator holds of it (secretKey, public key, mId)."""
        self.revoked: set[str] = set()
        """Accounts whose credentials are refused (`revoke`); `revoked.discard(account)` restores one."""
        self._lock = threading.RLock()  # provider state: payments, keys, nonces, scripts
        self._log_lock = threading.Lock()
        self._subjects: dict[str, Any] = {}
        self._slots: list[_Slot] = []
        self._overrides: dict[str, deque[Step]] = {}
        self._chaos: dict[str, tuple[float, list[Step], random.Random]] = {}
        self.chaos_fired: Counter[str] = Counter()
        self._in_flight = 0
        self._max_in_flight = 0
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.latency_seconds: float = 0.0
        self.errors: list[str] = []
        """Tracebacks of simulator bugs (answered as HTTP 500); tests should see none."""

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, tls: ssl.SSLContext | None = None) -> Self:
        """Serve on a fresh port: plain HTTP, or HTTPS with `tls` (a server-side context: the
        local stack's comes from its `trustme` CA, `paysweep_local.stack`), as the real providers do."""
        if self._server is not None:
            raise RuntimeError("simulator already started")
        self._stopping.clear()
        self._server = _Server(self, tls)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.01},  # shutdown() waits up to one interval
            name=type(self).__name__,
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()  # releases slow answers at once
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("simulator not started")
        scheme = "https" if self._server.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self._server.server_address[1]}"

    # -- scripts ---------------------------------------------------------------------------

    def rescript(self, key: str, script: Iterable[Step]) -> None:
        """Replace what a payment's or order's queries answer from now on: the customer pays (or
        the merchant cancels) after paysweep has decided the order. Its state moves only when a
        query reveals it."""
        with self._lock:
            self._subjects[key].script = Script(script, f"{key} script")

    def _first_status(self, steps: Iterable[Step]) -> Any:
        """The state before any query: what the script will first reveal (None: nothing)."""
        for step in steps:
            while isinstance(step, Slow) and step.then is not None:
                step = step.then
            if type(step) in self.statuses:
                return self.statuses[type(step)](step)
        return None

    def _query(self, subject: Subject, body: dict[str, Any], default: Callable[[], Reply]) -> Reply:
        """Answer a query that passed every check with the next step of the subject's script."""
        subject.queries += 1
        return self._render(subject.script.next(), Ctx(subject, body, scripted=True), default)

    # -- accounts --------------------------------------------------------------------------

    @property
    def default_account(self) -> str:
        return str(getattr(self, self.account_fields[0]))

    def revoke(self, account: str | None = None) -> None:
        """Refuse one account's credentials from now on (default: the default account's), as an
        unknown account's; the other accounts go on working."""
        account = account or self.default_account
        if self._known(account, even_revoked=True) is None:
            raise ValueError(f"unknown account {account!r}")
        with self._lock:
            self.revoked.add(account)

    def _account_arg(self, account: str | None) -> str | None:
        """The `account=` of a new payment or order: None for the default account."""
        if account is None or account == self.default_account:
            return None
        if account not in self.accounts:
            raise ValueError(f"unknown account {account!r}; known: {[self.default_account, *self.accounts]}")
        return account

    def _known(self, account: Any, even_revoked: bool = False) -> Any:
        """What is held of the account a request names: None if unknown, or revoked unless `even_revoked`."""
        if not isinstance(account, str) or (account in self.revoked and not even_revoked):
            return None
        if account == self.default_account:
            return getattr(self, self.account_fields[1])
        return self.accounts.get(account)

    def _owner(self, subject: Any) -> str:
        return getattr(subject, "account", None) or self.default_account

    def _named_account(self, headers: dict[str, str], body: dict[str, Any] | None) -> str | None:
        """The account a request names (for `RecordedRequest.account`)."""
        return None

    # -- request log -----------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request so far, in arrival order."""
        with self._log_lock:
            return [slot.record for slot in self._slots]

    def requests_for(self, path: str) -> list[RecordedRequest]:
        return [record for record in self.requests if record.path == path]

    def reset_requests(self) -> None:
        """Forget the traffic so far: the request log and `max_concurrency_seen`."""
        with self._log_lock:
            self._slots.clear()
            self._max_in_flight = self._in_flight

    @property
    def max_concurrency_seen(self) -> int:
        """The most requests that were being served at the same moment."""
        with self._log_lock:
            return self._max_in_flight

    # -- fault injection -------------------------------------------------------------------

    def fail_next(self, path: str, step: Step, count: int = 1) -> None:
        """Answer the next `count` requests on `path` with `step`, whatever they ask."""
        self._check_path(path)
        if not isinstance(step, Step):
            raise TypeError(f"{step!r} is not a Step")
        if count < 1:
            raise ValueError("count must be at least 1")
        with self._lock:
            self._overrides.setdefault(path, deque()).extend([step] * count)

    def chaos(self, path: str, probability: float, steps: list[Step], *, seed: int = 0) -> None:
        """Answer each request on `path`, with `probability`, with one of `steps` (chosen at random)
        instead of processing it: random provider faults for soak tests. `probability=0` ends it.
        `chaos_fired` counts the steps used, by step class name."""
        self._check_path(path)
        if not 0 <= probability <= 1 or (probability and not steps):
            raise ValueError("probability must be within [0, 1], with at least one step")
        with self._lock:
            if probability:
                self._chaos[path] = (probability, list(steps), random.Random(seed))
            else:
                self._chaos.pop(path, None)

    def _check_path(self, path: str) -> None:
        if path not in self.paths:
            raise ValueError(f"unknown path {path!r}; known: {sorted(self.paths)}")

    def _take_fault(self, path: str) -> Step | None:
        """The next `fail_next` step for `path`, else perhaps a `chaos` one."""
        queue = self._overrides.get(path)
        if queue:
            return queue.popleft()
        if path not in self._chaos:
            return None
        probability, steps, rng = self._chaos[path]
        if rng.random() >= probability:
            return None
        step = rng.choice(steps)
        self.chaos_fired[type(step).__name__] += 1
        return step

    # -- serving ---------------------------------------------------------------------------

    def _serve(self, handler: _Handler) -> None:
        arrived = self._clock()
        path = urlsplit(handler.path).path
        headers = {name.lower(): value for name, value in handler.headers.items()}
        slot = _Slot(RecordedRequest(path, headers, None, b"", arrived, received_s=time.monotonic()))
        with self._log_lock:
            self._slots.append(slot)
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
        served = False
        try:
            raw_body, reply = self._receive(handler, path, headers)
            body = _json_object(raw_body)
            account = self._named_account(headers, body)
            slot.record = replace(slot.record, raw=raw_body, body=body, account=account)
            wait = self.latency_seconds + reply.delay
            if wait > 0:
                self._stopping.wait(wait)
            # Done before the answer leaves, so a client that has its answer sees it
            # recorded and no longer counted as in flight.
            with self._log_lock:
                slot.record = replace(
                    slot.record,
                    response_status=reply.status,
                    response_body=reply.body,
                    answered_s=time.monotonic(),
                )
                self._in_flight -= 1
                served = True
            self._send(handler, reply)
        finally:
            if not served:
                with self._log_lock:
                    self._in_flight -= 1

    def _receive(self, handler: _Handler, path: str, headers: dict[str, str]) -> tuple[bytes, Reply]:
        """Read the body within the limits, then let the provider answer it."""
        if "chunked" in headers.get("transfer-encoding", "").lower():
            handler.close_connection = True
            return b"", json_reply({"error": "chunked bodies are not supported"}, 411)
        length_text = headers.get("content-length", "0").strip() or "0"
        if not length_text.isdigit():
            handler.close_connection = True
            return b"", json_reply({"error": "bad Content-Length"}, 400)
        length = int(length_text)
        too_large = length > MAX_BODY_BYTES
        raw_body = b"" if too_large else handler.rfile.read(length)
        if too_large:
            _discard(handler, length)
        if path not in self.paths:
            return raw_body, json_reply({"error": "not found", "path": path}, 404)
        if handler.command != "POST":
            return raw_body, json_reply({"error": "method not allowed", "allowed": "POST"}, 405)
        if too_large:
            return raw_body, json_reply({"error": "request body too large", "limit": MAX_BODY_BYTES}, 413)
        return raw_body, self._answer(Incoming(path, headers, _json_object(raw_body)))

    def _answer(self, request: Incoming) -> Reply:
        try:
            with self._lock:
                fault = self._take_fault(request.path)
                if fault is None:
                    return self._handle(request)
                body = request.body or {}
                key = body.get(self.subject_field)
                key = key if isinstance(key, str) else ""
                ctx = Ctx(self._subjects.get(key) or self._stand_in(key), body, scripted=False)
                return self._render(fault, ctx, default=lambda: self._handle(request))
        except Exception:  # noqa: BLE001 - a simulator bug must show, not kill the thread
            self.errors.append(traceback.format_exc())
            return json_reply({"error": "simulator error"}, 500)

    def _send(self, handler: _Handler, reply: Reply) -> None:
        try:
            handler.send_response(reply.status)
            handler.send_header("Content-Type", reply.content_type)
            handler.send_header("Content-Length", str(len(reply.body)))
            if handler.close_connection:
                handler.send_header("Connection", "close")
            handler.end_headers()
            if handler.command != "HEAD":
                handler.wfile.write(reply.body)
        except OSError:  # the client gave up (timeout) or the simulator is stopping
            handler.close_connection = True

    # -- steps -----------------------------------------------------------------------------

    def _render(self, step: Step, ctx: Ctx, default: Callable[[], Reply]) -> Reply:
        """The answer for `step`: generic steps here, provider steps in the subclass."""
        if ctx.scripted and type(step) in self.statuses:
            subject = ctx.subject
            subject.status = self.statuses[type(step)](step)
            if subject.status == self.paid_status and subject.paid_at is None:
                subject.paid_at = self._clock()
        match step:
            case Slow(seconds=seconds, then=then):
                inner = default() if then is None else self._render(then, ctx, default)
                return replace(inner, delay=inner.delay + seconds)
            case HttpError(status=status, body=body, content_type=content_type):
                return Reply(status, body, content_type)
            case NonJson(body=body):
                return Reply(200, body)
            case EmptyBody():
                return Reply(200, b"")
            case Raw(body=body, status=status):
                return Reply(status, body if isinstance(body, bytes) else json_bytes(body))
            case Oversized(size_bytes=size):
                answer = self._sample_answer(ctx)
                bare = json_bytes({**answer, "padding": ""})
                return Reply(200, json_bytes({**answer, "padding": "x" * max(0, size - len(bare))}))
        return self._render_specific(step, ctx, default)

    # -- the subclass's part ------------------------------------------------------------------

    def _handle(self, request: Incoming) -> Reply:
        raise NotImplementedError

    def _render_specific(self, step: Step, ctx: Ctx, default: Callable[[], Reply]) -> Reply:
        raise TypeError(f"{type(self).__name__} does not know the step {step!r}")

    def _sample_answer(self, ctx: Ctx) -> dict[str, Any]:
        raise NotImplementedError

    def _stand_in(self, key: str) -> Subject:
        """The subject a fault is rendered about when the request names none that is known."""
        raise NotImplementedError


def _discard(handler: _Handler, length: int) -> None:
    """Read and drop an oversized body, so the client sees our 413 rather than a reset."""
    if length > _DISCARD_LIMIT:
        handler.close_connection = True
        return
    while length > 0:
        chunk = handler.rfile.read(min(length, 65536))
        if not chunk:
            break
        length -= len(chunk)


def _json_object(raw_body: bytes) -> dict[str, Any] | None:
    try:
        parsed = json.loads(raw_body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return parsed if isinstance(parsed, dict) else None


__all__ = [
    "KST",
    "MAX_BODY_BYTES",
    "Clock",
    "Ctx",
    "EmptyBody",
    "HttpError",
    "Incoming",
    "ManualClock",
    "NonJson",
    "Oversized",
    "Raw",
    "RecordedRequest",
    "Reply",
    "Script",
    "SimulatorBase",
    "Slow",
    "Step",
    "Subject",
    "empty_body",
    "http_error",
    "non_json",
    "oversized",
    "raw",
    "slow",
    "utc_now",
]
