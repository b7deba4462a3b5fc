"""MiniStack, the second local AWS: a process on 127.0.0.1 that takes the real `sam deploy`.

Why a second emulator beside moto (`paysweep_local.emulator`): moto is driven by our own
deployer and our own Lambda stand-in, so a belief about AWS shared by them and the product
passes every test. MiniStack (PyPI `ministack`, MIT) is someone else's model of AWS: it runs
CloudFormation change sets from `sam deploy`, fires EventBridge Scheduler schedules, runs the
Python functions in its own subprocesses and, with ``AUTH=true``, evaluates IAM identity
policies against resource ARNs (DynamoDB tables and indexes, Secrets Manager, SNS).

It lives in its own environment (``.tools/ministack``, built by ``make setup`` from
``requirements/ministack.txt``) because it pins botocore. :class:`MiniStack` starts it on a
free port with all of its state (the functions' unpacked code included) in one temporary
folder, and removes that folder on `stop()`; nothing is left running or on disk.

How the functions see their environment: MiniStack starts each function's worker with its own
process environment overlaid by the function's ``Environment.Variables`` (and the execution
role's credentials under ``AUTH``). So ``extra_env`` given here reaches every function without
touching the template or the product, which is how the e2e suite makes them trust its test CA
(``REQUESTS_CA_BUNDLE``). The environment is otherwise minimal: nothing of the caller's
AWS settings leaks into the functions.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

REPO = Path(__file__).resolve().parents[2]
DEFAULT_EXECUTABLE = REPO / ".tools" / "ministack" / "bin" / "ministack"
EXECUTABLE_ENV = "PAYSWEEP_MINISTACK"
"""Path of the `ministack` console script; `make test` passes it, else .tools/ministack is used."""
REGION = "us-east-1"
ACCOUNT_ID = "000000000000"
"""MiniStack's default account; the access key `test` is that account's root (allowed everything)."""
ROOT_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
PASSED_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "SYSTEMROOT")
"""The only variables of the caller's environment MiniStack (and so every function) inherits."""


class MiniStackError(RuntimeError):
    """MiniStack did not start, or answered its control API with an error."""


def free_port() -> int:
    """A port nothing listens on now (the OS picks it; MiniStack binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def executable() -> Path:
    configured = os.environ.get(EXECUTABLE_ENV)
    path = Path(configured) if configured else DEFAULT_EXECUTABLE
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise MiniStackError(
            f"ministack not found at {path}: run `make setup` (it builds .tools/ministack from "
            "requirements/ministack.txt)"
        )
    return path


class MiniStack:
    """One MiniStack server; `start()` / `stop()` or use it as a context manager."""

    def __init__(self, *, auth: bool = True, extra_env: Mapping[str, str] | None = None) -> None:
        self.auth = auth
        self.extra_env = dict(extra_env or {})
        self.port = 0
        self.state_dir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, timeout_seconds: float = 60.0) -> Self:
        binary = executable()
        self.state_dir = Path(tempfile.mkdtemp(prefix="paysweep-ministack-"))
        (self.state_dir / "tmp").mkdir()
        self.port = free_port()
        log = (self.state_dir / "ministack.log").open("wb")
        self._process = subprocess.Popen(
            [str(binary)],
            env=self._server_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its function workers share its process group: stop() ends them all
        )
        log.close()
        try:
            self._wait_ready(timeout_seconds)
        except BaseException:
            self.stop()
            raise
        return self

    def _server_env(self) -> dict[str, str]:
        assert self.state_dir is not None
        env = {name: os.environ[name] for name in PASSED_THROUGH if name in os.environ}
        env.update(
            GATEWAY_PORT=str(self.port),
            BIND_HOST="127.0.0.1",
            IOT_MTLS_ENABLED="0",  # its IoT mTLS listener would take another port on every interface
            AUTH="true" if self.auth else "false",
            MINISTACK_REGION=REGION,
            PERSIST_STATE="0",
            STATE_DIR=str(self.state_dir / "state"),
            S3_DATA_DIR=str(self.state_dir / "s3"),
            TMPDIR=str(self.state_dir / "tmp"),  # the functions' unpacked code and layers land here
            AWS_DEFAULT_REGION=REGION,
            LOG_LEVEL="INFO",
        )
        env.update(self.extra_env)
        return env

    def _wait_ready(self, timeout_seconds: float) -> None:
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise MiniStackError(f"ministack exited {self._process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/_ministack/health", timeout=2) as answer:  # nosec B310
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise MiniStackError(f"ministack did not answer within {timeout_seconds:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        """End MiniStack and every function worker it started, and remove all of its state."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 10.0)):
                try:
                    os.killpg(process.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    process.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        if process is not None:
            self._end_stragglers(process.pid)
        if self.state_dir is not None:
            shutil.rmtree(self.state_dir, ignore_errors=True)
            self.state_dir = None

    @staticmethod
    def _end_stragglers(group: int) -> None:
        """Workers outlive a server that died first; they are in its process group."""
        try:
            os.killpg(group, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log_tail(self, lines: int = 60) -> str:
        if self.state_dir is None or not (self.state_dir / "ministack.log").is_file():
            return "(no log)"
        text = (self.state_dir / "ministack.log").read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    # -- clients -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """What points an AWS SDK or CLI (the SAM CLI, `paysweep`) at this MiniStack as root."""
        return {"AWS_ENDPOINT_URL": self.url, "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION, **ROOT_CREDENTIALS}

    def client(self, service: str, credentials: Mapping[str, str] | None = None, **config: Any) -> Any:
        """A boto3 client of this MiniStack; root unless `credentials` (the AWS_* names) are given."""
        import boto3
        from botocore.config import Config

        keys = dict(credentials or ROOT_CREDENTIALS)
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=keys["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=keys["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=keys.get("AWS_SESSION_TOKEN") or None,
            config=Config(**{"retries": {"mode": "standard", "max_attempts": 3}, **config}),
        )
