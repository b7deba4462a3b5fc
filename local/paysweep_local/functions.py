"""Running the deployed functions' real handlers locally, under AWS's own runtime client.

moto stores the functions but cannot run them, so a :class:`LocalFunction` runs the code of a
deployed function (its :class:`~paysweep_local.deploy.FunctionInfo`: handler string, environment,
timeout, memory, code folder and layers, all read back from the emulator) in sandbox processes,
one per execution environment. Each sandbox is ``python -m awslambdaric <Handler>``, Lambda's
runtime interface client, pulling its events from its own Runtime API endpoint
(:mod:`paysweep_local.runtime_api`); no context object, dispatch or error shape is ours.

Lambda-like behaviour that tests rely on:

* a sandbox is reused between invocations (warm), and a new one is started when all are
  busy (up to the function's reserved concurrency; past it an invocation is throttled);
* a handler that cannot be loaded fails every invocation with the runtime's init error, each
  invocation trying a fresh init, as Lambda retries it;
* the deployed Timeout kills the sandbox (the next invocation is a cold start);
* :meth:`LocalFunction.kill` SIGKILLs sandboxes, as a crash would (``Runtime.ExitError``);
* each invocation returns the log lines it produced (parsed as JSON where possible);
* the sandbox's wall clock follows the `clock` it is given (the stack's simulated time).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Self

from paysweep_local.deploy import DeployedStack, FunctionInfo, Schedule
from paysweep_local.emulator import Emulator
from paysweep_local.runtime_api import Answer, EnvironmentGone, Invocation, RuntimeApi
from paysweep_local.sandbox_clock import SandboxClock, remove_leftovers

INIT_TIMEOUT_SECONDS = 60.0
"""Longest a sandbox may take to load its handler (Lambda allows 10 s; imports here are slower)."""
TIMEOUT_GRACE_SECONDS = 0.5
"""How long after the deadline an answer may still arrive before the sandbox is killed."""
PLATFORM_PREFIXES = ("INIT_START ", "INIT_REPORT ", "START RequestId:", "END RequestId:", "REPORT RequestId:")
"""Lines Lambda itself writes to a log stream (here: this module), not the handler."""
DIE_WITH_PARENT = ["setpriv", "--pdeathsig", "KILL", "--"] if shutil.which("setpriv") else []
"""Before the runtime client: the kernel SIGKILLs the sandbox when the process that started it
dies, even mid-invocation (an idle sandbox also exits when its Runtime API's sockets close)."""
_SPAWNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sandbox-spawner")
"""Every sandbox is started from this one long-lived thread: the parent-death signal fires when
the thread that forked the process ends, and an invoking thread may end long before its sandbox."""
TRACE_ENV = "_X_AMZN_TRACE_ID"
"""Set by the runtime client per invocation from ``Lambda-Runtime-Trace-Id``; given in a
function's environment here, it becomes the trace header of every invocation (a traced caller)."""

Clock = Callable[[], datetime]


class FunctionThrottled(RuntimeError):
    """Every allowed sandbox is busy (Lambda's TooManyRequestsException)."""


@dataclass
class InvocationResult:
    """What one invocation returned, how long it took, and what it logged."""

    result: Any
    error: dict[str, Any] | None
    """None, or the error as Lambda returns it: ``errorType`` and ``errorMessage``, and from the
    runtime client also ``stackTrace`` (a list of lines) and ``requestId``."""
    duration_ms: int
    logs: list[dict[str, Any] | str] = field(default_factory=list)
    request_id: str = ""
    cold_start: bool = False
    """True when this was the first invocation of its sandbox (Lambda's cold start)."""

    @property
    def ok(self) -> bool:
        return self.error is None

    def log_records(self, message: str | None = None) -> list[dict[str, Any]]:
        """The JSON (Powertools) log records, optionally only those with this message."""
        return [
            r for r in self.logs if isinstance(r, dict) and (message is None or r.get("message") == message)
        ]


def parse_log_lines(text: str) -> list[dict[str, Any] | str]:
    """Log events, JSON objects parsed; Lambda's own INIT/START/END/REPORT lines left out.

    Split on newlines only: the runtime client joins the lines of an error it logs with carriage
    returns, so that a traceback is one log event, as CloudWatch shows it.
    """
    lines: list[dict[str, Any] | str] = []
    for line in text.split("\n"):
        if not line.strip() or line.startswith(PLATFORM_PREFIXES):
            continue
        try:
            parsed = json.loads(line)
        except ValueError:
            parsed = None
        lines.append(parsed if isinstance(parsed, dict) else line)
    return lines


def platform_error(error_type: str, message: str) -> dict[str, Any]:
    """An error Lambda reports itself (the runtime had no say): a timeout, a crash."""
    return {"errorType": error_type, "errorMessage": message}


def describe_exit(returncode: int) -> str:
    """How Lambda words a process's end ("signal: killed", "exit status 3")."""
    if returncode >= 0:
        return f"exit status {returncode}"
    return f"signal: {(signal.strsignal(-returncode) or f'signal {-returncode}').lower()}"


def exit_error(request_id: str, reason: str) -> dict[str, Any]:
    return platform_error("Runtime.ExitError", f"RequestId: {request_id} Error: Runtime exited with error: {reason}")


# ----------------------------------------------------------------------------------------
# One execution environment
# ----------------------------------------------------------------------------------------


class Container:
    """One sandbox: the runtime client's process, its Runtime API endpoint, its clock and its log.

    The process writes its stdout and stderr (every ``print``, every log line of the runtime
    client and of Powertools) straight into the log file: no pipe, so nothing can fill up and
    block it, and an invocation's lines are all in the file when its answer arrives.
    """

    def __init__(
        self, command: list[str], env: dict[str, str], cwd: Path, log_path: Path, clock_offset: float = 0.0
    ) -> None:
        self.command, self.env, self.cwd, self.log_path = command, env, cwd, log_path
        self.clock = SandboxClock(log_path.with_suffix(".faketime"), clock_offset)
        self.api: RuntimeApi | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.invocations = 0
        self.init_ms = 0.0
        self.init_error: dict[str, Any] | None = None
        """What the runtime posted to ``init/error`` (the handler could not be loaded), or the
        init phase's timeout."""
        self.init_exit: str | None = None
        """How the process ended during init without posting an error (``Runtime.ExitError``)."""

    def start(self) -> None:
        """Spawn the runtime client and wait for the end of its init phase (the cold start)."""
        self.api = RuntimeApi()
        env = {**self.env, **self.clock.environment(), "AWS_LAMBDA_RUNTIME_API": self.api.address}
        self.log(f"INIT_START Runtime Version: {env.get('AWS_EXECUTION_ENV', '?')}")
        started = time.monotonic()
        with self.log_path.open("ab") as log:
            self.process = _SPAWNER.submit(
                subprocess.Popen,
                [*DIE_WITH_PARENT, *self.command],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.cwd,
            ).result()
        threading.Thread(target=self._watch, name=f"sandbox-{self.process.pid}", daemon=True).start()
        try:
            self.init_error = self.api.wait_init(INIT_TIMEOUT_SECONDS)
        except TimeoutError:
            self.init_error = platform_error("Sandbox.Timedout", f"Init timed out after {INIT_TIMEOUT_SECONDS:.2f} seconds")
        except EnvironmentGone as gone:
            self.init_exit = str(gone)
        self.init_ms = (time.monotonic() - started) * 1000
        failed = self.init_error is not None or self.init_exit is not None
        if failed:
            self.kill()  # the runtime client exits after posting an init error; make sure
        self.log(f"INIT_REPORT Init Duration: {self.init_ms:.2f} ms" + ("\tStatus: error" if failed else ""))

    def _watch(self) -> None:
        """Wait for the process to end and tell its Runtime API, which wakes any waiting invoke."""
        assert self.process is not None and self.api is not None
        returncode = self.process.wait()
        remove_leftovers(self.process.pid)
        self.api.close(describe_exit(returncode))

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None and self.init_error is None

    def invoke(self, invocation: Invocation, wait_seconds: float) -> Answer:
        """Hand one event to the runtime; TimeoutError or EnvironmentGone if no answer comes."""
        assert self.api is not None
        self.invocations += 1
        return self.api.invoke(invocation, wait_seconds)

    def max_memory_mb(self) -> int | None:
        """Peak resident memory of the sandbox process (REPORT's Max Memory Used)."""
        try:
            status = Path(f"/proc/{self.process.pid}/status").read_text() if self.process else ""
        except OSError:
            return None
        peak = next((line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")), None)
        return int(peak) // 1024 if peak else None

    def log(self, line: str) -> None:
        """A line of Lambda's own (INIT_START, START, END, REPORT) in the sandbox's log stream."""
        with self.log_path.open("a", encoding="utf-8") as log:
            log.write(line + "\n")

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

    def stop(self) -> None:
        """Shut the sandbox down: with no extension registered, Lambda SIGKILLs the runtime."""
        self.kill()


# ----------------------------------------------------------------------------------------
# A function: a pool of sandboxes
# ----------------------------------------------------------------------------------------


def runtime_dirs() -> list[str]:
    """Where the runtime client and the SDK live (Lambda's /var/runtime): this venv's libraries."""
    paths = sysconfig.get_paths()
    return list(dict.fromkeys([paths["purelib"], paths["platlib"]]))


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
        clock: Clock | None = None,
    ) -> None:
        """`clock`: the wall-clock time the sandboxes see (read at each invocation's start);
        the real time if None. `extra_env` is added to the deployed environment (tests)."""
        self.info = info
        self.emulator = emulator
        self.max_concurrency = max_concurrency if max_concurrency is not None else info.reserved_concurrency
        self.extra_env = dict(extra_env or {})
        self.trace_header = self.extra_env.pop(TRACE_ENV, None)
        self.clock = clock
        self.log_dir = Path(log_dir or tempfile.mkdtemp(prefix=f"paysweep-{info.logical_id}-"))
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._idle: list[Container] = []
        self._busy: set[Container] = set()
        self._started = 0
        self._executor: ThreadPoolExecutor | None = None

    # -- the execution environment ---------------------------------------------------------

    @property
    def region(self) -> str:
        return self.info.arn.split(":")[3]

    def environment(self) -> dict[str, str]:
        """What a sandbox's process sees: the deployed variables, pointed at the emulator, and
        those Lambda defines (each sandbox adds ``AWS_LAMBDA_RUNTIME_API`` and its clock's).

        Built from nothing (not from our own environment), so no real AWS profile or
        credential can leak into a handler.
        """
        name, info = self.info.name, self.info
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "TZ": ":UTC",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            **info.environment,
            **self.emulator.env(),
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{info.runtime}",
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(info.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
            "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
            "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
            "LAMBDA_TASK_ROOT": str(info.code_dir),
            "LAMBDA_RUNTIME_DIR": runtime_dirs()[0],
            "_HANDLER": info.handler,
            "POWERTOOLS_TRACE_DISABLED": "true",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONPATH": os.pathsep.join([*self.import_path(), *runtime_dirs()]),
            **self.extra_env,
        }

    def import_path(self) -> list[str]:
        """The code, then each layer (its python/ folder if it has one): /var/task, /opt/python."""
        paths = [str(self.info.code_dir)]
        for layer in self.info.layer_dirs:
            python = layer / "python"
            paths.append(str(python if python.is_dir() else layer))
        return paths

    def command(self) -> list[str]:
        """The runtime client on the deployed handler string.

        ``-S``: the venv's libraries come in through PYTHONPATH, after the code and the layers,
        as the runtime's own (/var/runtime), without the venv's ``.pth`` files, so the editable
        install of this repository cannot supply ``paysweep`` behind a missing layer's back.
        ``-P``: no extra folder in front of the task root.
        """
        return [sys.executable, "-S", "-P", "-m", "awslambdaric", self.info.handler]

    def _new_container(self) -> Container:
        self._started += 1
        log_path = self.log_dir / f"{self.info.name}-{self._started}.log"
        stream = f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"
        env = {**self.environment(), "AWS_LAMBDA_LOG_STREAM_NAME": stream}
        return Container(self.command(), env, self.info.code_dir, log_path, self.clock_offset())

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> LocalFunction:
        """Make sure one warm sandbox is ready (its cold start done).

        A sandbox whose init failed is not kept: each invocation then tries a fresh init and
        returns its error, as Lambda does.
        """
        with self._lock:
            if any(c.alive for c in [*self._idle, *self._busy]):
                return self
            container = self._new_container()
        container.start()
        with self._lock:
            if container.alive:
                self._idle.append(container)
        return self

    def kill(self) -> None:
        """SIGKILL every sandbox, busy ones included (their invocations fail as crashed)."""
        with self._lock:
            containers = [*self._idle, *self._busy]
            self._idle.clear()
        for container in containers:
            container.kill()

    def restart(self) -> LocalFunction:
        """Stop every sandbox and start a fresh one: the next invocation finds a new process."""
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
        """Live sandboxes (idle or busy)."""
        with self._lock:
            return sum(1 for c in [*self._idle, *self._busy] if c.alive)

    @property
    def pids(self) -> list[int]:
        with self._lock:
            return [c.process.pid for c in [*self._idle, *self._busy] if c.process is not None and c.alive]

    # -- invocations -----------------------------------------------------------------------

    def _acquire(self) -> Container:
        """An idle live sandbox, or a new one (cold) if the concurrency limit allows."""
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

    def clock_offset(self) -> float:
        """How far the sandboxes' wall clock runs ahead of the real one, now (ms precision)."""
        return 0.0 if self.clock is None else round((self.clock() - datetime.now(UTC)).total_seconds(), 3)

    def trace_id(self) -> str:
        """The invocation's ``Lambda-Runtime-Trace-Id``: the caller's, or a fresh unsampled one."""
        if self.trace_header:
            return self.trace_header
        return f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};Sampled=0"

    def invoke(self, event: Any, timeout_seconds: float | None = None) -> InvocationResult:
        """Invoke synchronously, as `lambda invoke` would (errors come back, they are not raised)."""
        timeout = float(timeout_seconds if timeout_seconds is not None else self.info.timeout_seconds)
        request_id = str(uuid.uuid4())
        container = self._acquire()
        cold = container.invocations == 0
        failed_init = container.init_error is not None or container.init_exit is not None
        log_start = 0 if failed_init else container.log_size()
        try:
            if failed_init:
                answer, duration_ms = self._init_failure(container, request_id), 0.0
            else:
                answer, duration_ms = self._run(container, request_id, event, timeout)
        finally:
            self._release(container)
        return InvocationResult(
            result=answer.result,
            error=answer.error,
            duration_ms=int(duration_ms),
            logs=parse_log_lines(container.read_log(log_start)),
            request_id=request_id,
            cold_start=cold,
        )

    @staticmethod
    def _init_failure(container: Container, request_id: str) -> Answer:
        if container.init_error is not None:
            return Answer(error=container.init_error)
        return Answer(error=exit_error(request_id, container.init_exit or "unknown"))

    def _run(self, container: Container, request_id: str, event: Any, timeout: float) -> tuple[Answer, float]:
        """One invocation in a ready sandbox, framed by Lambda's START / END / REPORT lines."""
        offset = self.clock_offset()
        container.clock.set_offset(offset)
        invocation = Invocation(
            request_id=request_id,
            payload=json.dumps(event).encode(),
            deadline_ms=int((time.time() + offset + timeout) * 1000),
            function_arn=self.info.arn,
            trace_id=self.trace_id(),
        )
        container.log(f"START RequestId: {request_id} Version: $LATEST")
        started = time.monotonic()
        try:
            answer = container.invoke(invocation, timeout + TIMEOUT_GRACE_SECONDS)
        except TimeoutError:
            container.kill()
            answer = Answer(error=platform_error(
                "Sandbox.Timedout", f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds"
            ))
        except EnvironmentGone as gone:
            answer = Answer(error=exit_error(request_id, str(gone)))
        duration_ms = (time.monotonic() - started) * 1000
        report = (
            f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
            f"Billed Duration: {math.ceil(duration_ms)} ms\tMemory Size: {self.info.memory_mb} MB"
        )
        if (peak := container.max_memory_mb()) is not None:
            report += f"\tMax Memory Used: {peak} MB"
        if container.invocations == 1:
            report += f"\tInit Duration: {container.init_ms:.2f} ms"
        container.log(f"END RequestId: {request_id}")
        container.log(report)
        return answer, duration_ms

    def invoke_async(self, event: Any, timeout_seconds: float | None = None) -> Future[InvocationResult]:
        """Invoke on a background thread; two of these overlap in two sandboxes."""
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=16, thread_name_prefix=self.info.logical_id)
            executor = self._executor
        return executor.submit(self.invoke, event, timeout_seconds)

    # -- logs ------------------------------------------------------------------------------

    def log_paths(self) -> list[Path]:
        return sorted(self.log_dir.glob(f"{self.info.name}-*.log"))

    def all_logs(self) -> list[dict[str, Any] | str]:
        """Every log line of every sandbox so far."""
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
