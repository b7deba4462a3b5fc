"""Session fixtures for the local AWS stack: one emulator and one deployed stack per test run.

Starting moto and deploying the template take seconds, so both happen once; tests that add
fault rules get them cleared afterwards, and tests create their own uniquely named
resources rather than resetting the emulator (which would wipe the deployed stack).
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from paysweep_local.deploy import DeployedStack, FunctionInfo, create_secret, deploy_stack
from paysweep_local.emulator import Emulator

REPO = Path(__file__).resolve().parents[2]
FIXTURE_APP = Path(__file__).resolve().parent / "fixtures" / "handler_app"


def unused_port() -> int:
    """A local port nothing listens on (the provider simulators are not needed here)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def emulator() -> Iterator[Emulator]:
    with Emulator() as running:
        yield running


@pytest.fixture(autouse=True)
def _clear_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    """No fault rule outlives the test that added it."""
    yield
    if "emulator" in request.fixturenames:
        request.getfixturevalue("emulator").clear_faults()


@pytest.fixture(scope="session")
def secrets(emulator: Emulator) -> dict[str, str]:
    return {
        "KiccSecretArn": create_secret(emulator, "paysweep/kicc", {"mallId": "T0001", "secretKey": "k" * 32}),
        "TeemoPaySecretArn": create_secret(
            emulator,
            "paysweep/teemopay",
            {"appCode": "app", "country": "KR", "privateKey": "unused", "platformPublicKey": "unused"},
        ),
    }


@pytest.fixture(scope="session")
def stack_parameters(secrets: dict[str, str]) -> dict[str, str]:
    return {
        "KiccBaseUrl": f"http://127.0.0.1:{unused_port()}",
        "TeemoPayBaseUrl": f"http://127.0.0.1:{unused_port()}",
        "AllowInsecureHttp": "true",
        **secrets,
    }


@pytest.fixture(scope="session")
def deployed(emulator: Emulator, stack_parameters: dict[str, str]) -> DeployedStack:
    return deploy_stack(emulator, template_path=REPO / "template.yaml", parameters=stack_parameters)


@pytest.fixture
def unique() -> Callable[[str], str]:
    """Unique resource names, so tests sharing the emulator never collide."""
    return lambda prefix: f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def fixture_function_info() -> Callable[..., FunctionInfo]:
    """A FunctionInfo for the throwaway handler in fixtures/handler_app."""

    def make(
        timeout_seconds: int = 5, reserved_concurrency: int | None = None, memory_mb: int = 192, **environment: str
    ) -> FunctionInfo:
        name = f"fixture-{uuid.uuid4().hex[:8]}"
        return FunctionInfo(
            logical_id="FixtureFunction",
            name=name,
            arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
            code_dir=FIXTURE_APP,
            layer_dirs=(REPO / "layers" / "common",),
            handler="app.lambda_handler",
            environment={
                "POWERTOOLS_SERVICE_NAME": "fixture",
                "FIXTURE_VARIABLE": "from-template",
                **environment,
            },
            timeout_seconds=timeout_seconds,
            memory_mb=memory_mb,
            runtime="python3.12",
            reserved_concurrency=reserved_concurrency,
        )

    return make


def process_state(pid: int) -> str | None:
    """The /proc state letter of a process, or None once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return None


def _wait_dead(pid: int, timeout: float = 10.0) -> bool:
    """Whether the process is gone (or a zombie nobody reaped) within the timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process_state(pid) in (None, "Z", "X"):
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def wait_dead() -> Callable[..., bool]:
    return _wait_dead


@pytest.fixture
def is_running() -> Callable[[int], bool]:
    return lambda pid: process_state(pid) not in (None, "Z", "X")
