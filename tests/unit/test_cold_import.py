"""What a handler module loads at import, and what waits for the path that needs it (no network).

Each case runs a fresh interpreter laid out as Lambda lays out a function (`/var/task` = the
function's folder, then the common layer) with Lambda's environment, tracing on.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from paysweep.observability import tracing_enabled

REPO = Path(__file__).resolve().parents[2]
FUNCTIONS = {app.parent.name: app.parent for app in sorted((REPO / "functions").glob("*/app.py"))}
"""Every function's code folder by name: a provider added under functions/ is checked too."""
ANY_FUNCTION = next(iter(FUNCTIONS.values()))
"""For what the layer does the same in every function (the Tracer)."""
DEFERRED = ("aws_xray_sdk", "cryptography", "wrapt")
"""Packages no handler imports at module level: the Tracer's X-Ray SDK (with wrapt) and RSA code."""


def lambda_env(code_dir: Path, **extra: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": os.pathsep.join([str(code_dir), str(REPO / "layers/common")]),
        "LAMBDA_TASK_ROOT": str(code_dir),
        "AWS_LAMBDA_FUNCTION_NAME": "paysweep-test",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": "paysweep",
        **extra,
    }


def loaded_after(code_dir: Path, program: str, **env: str) -> dict[str, object]:
    """Run `program` after `import app`; report which deferred packages are loaded, and `result`."""
    script = (
        "import json, sys\nimport app\nresult = None\n" + program +
        f"\nprint(json.dumps({{'loaded': sorted({{m.split('.')[0] for m in sys.modules}} & set({DEFERRED!r})),"
        " 'result': result}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=code_dir, env=lambda_env(code_dir, **env),
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_function_folders_are_found() -> None:
    """An empty glob would leave the cold-import checks with nothing to check."""
    assert len(FUNCTIONS) >= 2, FUNCTIONS


@pytest.mark.parametrize("folder", sorted(FUNCTIONS))
def test_importing_a_handler_loads_neither_xray_nor_rsa_code(folder: str) -> None:
    seen = loaded_after(FUNCTIONS[folder], "")
    assert seen["loaded"] == []


def test_the_tracer_loads_the_xray_sdk_and_patches_the_sdks_when_tracing_is_on() -> None:
    program = (
        "from paysweep.observability import tracer\n"
        "import botocore.client, requests.sessions\n"
        "active = tracer()\n"
        "result = [type(active).__name__, hasattr(botocore.client.BaseClient._make_api_call, '__wrapped__'),"
        " hasattr(requests.sessions.Session.request, '__wrapped__'), tracer() is active]"
    )
    seen = loaded_after(ANY_FUNCTION, program)
    assert seen["result"] == ["Tracer", True, True, True]
    assert "aws_xray_sdk" in seen["loaded"]


def test_no_tracer_and_no_xray_sdk_when_tracing_is_off() -> None:
    program = "from paysweep.observability import tracer\nresult = tracer() is None"
    seen = loaded_after(ANY_FUNCTION, program, POWERTOOLS_TRACE_DISABLED="true")
    assert seen == {"loaded": [], "result": True}


def test_teemopay_loads_rsa_code_at_its_first_signature() -> None:
    program = (
        "from cryptography.hazmat.primitives.asymmetric import rsa\n"  # only to make a key for the test
        "from cryptography.hazmat.primitives import serialization\n"
        "import teemopay_signing\n"
        "key = rsa.generate_private_key(public_exponent=65537, key_size=2048)\n"
        "pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,"
        " serialization.NoEncryption()).decode()\n"
        "result = len(teemopay_signing.sign({'a': '1'}, 'n', teemopay_signing.load_private_key(pem)))"
    )
    seen = loaded_after(REPO / "functions/teemopay", program)
    assert seen["result"] == 344  # Base64 of a 2048-bit signature
    assert "cryptography" in seen["loaded"]


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"LAMBDA_TASK_ROOT": "/var/task"}, True),
        ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "false"}, True),
        ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "true"}, False),
        ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "1"}, False),
        ({}, False),
        ({"LAMBDA_TASK_ROOT": "/var/task", "AWS_SAM_LOCAL": "true"}, False),
        ({"LAMBDA_TASK_ROOT": "/var/task", "AWS_CHALICE_CLI_MODE": "true"}, False),
    ],
)
def test_tracing_is_on_only_inside_lambda_and_not_disabled(env: dict[str, str], expected: bool) -> None:
    assert tracing_enabled(env) is expected
