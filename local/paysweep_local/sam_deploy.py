"""The README's deploy commands, run for real (`make build`, then `sam deploy`) into a MiniStack.

Nothing here re-implements SAM or CloudFormation: the commands are read from the README's
"Deploying to AWS" section, so the tests and the documentation cannot drift apart, and run with
only local additions: an x86_64 build in a temporary folder, the endpoint, and values for the
README's `...` placeholders. One build serves every deploy of a process.

After the build, a copy of the built template loses exactly the resources MiniStack cannot create
(`unsupported_resources`); the deploy names them in its output and the README lists them.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from paysweep_local.ministack import REGION, MiniStack

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
SAM_ENV = "PAYSWEEP_SAM"
DEFAULT_SAM = REPO / ".tools" / "sam" / "bin" / "sam"
COMMAND_TIMEOUT_SECONDS = 600
LOCAL_ARCHITECTURE = "x86_64"
"""arm64 wheels (cryptography) cannot load on this x86_64 machine, where MiniStack runs them."""


class DeployError(RuntimeError):
    """A deploy command failed; the message has the command and the end of its output."""


# -- the README's commands --------------------------------------------------------------------


@dataclass(frozen=True)
class ReadmeCommands:
    """The two commands of "Deploying to AWS", step 2, as a user types them (split by shlex)."""

    build: list[str]
    deploy: list[str]


def readme_commands(readme: Path = README) -> ReadmeCommands:
    """Read the build and deploy commands from the README (continuations joined, comments dropped)."""
    text = readme.read_text(encoding="utf-8")
    section = text.split("## Deploying to AWS", 1)[1].split("\n## ", 1)[0]
    step = section.split("2. Build and deploy:", 1)[1]
    block = re.search(r"```sh\n(.*?)```", step, re.DOTALL)
    if block is None:
        raise DeployError("README: no ```sh block in 'Deploying to AWS', step 2")
    joined = re.sub(r"\\\n\s*", " ", block.group(1))
    commands = [shlex.split(line, comments=True) for line in joined.splitlines()]
    commands = [command for command in commands if command]
    builds = [c for c in commands if c[:2] == ["make", "build"]]
    deploys = [c for c in commands if len(c) > 1 and c[0].endswith("/sam") and c[1] == "deploy"]
    if len(builds) != 1 or len(deploys) != 1 or len(commands) != 2:
        raise DeployError(f"README step 2 must hold exactly `make build` and one `sam deploy`: {commands}")
    return ReadmeCommands(builds[0], deploys[0])


def parameter_overrides(deploy: Sequence[str]) -> dict[str, str]:
    """The `--parameter-overrides Name=value ...` of a deploy command, in order."""
    overrides: dict[str, str] = {}
    if "--parameter-overrides" not in deploy:
        return overrides
    for word in deploy[deploy.index("--parameter-overrides") + 1 :]:
        if word.startswith("--"):
            break
        name, _, value = word.partition("=")
        overrides[name] = value
    return overrides


def with_parameters(deploy: Sequence[str], values: Mapping[str, str]) -> list[str]:
    """The deploy command with its overrides' `...` placeholders filled and local ones added.

    A placeholder without a value is an error: the README grew a parameter the local deploy
    does not know how to fill.
    """
    current = parameter_overrides(deploy)
    missing = [name for name, value in current.items() if "..." in value and name not in values]
    if missing:
        raise DeployError(f"no local value for the README's placeholder parameters {missing}")
    words = list(deploy)
    if "--parameter-overrides" in words:
        start = words.index("--parameter-overrides")
        del words[start : start + 1 + len(current)]
    return [*words, "--parameter-overrides", *(f"{name}={value}" for name, value in {**current, **values}.items())]


# -- what MiniStack cannot take -----------------------------------------------------------------


def unsupported_resources(template: Mapping[str, Any]) -> dict[str, str]:
    """Resources of the built template MiniStack cannot create, each with the reason: so far only
    metric-math alarms (`Metrics:`), which fail its stack. The template rules still check them."""
    return {
        name: "metric-math alarm (Metrics:): MiniStack's CloudFormation fails the stack on it"
        for name, body in template.get("Resources", {}).items()
        if body.get("Type") == "AWS::CloudWatch::Alarm" and "Metrics" in (body.get("Properties") or {})
    }


def strip_unsupported(built_template: Path, local_template: Path) -> dict[str, str]:
    """Write the built template less the unsupported resources; returns them with reasons."""
    from samtranslator.yaml_helper import yaml_parse

    template = dict(yaml_parse(built_template.read_text(encoding="utf-8")))
    removed = unsupported_resources(template)
    for name in removed:
        del template["Resources"][name]
    rest = json.dumps({k: v for k, v in template.items() if k != "Parameters"})
    dangling = [name for name in removed if re.search(rf"\b{name}\b", rest)]
    if dangling:
        raise DeployError(f"removed resources are still referenced: {sorted(dangling)}")
    local_template.write_text(yaml.safe_dump(template, sort_keys=False, width=200), encoding="utf-8")
    return removed


# -- running the commands -----------------------------------------------------------------------


def sam_path() -> Path:
    return Path(os.environ.get(SAM_ENV) or DEFAULT_SAM)


@dataclass
class Build:
    """`make build`'s output, with the template MiniStack can take beside the built one."""

    folder: Path
    command: list[str]
    removed: dict[str, str]
    seconds: float

    @property
    def template(self) -> Path:
        return self.folder / "template.ministack.yaml"


