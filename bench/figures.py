"""The figures of issue 6, one function each, in the order `make bench` prints them.

Every figure measures in this run; nothing is a constant. Where the local emulator, not
the product, limits a figure, the figure says so next to the emulator's own measured
capacity (see `Calibration`), so the reader can tell the product's overhead from the
emulator's.
"""

from __future__ import annotations

import json
import math
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from paysweep.domain.clock import to_iso

from bench import cost, importtime
from bench.harness import (
    KICC,
    MAIN_MIX,
    Bench,
    Calibration,
    SweepRun,
    later_order_item,
    terminal_order_item,
)
from bench.report import Report, seconds

LAMBDA_FULL_VCPU_MB = 1769
"""Lambda gives a function CPU in proportion to its memory: 1,769 MB is one vCPU (AWS docs)."""


@dataclass(frozen=True)
class Sizes:
    """How big each figure is (the issue's sizes); `Sizes.quick()` for `--quick`."""

    sweep_orders: int = 2000
    concurrency: int = 64
    latency_s: float = 0.5
    baseline_orders: int = 50
    throughput_levels: tuple[int, ...] = (1, 8, 32, 64, 128)
    throughput_rounds: int = 8
    calls_orders: int = 200
    rss_orders: int = 10_000
    index_total: int = 50_000
    index_due: int = 1000
    index_later: int = 4000
    shards_orders: int = 256
    shards_concurrency: int = 8
    rate_limit: int = 20
    rate_orders: int = 200
    conflict_orders: int = 256
    conflict_concurrency: int = 8
    conflict_rounds: int = 3
    audit_orders: int = 200
    cpu_orders: int = 1000
    cpu_concurrency: int = 32
    cpu_rounds: int = 2

    @classmethod
    def quick(cls) -> Sizes:
        return cls(sweep_orders=500, baseline_orders=20, throughput_rounds=4, calls_orders=100, rss_orders=2000,
                   index_total=10_000, index_due=200, index_later=800, shards_orders=128, rate_orders=100,
                   conflict_orders=128, conflict_rounds=2, cpu_orders=300, cpu_rounds=1, audit_orders=100)


@dataclass
class Context:
    """What the figures share: the report, the stage (started on first use), measured runs."""

    report: Report
    sizes: Sizes
    work_dir: Path
    results_dir: Path
    _bench: Bench | None = None
    calibration: Calibration | None = None
    """The latest calibration of the emulator."""
    calibrations: list[tuple[str, Calibration]] = field(default_factory=list)
    runs: dict[str, SweepRun] = field(default_factory=dict)
    wru: dict[str, Any] | None = None
    """Measured write units per check (by kind, steady state) and the sizes the cost needs."""
    audit_wru: float | None = None
    """Measured write units an order decided FAILED EXPIRED costs for its audits (`audits`)."""

    def bench(self) -> Bench:
        """The local stack, started and calibrated on first use."""
        if self._bench is None:
            report = self.report
            report.heading("emulator", "Emulator capacity (calibration)")
            started = time.monotonic()
            self._bench = Bench(self.work_dir).start()
            report.say(f"  local stack up in {seconds(time.monotonic() - started)}: the real template.yaml in the moto "
                       "emulator, the KICC simulator, the real handler under awslambdaric in a local sandbox")
            cal = self._bench.calibrate()
            self.calibration = cal
            self.calibrations.append(("start", cal))
            report.say(f"  {cal.calls:,} conditional UpdateItem calls (a claim's shape) from {cal.threads} client threads: "
                       f"{cal.calls_per_second:,.0f} calls/s")
            report.say(f"  emulator CPU while calibrating: {cal.emulator_cpu_share:.0%} of one core, client "
                       f"{cal.client_cpu_share:.0%} (the emulator serialises every request under one lock, and its "
                       "werkzeug server closes the connection after each answer: one TCP connection per AWS call)")
            report.say("  'emulator-bound' below: a sweep's AWS calls divided by the rate calibrated closest before it "
                       "(the machine is shared, so the emulator is re-calibrated before each emulator-bound figure)")
        return self._bench

    def calibrate_now(self, label: str) -> Calibration:
        """Measure the emulator's capacity again, right before an emulator-bound figure."""
        cal = self.bench().calibrate()
        self.calibration = cal
        self.calibrations.append((label, cal))
        self.report.say(f"  emulator capacity just before: {cal.calls_per_second:,.0f} calls/s "
                        f"(emulator CPU {cal.emulator_cpu_share:.0%} of a core)")
        return cal

    def attach(self, run: SweepRun) -> SweepRun:
        """Judge a run against the calibration closest before it."""
        if run.calibration is None:
            run.calibration = self.cal()
        return run

    def recalibrate(self) -> None:
        """The emulator's capacity again at the end: on a shared machine it drifts."""
        assert self.calibration is not None
        self.report.heading("emulator", "Emulator capacity through the run")
        again = self.bench().calibrate()
        self.calibrations.append(("end", again))
        self.report.table(["calibrated", "calls/s", "emulator CPU"],
                          [[label, f"{c.calls_per_second:,.0f}", f"{c.emulator_cpu_share:.0%}"]
                           for label, c in self.calibrations])
        self.report.record("emulator", [asdict(c) | {"at": label, "callsPerSecond": c.calls_per_second}
                                        for label, c in self.calibrations])

    def close(self) -> None:
        """Stop the local stack, if it was started."""
        if self._bench is not None:
            self._bench.stop()
            self._bench = None

    def cal(self) -> Calibration:
        self.bench()
        assert self.calibration is not None
        return self.calibration


Figure = Callable[[Context], None]


# ----------------------------------------------------------------------------------------
# Shared pieces
# ----------------------------------------------------------------------------------------


def describe_run(ctx: Context, run: SweepRun) -> None:
    """The lines every sweep figure prints about where the time went."""
    report, cal = ctx.report, ctx.attach(run).calibration
    assert cal is not None
    emulator_s = run.emulator_bound_s(cal)
    report.say(f"  AWS calls: {run.aws_calls:,} ({run.dynamodb_reads:,} DynamoDB reads, {run.dynamodb_writes:,} writes, "
               f"{run.publish_batches:,} SNS PublishBatch); at the emulator's {cal.calls_per_second:,.0f} calls/s "
               f"they alone take {seconds(emulator_s)}")
    report.say(f"  CPU during the sweep: emulator {run.cpu_share('emulator'):.0%} of a core, sweeper "
               f"{run.cpu_share('sweeper'):.0%}, simulator (bench process) {run.cpu_share('bench'):.0%}; "
               f"sweeper CPU {1000 * run.cpu['sweeper'] / max(1, run.checked):.1f} ms per order")
    for problem in run.problems():
        report.say(f"  WARNING: {problem}")


def measured_or(ctx: Context, key: str, make: Callable[[], SweepRun]) -> SweepRun:
    """A run measured earlier in this run of the bench, or measured now."""
    if key not in ctx.runs:
        ctx.runs[key] = ctx.attach(make())
    return ctx.runs[key]


def main_sweep(ctx: Context) -> SweepRun:
    s = ctx.sizes
    return measured_or(ctx, "sweep", lambda: ctx.bench().measure(
        label="sweep", kinds=MAIN_MIX.kinds(s.sweep_orders), concurrency=s.concurrency, latency_s=s.latency_s))


