"""The Lambda Runtime API of one local execution environment.

In a Lambda sandbox the runtime client (``awslambdaric`` for Python) pulls work from the Runtime
API at ``AWS_LAMBDA_RUNTIME_API`` and posts the outcome back. This is that API, as AWS documents it
(https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html), for one sandbox process:

* ``GET  /2018-06-01/runtime/invocation/next`` blocks until there is an event, then answers with
  it and the ``Lambda-Runtime-Aws-Request-Id``, ``-Deadline-Ms``, ``-Invoked-Function-Arn`` and
  ``-Trace-Id`` headers; the runtime's first call of it ends the init phase;
* ``POST /2018-06-01/runtime/invocation/{id}/response`` and ``.../{id}/error`` answer an event;
* ``POST /2018-06-01/runtime/init/error`` reports a handler that could not be loaded.

Everything the handler sees of Lambda (its context, the error shapes, the log controls) is then
built by AWS's own runtime client from these answers, not by code of ours.

TCP_NODELAY is set on every connection: the headers and the body of an answer are two writes,
and without it Nagle's algorithm holds the second until the client's delayed ACK, about 40 ms
on every call (so 80 ms on every invocation).
"""

from __future__ import annotations

import json
import socket
import sys
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

API_PREFIX = "/2018-06-01/runtime"
ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"


@dataclass(frozen=True)
class Invocation:
    """One event for the runtime, with what the Runtime API sends beside it."""

    request_id: str
    payload: bytes
    deadline_ms: int
    """Epoch milliseconds in the sandbox's clock: the runtime's context subtracts ``time.time()``."""
    function_arn: str
    trace_id: str


@dataclass(frozen=True)
class Answer:
    """What the runtime posted for one invocation: a result, or an error in Lambda's shape."""

    result: Any = None
    error: dict[str, Any] | None = None


class EnvironmentGone(RuntimeError):
    """The sandbox process ended: no answer will come (the reason says how it ended)."""