@dataclass
class Deployment:
    """What a local deploy did: outputs, removed resources, the commands run and their times."""

    stack_name: str
    outputs: dict[str, str]
    removed: dict[str, str]
    build_folder: Path
    commands: list[list[str]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


def run_command(command: Sequence[str], env: Mapping[str, str], log: Path) -> float:
    """Run one command with its output in `log`; returns its duration, raises DeployError on failure."""
    started = time.monotonic()
    with log.open("w", encoding="utf-8") as output:
        code = subprocess.run(list(command), cwd=REPO, env=dict(env), stdout=output, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, timeout=COMMAND_TIMEOUT_SECONDS, check=False).returncode
    if code != 0:
        tail = log.read_text(encoding="utf-8", errors="replace")[-6000:]
        raise DeployError(f"`{shlex.join(command)}` exited {code}:\n{tail}")
    return time.monotonic() - started


def tool_env(ministack: MiniStack | None = None) -> dict[str, str]:
    """The SAM CLI's environment: offline telemetry, the product venv first, MiniStack as AWS."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(ministack.env() if ministack else {}, SAM_CLI_TELEMETRY="0",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}")
    env[SAM_ENV] = str(sam_path())
    return env


def build(workdir: Path) -> Build:
    """The README's `make build` (x86_64, into `workdir`); one build serves any number of deploys."""
    workdir.mkdir(parents=True, exist_ok=True)
    folder = workdir / "build"
    local = f"--parameter-overrides Architecture={LOCAL_ARCHITECTURE} --build-dir {folder} --cache-dir {workdir / 'cache'}"
    command = [*readme_commands().build, f"SAM={sam_path()}", f"BUILD_ARGS={local}"]
    seconds = run_command(command, tool_env(), workdir / "sam-build.log")
    result = Build(folder, command, {}, seconds)
    result.removed = strip_unsupported(folder / "template.yaml", result.template)
    return result


def deploy(ministack: MiniStack, built: Build, values: Mapping[str, str]) -> Deployment:
    """The README's `sam deploy` of `built` into `ministack`; `values` fill the placeholders."""
    command = with_parameters(readme_commands().deploy, {**values, "Architecture": LOCAL_ARCHITECTURE})
    command = [str(sam_path()), *command[1:], "--template-file", str(built.template), "--region", REGION,
               "--no-progressbar"]
    stack_name = command[command.index("--stack-name") + 1]
    deployment = Deployment(stack_name, {}, built.removed, built.folder, seconds={"build": built.seconds})
    log = built.folder.parent / f"sam-deploy-{ministack.port}.log"
    deployment.seconds["deploy"] = run_command(command, tool_env(ministack), log)
    deployment.commands = [built.command, command]
    stack = ministack.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"][0]
    if stack["StackStatus"] not in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
        raise DeployError(f"stack {stack_name} is {stack['StackStatus']}: {stack.get('StackStatusReason')}")
    deployment.outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    return deployment


def create_secret(ministack: MiniStack, name: str, value: Mapping[str, Any]) -> str:
    """README step 1 (`aws secretsmanager create-secret`), through the SDK; returns the ARN."""
    client = ministack.client("secretsmanager")
    return str(client.create_secret(Name=name, SecretString=json.dumps(value))["ARN"])
