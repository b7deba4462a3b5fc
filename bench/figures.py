"""The figures of issue 6 about time, memory and reads, and the registry of every figure.

Every figure measures in this run; nothing is a constant, and each is printed as a ratio to its
limit or baseline measured in the same run. Where local AWS (MiniStack behind the fault proxy),
not the product, limits a figure, the figure says so next to local AWS's own measured capacity
(see `Calibration`), so the reader can tell the product's overhead from local AWS's. The
figures about DynamoDB write units and cost are in `bench.units`.
"""

from __future__ import annotations

import math
import statistics
import time
from pathlib import Path
from typing import Any

from paysweep.aws.dynamodb import to_item
from paysweep.domain.clock import to_iso

from bench import checks, cost, importtime, units
from bench.context import (
    LAMBDA_FULL_VCPU_MB,
    Context,
    Figure,
    baseline_sweep,
    describe_run,
    main_sweep,
    measured_or,
)
from bench.harness import KICC, MAIN_MIX, Bench, Calibration, later_order_item, terminal_order_item
from bench.report import seconds


def fig_imports(ctx: Context) -> None:
    report = ctx.report
    report.heading("imports", "Cold import of each handler module")
    runs = ctx.sizes.import_runs
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
    report.say(f"  local-AWS-adjusted limit max(rounds x (latency + 2 calls alone) {seconds(run.latency_bound_s(cal))}, "
               f"calls at the calibrated rate {seconds(run.local_aws_bound_s(cal))}) = {seconds(adjusted)}; ratio to it "
               f"{run.duration_s / adjusted:.2f}")
    memory_mb = ctx.bench().memory_mb
    cpu_floor = run.cpu["sweeper"] / (memory_mb / LAMBDA_FULL_VCPU_MB)
    report.say(f"  sweeper CPU {run.cpu['sweeper']:.1f} s on this machine; on a {memory_mb} MB Lambda "
               f"(~{memory_mb / LAMBDA_FULL_VCPU_MB:.2f} vCPU) that CPU alone would take about "
               f"{seconds(cpu_floor)} (different CPU: an order of magnitude, not a measurement)")
    ratio = run.duration_s / limit
    note = (f"local AWS adds {adjusted / limit - 1:.0%} to the limit here (ratio to the adjusted limit "
            f"{run.duration_s / adjusted:.2f})" if adjusted > limit * 1.05 else "")
    report.check("wall time / provider-bound limit", f"{ratio:.2f}", "<= 1.25", ratio <= 1.25 and not run.problems(), note)
    report.record("sweep", run.to_json(cal) | {"adjustedLimitSeconds": adjusted, "mix": MAIN_MIX.describe()})


def fig_baseline(ctx: Context) -> None:
    report, s = ctx.report, ctx.sizes
    report.heading("baseline", f"Naive baseline: the same per-order work, sequentially, on {s.baseline_orders} orders")
    run = baseline_sweep(ctx)
    main = main_sweep(ctx)
    per_order = run.duration_s / run.orders
    naive = per_order * main.orders
    ideal = naive / main.provider_bound_s
    speed_up = naive / main.duration_s
    report.say(f"  {run.orders} orders at concurrency 1: {seconds(run.duration_s)}, {per_order * 1000:.0f} ms per order "
               f"({s.latency_s * 1000:.0f} ms of it the provider's latency: {s.latency_s / per_order:.0%})")
    report.say(f"  naive time for {main.orders:,} orders: {seconds(naive)}; the concurrent sweep took "
               f"{seconds(main.duration_s)}: speed-up {speed_up:.1f}x, {speed_up / ideal:.0%} of the provider-bound "
               f"ideal {ideal:.1f}x")
    for problem in run.problems():
        report.say(f"  WARNING: {problem}")
    report.record("baseline", run.to_json(run.calibration) | {"perOrderSeconds": per_order, "naiveSeconds": naive,
                                                               "speedUp": speed_up, "idealSpeedUp": ideal})


