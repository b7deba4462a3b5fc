"""Running the deployed functions' real handlers locally, as Lambda would.

moto stores the functions but cannot run them, so a :class:`LocalFunction` runs the code
of a deployed function (its :class:`~paysweep_local.deploy.FunctionInfo`) in worker
subprocesses (:mod:`paysweep_local.lambda_worker`), one per execution environment, with the
environment the template wired (read back from the emulator), pointed at the emulator.

Lambda-like behaviour that tests rely on:

* a container is reused between invocations (warm), and a new one is started when all are
  busy (up to the function's reserved concurrency; past it an invocation is throttled);
* the deployed Timeout kills the container (the next invocation is a cold start);
* :meth:`LocalFunction.kill` SIGKILLs containers, as a crash would;
* each invocation returns the log lines its handler wrote (parsed as JSON where possible).
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Self

from paysweep_local.deploy import DeployedStack, FunctionInfo, Schedule
from paysweep_local.emulator import Emulator
from paysweep_local.lambda_worker import PLATFORM_PREFIXES

LOCAL_PACKAGES = Path(__file__).resolve().parents[1]
INIT_TIMEOUT_SECONDS = 60.0
"""Longest a worker may take to import its handler (Lambda allows 10 s; imports here are slower)."""
TIMEOUT_GRACE_SECONDS = 0.5
"""How long after the deadline an answer may still arrive before the container is killed."""


class FunctionThrottled(RuntimeError):
    """Every allowed container is busy (Lambda's TooManyRequestsException)."""


class ContainerGone(RuntimeError):
    """The worker process exited (was killed, crashed, or timed out)."""


@dataclass
class InvocationResult:
    """What one invocation returned, how long it took, and what its handler logged."""

    result: Any
    error: dict[str, Any] | None
    duration_ms: int
    logs: list[dict[str, Any] | str] = field(default_factory=list)
    request_id: str = ""
    cold_start: bool = False
    """True when this was the first invocation of its container (Lambda's cold start)."""

    @property
    def ok(self) -> bool:
        return self.error is None

    def log_records(self, message: str | None = None) -> list[dict[str, Any]]:
        """The JSON (Powertools) log records, optionally only those with this message."""
        return [
            r for r in self.logs if isinstance(r, dict) and (message is None or r.get("message") == message)
        ]


def parse_log_lines(text: str) -> list[dict[str, Any] | str]:
    """Handler log lines, JSON objects parsed; the runtime's own START/END/REPORT lines left out."""
    lines: list[dict[str, Any] | str] = []
    for line in text.splitlines():
        if not line.strip() or line.startswith(PLATFORM_PREFIXES):
            continue
        try:
            parsed = json.loads(line)
        except ValueError:
            parsed = None
        lines.append(parsed if isinstance(parsed, dict) else line)
    return lines


# ----------------------------------------------------------------------------------------
# One execution environment
# ----------------------------------------------------------------------------------------


class Container:
    """One worker subprocess: imports the handler once, then serves invocations one at a time."""

    def __init__(self, command: list[str], env: dict[str, str], cwd: Path, log_path: Path) -> None:
        self.command, self.env, self.cwd, self.log_path = command, env, cwd, log_path
        self.process: subprocess.Popen[str] | None = None
        self.answers: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.invocations = 0
        self.init_ms = 0

    def start(self) -> None:
        """Spawn the worker and wait for it to finish importing the handler (the cold start)."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                env=self.env,
                cwd=self.cwd,
                text=True,
                bufsize=1,
            )
        threading.Thread(target=self._read_answers, name=f"worker-{self.process.pid}", daemon=True).start()
        try:
            ready = self._next_answer(INIT_TIMEOUT_SECONDS)
        except ContainerGone as gone:
            tail = self.read_log(0)[-4000:]
            raise ContainerGone(f"worker died during start-up ({gone}):\n{tail}") from None
        self.init_ms = int(ready.get("init_ms", 0))

    def _read_answers(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            try:
                self.answers.put(json.loads(line))
            except ValueError:
                continue  # never expected: the protocol fd carries only our JSON lines
        self.answers.put(None)

    def _next_answer(self, timeout: float) -> dict[str, Any]:
        try:
            answer = self.answers.get(timeout=timeout)
        except queue.Empty:
            self.kill()
            raise TimeoutError from None
        if answer is None:
            raise ContainerGone(self.exit_description())
        return answer

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def exit_description(self) -> str:
        if self.process is None:
            return "never started"
        code = self.process.wait()
        return f"signal: {signal.Signals(-code).name.lower()}" if code < 0 else f"exit status {code}"

    def invoke(self, request: dict[str, Any], wait_seconds: float) -> dict[str, Any]:
        """Send one request and wait for its answer; TimeoutError kills the container first."""
        assert self.process is not None and self.process.stdin is not None
        self.invocations += 1
        try:
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            raise ContainerGone(self.exit_description()) from None
        return self._next_answer(wait_seconds)

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def read_log(self, start: int) -> str:
        with self.log_path.open("rb") as log:
            log.seek(start)
            return log.read().decode("utf-8", errors="replace")

    def kill(self) -> None:
        """SIGKILL, as a crashed or timed-out execution environment."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self, timeout: float = 5.0) -> None:
        """Close stdin (the worker's loop ends) and wait; kill if it does not exit."""
        if self.process is None or self.process.poll() is not None:
            return
        try:
            assert self.process.stdin is not None
            self.process.stdin.close()
            self.process.wait(timeout=timeout)
        except (OSError, subprocess.TimeoutExpired):
            self.kill()


# ----------------------------------------------------------------------------------------
# A function: a pool of containers
# ----------------------------------------------------------------------------------------


class LocalFunction:
    """A deployed function run locally: its handler, its deployed environment, the emulator."""

    def __init__(
        self,
        info: FunctionInfo,
        emulator: Emulator,
        *,
        log_dir: str | Path | None = None,
        max_concurrency: int | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.info = info
        self.emulator = emulator
        self.max_concurrency = max_concurrency if max_concurrency is not None else info.reserved_concurrency
        self.extra_env = dict(extra_env or {})
        self.log_dir = Path(log_dir or tempfile.mkdtemp(prefix=f"paysweep-{info.logical_id}-"))
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._idle: list[Container] = []
        self._busy: set[Container] = set()
        self._started = 0
        self._executor: ThreadPoolExecutor | None = None

    # -- the execution environment ---------------------------------------------------------

    def environment(self) -> dict[str, str]:
        """What a container's process sees: the deployed variables, pointed at the emulator.

        Built from nothing (not from our own environment), so no real AWS profile or
        credential can leak into a handler.
        """
        name = self.info.name
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "TZ": ":UTC",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            **self.info.environment,
            **self.emulator.env(),
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.info.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
            "LAMBDA_TASK_ROOT": str(self.info.code_dir),
            "_HANDLER": self.info.handler,
            "POWERTOOLS_TRACE_DISABLED": "true",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONPATH": str(LOCAL_PACKAGES),  # where paysweep_local.lambda_worker lives
            **self.extra_env,
        }

    def command(self) -> list[str]:
        command = [
            sys.executable,
            "-m",
            "paysweep_local.lambda_worker",
            "--code-dir",
            str(self.info.code_dir),
            "--handler",
            self.info.handler,
            "--function-arn",
            self.info.arn,
            "--parent-pid",
            str(os.getpid()),
        ]
        for layer in self.info.layer_dirs:
            command += ["--layer-dir", str(layer)]
        return command

    def _new_container(self) -> Container:
        self._started += 1
        log_path = self.log_dir / f"{self.info.name}-{self._started}.log"
        return Container(self.command(), self.environment(), self.info.code_dir, log_path)

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> LocalFunction:
        """Make sure one warm container is ready (its cold start done)."""
        with self._lock:
            if any(c.alive for c in [*self._idle, *self._busy]):
                return self
            container = self._new_container()
        container.start()
        with self._lock:
            self._idle.append(container)
        return self

    def kill(self) -> None:
        """SIGKILL every container, busy ones included (their invocations fail as crashed)."""
        with self._lock:
            containers = [*self._idle, *self._busy]
            self._idle.clear()
        for container in containers:
            container.kill()

    def restart(self) -> LocalFunction:
        """Stop every container and start a fresh one: the next invocation finds a new process."""
        self.stop()
        return self.start()

    def stop(self) -> None:
        with self._lock:
            containers = [*self._idle, *self._busy]
            self._idle.clear()
        for container in containers:
            container.stop()
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def containers(self) -> int:
        """Live containers (idle or busy)."""
        with self._lock:
            return sum(1 for c in [*self._idle, *self._busy] if c.alive)

    @property
    def pids(self) -> list[int]:
        with self._lock:
            return [c.process.pid for c in [*self._idle, *self._busy] if c.process is not None and c.alive]

    # -- invocations -----------------------------------------------------------------------

    def _acquire(self) -> Container:
        """An idle live container, or a new one (cold) if the concurrency limit allows."""
        with self._lock:
            while self._idle:
                container = self._idle.pop()
                if container.alive:
                    self._busy.add(container)
                    return container
            if self.max_concurrency is not None and len(self._busy) >= self.max_concurrency:
                raise FunctionThrottled(
                    f"{self.info.name}: {len(self._busy)} invocations already running "
                    f"(reserved concurrency {self.max_concurrency})"
                )
            container = self._new_container()
            self._busy.add(container)
        try:
            container.start()
        except BaseException:
            self._release(container)
            raise
        return container

    def _release(self, container: Container) -> None:
        with self._lock:
            self._busy.discard(container)
            if container.alive:
                self._idle.append(container)

    def invoke(
        self, event: Any, timeout_seconds: float | None = None, clock_offset_seconds: float = 0
    ) -> InvocationResult:
        """Invoke synchronously, as `lambda invoke` would (errors come back, they are not raised)."""
        timeout = float(timeout_seconds if timeout_seconds is not None else self.info.timeout_seconds)
        container = self._acquire()
        cold = container.invocations == 0
        request_id = str(uuid.uuid4())
        request = {
            "event": event,
            "timeout_ms": int(timeout * 1000),
            "clock_offset_seconds": clock_offset_seconds,
            "request_id": request_id,
        }
        log_start = container.log_size()
        started = time.monotonic()
        try:
            answer = container.invoke(request, timeout + TIMEOUT_GRACE_SECONDS)
        except TimeoutError:
            answer = self._failure("Sandbox.Timedout", f"Task timed out after {timeout:.2f} seconds", started)
        except ContainerGone as gone:
            answer = self._failure(
                "Runtime.ExitError",
                f"RequestId: {request_id} Error: Runtime exited with error: {gone}",
                started,
            )
        finally:
            self._release(container)
        return InvocationResult(
            result=answer.get("result"),
            error=answer.get("error"),
            duration_ms=int(answer.get("duration_ms", 0)),
            logs=parse_log_lines(container.read_log(log_start)),
            request_id=answer.get("request_id", request_id),
            cold_start=cold,
        )

    @staticmethod
    def _failure(error_type: str, message: str, started: float) -> dict[str, Any]:
        return {
            "result": None,
            "error": {"type": error_type, "message": message, "traceback": ""},
            "duration_ms": int((time.monotonic() - started) * 1000),
        }

    def invoke_async(
        self, event: Any, timeout_seconds: float | None = None, clock_offset_seconds: float = 0
    ) -> Future[InvocationResult]:
        """Invoke on a background thread; two of these overlap in two containers."""
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=16, thread_name_prefix=self.info.logical_id)
            executor = self._executor
        return executor.submit(self.invoke, event, timeout_seconds, clock_offset_seconds)

    # -- logs ------------------------------------------------------------------------------

    def log_paths(self) -> list[Path]:
        return sorted(self.log_dir.glob(f"{self.info.name}-*.log"))

    def all_logs(self) -> list[dict[str, Any] | str]:
        """Every handler log line of every container so far."""
        return [
            line for path in self.log_paths() for line in parse_log_lines(path.read_text(errors="replace"))
        ]


