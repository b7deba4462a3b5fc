"""`make bench`: paysweep's performance figures, each beside its limit or baseline.

Runs against the local stack (`paysweep_local.stack`: MiniStack with the template deployed by
`sam build` + `sam deploy`, the provider simulators; no AWS account), prints every figure as it
is measured, as a ratio to its limit or baseline measured in the same run, checks each target
(met or missed; nothing here is a test), and writes `bench/results/results.json` (or
`results-quick.json`) and `bench/results/throughput.png`.

    make bench                              # every figure (about 10 minutes on a shared 2-core VM)
    make bench ARGS=--quick                 # smaller N everywhere (about 3 minutes)
    make bench ARGS="--only sweep,imports"  # some figures (their prerequisites run too)
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.context import Context, Sizes
from bench.figures import DEPENDS, FIGURES, NEEDS_STACK
from bench.report import Report, seconds

RESULTS = REPO / "bench" / "results"


def machine() -> dict[str, Any]:
    """Where the figures come from: they mean little without it."""
    cpu = "unknown"
    flags = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name") and cpu == "unknown":
            cpu = line.split(":", 1)[1].strip()
        if line.startswith("flags") and not flags:
            flags = line
    memory_kb = next((int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal:")), 0)
    return {
        "cpus": os.cpu_count(),
        "cpusUsable": len(os.sched_getaffinity(0)),
        "cpuModel": cpu,
        "hypervisor": "hypervisor" in flags.split(),
        "memoryGiB": round(memory_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()} {platform.machine()}",
        "loadAverage": [round(v, 2) for v in os.getloadavg()],
        "startedAt": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def selected(only: list[str] | None) -> list[str]:
    """The figures to run, prerequisites added, in the canonical order."""
    if not only:
        return list(FIGURES)
    wanted = {name.strip() for names in only for name in names.split(",") if name.strip()}
    unknown = wanted - set(FIGURES)
    if unknown:
        raise SystemExit(f"unknown figure(s) {sorted(unknown)}; choose from {', '.join(FIGURES)}")
    added = True
    while added:
        extra = {dep for name in wanted for dep in DEPENDS.get(name, ())} - wanted
        added = bool(extra)
        wanted |= extra
    return [name for name in FIGURES if name in wanted]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller N everywhere (a smoke run, not the figures)")
    parser.add_argument("--only", action="append", metavar="NAME[,NAME]",
                        help=f"run only these figures: {', '.join(FIGURES)}")
    args = parser.parse_args(argv)
    names = selected(args.only)

    report = Report()
    info = machine()
    report.record("machine", info)
    report.record("mode", "quick" if args.quick else "full")
    report.say(f"paysweep benchmark ({'quick' if args.quick else 'full'} run): {', '.join(names)}")
    report.say(f"machine: {info['cpusUsable']} of {info['cpus']} CPUs usable, {info['cpuModel']}"
               f"{' (virtual machine)' if info['hypervisor'] else ''}, {info['memoryGiB']} GiB; Python {info['python']}; "
               f"{info['system']}; load average {info['loadAverage']} at start")

    RESULTS.mkdir(parents=True, exist_ok=True)
    work_dir = Path(tempfile.mkdtemp(prefix="paysweep-bench-"))
    ctx = Context(report=report, sizes=Sizes.quick() if args.quick else Sizes(), work_dir=work_dir, results_dir=RESULTS)
    started = time.monotonic()
    try:
        for name in names:
            figure_started = time.monotonic()
            try:
                if name in NEEDS_STACK:
                    ctx.bench()  # started (and calibrated) before the first figure that needs it
                FIGURES[name](ctx)
            except Exception as error:  # noqa: BLE001 - one broken figure must not hide the others
                report.say(f"  figure '{name}' could not be produced: {type(error).__name__}: {error}")
                report.say("  " + traceback.format_exc().replace("\n", "\n  "))
                report.heading(name, f"{name}: not produced")
                report.check(name, "n/a", "-", None, f"{type(error).__name__}: {error}")
            report.say(f"  ({name}: {seconds(time.monotonic() - figure_started)})")
        if ctx.calibration is not None:
            try:
                ctx.recalibrate()
            except Exception as error:  # noqa: BLE001 - the figures are measured; report and go on
                report.say(f"  the closing calibration failed: {type(error).__name__}: {error}")
    finally:
        ctx.close()
        shutil.rmtree(work_dir, ignore_errors=True)
    report.summary()
    elapsed = time.monotonic() - started
    report.say(f"  whole run: {seconds(elapsed)}; load average at the end {[round(v, 2) for v in os.getloadavg()]}")
    report.record("elapsedSeconds", round(elapsed, 1))
    path = RESULTS / ("results-quick.json" if args.quick else "results.json")
    report.write_json(path)
    report.say(f"  results: {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
