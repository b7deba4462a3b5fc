"""What the figures share: the sizes, the stage (started and calibrated on first use), measured runs."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.harness import MAIN_MIX, SEQUENTIAL_CALLS_PER_CHECK, Bench, Calibration, SweepRun
from bench.report import Report, seconds
from bench.sizes import Sizer

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
    import_runs: int = 5
    check_orders: int = 20
    """Single-order checks on demand measured (the `check` figure), each beside a bare one."""
    check_batch: int = 20
    """Orders in the `check` figure's one check of several (20: the most a request names)."""
    decided_orders: int = 10
    """Orders of each terminal kind left decided in the outbox to size them (`decided_sizes`)."""

    @classmethod
    def quick(cls) -> Sizes:
        return cls(sweep_orders=500, baseline_orders=10, throughput_levels=(1, 8, 64, 128), throughput_rounds=4,
                   calls_orders=100, rss_orders=2000, index_total=10_000, index_due=200, index_later=800,
                   shards_orders=128, rate_orders=100, conflict_orders=128, conflict_rounds=2, cpu_orders=300,
                   cpu_rounds=1, audit_orders=50, import_runs=3, decided_orders=4,
                   check_orders=8, check_batch=10)


@dataclass
class Context:
    """What the figures share: the report, the stage (started on first use), measured runs."""

    report: Report
    sizes: Sizes
    work_dir: Path
    results_dir: Path
    _bench: Bench | None = None
    _sizer: Sizer | None = None
    calibration: Calibration | None = None
    """The latest calibration of local AWS."""
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
            report.heading("local-aws", "Local AWS capacity (calibration)")
            started = time.monotonic()
            self._bench = Bench(self.work_dir).start()
            deployment = self._bench.stack.deployment
            steps = ", ".join(f"{step} {seconds(s)}" for step, s in (deployment.seconds if deployment else {}).items())
            report.say(f"  local stack up in {seconds(time.monotonic() - started)} ({steps}): MiniStack with the real "
                       "template.yaml deployed by sam build + sam deploy, the KICC simulator over HTTPS, the real "
                       "handler in local sandboxes reaching MiniStack through the fault proxy (HTTPS, this process)")
            cal = self.calibrate_now("start", before="")
            report.say(f"  {cal.calls:,} conditional UpdateItem calls (a claim's shape) from {cal.threads} client threads "
                       f"of another process, through the fault proxy: {cal.calls_per_second:,.0f} calls/s; MiniStack "
                       f"CPU {cal.ministack_cpu_share:.0%} of one core, the fault proxy (this process) "
                       f"{cal.proxy_cpu_share:.0%}. Straight to MiniStack: {cal.direct_calls_per_second:,.0f} calls/s: "
                       f"the proxy's path serves {cal.calls_per_second / cal.direct_calls_per_second:.0%} of it")
            report.say(f"  one call at a time (what a check waits for each of its calls): {cal.call_s * 1000:.1f} ms "
                       f"through the fault proxy, {cal.direct_call_s * 1000:.1f} ms straight to MiniStack (median of 20)")
            report.say("  'local-AWS-bound' below: a sweep's AWS calls divided by the rate calibrated closest before it "
                       "(the machine is shared, so local AWS is re-calibrated before each figure it may bound)")
        return self._bench

    def sizer(self) -> Sizer:
        """Probe writes on a scratch copy of the orders table (`bench.sizes`)."""
        if self._sizer is None:
            bench = self.bench()
            self._sizer = Sizer(bench.stack.client("dynamodb"), bench.stack.table, "paysweep-bench-sizes")
        return self._sizer

    def calibrate_now(self, label: str, before: str = "just before") -> Calibration:
        """Measure local AWS's capacity again, right before a figure it may bound."""
        cal = self.bench().calibrate()
        self.calibration = cal
        self.calibrations.append((label, cal))
        if before:
            self.report.say(f"  local AWS capacity {before}: {cal.calls_per_second:,.0f} calls/s and {cal.call_s * 1000:.0f} ms "
                            f"per call alone through the fault proxy (MiniStack CPU {cal.ministack_cpu_share:.0%} of a "
                            f"core; {cal.direct_calls_per_second:,.0f} calls/s, {cal.direct_call_s * 1000:.0f} ms "
                            "straight to MiniStack)")
        return cal

    def attach(self, run: SweepRun) -> SweepRun:
        """Judge a run against the calibration closest before it."""
        if run.calibration is None:
            run.calibration = self.cal()
        return run

    def recalibrate(self) -> None:
        """Local AWS's capacity again at the end: on a shared machine it drifts."""
        self.report.heading("local-aws", "Local AWS capacity through the run")
        self.calibrate_now("end", before="")
        self.report.table(["calibrated", "calls/s (proxy)", "ms/call alone", "MiniStack CPU", "fault proxy CPU",
                           "calls/s (direct)", "ms/call alone (direct)"],
                          [[label, f"{c.calls_per_second:,.0f}", f"{c.call_s * 1000:.1f}", f"{c.ministack_cpu_share:.0%}",
                            f"{c.proxy_cpu_share:.0%}", f"{c.direct_calls_per_second:,.0f}", f"{c.direct_call_s * 1000:.1f}"]
                           for label, c in self.calibrations])
        self.report.record("localAws", [asdict(c) | {"at": label, "callsPerSecond": c.calls_per_second,
                                                     "directCallsPerSecond": c.direct_calls_per_second}
                                        for label, c in self.calibrations])

    def close(self) -> None:
        """Stop the local stack, if it was started."""
        if self._bench is not None:
            self._bench.stop()
            self._bench = None

    def cal(self) -> Calibration:
        """The latest calibration (measured now if the first one failed)."""
        self.bench()
        return self.calibration or self.calibrate_now("start")


Figure = Callable[[Context], None]


def describe_run(ctx: Context, run: SweepRun) -> None:
    """The lines every sweep figure prints about where the time went."""
    report, cal = ctx.report, ctx.attach(run).calibration
    assert cal is not None
    bound = run.local_aws_bound_s(cal)
    report.say(f"  AWS calls: {run.aws_calls:,} ({run.dynamodb_reads:,} DynamoDB reads, {run.dynamodb_writes:,} writes, "
               f"{run.publish_batches:,} SNS PublishBatch); at local AWS's {cal.calls_per_second:,.0f} calls/s "
               f"they alone take {seconds(bound)} ({bound / run.duration_s:.0%} of the sweep); each check's claim and "
               f"record, {cal.call_s * 1000:.0f} ms each alone, make a round at least "
               f"{(run.latency_s + SEQUENTIAL_CALLS_PER_CHECK * cal.call_s) * 1000:.0f} ms: "
               f"{seconds(run.latency_bound_s(cal))} for the sweep")
    report.say(f"  CPU during the sweep: MiniStack {run.cpu_share('ministack'):.0%} of a core, sweeper "
               f"{run.cpu_share('sweeper'):.0%}, fault proxy and simulator (bench process) {run.cpu_share('bench'):.0%}; "
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
