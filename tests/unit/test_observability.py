"""What the product lets its tracer and its SDK record (no network).

- Tracer never captures responses: every `capture_lambda_handler` / `capture_method` in the
  product says `capture_response=False`, and the template turns response and error capture off
  for every function (`POWERTOOLS_TRACER_CAPTURE_RESPONSE` / `_ERROR`), so even a decorator added
  later without the argument records neither.
- The product writes no trace metadata of its own.
- botocore never logs below INFO (its DEBUG lines hold every AWS response body, the provider
  secret from Secrets Manager included), whatever level the root logger is given.

The integration test `tests/integration/test_secret_leaks.py` checks the same end to end, on the
trace documents a real sweep sends.
"""

from __future__ import annotations

import ast
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PRODUCT_SOURCES = sorted([*(REPO / "layers/common/paysweep").glob("*.py"), *(REPO / "functions").glob("*/*.py")])
CAPTURING_DECORATORS = {"capture_lambda_handler", "capture_method"}


def _tracer_uses(path: Path) -> Iterator[tuple[str, str, ast.expr | None]]:
    """(where, decorator name, its `capture_response` argument or None) for each use in a module."""
    tree = ast.parse(path.read_text(), filename=str(path))
    calls = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in CAPTURING_DECORATORS:
            calls.add(id(node.func))
            argument = next((k.value for k in node.keywords if k.arg == "capture_response"), None)
            yield f"{path.relative_to(REPO)}:{node.lineno}", node.func.attr, argument
    for node in ast.walk(tree):  # used bare, as `@tracer.capture_method`: the default captures
        if isinstance(node, ast.Attribute) and node.attr in CAPTURING_DECORATORS and id(node) not in calls:
            yield f"{path.relative_to(REPO)}:{node.lineno}", node.attr, None


def test_the_product_sources_are_found() -> None:
    names = {p.name for p in PRODUCT_SOURCES}
    assert {"runtime.py", "observability.py", "kicc_adapter.py", "teemopay_adapter.py"} <= names


def test_every_tracer_decorator_turns_response_capture_off() -> None:
    uses = [use for path in PRODUCT_SOURCES for use in _tracer_uses(path)]
    assert any(name == "capture_lambda_handler" for _, name, _ in uses), "the handler is no longer traced?"
    capturing = [
        f"{where} {name}" for where, name, argument in uses
        if not (isinstance(argument, ast.Constant) and argument.value is False)
    ]
    assert not capturing, f"tracer decorators that may capture the response: {capturing}"


def test_the_product_writes_no_trace_metadata() -> None:
    """Metadata is free-form and unindexed: the place a response or a secret would slip into a trace."""
    writes = []
    for path in PRODUCT_SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr == "put_metadata":
                writes.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert not writes, f"trace metadata written at {writes}"


@pytest.fixture(scope="module")
def template() -> dict:
    from samtranslator.yaml_helper import yaml_parse

    return dict(yaml_parse((REPO / "template.yaml").read_text()))


def test_the_template_turns_tracer_response_and_error_capture_off(template: dict) -> None:
    function_globals = template["Globals"]["Function"]
    assert function_globals.get("Tracing") == "Active"  # traces exist, so what they hold matters
    variables = function_globals["Environment"]["Variables"]
    assert variables.get("POWERTOOLS_TRACER_CAPTURE_RESPONSE") == "false"
    assert variables.get("POWERTOOLS_TRACER_CAPTURE_ERROR") == "false"
    functions = {k: r for k, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}
    assert functions
    for name, resource in functions.items():
        own = resource.get("Properties", {}).get("Environment", {}).get("Variables", {})
        for variable in ("POWERTOOLS_TRACER_CAPTURE_RESPONSE", "POWERTOOLS_TRACER_CAPTURE_ERROR"):
            assert own.get(variable, "false") == "false", f"{name} turns {variable} back on"
        assert resource.get("Properties", {}).get("Tracing", "Active") == "Active"


@pytest.fixture
def root_level() -> Iterator[logging.Logger]:
    root, botocore = logging.getLogger(), logging.getLogger("botocore")
    saved = root.level, botocore.level
    yield root
    root.setLevel(saved[0])
    botocore.setLevel(saved[1])


@pytest.mark.parametrize(
    ("root", "expected"),
    [(logging.DEBUG, logging.INFO), (logging.INFO, logging.INFO), (logging.WARNING, logging.WARNING)],
)
def test_botocore_never_logs_its_debug_lines(root_level: logging.Logger, root: int, expected: int) -> None:
    from paysweep.observability import keep_sdk_wire_logs_out

    logging.getLogger("botocore").setLevel(logging.NOTSET)
    root_level.setLevel(root)
    keep_sdk_wire_logs_out()
    botocore = logging.getLogger("botocore.parsers")
    assert botocore.getEffectiveLevel() == expected
    assert not botocore.isEnabledFor(logging.DEBUG)


def test_importing_the_product_applies_the_botocore_floor() -> None:
    """As Lambda starts it: the runtime sets the root level (here DEBUG), then imports the handler."""
    program = (
        "import logging; logging.getLogger().setLevel(logging.DEBUG); import paysweep.observability; "
        "print(logging.getLogger('botocore.parsers').getEffectiveLevel())"
    )
    env = {**os.environ, "POWERTOOLS_TRACE_DISABLED": "true", "PYTHONPATH": str(REPO / "layers/common")}
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, env=env, timeout=60, check=True)
    assert int(done.stdout.split()[-1]) == logging.INFO