class RuntimeApi:
    """The Runtime API endpoint of one sandbox, on a free loopback port.

    The owner hands out invocations (:meth:`invoke`) one at a time and calls :meth:`close` when
    the sandbox process ends, which wakes whoever still waits for it.
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self._changed = threading.Condition()
        self._pending: Invocation | None = None
        self._answers: dict[str, Answer] = {}
        self._expected: set[str] = set()
        self._polled = False
        self._init_error: dict[str, Any] | None = None
        self._gone: str | None = None
        self.nodelay: list[bool] = []
        """TCP_NODELAY as read back from each accepted connection (for the tests)."""
        self._server = _Server((host, 0), _Handler, self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"runtime-api-{self.port}", daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def address(self) -> str:
        """host:port, the value of ``AWS_LAMBDA_RUNTIME_API``."""
        return f"{self.host}:{self.port}"

    # -- the owner's side --------------------------------------------------------------------

    def wait_init(self, timeout: float) -> dict[str, Any] | None:
        """Wait for the end of the init phase: None once the runtime asks for its first event,
        the error it posted to ``init/error`` if the handler could not be loaded.

        Raises EnvironmentGone if the process ended first, TimeoutError if init takes too long.
        """
        with self._changed:
            if not self._changed.wait_for(lambda: self._polled or self._init_error or self._gone, timeout):
                raise TimeoutError(f"no call of the Runtime API within {timeout:.0f} s")
            if self._init_error is not None:
                return self._init_error
            if not self._polled:
                raise EnvironmentGone(self._gone)
            return None

    def invoke(self, invocation: Invocation, timeout: float) -> Answer:
        """Hand an event to the runtime and wait for its answer.

        Raises TimeoutError after `timeout` seconds, EnvironmentGone if the process ends first.
        """
        with self._changed:
            if self._gone is not None:
                raise EnvironmentGone(self._gone)
            self._expected.add(invocation.request_id)
            self._pending = invocation
            self._changed.notify_all()
            done = self._changed.wait_for(
                lambda: invocation.request_id in self._answers or self._gone is not None, timeout
            )
            self._expected.discard(invocation.request_id)
            self._pending = None
            if invocation.request_id in self._answers:
                return self._answers.pop(invocation.request_id)
            if not done:
                raise TimeoutError
            raise EnvironmentGone(self._gone)

    def close(self, reason: str) -> None:
        """The sandbox process ended (`reason`, e.g. "signal: killed"); stop serving."""
        with self._changed:
            if self._gone is None:
                self._gone = reason
            self._changed.notify_all()
        self._server.shutdown()
        self._server.server_close()

    # -- the runtime's side ------------------------------------------------------------------

    def next_invocation(self) -> Invocation | None:
        """Block until there is an event for the runtime (None: the sandbox is going away)."""
        with self._changed:
            self._polled = True
            self._changed.notify_all()
            self._changed.wait_for(lambda: self._pending is not None or self._gone is not None)
            invocation, self._pending = self._pending, None
            return invocation

    def answer(self, request_id: str, answer: Answer) -> bool:
        """Record the runtime's answer; False for a request id that is not waiting for one."""
        with self._changed:
            if request_id not in self._expected or request_id in self._answers:
                return False
            self._answers[request_id] = answer
            self._changed.notify_all()
            return True

    def init_failed(self, error: dict[str, Any]) -> None:
        with self._changed:
            self._init_error = error
            self._changed.notify_all()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[_Handler], api: RuntimeApi) -> None:
        self.api = api
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A sandbox killed mid-request resets its connection: expected, no traceback for it."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """The HTTP side: one keep-alive connection per runtime client, requests in order on it."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        option = self.connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        self.server.api.nodelay.append(bool(option))

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the sandbox's log is what the runtime writes, not our access log."""

    def do_GET(self) -> None:
        if self.path != f"{API_PREFIX}/invocation/next":
            self._reply(404, {"errorType": "NotFound", "errorMessage": f"no such endpoint: {self.path}"})
            return
        invocation = self.server.api.next_invocation()
        if invocation is None:
            self.close_connection = True
            return
        self.send_response(200)
        self.send_header("Lambda-Runtime-Aws-Request-Id", invocation.request_id)
        self.send_header("Lambda-Runtime-Deadline-Ms", str(invocation.deadline_ms))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn", invocation.function_arn)
        self.send_header("Lambda-Runtime-Trace-Id", invocation.trace_id)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(invocation.payload)))
        self.end_headers()
        self.wfile.write(invocation.payload)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        parts = self.path.removeprefix(API_PREFIX).strip("/").split("/")
        api = self.server.api
        if parts == ["init", "error"]:
            api.init_failed(_error_body(body, self.headers.get(ERROR_TYPE_HEADER)))
            self._reply(202, {"status": "OK"})
        elif len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
            answer = (
                Answer(result=_json_or_bytes(body))
                if parts[2] == "response"
                else Answer(error=_error_body(body, self.headers.get(ERROR_TYPE_HEADER)))
            )
            if api.answer(parts[1], answer):
                self._reply(202, {"status": "OK"})
            else:
                self._reply(400, {"errorType": "InvalidRequestID", "errorMessage": "Invalid request ID"})
        else:
            self._reply(404, {"errorType": "NotFound", "errorMessage": f"no such endpoint: {self.path}"})

    def _reply(self, status: int, body: dict[str, str]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _json_or_bytes(body: bytes) -> Any:
    """A handler's result as its caller reads it: JSON, or the raw bytes it returned."""
    try:
        return json.loads(body)
    except ValueError:
        return body


def _error_body(body: bytes, error_type: str | None) -> dict[str, Any]:
    """The error document as posted (errorType, errorMessage, stackTrace, requestId)."""
    try:
        error = json.loads(body)
    except ValueError:
        error = None
    if not isinstance(error, dict):
        error = {"errorType": error_type or "Runtime.Unknown", "errorMessage": body.decode(errors="replace")}
    return error
