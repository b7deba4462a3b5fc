"""A deployed function's real handler in local sandbox processes that a test controls.

MiniStack runs the deployed functions itself (the e2e suite invokes them there), but a test that
simulates time, crashes a sweep at a chosen point or faults one AWS call needs the handler in a
process of its own. Each sandbox (``python -P .../paysweep_local/sandbox.py``: this file, run by
its path, so that a sandbox is its parent's own copy, not whichever checkout the virtual
environment's editable install points at) is one execution environment: the sam-built code,
then the built layer, first on ``sys.path``; the environment MiniStack reports for the function;
AWS's own runtime loop (``awslambdaric.bootstrap.run``) fed over a pipe, each event at the
caller's simulated time (``time-machine``). The README's "The local stack" says what it keeps
of Lambda.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

TIMEOUT_GRACE_SECONDS = 0.5
"""How long after the deadline an answer may still arrive before the sandbox is killed."""
INIT_ALLOWANCE_SECONDS = 30.0
"""Added to a cold start's wait: imports here are slower than Lambda's 10 s init limit."""

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class FunctionInfo:
    """What the sandboxes need of a deployed function (from Lambda's GetFunctionConfiguration)."""

    name: str
    arn: str
    handler: str
    timeout_seconds: int
    memory_mb: int
    environment: dict[str, str]
    import_path: tuple[Path, ...]
    """The built code folder, then each built layer's python/ folder."""


@dataclass
class InvocationResult:
    """What one invocation returned, how long it took, what it logged and metered."""

    result: Any
    error: dict[str, Any] | None
    """None, or the error as Lambda reports it (``errorType``, ``errorMessage``, ``stackTrace``)."""
    duration_ms: int
    logs: list[dict[str, Any] | str] = field(default_factory=list)
    request_id: str = ""
    cold_start: bool = False
    meters: dict[str, float] = field(default_factory=dict)
    """DynamoDB ``writeUnits`` (ConsumedCapacity), ``itemsRead``, ``cpuSeconds`` of the sandbox, and
    ``handlerSeconds``: from the event handed to the runtime loop to its answer posted (Lambda's
    duration, without this module's pipe and log file around it)."""

    @property
    def ok(self) -> bool:
        return self.error is None

    def log_records(self, message: str | None = None) -> list[dict[str, Any]]:
        """The JSON (Powertools) log records, optionally only those with this message."""
        return [r for r in self.logs if isinstance(r, dict) and (message is None or r.get("message") == message)]


def parse_log_lines(text: str) -> list[dict[str, Any] | str]:
    """Log lines, the JSON ones (Powertools, the runtime's JSON format) parsed."""
    return [_parsed(line) for line in text.splitlines() if line.strip()]


def _parsed(line: str) -> dict[str, Any] | str:
    try:
        value = json.loads(line)
    except ValueError:
        return line
    return value if isinstance(value, dict) else line


class Sandbox:
    """One execution environment: a worker process, one invocation at a time."""

    def __init__(self, info: FunctionInfo, env: Mapping[str, str], log_path: Path) -> None:
        self.fresh = True
        read_end, write_end = os.pipe()
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-P", __file__, info.handler, str(write_end), str(log_path)],
                env=dict(env), cwd=info.import_path[0], stdin=subprocess.PIPE, stdout=log,
                stderr=subprocess.STDOUT, pass_fds=(write_end,), start_new_session=True,
            )
        os.close(write_end)
        self._answers = os.fdopen(read_end, "rb")

    def invoke(self, request: dict[str, Any], wait_seconds: float) -> dict[str, Any] | str:
        """Send one invocation; its answer, or "died" or "timed out"."""
        assert self.process.stdin is not None
        self.fresh = False
        try:
            self.process.stdin.write(json.dumps(request).encode() + b"\n")
            self.process.stdin.flush()
        except OSError:
            return "died"
        if not select.select([self._answers], [], [], wait_seconds)[0]:
            return "timed out"
        line = self._answers.readline()
        return json.loads(line) if line else "died"

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self._answers.close()