# ----------------------------------------------------------------------------------------
# Schedules
# ----------------------------------------------------------------------------------------


def schedule_event(
    schedule: Schedule,
    *,
    now: datetime | None = None,
    execution_id: str | None = None,
    clock_offset_seconds: float = 0,
) -> Any:
    """The event EventBridge Scheduler delivers for a schedule: its Input with context attributes filled."""
    moment = (now or datetime.now(UTC)) + timedelta(seconds=clock_offset_seconds)
    text = (
        schedule.input.replace("<aws.scheduler.execution-id>", execution_id or str(uuid.uuid4()))
        .replace("<aws.scheduler.scheduled-time>", moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
        .replace("<aws.scheduler.attempt-number>", "1")
    )
    return json.loads(text)


def schedule_target(stack: DeployedStack, schedule: Schedule) -> FunctionInfo:
    """The deployed function a schedule invokes (by its target ARN)."""
    for info in stack.functions.values():
        if info.arn == schedule.target_arn:
            return info
    raise KeyError(
        f"schedule {schedule.name} targets {schedule.target_arn}, which is no function of the stack"
    )


def local_functions(stack: DeployedStack, emulator: Emulator, **options: Any) -> dict[str, LocalFunction]:
    """A LocalFunction (not started) for every function of the stack, by logical id."""
    return {lid: LocalFunction(info, emulator, **options) for lid, info in stack.functions.items()}