def fig_throughput(ctx: Context) -> None:
    report, s = ctx.report, ctx.sizes
    report.heading("throughput", f"Throughput by concurrency, provider latency {s.latency_s * 1000:.0f} ms")
    cal = ctx.calibrate_now("before throughput")
    report.say(f"  N = {s.throughput_rounds} x concurrency due orders per point ({s.baseline_orders} at concurrency 1: "
               "the naive baseline's run); answers: " + MAIN_MIX.describe())
    points: list[dict[str, Any]] = []
    rows = []
    for level in s.throughput_levels:
        run = baseline_sweep(ctx) if level == 1 else measured_or(
            ctx, f"c{level}", lambda level=level: ctx.bench().measure(
                label=f"c{level}", kinds=MAIN_MIX.kinds(s.throughput_rounds * level), concurrency=level,
                latency_s=s.latency_s))
        provider_rate = run.orders / run.provider_bound_s
        adjusted_rate = run.orders / run.adjusted_limit_s(run.calibration or cal)
        points.append({"concurrency": level, "orders": run.orders, "seconds": run.duration_s,
                       "ordersPerSecond": run.throughput, "providerLimit": provider_rate, "adjustedLimit": adjusted_rate,
                       "ministackCpu": run.cpu_share("ministack"), "benchCpu": run.cpu_share("bench"),
                       "problems": run.problems()})
        rows.append([level, run.orders, seconds(run.duration_s), f"{run.throughput:,.1f}", f"{provider_rate:,.1f}",
                     f"{run.throughput / provider_rate:.0%}", f"{adjusted_rate:,.1f}",
                     f"{run.throughput / adjusted_rate:.0%}", f"{run.cpu_share('ministack'):.0%}",
                     f"{run.cpu_share('bench'):.0%}"])
        for problem in run.problems():
            report.say(f"  WARNING (concurrency {level}): {problem}")
    report.table(["concurrency", "orders", "wall", "orders/s", "provider limit/s", "of limit",
                  "local-AWS-adj. limit/s", "of adj.", "MiniStack CPU", "proxy+sim. CPU"], rows)
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
            label=f"local-AWS-adjusted limit ({cal.calls_per_second:,.0f} calls/s)")
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
    ax.set_title("paysweep sweep throughput (MiniStack + KICC simulator)")
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
             seconds(run.adjusted_limit_s(cal)), f"{run.duration_s / run.adjusted_limit_s(cal):.2f}"] for run in (one, two)]
    report.table(["", "wall", "orders/s", "provider-bound", "local-AWS-adjusted", "ratio to it"], rows)
    for run in (one, two):
        for problem in run.problems():
            report.say(f"  WARNING ({run.label}): {problem}")
    speed_up = one.duration_s / two.duration_s
    ideal = one.provider_bound_s / two.provider_bound_s
    provider_bound = all(run.adjusted_limit_s(cal) <= run.provider_bound_s * 1.05 for run in (one, two))
    report.check("speed-up of two sweepers", f"{speed_up:.2f}x ({speed_up / ideal:.0%} of the provider-bound {ideal:.2f}x)",
                 ">= 1.8 when provider-bound", speed_up >= 1.8 and not (one.problems() or two.problems()),
                 "provider-bound" if provider_bound else "NOT provider-bound here: local AWS's latency adds to each "
                 f"check (adjusted speed-up {one.adjusted_limit_s(cal) / two.adjusted_limit_s(cal):.2f}x)")
    report.record("shards", {"one": one.to_json(cal), "two": two.to_json(cal), "speedUp": speed_up,
                             "idealSpeedUp": ideal})


def fig_ratelimit(ctx: Context) -> None:
    report, s, cal = ctx.report, ctx.sizes, ctx.cal()
    report.heading("ratelimit", "Provider rate limit: configured against measured")
    run = ctx.bench().measure(label="ratelimit", kinds=MAIN_MIX.kinds(s.rate_orders), concurrency=s.concurrency,
                              latency_s=s.latency_s, extra_env={"PROVIDER_RATE_LIMIT_PER_SECOND": str(s.rate_limit)})
    measured = run.provider_rate()
    report.say(f"  PROVIDER_RATE_LIMIT_PER_SECOND={s.rate_limit}, {s.rate_orders} due orders, concurrency "
               f"{s.concurrency}, provider latency {s.latency_s * 1000:.0f} ms")
    report.say(f"  {len(run.provider_arrivals)} provider requests in {seconds(run.duration_s)}; rate between the first and "
               "the last request as the simulator saw them: " + (f"{measured:.2f}/s" if measured is not None else "n/a"))
    describe_run(ctx, run)
    if measured is None:
        report.check("measured provider requests/s", "n/a", f"{s.rate_limit}/s within 10 %", None,
                     "fewer than two provider requests")
    else:
        deviation = abs(measured - s.rate_limit) / s.rate_limit
        report.check("measured provider requests/s", f"{measured:.2f}/s ({measured / s.rate_limit:.3f} x configured, "
                     f"{deviation:.1%} off)", f"{s.rate_limit}/s within 10 %", deviation <= 0.10)
    report.record("ratelimit", run.to_json(cal) | {"configured": s.rate_limit, "measured": measured})


