"""MiniStack, the one local AWS: a process on 127.0.0.1 that takes the real `sam deploy`.

MiniStack (PyPI `ministack`, MIT) is someone else's model of AWS: it runs CloudFormation change
sets from `sam deploy`, fires EventBridge Scheduler schedules, runs the Python functions in its own
subprocesses and, with ``AUTH=true``, evaluates IAM policies against resource ARNs. It lives in
its own environment (``.tools/ministack``) because it pins botocore.

How the functions MiniStack runs see their environment: its own process environment overlaid by
the function's variables (and the role's credentials under ``AUTH``), so ``extra_env`` reaches
every function without touching the template or the product; nothing else of the caller's
environment leaks in.
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
EXECUTABLE_ENV = "PAYSWEEP_MINISTACK"
"""Path of the `ministack` console script; `make` passes it, else .tools/ministack is used."""
REGION = "us-east-1"
ROOT_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
"""MiniStack's default account's root (allowed everything)."""
PASSED_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL")


class MiniStackError(RuntimeError):
    """MiniStack did not start."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def executable() -> Path:
    path = Path(os.environ.get(EXECUTABLE_ENV) or REPO / ".tools" / "ministack" / "bin" / "ministack")
    if not os.access(path, os.X_OK):
        raise MiniStackError(f"ministack not found at {path}: run `make setup`")
    return path


class MiniStack:
    """One MiniStack server with all of its state in one temporary folder; a context manager."""

    def __init__(self, *, auth: bool = True, extra_env: Mapping[str, str] | None = None) -> None:
        self.auth = auth
        self.extra_env = dict(extra_env or {})
        self.port = 0
        self.state_dir: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_seconds: float = 60.0) -> Self:
        self.state_dir = Path(tempfile.mkdtemp(prefix="paysweep-ministack-"))
        (self.state_dir / "tmp").mkdir()
        self.port = free_port()
        with (self.state_dir / "ministack.log").open("wb") as log:
            self.process = subprocess.Popen(
                [str(executable())], env=self._server_env(), stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,  # its workers share its group: stop() ends all
            )
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
            GATEWAY_PORT=str(self.port), BIND_HOST="127.0.0.1",
            IOT_MTLS_ENABLED="0",  # its IoT mTLS listener would take another port on every interface
            AUTH="true" if self.auth else "false", MINISTACK_REGION=REGION, AWS_DEFAULT_REGION=REGION,
            PERSIST_STATE="0", STATE_DIR=str(self.state_dir / "state"), S3_DATA_DIR=str(self.state_dir / "s3"),
            TMPDIR=str(self.state_dir / "tmp"),  # the functions' unpacked code and layers land here
            LOG_LEVEL="INFO",
        )
        return {**env, **self.extra_env}

    def _wait_ready(self, timeout_seconds: float) -> None:
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise MiniStackError(f"ministack exited {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/_ministack/health", timeout=2) as answer:  # nosec B310
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)
        raise MiniStackError(f"ministack did not answer within {timeout_seconds:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        """End MiniStack and every function worker it started (its process group), and its state."""
        process, self.process = self.process, None
        if process is not None:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(process.pid, sig)
                    process.wait(timeout=10)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    continue
        if self.state_dir is not None:
            shutil.rmtree(self.state_dir, ignore_errors=True)
            self.state_dir = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log_tail(self, lines: int = 60) -> str:
        log = self.state_dir / "ministack.log" if self.state_dir else None
        if log is None or not log.is_file():
            return "(no log)"
        return "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])

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
            service, endpoint_url=self.url, region_name=REGION, aws_access_key_id=keys["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=keys["AWS_SECRET_ACCESS_KEY"], aws_session_token=keys.get("AWS_SESSION_TOKEN"),
            config=Config(**{"retries": {"mode": "standard", "max_attempts": 3}, **config}),
        )
