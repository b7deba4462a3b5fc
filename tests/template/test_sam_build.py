"""`sam build` produces the artifacts Lambda runs, and they are complete on their own.

Two builds run side by side (about 40 s together, most of it pip fetching wheels):

* template.yaml with its defaults (arm64): what gets deployed. Its layout and pinned contents are
  checked, and its native libraries must really be aarch64.
* the same template with `--parameter-overrides Architecture=x86_64`, as the local MiniStack
  deploy builds it: its native libraries must be x86-64, which shows that `sam build` honours the
  parameter for the functions and for the layer's BuildArchitecture metadata. arm64 wheels cannot
  load on this x86_64 machine, so this build is the one whose handlers are imported, each in a
  fresh interpreter that sees nothing but the function's folder and the layer's python/ folder,
  in Lambda's order. That proves the artifacts need nothing from the developer's environment.

Both builds share one --cache-dir (SAM only reads it with --cached, which these fresh builds do
not use; it keeps the builds from writing a cache anywhere else).
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from template_support import (
    REGION,
    REPO,
    TEMPLATE,
    load_template,
    python_runtime,
    resources_of_type,
    sam_cli,
    tool_env,
)

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("sam-build")]
"""One worker builds for all of this file's tests (make test runs with --dist loadgroup)."""

ARCHITECTURES = ("arm64", "x86_64")
ELF_MACHINES = {"arm64": 183, "x86_64": 62}  # e_machine: EM_AARCH64, EM_X86_64
BUILD_TIMEOUT_SECONDS = 300
FUNCTION = "AWS::Serverless::Function"
LAYER = "AWS::Serverless::LayerVersion"
LAYER_PACKAGES = ("paysweep", "boto3", "botocore", "aws_lambda_powertools", "requests")


@dataclass(frozen=True)
class Build:
    architecture: str
    root: Path
    template: dict[str, Any]
    seconds: float

    def code_dir(self, logical_id: str) -> Path:
        properties = self.template["Resources"][logical_id]["Properties"]
        return self.root / (properties.get("CodeUri") or properties["ContentUri"])

    def layer_python(self) -> Path:
        (layer,) = resources_of_type(self.template, LAYER)
        return self.code_dir(layer) / "python"


class Builds:
    """Both builds, started together by the first test that needs one; a failure fails every test."""

    def __init__(self, workdir: Path) -> None:
        self._workdir = workdir
        self._outcome: dict[str, Build] | str | None = None

    def __getitem__(self, architecture: str) -> Build:
        if self._outcome is None:
            try:
                self._outcome = self._build_both()
            except pytest.fail.Exception as failure:  # a missing tool: every test reports it
                self._outcome = str(failure.msg)
        if isinstance(self._outcome, str):
            pytest.fail(self._outcome, pytrace=False)
        return self._outcome[architecture]

    def _build_both(self) -> dict[str, Build] | str:
        sam = sam_cli()
        cache = self._workdir / "cache"
        sources = {
            "arm64": ["--template-file", TEMPLATE.name],
            "x86_64": ["--template-file", TEMPLATE.name, "--parameter-overrides", "Architecture=x86_64"],
        }
        started = time.monotonic()
        running: dict[str, tuple[subprocess.Popen[str], Path, Path]] = {}
        for architecture, source in sources.items():
            # Separate parents: sam writes build.toml next to the build dir.
            build_dir = self._workdir / architecture / "build"
            log = self._workdir / f"sam-build-{architecture}.log"
            command = [
                str(sam),
                "build",
                *source,
                "--build-dir",
                str(build_dir),
                "--cache-dir",
                str(cache),
                "--parallel",
            ]
            with log.open("w") as output:
                process = subprocess.Popen(
                    command, cwd=REPO, env=tool_env(), stdout=output, stderr=subprocess.STDOUT, text=True
                )
            running[architecture] = (process, build_dir, log)
        builds: dict[str, Build] = {}
        failures: list[str] = []
        for architecture, (process, build_dir, log) in running.items():
            try:
                code = process.wait(timeout=max(1.0, BUILD_TIMEOUT_SECONDS - (time.monotonic() - started)))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                code = None
            output = log.read_text(encoding="utf-8", errors="replace")
            if code != 0 or "Build Succeeded" not in output:
                status = "timed out" if code is None else f"exited {code}"
                failures.append(
                    f"sam build ({architecture}) {status}:\n{' '.join(process.args)}\n{output[-5000:]}"
                )
                continue
            builds[architecture] = Build(
                architecture,
                build_dir,
                load_template(build_dir / "template.yaml"),
                time.monotonic() - started,
            )
        return "\n\n".join(failures) if failures else builds


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> Builds:
    return Builds(tmp_path_factory.mktemp("sam-build"))


# -- what the sources promise ------------------------------------------------------------------


def source_template() -> dict[str, Any]:
    return load_template()


def source_dir(logical_id: str) -> Path:
    properties = source_template()["Resources"][logical_id]["Properties"]
    return REPO / (properties.get("CodeUri") or properties["ContentUri"])


def pins(requirements: Path) -> dict[str, str]:
    """`name==version` lines of a pip-compiled requirements file, names normalised."""
    found: dict[str, str] = {}
    for line in requirements.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;#]+)", line)
        if match:
            found[normalise(match.group(1))] = match.group(2)
    return found


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed(folder: Path) -> dict[str, str]:
    """Distributions installed in a folder, from their *.dist-info names."""
    found: dict[str, str] = {}
    for info in folder.glob("*.dist-info"):
        name, _, version = info.name.removesuffix(".dist-info").partition("-")
        found[normalise(name)] = version
    return found