def fig_rss(ctx: Context) -> None:
    report, s = ctx.report, ctx.sizes
    report.heading("rss", f"Peak memory of a sweep of {s.rss_orders:,} due orders")
    cal = ctx.calibrate_now("before rss")
    run = ctx.bench().measure(label="rss", kinds=MAIN_MIX.kinds(s.rss_orders), concurrency=s.concurrency,
                              latency_s=s.latency_s)
    report.say(f"  concurrency {s.concurrency}, provider latency {s.latency_s * 1000:.0f} ms; {MAIN_MIX.describe()}")
    report.say(f"  sweep: {seconds(run.duration_s)}, {run.throughput:,.1f} orders/s (provider-bound limit "
               f"{seconds(run.provider_bound_s)}: ratio {run.duration_s / run.provider_bound_s:.2f})")
    describe_run(ctx, run)
    growth = run.worker_peak_rss_mb / run.worker_peak_rss_before_mb
    report.say(f"  sandbox process peak RSS (VmHWM): {run.worker_peak_rss_before_mb:.1f} MiB after the warm-up (empty) "
               f"sweep, {run.worker_peak_rss_mb:.1f} MiB after the sweep: {growth:.2f} x")
    report.check("peak RSS of the sweep's process", f"{run.worker_peak_rss_mb:.1f} MiB ({growth:.2f} x the empty "
                 f"sweep's {run.worker_peak_rss_before_mb:.1f} MiB)", "<= 150 MB",
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
        classes = {"decided": [terminal_order_item(f"old-{i:06d}", now) for i in range(terminal_count)],
                   "later": [later_order_item(f"later-{i:06d}", i % shards, shards, now) for i in range(s.index_later)],
                   "due": bench.due_orders("due", MAIN_MIX.kinds(s.index_due))}
        seeded_s = bench.put([item for items in classes.values() for item in items])
        report.say(f"  seeded with BatchWriteItem in {seconds(seeded_s)} ({s.index_total / seeded_s:,.0f} items/s)")
        scan = naive_scan(bench, now)
        run = bench.sweep(function, label="index", orders=s.index_due, concurrency=s.concurrency, latency_s=0.0)
    finally:
        bench.retire(function)
    sizer = ctx.sizer()
    queries = run.calls.get("dynamodb.Query", 0)
    entry = units.due_entry_bytes(sizer, classes["due"][0])
    index_rru = cost.read_units(run.items_read, entry, queries)
    table_bytes = sum(len(items) * sizer.size(to_item(items[-1])) for items in classes.values() if items)
    scan_rru = 0.5 * math.ceil(table_bytes / 4096) + 0.5 * scan["pages"]
    rows = [
        ["sweep: every item its reads returned", f"{run.items_read:,}", f"{run.items_read / s.index_due:.3f}",
         f"{queries} Query, {run.dynamodb_reads - queries} other", f"{index_rru:,.1f}"],
        ["full Scan with a filter", f"{scan['read']:,}", f"{scan['read'] / s.index_due:.3f}", f"{scan['pages']} Scan",
         f"{scan_rru:,.1f}"],
    ]
    report.table(["read path", "items read", "per due order", "requests", "read units"], rows)
    report.say("  the sweep's items: the sandbox's meters (Count of every Query and Scan page, 1 per GetItem found): "
               "the due index's pages, and the audit index's (empty here) queries; the Scan's: its pages' "
               f"ScannedCount. Read units by DynamoDB's rule (0.5 per 4 KB, per request): due-index entries of {entry} B, "
               f"the table's {table_bytes:,} B, sizes asked of MiniStack's ConsumedCapacity (bench.sizes; one item "
               "of each kind, the kinds' ids of one length)")
    report.say(f"  the Scan found {scan['matched']:,} due orders; the sweep checked {run.checked:,}")
    for problem in run.problems():
        report.say(f"  WARNING: {problem}")
    amplification = run.items_read / s.index_due
    report.check("items read per due order through the due index", f"{amplification:.3f}", "<= 1.05",
                 amplification <= 1.05 and not run.problems(),
                 f"full Scan: {scan['read'] / s.index_due:.1f}, {scan['read'] / max(1, run.items_read):.0f} x the sweep's")
    report.record("index", {"sweep": run.to_json(cal), "scan": scan, "itemsRead": run.items_read,
                            "dueEntryBytes": entry, "tableBytes": table_bytes, "indexReadUnits": index_rru,
                            "scanReadUnits": scan_rru, "seedSeconds": seeded_s})


def naive_scan(bench: Bench, now: Any) -> dict[str, Any]:
    """What a sweeper without the due index would do: Scan the table, filter the due orders."""
    started = time.monotonic()
    matched = pages = read = 0
    for page in bench.dynamodb.get_paginator("scan").paginate(
        TableName=bench.stack.table,
        FilterExpression="begins_with(sweepKey, :p) AND nextCheckAt <= :now",
        ExpressionAttributeValues={":p": {"S": f"{KICC}#"}, ":now": {"S": to_iso(now)}},
    ):
        matched += page.get("Count", 0)
        read += page.get("ScannedCount", 0)
        pages += 1
    return {"read": read, "matched": matched, "pages": pages, "seconds": time.monotonic() - started}


def fig_cpu(ctx: Context) -> None:
    report, s = ctx.report, ctx.sizes
    bench = ctx.bench()
    report.heading("cpu", "Sweeper CPU per check against the same calls made bare (provider over HTTPS)")
    report.say(f"  {s.cpu_orders} due orders per sweep ({MAIN_MIX.describe()}), concurrency {s.cpu_concurrency}, "
               f"provider latency {s.latency_s * 1000:.0f} ms, {s.cpu_rounds} round(s), sweeper and bare loop alternating; "
               "the KICC simulator on HTTPS (the stack's test CA), the template deployed with AllowInsecureHttp=false")
    report.say("  sweeper: the sandbox's CPU time over one warm sweep (its meters: process time, all threads), divided "
               "by the orders it checked. Bare (bench/bare.py, its own process): the same GetSecretValue, Query, "
               "UpdateItem and PublishBatch calls through a plain botocore client (the product's client settings) to "
               "the same endpoint (the fault proxy, HTTPS) and the same HTTPS posts through a plain requests session, "
               "on a pool of the same size, over the same number of fresh due orders; its process's CPU time over the loop")
    rounds = [cpu_round(ctx, bench, round_no) for round_no in range(s.cpu_rounds)]
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
    vcpu = bench.memory_mb / LAMBDA_FULL_VCPU_MB
    report.say(f"  at {bench.memory_mb} MB (~{vcpu:.2f} vCPU) the sweeper's {sweeper_ms:.1f} ms per check caps one "
               f"function at about {vcpu / (sweeper_ms / 1000):.0f} checks/s; the bare calls' {bare_ms:.1f} ms at "
               f"about {vcpu / (bare_ms / 1000):.0f} (this machine's CPU, not Lambda's: an order of magnitude)")
    clean = all(not r["sweep"]["problems"] and not r["bare"]["errorCount"] for r in rounds)
    report.check("cpu-per-check", f"{ratio:.2f} (sweeper {sweeper_ms:.2f} ms, bare {bare_ms:.2f} ms per check)",
                 "<= 1.5", ratio <= 1.5 and clean, "sandbox CPU / the same calls made bare, HTTPS provider")
    report.record("cpu", {"rounds": rounds, "sweeperMsPerCheck": sweeper_ms, "bareMsPerCheck": bare_ms, "ratio": ratio})


def cpu_round(ctx: Context, bench: Bench, round_no: int) -> dict[str, Any]:
    """One sweep, then the bare loop over as many fresh due orders of the same kinds."""
    report, s = ctx.report, ctx.sizes
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
    return {"sweep": run.to_json(), "sweeperCpuSeconds": run.cpu["sweeper"], "sweeperChecks": run.checked,
            "sweepSeconds": run.duration_s, "bare": bare}


FIGURES: dict[str, Figure] = {
    "imports": fig_imports,
    "sweep": fig_sweep,
    "baseline": fig_baseline,
    "throughput": fig_throughput,
    "shards": fig_shards,
    "conflicts": units.fig_conflicts,
    "ratelimit": fig_ratelimit,
    "calls": units.fig_calls,
    "rss": fig_rss,
    "index": fig_index,
    "audits": units.fig_audits,
    "cost": units.fig_cost,
    "cpu": fig_cpu,
    "check": checks.fig_check,
}
"""Every figure, in the order a full run measures them."""

DEPENDS: dict[str, tuple[str, ...]] = {"baseline": ("sweep",), "cost": ("sweep", "calls")}
NEEDS_STACK = frozenset(FIGURES) - {"imports"}
"""The figures measured on the local stack (started before the first of them)."""