def baseline_sweep(ctx: Context) -> SweepRun:
    s = ctx.sizes
    return measured_or(ctx, "baseline", lambda: ctx.bench().measure(
        label="baseline", kinds=MAIN_MIX.kinds(s.baseline_orders), concurrency=1, latency_s=s.latency_s))


# ----------------------------------------------------------------------------------------
# The figures
# ----------------------------------------------------------------------------------------


def fig_imports(ctx: Context) -> None:
    report = ctx.report
    report.heading("imports", "Cold import of each handler module")
    runs = 5
    paired = importtime.measure_paired(runs)
    report.say(f"  python -X importtime, {runs} fresh interpreters per handler (interleaved), Lambda layout and "
               "environment (tracing on, as deployed), bytecode caches warm, interpreter start-up excluded. Each "
               f"interpreter imports the baseline `{importtime.BASELINE}`, then the handler module: the handler's "
               "cold import is the sum, its ratio is sum / baseline, both parts timed under the same load")
    rows, record = [], {"runs": runs, "handlers": {}}
    for name, samples in paired.items():
        ratio = statistics.median(sample.ratio for sample in samples)
        baseline_ms = statistics.median(sample.baseline.total_ms for sample in samples)
        total_ms = statistics.median(sample.baseline.total_ms + sample.handler.total_ms for sample in samples)
        packages = importtime.package_medians([sample.handler for sample in samples])
        own = sum(v for p, v in packages.items() if p in importtime.OWN_PACKAGES)
        tracing = tracing_packages(samples[0].handler, packages)
        tracing_ms = sum(packages[p] for p in tracing)
        others = sorted(((v, p) for p, v in packages.items()
                         if p not in importtime.OWN_PACKAGES and p not in tracing and v >= 0.5), reverse=True)
        rows.append([name, f"{baseline_ms:.0f} ms", f"{total_ms:.0f} ms", f"{ratio:.2f}",
                     ", ".join(f"{sample.ratio:.2f}" for sample in samples), f"{own:.0f} ms", f"{tracing_ms:.0f} ms",
                     ", ".join(f"{p} {v:.0f} ({samples[0].handler.via.get(p, '?')})" for v, p in others[:3])])
        record["handlers"][name] = {
            "ratio": ratio, "baselineMs": baseline_ms, "medianMs": total_ms,
            "ratios": [round(sample.ratio, 3) for sample in samples], "ownModulesMs": own,
            "xrayTracingMs": tracing_ms, "otherMs": {p: round(v, 1) for v, p in others},
        }
    report.table(["handler", "baseline", "handler", "ratio", "each interpreter", "our modules", "X-Ray tracing",
                  "other imports the baseline lacks, ms (imported by)"], rows)
    report.say("  X-Ray tracing: aws_xray_sdk and what it pulls in (wrapt, asyncio, ...) if the import loads it; "
               "the Tracer is built at the first invocation instead")
    baseline, handlers = importtime.measure(runs)
    report.say("  For comparison, separate interpreters (baseline alone, each handler alone), medians: baseline "
               f"{baseline.median_ms:.0f} ms (range {min(s.total_ms for s in baseline.samples):.0f}-"
               f"{max(s.total_ms for s in baseline.samples):.0f}), "
               + ", ".join(f"{name} {result.median_ms:.0f} ms (ratio of medians {result.median_ms / baseline.median_ms:.2f})"
                           for name, result in handlers.items()))
    record["separateInterpreters"] = {
        "baselineMs": [round(s.total_ms, 1) for s in baseline.samples],
        **{name: [round(s.total_ms, 1) for s in result.samples] for name, result in handlers.items()},
    }
    deferred = importtime.first_use(runs)
    reference = statistics.median(sample.baseline.total_ms for samples in paired.values() for sample in samples)
    report.say("  Deferred past the import, paid once per container at first use (median ms, same run):")
    report.table(["handler", "set-up", "at first use", "share of the baseline import"],
                 [[name, what, f"{ms:.0f} ms", f"{ms / reference:.0%}"]
                  for name, uses in deferred.items() for what, ms in uses.items()])
    report.say("  The Tracer only where tracing is on (never in local runs and tests); the RSA code only in a "
               "sweep with something to sign (an empty sweep signs nothing)")
    record["deferredFirstUseMs"] = deferred
    for name, data in record["handlers"].items():
        report.check(f"{name} handler import / baseline", f"{data['ratio']:.2f}", "<= 1.15", data["ratio"] <= 1.15,
                     f"our modules add {data['ownModulesMs'] / data['baselineMs']:.0%}, "
                     f"X-Ray tracing {data['xrayTracingMs'] / data['baselineMs']:.0%}")
    report.record("imports", record)


def tracing_packages(sample: importtime.ImportSample, packages: dict[str, float]) -> set[str]:
    """aws_xray_sdk and every package imported, directly or not, only because of it."""
    found = {"aws_xray_sdk"} & set(packages)
    grew = True
    while grew:
        more = {p for p in packages if p not in found and sample.via.get(p) in found}
        grew = bool(more)
        found |= more
    return found


def fig_sweep(ctx: Context) -> None:
    report, s = ctx.report, ctx.sizes
    report.heading("sweep", f"Sweep of {s.sweep_orders:,} due orders, provider latency {s.latency_s * 1000:.0f} ms, "
                            f"concurrency {s.concurrency}")
    if "sweep" not in ctx.runs:
        ctx.calibrate_now("before sweep")
    run = main_sweep(ctx)
    cal = run.calibration
    assert cal is not None
    report.say(f"  answers: {MAIN_MIX.describe()}; outcomes {dict(run.outcomes)}, rescheduled {run.total('rescheduled')}")
    report.say(f"  wall time {seconds(run.duration_s)} (the handler's invocation), {run.throughput:,.1f} orders/s")
    limit = run.provider_bound_s
    report.say(f"  provider-bound limit ceil({s.sweep_orders} / {s.concurrency}) x {s.latency_s} s = {seconds(limit)}")
    describe_run(ctx, run)
    adjusted = run.adjusted_limit_s(cal)
    report.say(f"  emulator-adjusted limit max({seconds(limit)}, {seconds(run.emulator_bound_s(cal))}) = "
               f"{seconds(adjusted)}; ratio to it {run.duration_s / adjusted:.2f}")
    cpu_floor = run.cpu["sweeper"] / (ctx.bench().memory_mb / LAMBDA_FULL_VCPU_MB)
    report.say(f"  sweeper CPU {run.cpu['sweeper']:.1f} s on this machine; on a {ctx.bench().memory_mb} MB Lambda "
               f"(~{ctx.bench().memory_mb / LAMBDA_FULL_VCPU_MB:.2f} vCPU) that CPU alone would take about "
               f"{seconds(cpu_floor)} (different CPU: an order of magnitude, not a measurement)")
    ratio = run.duration_s / limit
    note = "the emulator is the bottleneck" if run.emulator_bound_s(cal) > limit else ""
    report.check("wall time / provider-bound limit", f"{ratio:.2f}", "<= 1.25", ratio <= 1.25 and not run.problems(), note)
    report.record("sweep", run.to_json(cal) | {"adjustedLimitSeconds": adjusted, "mix": MAIN_MIX.describe()})