class LocalFunction:
    """A deployed function's sandboxes; `invoke` runs one event as Lambda would."""

    def __init__(self, info: FunctionInfo, env: Mapping[str, str], *, clock: Clock, log_dir: Path) -> None:
        self.info, self.env, self.clock, self.log_dir = info, dict(env), clock, log_dir
        self._idle: list[Sandbox] = []
        self._busy: set[Sandbox] = set()
        self._lock = threading.Lock()
        self._started = 0
        self._pool = ThreadPoolExecutor(max_workers=32, thread_name_prefix=f"invoke-{info.name}")

    def _acquire(self) -> Sandbox:
        with self._lock:
            warm = [sandbox for sandbox in self._idle if sandbox.alive]
            self._idle.clear()
            if not warm:
                self._started += 1
                stream = f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"
                warm = [Sandbox(self.info, {**self.env, "AWS_LAMBDA_LOG_STREAM_NAME": stream},
                                self.log_dir / f"{self.info.name}-{self._started}.log")]
            sandbox, self._idle = warm[-1], warm[:-1]
            self._busy.add(sandbox)
            return sandbox

    def _release(self, sandbox: Sandbox) -> None:
        with self._lock:
            self._busy.discard(sandbox)
            if sandbox.alive:
                self._idle.append(sandbox)

    def invoke(self, event: Any, timeout_seconds: float | None = None) -> InvocationResult:
        """One invocation at the clock's time; `timeout_seconds` overrides the deployed Timeout."""
        timeout = float(timeout_seconds or self.info.timeout_seconds)
        request_id, sandbox = str(uuid.uuid4()), self._acquire()
        cold, started = sandbox.fresh, time.monotonic()
        request = {"event": event, "requestId": request_id, "timeoutMs": int(timeout * 1000),
                   "now": self.clock().isoformat(), "functionArn": self.info.arn}
        answer = sandbox.invoke(request, timeout + TIMEOUT_GRACE_SECONDS + (INIT_ALLOWANCE_SECONDS if cold else 0))
        duration_ms = int((time.monotonic() - started) * 1000)
        if isinstance(answer, str):  # Lambda's own words for a crash and a timeout
            sandbox.kill()
            answer = {"error": {"errorType": "Runtime.ExitError", "errorMessage": f"RequestId: {request_id} Error: signal: killed"}
                      if answer == "died" else {"errorType": "Sandbox.Timedout", "errorMessage":
                                                f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds"}}
        self._release(sandbox)
        return InvocationResult(answer.get("result"), answer.get("error"), duration_ms,
                                parse_log_lines(answer.get("log", "")), request_id, cold, answer.get("meters", {}))

    def invoke_async(self, event: Any, timeout_seconds: float | None = None) -> Future[InvocationResult]:
        """An invocation that overlaps others: each concurrent one runs in its own sandbox."""
        return self._pool.submit(self.invoke, event, timeout_seconds)

    def kill(self) -> None:
        """SIGKILL every sandbox, busy or idle, as a crash of its execution environment would."""
        with self._lock:
            idle, busy, self._idle = self._idle, list(self._busy), []
        for sandbox in idle:
            sandbox.kill()
        for sandbox in busy:  # its invocation sees it die, and reaps it
            with contextlib.suppress(ProcessLookupError):
                os.killpg(sandbox.process.pid, signal.SIGKILL)

    def stop(self) -> None:
        self.kill()
        self._pool.shutdown(wait=True)

    def pids(self) -> list[int]:
        with self._lock:
            return [s.process.pid for s in [*self._idle, *self._busy] if s.alive]


# -- inside the sandbox ---------------------------------------------------------------------------


class _Meters:
    """DynamoDB write units and items read, from the SDK's own answers (botocore event hooks)."""

    def __init__(self) -> None:
        self.values: Counter[str] = Counter()

    def ask_capacity(self, params: dict[str, Any], **_: Any) -> None:
        params.setdefault("ReturnConsumedCapacity", "INDEXES")

    def record(self, http_response: Any, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        capacities = parsed.get("ConsumedCapacity") or []
        for capacity in capacities if isinstance(capacities, list) else [capacities]:
            if model.name in ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"):
                self.values["writeUnits"] += float(capacity.get("CapacityUnits", 0))
        if "Item" in parsed:
            self.values["itemsRead"] += 1
        self.values["itemsRead"] += int(parsed.get("Count", 0))


class _LocalRuntimeClient:
    """The Runtime API side of AWS's runtime loop (`awslambdaric.bootstrap.run`), over pipes.

    The runtime client itself runs the handler: its logging set-up (`AWS_LAMBDA_LOG_LEVEL`,
    `AWS_LAMBDA_LOG_FORMAT`), its `LambdaContext`, its error shapes. This object only hands it
    the next event, at the caller's simulated time (`time-machine`), and sends its answer back.
    """

    def __init__(self, answers: IO[str], log_path: str, meters: _Meters) -> None:
        from awslambdaric.lambda_runtime_marshaller import LambdaMarshaller

        self.marshaller = LambdaMarshaller()
        self._answers = answers
        self._log_path = log_path
        self._meters = meters
        self._travel: Any = None
        self._log_start = 0
        self._cpu = 0.0
        self._handed_over = 0.0

    def wait_next_invocation(self) -> Any:
        import time_machine
        from awslambdaric.lambda_runtime_client import InvocationRequest

        line = sys.stdin.readline()
        if not line:
            raise SystemExit(0)  # the parent has gone: the environment is shut down
        request = json.loads(line)
        sys.stdout.flush()
        self._log_start = os.path.getsize(self._log_path)
        self._meters.values.clear()
        self._cpu = time.process_time()
        self._travel = time_machine.travel(datetime.fromisoformat(request["now"]), tick=True)
        self._travel.start()
        self._handed_over = time.perf_counter()
        return InvocationRequest(
            invoke_id=request["requestId"], x_amzn_trace_id=os.environ.get("_X_AMZN_TRACE_ID"),
            invoked_function_arn=request["functionArn"], deadline_time_in_ms=int(time.time() * 1000) + request["timeoutMs"],
            client_context=None, cognito_identity=None, content_type="application/json",
            event_body=json.dumps(request["event"]).encode(), tenant_id=None, invocation_id=None,
        )

    def post_invocation_result(self, invoke_id: str, result_data: Any, content_type: str = "", invocation_id: Any = None) -> None:
        self._answer({"result": json.loads(result_data) if result_data else None})

    def post_invocation_error(self, invoke_id: str, error_response_data: str, xray_fault: str,
                              invocation_id: Any = None) -> None:
        self._answer({"error": json.loads(error_response_data)})

    def post_init_error(self, error_response_data: dict[str, Any], error_type_override: str | None = None) -> None:
        if self._travel is None:
            self.wait_next_invocation()  # Lambda reports an init failure as the first invocation's answer
        self._answer({"error": error_response_data})

    def _answer(self, answer: dict[str, Any]) -> None:
        handler_seconds = time.perf_counter() - self._handed_over
        self._travel.stop()
        sys.stdout.flush()
        with open(self._log_path, "rb") as log:
            log.seek(self._log_start)
            answer["log"] = log.read().decode("utf-8", "replace")
        answer["meters"] = {**self._meters.values, "cpuSeconds": time.process_time() - self._cpu,
                            "handlerSeconds": handler_seconds}
        self._answers.write(json.dumps(answer) + "\n")
        self._answers.flush()


def _serve(handler: str, answers_fd: int, log_path: str) -> None:
    import boto3
    from awslambdaric import bootstrap

    meters = _Meters()
    session = boto3.setup_default_session() or boto3.DEFAULT_SESSION
    assert session is not None
    session.events.register("before-parameter-build.dynamodb", meters.ask_capacity)
    session.events.register("after-call.dynamodb", meters.record)
    bootstrap.run(handler, _LocalRuntimeClient(os.fdopen(answers_fd, "w"), log_path, meters))


if __name__ == "__main__":
    _serve(sys.argv[1], int(sys.argv[2]), sys.argv[3])