def python_files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*.py") if "__pycache__" not in p.parts}


def function_ids() -> list[str]:
    return sorted(resources_of_type(source_template(), FUNCTION))


def shared_objects(root: Path) -> Iterator[Path]:
    yield from (p for p in root.rglob("*") if p.is_file() and (p.suffix == ".so" or ".so." in p.name))


def elf_machine(path: Path) -> int | None:
    with path.open("rb") as handle:
        header = handle.read(20)
    if header[:4] != b"\x7fELF":
        return None
    return int.from_bytes(header[18:20], "little" if header[5] == 1 else "big")


# -- the tests ---------------------------------------------------------------------------------


def test_template_and_x86_64_copy_both_build(builds: Builds) -> None:
    for architecture in ARCHITECTURES:
        build = builds[architecture]
        assert set(resources_of_type(build.template, FUNCTION)) == set(function_ids())
        assert build.seconds < 240, f"sam build ({architecture}) took {build.seconds:.0f} s"


def test_layer_holds_the_engine_and_exactly_the_pinned_runtime_dependencies(builds: Builds) -> None:
    layer_python = builds["arm64"].layer_python()
    (layer_id,) = resources_of_type(source_template(), LAYER)
    assert layer_python.is_dir(), (
        f"the layer has no python/ folder: {sorted(os.listdir(layer_python.parent))}"
    )

    missing_packages = [
        name for name in LAYER_PACKAGES if not (layer_python / name / "__init__.py").is_file()
    ]
    assert not missing_packages, f"packages missing from {layer_python}: {missing_packages}"
    engine_sources = python_files(source_dir(layer_id) / "paysweep")
    assert {"sweep/engine.py", "aws/store.py", "runtime.py"} <= engine_sources
    missing_modules = engine_sources - python_files(layer_python / "paysweep")
    assert not missing_modules, f"engine modules missing from the built layer: {sorted(missing_modules)}"

    expected = pins(source_dir(layer_id) / "requirements.txt")
    assert installed(layer_python) == expected, (
        f"the layer's distributions differ from layers/common/requirements.txt:\n"
        f"  unexpected: {sorted(set(installed(layer_python).items()) - set(expected.items()))}\n"
        f"  missing: {sorted(set(expected.items()) - set(installed(layer_python).items()))}"
    )


@pytest.mark.parametrize("function_id", function_ids())
def test_each_function_holds_its_code_and_only_its_own_dependencies(builds: Builds, function_id: str) -> None:
    build = builds["arm64"]
    built, source = build.code_dir(function_id), source_dir(function_id)
    assert (built / "app.py").is_file(), f"{function_id}: app.py missing from {built}"
    missing = python_files(source) - python_files(built)
    assert not missing, f"{function_id}: modules missing from the build: {sorted(missing)}"

    requirements = source / "requirements.txt"
    expected = pins(requirements) if requirements.is_file() else {}
    assert installed(built) == expected, (
        f"{function_id}: built distributions {installed(built)} != pins {expected}"
    )
    doubled = set(installed(built)) & set(installed(build.layer_python()))
    assert not doubled, f"{function_id} ships again what the layer has: {sorted(doubled)}"


def test_cryptography_ships_with_teemopay_only(builds: Builds) -> None:
    build = builds["arm64"]
    assert (build.code_dir("TeemoPayFunction") / "cryptography" / "__init__.py").is_file(), (
        "TeemoPayFunction needs cryptography for its SHA1withRSA signatures"
    )
    kicc = build.code_dir("KiccWechatPayFunction")
    assert not (kicc / "cryptography").exists(), (
        "KiccWechatPayFunction must not carry cryptography (cold start)"
    )
    assert not (build.layer_python() / "cryptography").exists(), (
        "the shared layer must not carry cryptography"
    )


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_native_libraries_are_built_for_the_target_architecture(builds: Builds, architecture: str) -> None:
    build = builds[architecture]
    machines = {path: elf_machine(path) for path in shared_objects(build.root)}
    machines = {path: machine for path, machine in machines.items() if machine is not None}
    assert machines, f"no native library in the {architecture} build (cryptography and cffi have some)"
    wrong = sorted(
        str(p.relative_to(build.root)) for p, m in machines.items() if m != ELF_MACHINES[architecture]
    )
    assert not wrong, f"native libraries not built for {architecture}: {wrong[:20]}"


IMPORT_CHECK = """
import sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
import app
assert callable(app.lambda_handler)
import paysweep
print(paysweep.__file__)
"""


@pytest.mark.parametrize("function_id", function_ids())
def test_each_handler_imports_from_the_built_artifacts_alone(builds: Builds, function_id: str) -> None:
    build = builds["x86_64"]
    function_dir, layer_python = build.code_dir(function_id), build.layer_python()
    result = subprocess.run(
        [str(python_runtime()), "-I", "-S", "-c", IMPORT_CHECK, str(function_dir), str(layer_python)],
        cwd=build.root,
        env={"LANG": "C.UTF-8", "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, (
        f"{function_id}: the handler does not import from its artifacts:\n{result.stderr[-4000:]}"
    )
    loaded_from = Path(result.stdout.strip().splitlines()[-1])
    assert loaded_from.is_relative_to(layer_python), (
        f"{function_id}: paysweep came from {loaded_from}, not the layer"
    )