def fig_baseline(ctx: Context) -> None:
    report, s = ctx.report, ctx.sizes
    report.heading("baseline", f"Naive baseline: the same per-order work, sequentially, on {s.baseline_orders} orders")
    run = baseline_sweep(ctx)
    main = main_sweep(ctx)
    per_order = run.duration_s / run.orders
    naive = per_order * main.orders
    report.say(f"  {run.orders} orders at concurrency 1: {seconds(run.duration_s)}, {per_order * 1000:.0f} ms per order "
               f"({s.latency_s * 1000:.0f} ms of it the provider's latency)")
    report.say(f"  naive time for {main.orders:,} orders: {seconds(naive)}; the concurrent sweep took "
               f"{seconds(main.duration_s)}: speed-up {naive / main.duration_s:.1f}x "
               f"(provider-bound ideal {naive / main.provider_bound_s:.1f}x)")
    for problem in run.problems():
        report.say(f"  WARNING: {problem}")
    report.record("baseline", run.to_json(run.calibration) | {"perOrderSeconds": per_order, "naiveSeconds": naive,
                                                         "speedUp": naive / main.duration_s})


def fig_throughput(ctx: Context) -> None:
    report, s = ctx.report, ctx.sizes
    report.heading("throughput", f"Throughput by concurrency, provider latency {s.latency_s * 1000:.0f} ms")
    cal = ctx.calibrate_now("before throughput")
    report.say(f"  N = {s.throughput_rounds} x concurrency due orders per point ({s.baseline_orders} at concurrency 1: "
               "the naive baseline's run); answers: " + MAIN_MIX.describe())
    points: list[dict[str, Any]] = []
    rows = []
    for level in s.throughput_levels:
        if level == 1:
            run = baseline_sweep(ctx)
        else:
            orders = s.throughput_rounds * level
            run = measured_or(ctx, f"c{level}", lambda level=level, orders=orders: ctx.bench().measure(
                label=f"c{level}", kinds=MAIN_MIX.kinds(orders), concurrency=level, latency_s=s.latency_s))
        provider_rate = run.orders / run.provider_bound_s
        adjusted_rate = run.orders / run.adjusted_limit_s(run.calibration or cal)
        points.append({"concurrency": level, "orders": run.orders, "seconds": run.duration_s,
                       "ordersPerSecond": run.throughput, "providerLimit": provider_rate, "adjustedLimit": adjusted_rate,
                       "emulatorCpu": run.cpu_share("emulator"), "problems": run.problems()})
        rows.append([level, run.orders, seconds(run.duration_s), f"{run.throughput:,.1f}", f"{provider_rate:,.1f}",
                     f"{run.throughput / provider_rate:.0%}", f"{adjusted_rate:,.1f}",
                     f"{run.throughput / adjusted_rate:.0%}", f"{run.cpu_share('emulator'):.0%}"])
        for problem in run.problems():
            report.say(f"  WARNING (concurrency {level}): {problem}")
    report.table(["concurrency", "orders", "wall", "orders/s", "provider limit/s", "of limit",
                  "emulator-adj. limit/s", "of adj.", "emulator CPU"], rows)
    path = ctx.results_dir / "throughput.png"
    plot_throughput(points, s.latency_s, cal, path)
    report.say(f"  plot: {path.relative_to(path.parents[2])}")
    report.record("throughput", points)


