"""Cold import of the handler modules, measured with `python -X importtime`.

Each measurement is a fresh interpreter that imports one thing, as a Lambda cold start
imports the handler. The judged figure (`measure_paired`) imports the baseline, then the
handler, in one interpreter; `measure` imports each alone, for comparison. The import path
is the Lambda layout (`/var/task` = the function's folder, then `/opt/python` = the common
layer) and the environment is Lambda-like: with
`LAMBDA_TASK_ROOT` set and no `POWERTOOLS_TRACE_DISABLED`, tracing is on, as in the deployed
function (`Tracing: Active`). The Tracer (the X-Ray SDK, patching botocore and requests) is
built at the first invocation and TeemoPay's RSA code is imported at the first signature:
`first_use` measures what those cost then, so nothing moved out of the import goes unreported.

The time of an import is the sum of the `self` times of every module it loaded, leaving
out the modules a bare interpreter loads at start-up. Bytecode caches are warm (one
unmeasured run first), for the handler and the baseline alike.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LAYER = REPO / "layers" / "common"
BASELINE = "import boto3, requests, aws_lambda_powertools"
HANDLERS = {"kicc-wechatpay": REPO / "functions" / "kicc_wechatpay", "teemopay": REPO / "functions" / "teemopay"}
OWN_PACKAGES = frozenset({"app", "paysweep", "kicc_adapter", "kicc_assumptions", "teemopay_adapter",
                          "teemopay_assumptions", "teemopay_signing"})


@dataclass(frozen=True)
class ImportSample:
    total_ms: float
    by_package_ms: dict[str, float]
    """Self time by top-level package."""
    via: dict[str, str]
    """Who pulled each top-level package in: the nearest importing package that is not the
    standard library ("our code" for the product's own modules)."""


@dataclass(frozen=True)
class ImportResult:
    name: str
    statement: str
    samples: list[ImportSample]

    @property
    def median_ms(self) -> float:
        return statistics.median(s.total_ms for s in self.samples)


def package_medians(samples: list[ImportSample]) -> dict[str, float]:
    """Median self time of each top-level package over the samples (0 where one lacks it)."""
    names = {name for sample in samples for name in sample.by_package_ms}
    return {name: statistics.median(s.by_package_ms.get(name, 0.0) for s in samples) for name in names}


def lambda_env(code_dir: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "PYTHONPATH": os.pathsep.join([str(code_dir), str(LAYER)]),
        "LAMBDA_TASK_ROOT": str(code_dir),
        "AWS_LAMBDA_FUNCTION_NAME": "paysweep-bench",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": "paysweep",
        "POWERTOOLS_METRICS_NAMESPACE": "paysweep",
    }


@dataclass
class _Line:
    name: str
    depth: int
    self_ms: float
    parent: int | None = None

    @property
    def package(self) -> str:
        return self.name.split(".")[0]


def _label(package: str) -> str:
    return "our code" if package in OWN_PACKAGES else package


def _parse(stderr: str, startup: frozenset[str]) -> tuple[ImportSample, frozenset[str]]:
    """Self time by top-level package, and who imported each package.

    `-X importtime` prints modules in post-order (a module after everything it imported),
    indented by nesting depth, so a line's parent is the next line that is less indented.
    """
    lines: list[_Line] = []
    waiting: list[int] = []
    for raw in stderr.splitlines():
        if not raw.startswith("import time:") or "self [us]" in raw:
            continue
        self_us, _cumulative, name = raw[len("import time:"):].split("|")
        depth = (len(name) - len(name.lstrip(" "))) // 2
        index = len(lines)
        lines.append(_Line(name.strip(), depth, int(self_us) / 1000))
        while waiting and lines[waiting[-1]].depth > depth:
            lines[waiting.pop()].parent = index
        waiting.append(index)
    by_package: dict[str, float] = defaultdict(float)
    via: dict[str, str] = {}
    for line in lines:
        if line.name in startup:
            continue
        by_package[line.package] += line.self_ms
        if line.package not in via:
            via[line.package] = _importer(lines, line)
    return ImportSample(sum(by_package.values()), dict(by_package), via), frozenset(line.name for line in lines)


def _importer(lines: list[_Line], line: _Line) -> str:
    """The nearest ancestor from another package that is not the standard library."""
    current = line
    while current.parent is not None:
        current = lines[current.parent]
        if current.package != line.package and current.package not in sys.stdlib_module_names:
            return _label(current.package)
    return "the statement"


def _python(program: str, code_dir: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """A fresh interpreter running `program` as a Lambda container of that function would."""
    completed = subprocess.run(
        [sys.executable, *options, "-c", program],
        env=lambda_env(code_dir), cwd=code_dir, capture_output=True, text=True, check=False, timeout=120,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{program!r} failed:\n{completed.stderr[-2000:]}")
    return completed


def _run(statement: str, code_dir: Path) -> str:
    """`python -X importtime` output of a statement."""
    return _python(statement, code_dir, "-X", "importtime").stderr


def _startup_modules() -> frozenset[str]:
    """What a bare interpreter loads before running anything (left out of every import)."""
    return _parse(_run("pass", HANDLERS["kicc-wechatpay"]), frozenset())[1]


def measure(runs: int = 5) -> tuple[ImportResult, dict[str, ImportResult]]:
    """(baseline, {provider: handler}) import times, `runs` interleaved samples each."""
    startup = _startup_modules()
    subjects = [("baseline", BASELINE, HANDLERS["kicc-wechatpay"])]
    subjects += [(name, "import app", path) for name, path in HANDLERS.items()]
    for _ in range(2):  # warm the OS file cache and the bytecode caches
        for _, statement, path in subjects:
            _run(statement, path)
    samples: dict[str, list[ImportSample]] = defaultdict(list)
    for _ in range(runs):
        for name, statement, path in subjects:
            sample, _ = _parse(_run(statement, path), startup)
            samples[name].append(sample)
    results = {name: ImportResult(name, statement, samples[name]) for name, statement, _ in subjects}
    baseline = results.pop("baseline")
    return baseline, results


FIRST_USES = {
    "kicc-wechatpay": {
        "Tracer (X-Ray SDK, patching)": "from paysweep.observability import tracer; tracer()",
    },
    "teemopay": {
        "Tracer (X-Ray SDK, patching)": "from paysweep.observability import tracer; tracer()",
        "RSA code (cryptography)": "import teemopay_signing; teemopay_signing.load_private_key('A')",
    },
}
"""What each handler defers past its import, as the statement its first use runs."""


def _first_use_ms(statement: str, code_dir: Path) -> float:
    program = (
        "import time, app\n"
        "started = time.perf_counter()\n"
        "try:\n"
        f"    {statement}\n"
        "except Exception:\n"  # a key that does not load still imported everything loading needs
        "    pass\n"
        "print((time.perf_counter() - started) * 1000)"
    )
    return float(_python(program, code_dir).stdout.split()[-1])


def first_use(runs: int = 5) -> dict[str, dict[str, float]]:
    """{handler: {what: median ms}}: the cost of each deferred set-up at its first use."""
    return {
        name: {
            what: statistics.median(_first_use_ms(statement, HANDLERS[name]) for _ in range(runs))
            for what, statement in uses.items()
        }
        for name, uses in FIRST_USES.items()
    }


MARK = "paysweep-bench: the handler's own import starts here"


@dataclass(frozen=True)
class PairedSample:
    """One cold interpreter that imports the baseline, then the handler module."""

    baseline: ImportSample
    handler: ImportSample
    """What `import app` added once the baseline was loaded."""

    @property
    def ratio(self) -> float:
        return (self.baseline.total_ms + self.handler.total_ms) / self.baseline.total_ms


def measure_paired(runs: int = 5) -> dict[str, list[PairedSample]]:
    """{provider: samples}: each handler's cold import split into the baseline's part and its own.

    One interpreter per sample imports the baseline, then the handler: the handler's cold import
    is the sum, and both parts are measured under the same load of this shared machine, where
    two interpreters a second apart can differ by a third.
    """
    startup = _startup_modules()
    program = f"{BASELINE}\nimport sys\nprint({MARK!r}, file=sys.stderr)\nimport app"
    for path in HANDLERS.values():  # warm the OS file cache and the bytecode caches
        _run(program, path)
    samples: dict[str, list[PairedSample]] = defaultdict(list)
    for _ in range(runs):
        for name, path in HANDLERS.items():
            before, _, after = _run(program, path).partition(MARK)
            baseline, loaded = _parse(before, startup)
            handler, _ = _parse(after, startup | loaded)
            samples[name].append(PairedSample(baseline, handler))
    return dict(samples)
