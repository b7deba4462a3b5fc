"""Helpers of the template and security-tooling tests (tests/template).

The tools live in three environments (README, "Two commands"): cfn-lint and bandit in the
product venv (next to ``sys.executable``), the SAM CLI and checkov in their own tool envs under
``.tools/``. ``make test`` passes the latter two as PAYSWEEP_SAM and PAYSWEEP_CHECKOV; without
them the repository's ``.tools`` paths are used. A missing tool FAILS the test that needs it,
with the command that installs it: these checks are never skipped.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yaml"
README = REPO / "README.md"
VENV_BIN = Path(sys.executable).parent
"""The product venv's bin dir: cfn-lint, bandit and python3.13 live here."""

REGION = "us-east-1"


def tool(env_var: str, fallback: Path) -> Path:
    """Path of an external tool; fails the calling test (never skips) when it is missing."""
    configured = os.environ.get(env_var)
    path = Path(configured) if configured else fallback
    if not (path.is_file() and os.access(path, os.X_OK)):
        origin = f"${env_var}={configured}" if configured else f"the default {fallback} (${env_var} unset)"
        pytest.fail(
            f"{path.name} not found at {origin}: run `make setup` in {REPO} "
            "(it creates .venv/ and .tools/ from requirements/*.txt)",
            pytrace=False,
        )
    return path


def venv_tool(name: str) -> Path:
    """A console script of the product venv (cfn-lint, bandit), next to sys.executable."""
    path = VENV_BIN / name
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(
            f"{name} not found at {path}: run `make setup` in {REPO} (it installs requirements/dev.txt "
            "into .venv/) and run the tests with .venv/bin/python",
            pytrace=False,
        )
    return path


def sam_cli() -> Path:
    return tool("PAYSWEEP_SAM", REPO / ".tools" / "sam" / "bin" / "sam")


def checkov_cli() -> Path:
    return tool("PAYSWEEP_CHECKOV", REPO / ".tools" / "checkov" / "bin" / "checkov")


def python_runtime() -> Path:
    """The Lambda runtime's Python (3.13), found the way the Makefile finds it (scripts/find-python)."""
    found = subprocess.run(
        [str(REPO / "scripts" / "find-python")], capture_output=True, text=True, check=False, timeout=60
    )
    if found.returncode != 0 or not found.stdout.strip():
        pytest.fail(f"scripts/find-python found no Python 3.13: {found.stderr.strip()}", pytrace=False)
    return Path(found.stdout.strip())


def tool_env(**extra: str) -> dict[str, str]:
    """Environment of a tool subprocess: offline SAM CLI, the venv first on PATH."""
    env = dict(os.environ)
    env.update(
        SAM_CLI_TELEMETRY="0",
        AWS_DEFAULT_REGION=env.get("AWS_DEFAULT_REGION", REGION),
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
    )
    env.update(extra)
    return env


def run(
    command: Sequence[str | Path],
    *,
    timeout: float,
    cwd: Path = REPO,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a tool and return its result (stdout and stderr captured as text)."""
    try:
        return subprocess.run(
            [str(part) for part in command],
            cwd=cwd,
            env=dict(env) if env is not None else tool_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{' '.join(map(str, command))} did not finish in {timeout:.0f} s", pytrace=False)


def describe(result: subprocess.CompletedProcess[str], limit: int = 6000) -> str:
    """A failure message with the command, its exit code and the end of its output."""
    output = (result.stdout + "\n" + result.stderr).strip()
    if len(output) > limit:
        output = "...\n" + output[-limit:]
    return f"`{' '.join(result.args)}` exited {result.returncode}:\n{output}"


# -- the template --------------------------------------------------------------------------


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """template.yaml as SAM reads it (!Ref, !GetAtt, !Sub... become Ref/Fn:: dicts).

    YAML aliases (*Name, the shared IAM grants) come back as copies, as `sam build` and `sam
    deploy` write them out for CloudFormation: the parser alone would hand back one shared
    object, which the SAM translator, changing it in place for one function, would change for
    every function that aliases it.
    """
    from samtranslator.yaml_helper import yaml_parse

    return dict(json.loads(json.dumps(yaml_parse(path.read_text(encoding="utf-8")))))


def resources_of_type(template: Mapping[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {name: body for name, body in template["Resources"].items() if body.get("Type") == resource_type}


def sam_translate(template: Mapping[str, Any]) -> dict[str, Any]:
    """The template after the SAM transform (what CloudFormation deploys), computed offline.

    Local code folders are replaced by S3 URIs, as `sam package` does; managed policies must
    be ARNs (a policy *name* would need IAM, and fails here).
    """
    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    document = copy.deepcopy(dict(template))
    for name, body in document["Resources"].items():
        properties = body.get("Properties") or {}
        for key in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(key), str):
                properties[key] = f"s3://paysweep-artifacts/{name}.zip"

    def no_managed_policy_lookup() -> dict[str, str]:
        raise AssertionError("the template names a managed policy by name: use its ARN")

    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=REGION))
    return translator.translate(
        document, parameter_values={}, get_managed_policy_map=no_managed_policy_lookup
    )


SCHEDULE_EVENT_TYPES = ("ScheduleV2", "Schedule")
ESM = "AWS::Lambda::EventSourceMapping"


def provider_functions(template: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The provider functions, found generically: every AWS::Serverless::Function that a schedule
    sweeps (so a new provider's function is covered without editing the tests)."""
    found = {
        name: body
        for name, body in resources_of_type(template, "AWS::Serverless::Function").items()
        if any(
            event.get("Type") in SCHEDULE_EVENT_TYPES
            for event in ((body.get("Properties") or {}).get("Events") or {}).values()
        )
    }
    assert found, "template.yaml has no scheduled (provider) function"
    return found


def mappings_of(template: Mapping[str, Any], function: str) -> dict[str, dict[str, Any]]:
    """The AWS::Lambda::EventSourceMapping resources that invoke `function` (by logical id)."""
    return {
        name: body
        for name, body in resources_of_type(template, ESM).items()
        if (body.get("Properties") or {}).get("FunctionName") == {"Ref": function}
    }


def get_att(resource: str, attribute: str) -> dict[str, list[str]]:
    """`!GetAtt resource.attribute` as the template parser gives it."""
    return {"Fn::GetAtt": [resource, attribute]}


def walk(node: Any) -> Iterator[Any]:
    """Every value of a nested template fragment, depth first."""
    yield node
    if isinstance(node, Mapping):
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)