def plot_throughput(points: list[dict[str, Any]], latency_s: float, cal: Calibration, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    levels = [p["concurrency"] for p in points]
    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=120)
    ax.plot(levels, [p["providerLimit"] for p in points], "k--", label=f"provider-bound limit (C / {latency_s:g} s)")
    ax.plot(levels, [p["adjustedLimit"] for p in points], ":", color="tab:orange",
            label=f"emulator-adjusted limit ({cal.calls_per_second:,.0f} calls/s)")
    ax.plot(levels, [p["ordersPerSecond"] for p in points], "o-", color="tab:blue", label="measured")
    for p in points:
        value = p["ordersPerSecond"]
        ax.annotate(f"{value:.1f}" if value < 10 else f"{value:.0f}", (p["concurrency"], value),
                    textcoords="offset points", xytext=(0, -14), ha="center", fontsize=8)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_ylim(bottom=min(p["ordersPerSecond"] for p in points) * 0.5)
    ax.set_xticks(levels, [str(level) for level in levels])
    ax.set_xlabel("sweep concurrency (provider calls in flight)")
    ax.set_ylabel("orders checked per second")
    ax.set_title("paysweep sweep throughput (local emulator + KICC simulator)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def fig_shards(ctx: Context) -> None:
    report, s, cal = ctx.report, ctx.sizes, ctx.cal()
    bench = ctx.bench()
    report.heading("shards", "Two sweepers on disjoint shard sets against one")
    half = bench.shards // 2
    sets = [list(range(half)), list(range(half, bench.shards))]
    report.say(f"  {s.shards_orders} due orders over {bench.shards} shards, concurrency {s.shards_concurrency} per "
               f"sweeper, provider latency {s.latency_s * 1000:.0f} ms; two sweepers on shards {sets[0]} and {sets[1]}")
    bench.clear()
    function = bench.function(s.shards_concurrency, containers=2)
    try:
        kinds = MAIN_MIX.kinds(s.shards_orders)
        bench.put(bench.due_orders("one", kinds))
        one = bench.sweep(function, label="one sweeper", orders=s.shards_orders, concurrency=s.shards_concurrency,
                          latency_s=s.latency_s)
        bench.clear()
        bench.put(bench.due_orders("two", kinds))
        two = bench.sweep(function, label="two sweepers", orders=s.shards_orders, concurrency=s.shards_concurrency,
                          latency_s=s.latency_s, shard_sets=sets)
    finally:
        bench.retire(function)
    rows = [[run.label, seconds(run.duration_s), f"{run.throughput:,.1f}", seconds(run.provider_bound_s),
             seconds(run.emulator_bound_s(cal))] for run in (one, two)]
    report.table(["", "wall", "orders/s", "provider-bound", "emulator-bound"], rows)
    for run in (one, two):
        for problem in run.problems():
            report.say(f"  WARNING ({run.label}): {problem}")
    speed_up = one.duration_s / two.duration_s
    provider_bound = all(run.provider_bound_s >= run.emulator_bound_s(cal) for run in (one, two))
    report.check("speed-up of two sweepers", f"{speed_up:.2f}x", ">= 1.8 when provider-bound",
                 speed_up >= 1.8 and not (one.problems() or two.problems()),
                 "provider-bound" if provider_bound else "NOT provider-bound here: the emulator limits it")
    report.record("shards", {"one": one.to_json(cal), "two": two.to_json(cal), "speedUp": speed_up})


def fig_conflicts(ctx: Context) -> None:
    report, s, cal = ctx.report, ctx.sizes, ctx.cal()
    bench = ctx.bench()
    report.heading("conflicts", "Two overlapping sweepers on the same shards: refused claims")
    report.say(f"  {s.conflict_orders} due orders ({MAIN_MIX.describe()}) over {bench.shards} shards; two sweeps of "
               f"every shard started together (an overrun schedule, a duplicate delivery), concurrency "
               f"{s.conflict_concurrency} each, provider latency {s.latency_s * 1000:.0f} ms; {s.conflict_rounds} rounds "
               "(each sweep starts at a random shard). A refused claim is billed: the existing item's size, >= 1 unit")
    function = bench.function(s.conflict_concurrency, containers=2)
    runs: list[SweepRun] = []
    try:
        for round_no in range(s.conflict_rounds):
            bench.clear()
            bench.put(bench.due_orders(f"cf{round_no}", MAIN_MIX.kinds(s.conflict_orders, seed=round_no)))
            runs.append(bench.sweep(function, label=f"overlap {round_no + 1}", orders=s.conflict_orders,
                                    concurrency=s.conflict_concurrency, latency_s=s.latency_s,
                                    shard_sets=[None, None]))
    finally:
        bench.retire(function)
    rows = []
    for run in runs:
        refused = int(run.write_units.get("refused", 0))
        rows.append([run.label, seconds(run.duration_s), " + ".join(str(x.get("checked", 0)) for x in run.summaries),
                     " + ".join(str(x.get("claimConflicts", 0)) for x in run.summaries),
                     " + ".join(str(x.get("shardsCeded", 0)) for x in run.summaries),
                     refused, f"{refused / max(1, run.checked):.3f}", f"{run.wru_per_check():.2f}"])
        for problem in run.problems(conflicts_expected=True):
            report.say(f"  WARNING ({run.label}): {problem}")
    report.table(["", "wall", "checked (each sweep)", "refused claims", "shards set aside", "refused WRU",
                  "per check", "all WRU per check"], rows)
    checked = sum(run.checked for run in runs)
    refused_units = sum(int(run.write_units.get("refused", 0)) for run in runs)
    value = refused_units / max(1, checked)
    clean = not any(run.problems(conflicts_expected=True) for run in runs)
    report.check("claim-conflict-wru", f"{value:.3f}", "<= 0.10", value <= 0.10 and clean,
                 f"{refused_units} refused units over {checked} checks; worst round "
                 f"{max(int(r.write_units.get('refused', 0)) / max(1, r.checked) for r in runs):.3f}")
    report.record("conflicts", {"runs": [run.to_json(cal) for run in runs], "refusedUnits": refused_units,
                                "checks": checked, "refusedUnitsPerCheck": value})


def fig_ratelimit(ctx: Context) -> None:
    report, s, cal = ctx.report, ctx.sizes, ctx.cal()
    report.heading("ratelimit", "Provider rate limit: configured against measured")
    run = ctx.bench().measure(label="ratelimit", kinds=MAIN_MIX.kinds(s.rate_orders), concurrency=s.concurrency,
                              latency_s=s.latency_s,
                              extra_env={"PROVIDER_RATE_LIMIT_PER_SECOND": str(s.rate_limit)})
    measured = run.provider_rate()
    report.say(f"  PROVIDER_RATE_LIMIT_PER_SECOND={s.rate_limit}, {s.rate_orders} due orders, concurrency "
               f"{s.concurrency}, provider latency {s.latency_s * 1000:.0f} ms")
    report.say(f"  {len(run.provider_arrivals)} provider requests in {seconds(run.duration_s)}; rate between the first and "
               f"the last request as the simulator saw them: "
               + (f"{measured:.2f}/s" if measured is not None else "n/a"))
    describe_run(ctx, run)
    if measured is None:
        report.check("measured provider requests/s", "n/a", f"{s.rate_limit}/s within 10 %", None,
                     "fewer than two provider requests")
    else:
        deviation = abs(measured - s.rate_limit) / s.rate_limit
        report.check("measured provider requests/s", f"{measured:.2f}/s ({deviation:.1%} off)",
                     f"{s.rate_limit}/s within 10 %", deviation <= 0.10)
    report.record("ratelimit", run.to_json(cal) | {"configured": s.rate_limit, "measured": measured})


def fig_calls(ctx: Context) -> None:
    report, s, cal = ctx.report, ctx.sizes, ctx.cal()
    bench = ctx.bench()
    report.heading("calls", "AWS calls per order, by kind")
    pending = measured_or(ctx, "calls-pending", lambda: bench.measure(
        label="pending", kinds=["pending"] * s.calls_orders, concurrency=s.concurrency, latency_s=0.0))
    pending_item = bench.stack.order(f"pending-{0:06d}")
    terminal = measured_or(ctx, "calls-terminal", lambda: bench.measure(
        label="terminal", kinds=["approved"] * s.calls_orders, concurrency=s.concurrency, latency_s=0.0))
    columns: list[tuple[str, SweepRun]] = [("still pending", pending), ("terminal (approved)", terminal)]
    if "sweep" in ctx.runs:
        columns.append(("main sweep mix", ctx.runs["sweep"]))

    def per(run: SweepRun, n: int) -> str:
        return f"{n / run.orders:.3f}"

    rows = [
        ["orders swept"] + [f"{run.orders:,}" for _, run in columns],
        ["DynamoDB reads"] + [per(run, run.dynamodb_reads) for _, run in columns],
        ["  of which Query"] + [per(run, run.calls.get("dynamodb.Query", 0)) for _, run in columns],
        ["DynamoDB writes"] + [per(run, run.dynamodb_writes) for _, run in columns],
        ["  of which UpdateItem"] + [per(run, run.calls.get("dynamodb.UpdateItem", 0)) for _, run in columns],
        ["SNS PublishBatch calls"] + [per(run, run.publish_batches) for _, run in columns],
        ["SNS messages published"] + [per(run, sum(run.outcomes.values())) for _, run in columns],
        ["other AWS calls"] + [per(run, sum(run.other_calls.values())) for _, run in columns],
    ]
    report.table(["per order"] + [name for name, _ in columns], rows)
    report.say("  (Query calls are per page of the due index, so they are shared by up to 250 orders; other calls: "
               + "; ".join(f"{name}: {run.other_calls or 'none'}" for name, run in columns) + ")")
    for name, run in columns:
        for problem in run.problems():
            report.say(f"  WARNING ({name}): {problem}")
    pending_writes = pending.dynamodb_writes / pending.orders
    terminal_writes = terminal.dynamodb_writes / terminal.orders
    report.check("DynamoDB writes per check that leaves the order pending", f"{pending_writes:.2f}", "<= 2",
                 pending_writes <= 2 and not pending.problems(), "claim, then reschedule-and-release")
    report.check("DynamoDB writes per terminal check", f"{terminal_writes:.2f}", "<= 3 (outbox included)",
                 terminal_writes <= 3 and not terminal.problems(), "claim, decide (the outbox), confirm published")
    for name, run in columns[1:]:
        messages = sum(run.outcomes.values())
        ideal = sum(math.ceil(n / 10) for n in run.outcomes.values())
        per_call = messages / run.publish_batches if run.publish_batches else 0.0
        report.check(f"PublishBatch calls ({name})", f"{run.publish_batches} for {messages} messages "
                     f"({per_call:.1f} per call)", f"= sum over topics of ceil(n / 10) = {ideal}",
                     run.publish_batches <= ideal)
    if pending_item is None:
        raise RuntimeError("no pending order left to take the steady state from")
    write_units_figures(ctx, pending, terminal, pending_item)
    report.record("calls", {"pending": pending.to_json(cal), "terminal": terminal.to_json(cal)})


# -- write units ------------------------------------------------------------------------------

WRITE_KINDS = ("claim", "reschedule", "decide", "published", "other")
LEASE_ONLY = frozenset({"leaseOwner", "leaseUntil", "updatedAt"})


def write_kind(shape: str) -> str:
    """Which of the sweep's writes a booked shape is (`<table> UpdateItem SET a, b REMOVE c`)."""
    parts = shape.split(" ", 2)
    if len(parts) < 3 or parts[1] != "UpdateItem":
        return "other"
    match = re.fullmatch(r"(?:SET (?P<sets>.*?))?\s*(?:REMOVE (?P<removes>.*))?", parts[2].strip())
    if match is None:
        return "other"
    sets = {name.strip() for name in (match["sets"] or "").split(",") if name.strip()}
    removes = {name.strip() for name in (match["removes"] or "").split(",") if name.strip()}
    if sets == LEASE_ONLY and not removes:
        return "claim"
    if "nextCheckAt" in sets and "leaseOwner" in removes:
        return "reschedule"
    if {"status", "outcome"} <= sets:
        return "decide"
    if "sweepKey" in removes and not sets:
        return "published"
    return "other"


def units_by_kind(run: SweepRun, table: str) -> dict[str, dict[str, int]]:
    """The run's booked units on the orders table, by kind of write."""
    found = {kind: {"writes": 0, "table": 0, "index": 0, "refused": 0, "refusedUnits": 0, "maxSizeAfter": 0}
             for kind in WRITE_KINDS}
    for shape, totals in run.shapes().items():
        if not shape.startswith(f"{table} "):
            continue
        entry = found[write_kind(shape)]
        entry["writes"] += totals["writes"]
        entry["table"] += totals["tableUnits"]
        entry["index"] += totals["indexUnits"]
        entry["refused"] += totals["refused"]
        entry["refusedUnits"] += totals["refusedUnits"]
        entry["maxSizeAfter"] = max(entry["maxSizeAfter"], totals["maxSizeAfter"])
    return found


def largest_item(run: SweepRun, table: str, kind: str) -> dict[str, Any] | None:
    """The largest item (wire form) a kind of write left in this run."""
    best: dict[str, Any] | None = None
    for shape, totals in run.shapes().items():
        if (shape.startswith(f"{table} ") and write_kind(shape) == kind and totals.get("largestAfter")
                and (best is None or totals["maxSizeAfter"] > best["size"])):
            best = {"size": totals["maxSizeAfter"], "item": totals["largestAfter"]}
    return best


def write_units_figures(ctx: Context, pending: SweepRun, terminal: SweepRun, pending_item: dict[str, Any]) -> None:
    """Write units per check, measured by the emulator from each write's item before and after,
    fresh and at the steady state (history full), and the decided items' sizes."""
    report, s, bench = ctx.report, ctx.sizes, ctx.bench()
    table = bench.stack.table
    steady: dict[str, SweepRun] = {}
    for kind in ("pending", "approved", "cancelled"):
        steady[kind] = measured_or(ctx, f"steady-{kind}", lambda kind=kind: bench.measure(
            label=f"steady {kind}", kinds=[kind] * s.calls_orders, concurrency=s.concurrency, latency_s=0.0,
            steady_from=pending_item))
    columns = [("fresh pending", pending), ("fresh approved", terminal),
               *((f"steady {kind}", run) for kind, run in steady.items())]
    if "sweep" in ctx.runs:
        columns.append(("main sweep (fresh, mix)", ctx.runs["sweep"]))
    report.say("  Write request units, booked by the emulator for every write from the item before and after it "
               "(moto's backend, under its lock) by DynamoDB's rules (paysweep_local.capacity): 1 per KB of the "
               "larger item on the table, each index entry put or deleted 1 per KB (a moved key is both), a refused "
               "conditional write the existing item's size. 'steady': orders checked many times before (history "
               f"full, {cost.HISTORY_LIMIT} lines), the state most checks see")
    rows = []
    kinds_of = {name: units_by_kind(run, table) for name, run in columns}
    for kind in WRITE_KINDS:
        if not any(kinds_of[name][kind]["writes"] for name, _ in columns):
            continue
        rows.append([f"{kind} (table + index)"] + [
            f"{(u[kind]['table'] + u[kind]['index']) / max(1, run.checked):.2f} "
            f"({u[kind]['table'] / max(1, run.checked):.2f}+{u[kind]['index'] / max(1, run.checked):.2f})"
            for (name, run), u in ((c, kinds_of[c[0]]) for c in columns)])
    rows.append(["refused writes"] + [f"{run.write_units.get('refused', 0) / max(1, run.checked):.2f}"
                                      for _, run in columns])
    rows.append(["WRU per check"] + [f"{run.wru_per_check():.2f}" for _, run in columns])
    rows.append(["largest item written, B"] + [
        f"{max(u['maxSizeAfter'] for u in kinds_of[name].values()):,}" for name, _ in columns])
    report.table(["per check"] + [name for name, _ in columns], rows)
    for name, run in columns:
        other = run.write_units.get("uncomputed") or {}
        if other:
            report.say(f"  WARNING ({name}): write calls whose units are not computed: {other}")
        for problem in run.problems():
            report.say(f"  WARNING ({name}): {problem}")
    expected = 4 * pending.checked
    report.say(f"  against the rules by hand: the fresh pending-only sweep of {pending.checked} orders booked "
               f"{pending.wru:,} units; claim 1 + reschedule (1 table + 2 due index) = 4 per check gives {expected:,}"
               f" ({'equal' if pending.wru == expected else 'DIFFERENT'})")
    wru_pending = steady["pending"].wru_per_check()
    wru_terminal = {kind: steady[kind].wru_per_check() for kind in ("approved", "cancelled")}
    report.check("wru-pending", f"{wru_pending:.2f}", "<= 4", wru_pending <= 4 and not steady["pending"].problems(),
                 f"steady state; fresh {pending.wru_per_check():.2f}")
    worst = max(wru_terminal.values())
    report.check("wru-terminal", f"{worst:.2f}", "<= 6 (outbox included)",
                 worst <= 6 and not any(steady[k].problems() for k in wru_terminal),
                 "steady state, " + ", ".join(f"{k} {v:.2f}" for k, v in wru_terminal.items())
                 + f"; fresh approved {terminal.wru_per_check():.2f}")
    sizes = decided_sizes(ctx, steady, table)
    ctx.wru = {"pending": wru_pending, **wru_terminal, "freshPending": pending.wru_per_check(),
               "freshApproved": terminal.wru_per_check(),
               "dueEntryBytes": cost.item_size(cost.project(pending_item, ("orderId", "sweepKey", "nextCheckAt"))),
               "messageBytes": sizes["messageBytes"]}
    report.record("writeUnits", {"perCheck": ctx.wru, "itemSizes": sizes,
                                 "runs": {name: run.to_json(run.calibration) for name, run in columns
                                          if name.startswith("steady")},
                                 "byKind": kinds_of})


def decided_sizes(ctx: Context, steady: dict[str, SweepRun], table: str) -> dict[str, Any]:
    """Sizes of the item at each step of a steady-state check, and what makes a decided item large."""
    report = ctx.report
    from boto3.dynamodb.types import TypeDeserializer
    from paysweep_local.capacity import attribute_sizes

    found: dict[str, Any] = {}
    rescheduled = largest_item(steady["pending"], table, "reschedule")
    claimed = largest_item(steady["pending"], table, "claim")
    found["pendingBytes"] = rescheduled["size"] if rescheduled else None
    found["claimedBytes"] = claimed["size"] if claimed else None
    message_bytes = 0
    for kind in ("approved", "cancelled"):
        decided = largest_item(steady[kind], table, "decide")
        if decided is None:
            found[kind] = None
            continue
        shares = attribute_sizes(decided["item"])
        found[kind] = {"decidedBytes": decided["size"], "underOneKb": decided["size"] <= 1024,
                       "overBy": max(0, decided["size"] - 1024), "attributes": shares}
        outcome = TypeDeserializer().deserialize(decided["item"]["outcome"]) if "outcome" in decided["item"] else {}
        body = json.dumps(outcome, default=str, separators=(",", ":"))
        message_bytes = max(message_bytes, len(body.encode()) + sum(
            len(k) + len("String") + len(str(outcome.get(k) or "")) for k in ("provider", "outcome", "reason")))
    found["messageBytes"] = message_bytes
    decided_text = []
    for kind in ("approved", "cancelled"):
        entry = found[kind]
        if entry:
            verdict = "under 1 KB" if entry["underOneKb"] else f"OVER 1 KB by {entry['overBy']} B"
            decided_text.append(f"{kind} {entry['decidedBytes']:,} B ({verdict})")
    report.say(f"  item sizes at the steady state (history full, DynamoDB's rules): pending {found['pendingBytes']} B, "
               f"leased {found['claimedBytes']} B; decided (in the due index, the outbox): " + ", ".join(decided_text))
    for kind in ("approved", "cancelled"):
        if found.get(kind):
            top = list(found[kind]["attributes"].items())[:5]
            report.say(f"    largest attributes of a decided {kind} order: "
                       + ", ".join(f"{name} {size} B" for name, size in top))
    return found


def fig_rss(ctx: Context) -> None:
    report, s = ctx.report, ctx.sizes
    report.heading("rss", f"Peak memory of a sweep of {s.rss_orders:,} due orders")
    cal = ctx.calibrate_now("before rss")
    run = ctx.bench().measure(label="rss", kinds=MAIN_MIX.kinds(s.rss_orders), concurrency=s.concurrency,
                              latency_s=s.latency_s)
    report.say(f"  concurrency {s.concurrency}, provider latency {s.latency_s * 1000:.0f} ms; {MAIN_MIX.describe()}")
    report.say(f"  sweep: {seconds(run.duration_s)}, {run.throughput:,.1f} orders/s (provider-bound limit "
               f"{seconds(run.provider_bound_s)})")
    describe_run(ctx, run)
    report.say(f"  sandbox process peak RSS (VmHWM): {run.worker_peak_rss_before_mb:.1f} MiB after the warm-up sweep, "
               f"{run.worker_peak_rss_mb:.1f} MiB after the sweep")
    report.check("peak RSS of the sweep's process", f"{run.worker_peak_rss_mb:.1f} MiB", "<= 150 MB",
                 run.worker_peak_rss_mb <= 150 and not run.problems())
    report.record("rss", run.to_json(cal))


def fig_index(ctx: Context) -> None:
    report, s, cal = ctx.report, ctx.sizes, ctx.cal()
    bench = ctx.bench()
    report.heading("index", "Index read amplification")
    terminal_count = s.index_total - s.index_due - s.index_later
    report.say(f"  table of {s.index_total:,} orders: {s.index_due:,} due, {s.index_later:,} pending but not due yet "
               f"(in the due index), {terminal_count:,} decided (out of it)")
    bench.clear()
    function = bench.function(s.concurrency)
    try:
        now = bench.stack.now()
        shards = bench.shards
        items = [terminal_order_item(f"old-{i:06d}", now) for i in range(terminal_count)]
        items += [later_order_item(f"later-{i:06d}", i % shards, shards, now) for i in range(s.index_later)]
        due = bench.due_orders("due", MAIN_MIX.kinds(s.index_due))
        seeded_s = bench.put(items + due)
        report.say(f"  seeded with BatchWriteItem in {seconds(seeded_s)} ({s.index_total / seeded_s:,.0f} items/s)")
        scan = naive_scan(bench, now)
        run = bench.sweep(function, label="index", orders=s.index_due, concurrency=s.concurrency, latency_s=0.0)
    finally:
        bench.retire(function)
    due_index = f"{bench.stack.table}/index/due-index"
    through_index = run.items_read.get(due_index, 0)
    all_reads = sum(run.items_read.values())
    total_bytes = sum(cost.item_size(item) for item in items + due)
    entry = cost.item_size(cost.project(due[0], ("orderId", "sweepKey", "nextCheckAt")))
    index_rru = cost.read_units(through_index, entry, run.calls.get("dynamodb.Query", 0))
    scan_rru = 0.5 * math.ceil(total_bytes / 4096) + 0.5 * scan["pages"]
    rows = [
        ["sweep, due index (Query)", f"{through_index:,}", f"{through_index / s.index_due:.3f}",
         run.calls.get("dynamodb.Query", 0), f"{index_rru:,.1f}"],
        ["sweep, every read it made", f"{all_reads:,}", f"{all_reads / s.index_due:.3f}",
         run.dynamodb_reads, ""],
        ["full Scan with a filter", f"{scan['read']:,}", f"{scan['read'] / s.index_due:.3f}", scan["pages"],
         f"{scan_rru:,.1f}"],
    ]
    report.table(["read path", "items read", "per due order", "requests", "read units"], rows)
    report.say(f"  the Scan found {scan['matched']:,} due orders; the sweep checked {run.checked:,}")
    for problem in run.problems():
        report.say(f"  WARNING: {problem}")
    amplification = through_index / s.index_due
    report.check("items read per due order through the due index", f"{amplification:.3f}", "<= 1.05",
                 amplification <= 1.05, f"full Scan: {scan['read'] / s.index_due:.1f}")
    report.record("index", {"sweep": run.to_json(cal), "scan": scan, "dueIndexItemsRead": through_index,
                            "allItemsRead": all_reads, "indexReadUnits": index_rru, "scanReadUnits": scan_rru,
                            "seedSeconds": seeded_s})


def naive_scan(bench: Bench, now: Any) -> dict[str, Any]:
    """What a sweeper without the due index would do: Scan the table, filter the due orders."""
    emulator = bench.stack.emulator
    emulator.reset_stats()
    started = time.monotonic()
    matched = pages = 0
    paginator = bench.dynamodb.get_paginator("scan")
    for page in paginator.paginate(
        TableName=bench.stack.table,
        FilterExpression="begins_with(sweepKey, :p) AND nextCheckAt <= :now",
        ExpressionAttributeValues={":p": {"S": f"{KICC}#"}, ":now": {"S": to_iso(now)}},
    ):
        matched += page.get("Count", 0)
        pages += 1
    elapsed = time.monotonic() - started
    read = sum(emulator.stats()["itemsReadByTable"].values())
    return {"read": read, "matched": matched, "pages": pages, "seconds": elapsed}


def fig_cost(ctx: Context) -> None:
    report = ctx.report
    report.heading("cost", "Cost per million status checks (us-east-1)")
    run = main_sweep(ctx)
    wru = ctx.wru
    if wru is None:
        raise RuntimeError("the cost needs the write units the 'calls' figure measures")
    bench = ctx.bench()
    empty = empty_sweep_seconds(bench)
    outcomes = sum(run.outcomes.values())
    terminal_share = MAIN_MIX.approved + MAIN_MIX.cancelled
    wru_terminal = (MAIN_MIX.approved * wru["approved"] + MAIN_MIX.cancelled * wru["cancelled"]) / terminal_share
    inputs = cost.CostInputs(
        checks=run.checked,
        pending_checks=run.total("rescheduled"),
        terminal_checks=outcomes,
        duration_s=run.duration_s,
        provider_bound_s=run.provider_bound_s,
        memory_mb=bench.memory_mb,
        # The emulator counts Query calls, not which index they read: a complete sweep reads
        # the audit index once per shard (empty), the rest are due-index pages.
        due_queries=run.calls.get("dynamodb.Query", 0) - bench.shards,
        due_items_read=run.items_read.get(f"{bench.stack.table}/index/due-index", 0),
        other_queries=bench.shards,
        publish_batches=run.publish_batches,
        messages_published=outcomes,
        measured_writes=run.dynamodb_writes,
        wru_per_pending=wru["pending"],
        wru_per_terminal=wru_terminal,
        due_entry_bytes=wru["dueEntryBytes"],
        message_bytes=wru["messageBytes"],
        audit_wru_per_failed=ctx.audit_wru,
    )
    lines, details = cost.per_million_checks(inputs)
    report.say(f"  from the main sweep: {run.checked:,} checks ({MAIN_MIX.describe()}), {seconds(run.duration_s)} "
               f"measured here, {seconds(run.provider_bound_s)} provider-bound; {bench.memory_mb} MB arm64")
    rows = [[line.item, line.quantity, f"${line.dollars:,.2f}", f"${line.dollars_at_limit:,.2f}"] for line in lines]
    total = sum(line.dollars for line in lines)
    rows.append(["total", "", f"${total:,.2f}", f"${sum(l.dollars_at_limit or 0 for l in lines):,.2f}"])
    # The target and the floor are of status checks at the mix (issue 14); the audits are extra
    # provider queries on top, priced on their own line and named beside the verdict.
    checks_total = sum(line.dollars for line in lines if not line.item.startswith(cost.AUDITS_LINE))
    report.table(["per 1,000,000 checks", "quantity", "at measured duration", "at provider-bound duration"], rows)
    report.say(f"  DynamoDB: {wru['pending']:.2f} WRU per check that stays pending, {wru_terminal:.2f} per terminal one "
               f"(approved {wru['approved']:.2f}, cancelled {wru['cancelled']:.2f}), measured by the emulator at the "
               f"steady state (history full); {details['wruPerCheck']:.2f} per check at the mix. The main sweep itself "
               f"(fresh orders, first check) booked {run.wru_per_check():.2f} per check. Write calls per check: "
               f"{details['measuredWritesPerCheck']:.3f} measured, {details['modelWritesPerCheck']:.3f} by the design")
    floor = cost.floor_per_million(MAIN_MIX.pending)
    report.say(f"  floor: {cost.floor_wru(MAIN_MIX.pending):.2f} WRU per check at the mix (pending "
               f"{cost.FLOOR_WRU_PENDING:g}: move nextCheckAt once; terminal {cost.FLOOR_WRU_TERMINAL:g}: out of the "
               f"due index and an outbox marker cleared) = ${floor:,.2f} per million checks")
    report.check("cost-per-million", f"${checks_total:,.2f} ({checks_total / floor:.2f} x the floor ${floor:,.2f})",
                 "<= $2.90", checks_total <= 2.90,
                 f"the checks at the mix; DynamoDB writes ${details['wruPerCheck'] * cost.DYNAMODB_PER_WRU * cost.MILLION:,.2f} "
                 f"of it; with the audits line ${total:,.2f}")
    if details.get("audits"):
        queries = cost.MILLION + details["audits"]
        report.say(f"  with audits: {details['audits']:,.0f} audits are provider queries beside the million checks: "
                   f"${total:,.2f} in all, ${total / queries * cost.MILLION:,.2f} per million provider queries "
                   f"(an audit costs {details['auditWruPerAudit']:.2f} WRU, a check {details['wruPerCheck']:.2f})")
    report.say(f"  SNS: one billed request per PublishBatch call (<= 64 KB); billed per message it would be "
               f"{details['snsRequestsIfBilledPerMessage']:,.0f} requests (${details['snsRequestsIfBilledPerMessage'] * cost.SNS_PER_PUBLISH_REQUEST:,.2f})")
    cpu_per_check = run.cpu["sweeper"] / run.checked
    cpu_bound_gb_s = bench.memory_mb / 1024 * cpu_per_check / (bench.memory_mb / LAMBDA_FULL_VCPU_MB) * cost.MILLION
    report.say(f"  Lambda if CPU-bound: the sweeper used {cpu_per_check * 1000:.1f} ms of CPU per check here; at "
               f"{bench.memory_mb} MB (~{bench.memory_mb / LAMBDA_FULL_VCPU_MB:.2f} vCPU) that is about "
               f"{cpu_bound_gb_s:,.0f} GB-s, ${cpu_bound_gb_s * cost.LAMBDA_ARM_GB_SECOND:,.2f} per million checks")
    idle = cost.monthly_idle(empty, bench.memory_mb)
    report.say(f"  fixed: an empty sweep takes {empty * 1000:.0f} ms here; both schedules every minute cost about "
               f"${idle:,.2f} a month before any check")
    report.say(f"  prices: AWS public price list, us-east-1, in force since {cost.PRICE_LIST_DATE} (DynamoDB on-demand "
               f"cut); cross-checked {cost.PRICES_CROSS_CHECKED}; free tiers ignored")
    report.record("cost", {"inputs": asdict(inputs), "lines": [asdict(line) for line in lines], "details": details,
                           "totalDollars": total, "checksDollars": checks_total, "floorDollars": floor,
                           "ratioToFloor": checks_total / floor,
                           "emptySweepSeconds": empty, "idleMonthlyDollars": idle,
                           "prices": {"lambdaArmGbSecond": cost.LAMBDA_ARM_GB_SECOND,
                                      "lambdaPerRequest": cost.LAMBDA_PER_REQUEST,
                                      "dynamodbPerWru": cost.DYNAMODB_PER_WRU, "dynamodbPerRru": cost.DYNAMODB_PER_RRU,
                                      "snsPerPublishRequest": cost.SNS_PER_PUBLISH_REQUEST,
                                      "priceListDate": cost.PRICE_LIST_DATE}})


def fig_audits(ctx: Context) -> None:
    """What auditing decided orders costs: an order decided FAILED EXPIRED enters the audit index
    with its decision, then is audited an hour and a day later (its provider still saying
    unpaid: nothing published; the last audit takes it out of the schedule)."""
    report, s = ctx.report, ctx.sizes
    bench = ctx.bench()
    report.heading("audits", "Audits of decided orders (late payments): write units per failed order")
    n = s.audit_orders
    bench.clear()
    function = bench.function(s.concurrency)  # warmed on the empty table
    now = bench.stack.now()
    items = [{**item, "createdAt": to_iso(now - timedelta(hours=2)), "expiresAt": to_iso(now - timedelta(minutes=10))}
             for item in bench.due_orders("au", ["pending"] * n)]
    bench.put(items)
    runs: list[SweepRun] = []
    try:
        for label, advance in (("decided FAILED EXPIRED", 0), ("audit after an hour", 3660), ("audit after a day", 86400)):
            bench.stack.advance(advance)
            runs.append(bench.sweep(function, label=label, orders=n, concurrency=s.concurrency, latency_s=s.latency_s))
    finally:
        bench.retire(function)
    decide, first, last = runs
    rows = []
    for run in runs:
        indexes = run.write_units.get("byIndex", {})
        audit_units = sum(v for k, v in indexes.items() if k.endswith("/index/audit-index"))
        rows.append([run.label, " + ".join(f"{k} {v}" for k, v in sorted(run.outcomes.items())) or "-",
                     run.total("audited"), run.total("latePayments"), run.wru, audit_units,
                     f"{run.wru / n:.2f}", run.calls.get("dynamodb.Query", 0)])
    report.table(["", "outcomes", "audited", "late payments", "WRU", "of it audit index", "WRU per order",
                  "Query calls"], rows)
    problems = [p for run in runs for p in run.problems()]
    for problem in problems:
        report.say(f"  WARNING: {problem}")
    wrong = decide.outcomes.get("FAILED", 0) != n or first.total("audited") != n or last.total("audited") != n
    if wrong:
        report.say("  WARNING: not every order was decided FAILED and audited twice: no cost line for audits")
    audit_index_at_decision = sum(v for k, v in decide.write_units.get("byIndex", {}).items()
                                  if k.endswith("/index/audit-index"))
    per_failed = (audit_index_at_decision + first.wru + last.wru) / n
    ctx.audit_wru = None if wrong else per_failed
    report.say(f"  per order decided FAILED EXPIRED: {audit_index_at_decision / n:.2f} WRU for its audit-index entry "
               f"at the decision, {first.wru / n:.2f} for the first audit (claim, record, the entry's key moved), "
               f"{last.wru / n:.2f} for the last (claim, record, the entry deleted): {per_failed:.2f} WRU in all, "
               f"priced in the cost table at {cost.FAILED_SHARE_OF_TERMINAL:.0%} of terminal checks")
    report.record("audits", {"runs": [run.to_json() for run in runs], "wruPerFailedOrder": per_failed,
                             "problems": problems})


def empty_sweep_seconds(bench: Bench, runs: int = 5) -> float:
    """Median duration of a warm sweep that finds nothing due (what every idle tick costs)."""
    bench.clear()
    function = bench.function(64)
    try:
        durations = [bench.sweep(function, label="empty", orders=0, concurrency=64, latency_s=0.0).duration_s
                     for _ in range(runs)]
    finally:
        bench.retire(function)
    return statistics.median(durations)


def fig_cpu(ctx: Context) -> None:
    report, s = ctx.report, ctx.sizes
    report.heading("cpu", "Sweeper CPU per check against the same calls made bare (provider over HTTPS)")
    report.say("  a second local stack: the KICC simulator serves HTTPS with a test CA (paysweep_local.tls), the "
               "function trusts it (REQUESTS_CA_BUNDLE in its environment), the template deployed with "
               "AllowInsecureHttp=false, as in AWS")
    started = time.monotonic()
    bench = Bench(ctx.work_dir / "https-stack", tls=True).start()
    report.say(f"  HTTPS stack up in {seconds(time.monotonic() - started)}; {s.cpu_orders} due orders per sweep "
               f"({MAIN_MIX.describe()}), concurrency {s.cpu_concurrency}, provider latency "
               f"{s.latency_s * 1000:.0f} ms, {s.cpu_rounds} rounds, sweeper and bare loop alternating")
    report.say("  sweeper: the sandbox process's CPU time (/proc/<pid>/stat utime + stime, all threads) over one warm "
               "sweep, divided by the orders it checked. Bare (bench/bare.py, its own process): the same "
               "GetSecretValue, Query, UpdateItem and PublishBatch calls through a plain botocore client (the "
               "product's client settings) and the same HTTPS posts through a plain requests session, on a pool of "
               "the same size, over the same number of fresh due orders; its process's CPU time over the loop")
    rounds: list[dict[str, Any]] = []
    memory_mb = bench.memory_mb
    try:
        for round_no in range(s.cpu_rounds):
            kinds = MAIN_MIX.kinds(s.cpu_orders, seed=round_no)
            run = bench.measure(label=f"cpu sweep {round_no + 1}", kinds=kinds, concurrency=s.cpu_concurrency,
                                latency_s=s.latency_s)
            for problem in run.problems():
                report.say(f"  WARNING (sweep {round_no + 1}): {problem}")
            bench.clear()
            bench.put(bench.due_orders(f"bare{round_no}", kinds))
            bench.stack.kicc.latency_seconds = s.latency_s
            try:
                bare = bench.bare(s.cpu_concurrency)
            finally:
                bench.stack.kicc.latency_seconds = 0.0
            if bare["errorCount"]:
                report.say(f"  WARNING (bare {round_no + 1}): {bare['errorCount']} orders failed: {bare['errors']}")
            rounds.append({"sweep": run.to_json(), "sweeperCpuSeconds": run.cpu["sweeper"], "sweeperChecks": run.checked,
                           "sweepSeconds": run.duration_s, "bare": bare})
    finally:
        bench.stop()
    rows = []
    for i, r in enumerate(rounds, 1):
        sweeper_ms = 1000 * r["sweeperCpuSeconds"] / max(1, r["sweeperChecks"])
        bare_ms = 1000 * r["bare"]["cpuSeconds"] / max(1, r["bare"]["checks"])
        rows.append([i, r["sweeperChecks"], f"{sweeper_ms:.2f} ms", seconds(r["sweepSeconds"]), r["bare"]["checks"],
                     f"{bare_ms:.2f} ms", seconds(r["bare"]["wallSeconds"]), f"{sweeper_ms / bare_ms:.2f}"])
    report.table(["round", "sweeper checks", "sweeper CPU/check", "sweep wall", "bare checks", "bare CPU/check",
                  "bare wall", "ratio"], rows)
    sweeper_ms = 1000 * sum(r["sweeperCpuSeconds"] for r in rounds) / max(1, sum(r["sweeperChecks"] for r in rounds))
    bare_ms = 1000 * sum(r["bare"]["cpuSeconds"] for r in rounds) / max(1, sum(r["bare"]["checks"] for r in rounds))
    ratio = sweeper_ms / bare_ms
    report.say(f"  bare calls per round: {rounds[-1]['bare']['calls']}; sweep calls: {rounds[-1]['sweep']['awsCalls']}")
    vcpu = memory_mb / LAMBDA_FULL_VCPU_MB
    report.say(f"  at {memory_mb} MB (~{vcpu:.2f} vCPU) the sweeper's {sweeper_ms:.1f} ms per check caps one "
               f"function at about {vcpu / (sweeper_ms / 1000):.0f} checks/s; the bare calls' {bare_ms:.1f} ms at "
               f"about {vcpu / (bare_ms / 1000):.0f} (this machine's CPU, not Lambda's: an order of magnitude)")
    clean = all(not r["sweep"]["problems"] and not r["bare"]["errorCount"] for r in rounds)
    report.check("cpu-per-check", f"{ratio:.2f} (sweeper {sweeper_ms:.2f} ms, bare {bare_ms:.2f} ms per check)",
                 "<= 1.5", ratio <= 1.5 and clean, "sandbox CPU / the same calls made bare, HTTPS provider")
    report.record("cpu", {"rounds": rounds, "sweeperMsPerCheck": sweeper_ms, "bareMsPerCheck": bare_ms, "ratio": ratio})


FIGURES: dict[str, Figure] = {
    "imports": fig_imports,
    "sweep": fig_sweep,
    "baseline": fig_baseline,
    "throughput": fig_throughput,
    "shards": fig_shards,
    "conflicts": fig_conflicts,
    "ratelimit": fig_ratelimit,
    "calls": fig_calls,
    "rss": fig_rss,
    "index": fig_index,
    "audits": fig_audits,
    "cost": fig_cost,
    "cpu": fig_cpu,
}
"""Every figure, in the order a full run measures them."""

DEPENDS: dict[str, tuple[str, ...]] = {"baseline": ("sweep",), "cost": ("sweep", "calls")}
NEEDS_STACK = frozenset(FIGURES) - {"imports", "cpu"}
"""The figures measured on the shared (HTTP) stack; `cpu` starts its own HTTPS stack."""
