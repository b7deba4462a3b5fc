"""The `check` figure: a check on demand's AWS calls, and the handler's time beyond the provider's
answer against the same AWS calls made bare (issue 21).

A check on demand (`{"check": [order ids]}`, `paysweep.sweep.check`) is synchronous: its caller
waits for the provider's answer and for everything the handler does around it. The provider's
time is the provider's; the rest is the claim, the record, the publish and its confirmation,
and whatever the handler adds to them. So the figure takes, for each single-order check of a
pending order that is not due and that the provider approves:

* its AWS calls: the fault proxy's count by `service.Operation` around the invocation (every AWS
  request of the sandbox crosses it; the provider's call goes to the simulator, not the proxy);
* the handler's duration beyond the provider: the sandbox's `handlerSeconds` meter (from the event
  handed to AWS's runtime loop to its answer posted: Lambda's duration, without the sandbox's
  pipe around it) minus the simulator's own time on that check's request (from its arrival to its
  answer ready, `RecordedRequest.received_s` / `answered_s`: the configured latency and the
  simulator's work).

The bound is the same four AWS calls made bare (`bench.bare`, mode `checks`), one after the other,
in a process of their own, through a plain botocore client with the product's settings, to the
same endpoint (the fault proxy, HTTPS): the claim with the check's guard, the record of the
approval, a PublishBatch of its one message, the confirmation. The bare loop asks the same
simulator between its claim and its record (not timed into the bound), so its connections wait
as long between calls as the handler's do. The figure is the ratio of the medians; the sandbox
and the bare loop alternate by round, so both meet the same load of the shared machine.

The sandbox is warm: an empty sweep, then unmeasured checks (the provider secret read, the
provider's connection opened), so no cold start and no GetSecretValue is in the figure. One
check of several orders then shows the calls per order as a request grows (the PublishBatch is
shared, ten messages a call).
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from bench.context import Context
from bench.harness import KICC_FIND_PATH, Bench

DESIGN_CALLS = 4
"""claim, record, publish, confirm."""
TARGET_CALLS = 4
TARGET_RATIO = 1.3
BARE_STEPS = ("claim", "record", "publish", "confirm")
BARE_OPERATIONS = {"UpdateItem": "dynamodb.UpdateItem", "PublishBatch": "sns.PublishBatch"}
"""The bare loop's AWS calls by the proxy's names (its provider POSTs are not AWS calls)."""
"""The AWS calls of the bare check: its bound (its `provider` step is timed apart)."""
WARM_UP_CHECKS = 2


@dataclass(frozen=True)
class CheckSample:
    """One single-order check on demand, through the real handler in a warm sandbox."""

    order_id: str
    calls: dict[str, int]
    """The sandbox's AWS requests during the invocation, by `service.Operation` (the fault proxy)."""
    handler_s: float
    """The sandbox's `handlerSeconds`: the runtime loop's event to its posted answer."""
    invocation_s: float
    """The invocation as its caller saw it (`InvocationResult.duration_ms`: the pipe included)."""
    engine_ms: int
    """`SweepEngine.check`'s own duration (the summary's `durationMs`, whole milliseconds)."""
    provider_s: float
    """The simulator's time on the check's request: arrival to answer ready."""
    cpu_s: float
    answer: dict[str, Any]
    problem: str = ""

    @property
    def aws_calls(self) -> int:
        return sum(self.calls.values())

    @property
    def beyond_s(self) -> float:
        """The handler's time beyond the provider's answer."""
        return self.handler_s - self.provider_s


def fig_check(ctx: Context) -> None:
    report, s = ctx.report, ctx.sizes
    bench = ctx.bench()
    report.heading("check", "Checks on demand: AWS calls per check, handler time beyond the provider")
    cal = ctx.calibrate_now("before check")
    concurrency = int(bench.function_env["SWEEP_CONCURRENCY"])
    per_round = max(1, s.check_orders // s.check_rounds)
    report.say(f"  the KICC function's handler in a warm sandbox (SWEEP_CONCURRENCY {concurrency}, as deployed); orders "
               "pending in the due index but not due (next check tomorrow), the KICC simulator answering approved "
               f"after {s.latency_s * 1000:.0f} ms over HTTPS; {s.check_rounds} round(s) of {per_round} single-order checks "
               f"one after the other, then {per_round} bare checks; then one check of {s.check_batch} orders")
    report.say(f"  warm: an empty sweep, then {WARM_UP_CHECKS} unmeasured checks (the provider secret read, the provider's "
               "connection open), so no cold start and no GetSecretValue below; the bare loop warms the same way")
    bench.clear()
    function = bench.function(concurrency)
    bench.stack.kicc.latency_seconds = s.latency_s
    try:
        warm = bench.due_orders("check-warm", ["approved"] * WARM_UP_CHECKS, due=False)
        bench.put(warm)
        for item in warm:
            sample = one_check(bench, function, item["orderId"])
            if sample.problem:
                raise RuntimeError(f"warm-up check failed: {sample.problem}")
        samples: list[CheckSample] = []
        bare_checks: list[dict[str, float]] = []
        bare_calls: Counter[str] = Counter()
        bare_transport: list[float] = []
        rounds = []
        for round_no in range(s.check_rounds):
            mine = bench.due_orders(f"check-{round_no}", ["approved"] * per_round, due=False)
            bare_warm = bench.due_orders(f"bare-warm-{round_no}", ["approved"] * WARM_UP_CHECKS, due=False)
            bare_items = bench.due_orders(f"bare-check-{round_no}", ["approved"] * per_round, due=False)
            bench.put(mine + bare_warm + bare_items)
            these = [one_check(bench, function, item["orderId"]) for item in mine]
            bench.stack.kicc.reset_requests()
            bare = bench.bare_checks([item["orderId"] for item in bare_items], [item["orderId"] for item in bare_warm])
            served = {request.body.get("pgCno"): request.answered_s - request.received_s
                      for request in bench.stack.kicc.requests_for(KICC_FIND_PATH) if request.body}
            transport = [step["provider"] - served[item["pgCno"]] for step, item in zip(bare["checks"], bare_items,
                                                                                         strict=True)]
            samples.extend(these)
            bare_checks.extend(bare["checks"])
            bare_calls.update(bare["calls"])
            bare_transport.extend(transport)
            rounds.append(round_row(round_no, these, bare["checks"]))
        batch_items = bench.due_orders("check-batch", ["approved"] * s.check_batch, due=False)
        bench.put(batch_items)
        batch = one_check(bench, function, *(item["orderId"] for item in batch_items))
    finally:
        bench.stack.kicc.latency_seconds = 0.0
        bench.retire(function)

    problems = [f"{sample.order_id}: {sample.problem}" for sample in [*samples, batch] if sample.problem]
    for problem in problems:
        report.say(f"  WARNING: {problem}")
    calls_figure(ctx, samples, batch, bare_calls, len(bare_checks), not problems)
    times = time_figure(ctx, samples, bare_checks, bare_transport, rounds, cal.call_s, not problems)
    report.record("check", times | {
        "latencySeconds": s.latency_s, "concurrency": concurrency, "rounds": rounds,
        "samples": [asdict(sample) | {"awsCalls": sample.aws_calls, "beyondSeconds": sample.beyond_s}
                    for sample in samples],
        "batch": asdict(batch) | {"orders": s.check_batch, "awsCalls": batch.aws_calls},
        "bare": {"checks": bare_checks, "calls": dict(bare_calls), "providerTransportSeconds": bare_transport},
        "problems": problems, "callAloneSeconds": cal.call_s,
    })


def one_check(bench: Bench, function: Any, *order_ids: str) -> CheckSample:
    """One synchronous check of the orders, measured (the fault proxy's calls, the simulator's time)."""
    stack = bench.stack
    assert stack.faults is not None
    stack.kicc.reset_requests()
    stack.faults.calls.clear()
    result = function.invoke({"check": list(order_ids)}, timeout_seconds=60)
    calls = dict(stack.faults.calls)
    requests = stack.kicc.requests_for(KICC_FIND_PATH)
    provider_s = max((request.answered_s - request.received_s for request in requests), default=0.0)
    answers = (result.result or {}).get("checks", [])
    finished = result.log_records("check finished")
    problem = ""
    if "handlerSeconds" not in result.meters:
        problem = "the sandbox reported no handlerSeconds (its duration stands in for the handler's)"
    elif not result.ok:
        problem = f"{result.error}"
    elif [(a.get("orderId"), a.get("status"), a.get("checked")) for a in answers] != [
            (order_id, "APPROVED", True) for order_id in order_ids]:
        problem = f"not every order checked and approved: {answers}"
    elif len(requests) != len(order_ids):
        problem = f"{len(requests)} provider requests for {len(order_ids)} orders"
    return CheckSample(
        order_id=",".join(order_ids) if len(order_ids) < 3 else f"{order_ids[0]} and {len(order_ids) - 1} more",
        calls=calls, handler_s=float(result.meters.get("handlerSeconds", result.duration_ms / 1000)),
        invocation_s=result.duration_ms / 1000, engine_ms=int(finished[0]["summary"]["durationMs"]) if finished else -1,
        provider_s=provider_s, cpu_s=float(result.meters.get("cpuSeconds", 0.0)), answer=answers[0] if answers else {},
        problem=problem)


def round_row(round_no: int, samples: list[CheckSample], bare: list[dict[str, float]]) -> dict[str, Any]:
    beyond = statistics.median(sample.beyond_s for sample in samples)
    bound = statistics.median(bare_aws_s(check) for check in bare)
    return {"round": round_no + 1, "checks": len(samples), "bareChecks": len(bare), "beyondSeconds": beyond,
            "bareSeconds": bound, "ratio": beyond / bound}


def bare_aws_s(check: dict[str, float]) -> float:
    return sum(check[step] for step in BARE_STEPS)


def calls_figure(ctx: Context, samples: list[CheckSample], batch: CheckSample, bare_calls: Counter[str], bare_checks: int,
                 clean: bool) -> None:
    report, s = ctx.report, ctx.sizes
    bare = {BARE_OPERATIONS[name]: count for name, count in bare_calls.items() if name in BARE_OPERATIONS}
    operations = sorted({op for sample in [*samples, batch] for op in sample.calls} | set(bare))
    n = len(samples)
    rows = []
    for op in operations:
        counts = [sample.calls.get(op, 0) for sample in samples]
        rows.append([op, f"{sum(counts) / n:.2f}", max(counts), f"{batch.calls.get(op, 0) / s.check_batch:.2f}",
                     f"{bare.get(op, 0) / max(1, bare_checks):.2f}"])
    totals = [sample.aws_calls for sample in samples]
    mean, worst = sum(totals) / n, max(totals)
    rows.append(["all AWS calls", f"{mean:.2f}", worst, f"{batch.aws_calls / s.check_batch:.2f}",
                 f"{sum(bare.values()) / max(1, bare_checks):.2f}"])
    report.say("  AWS calls (the fault proxy's count of the sandbox's requests around each invocation; the provider's "
               "call is not an AWS call):")
    report.table(["operation", f"per check (mean of {n})", "max", f"one check of {s.check_batch}: per order",
                  "bare, per check"], rows)
    report.say(f"  the check of {s.check_batch} orders made {batch.aws_calls} calls: a claim, a record and a "
               f"confirmation per order, {batch.calls.get('sns.PublishBatch', 0)} PublishBatch (ten messages a call)")
    report.check("AWS calls per check (warm, pending order approved)",
                 f"mean {mean:.2f}, max {worst} ({worst / DESIGN_CALLS:.2f} x the design's {DESIGN_CALLS}); "
                 f"{batch.aws_calls / s.check_batch:.2f} per order in a check of {s.check_batch}",
                 f"<= {TARGET_CALLS}", worst <= TARGET_CALLS and clean,
                 "claim, record, publish, confirm; warm sandbox: no GetSecretValue, no cold start")


def time_figure(ctx: Context, samples: list[CheckSample], bare: list[dict[str, float]], transport: list[float],
                rounds: list[dict[str, Any]], call_alone_s: float, clean: bool) -> dict[str, Any]:
    report = ctx.report

    def ms(value: float) -> str:
        return f"{value * 1000:.1f} ms"

    def median(values: Any) -> float:
        return statistics.median(list(values))

    beyond = median(sample.beyond_s for sample in samples)
    bound = median(bare_aws_s(check) for check in bare)
    ratio = beyond / bound
    report.say("  time: the handler's own duration (the sandbox's handlerSeconds: the runtime loop's event to its "
               "posted answer) minus the simulator's time on the check's request (arrival to answer ready); bound: "
               "the same 4 AWS calls made bare, one after the other (bench/bare.py checks), medians")
    report.table(["round", "checks", "handler beyond the provider", "bare checks", "bare 4 AWS calls", "ratio"],
                 [[r["round"], r["checks"], ms(r["beyondSeconds"]), r["bareChecks"], ms(r["bareSeconds"]),
                   f"{r['ratio']:.2f}"] for r in rounds])
    handler = median(sample.handler_s for sample in samples)
    engine = median(sample.engine_ms / 1000 - sample.provider_s for sample in samples)
    report.say(f"  handler (medians of {len(samples)}): {ms(handler)} in all, the provider {ms(median(s.provider_s for s in samples))}, "
               f"beyond it {ms(beyond)}; of that, SweepEngine.check beyond the provider {ms(engine)} (its durationMs, "
               f"whole ms), the handler around it {ms(median(s.handler_s - s.engine_ms / 1000 for s in samples))} "
               f"(logging the summary, metrics, the answer); the invocation as its caller saw it "
               f"{ms(median(s.invocation_s for s in samples))}; sandbox CPU {ms(median(s.cpu_s for s in samples))} "
               "per check")
    report.say(f"  bare (medians of {len(bare)}): " + ", ".join(f"{step} {ms(median(c[step] for c in bare))}"
                                                              for step in BARE_STEPS)
               + f"; one claim-shaped call alone at the calibration {ms(call_alone_s)}; the provider's POST round trip "
               f"beyond the simulator's own time {ms(median(transport))} (in the handler's time beyond the provider, "
               "not in the bound)")
    report.check("check-overhead: handler time beyond the provider / the same 4 AWS calls bare",
                 f"{ratio:.2f} ({ms(beyond)} vs {ms(bound)}, medians)", f"<= {TARGET_RATIO}",
                 ratio <= TARGET_RATIO and clean, "warm sandbox, one order per check, provider approves")
    return {"beyondSeconds": beyond, "bareSeconds": bound, "ratio": ratio, "handlerSeconds": handler,
            "engineBeyondSeconds": engine, "bareStepSeconds": {step: median(c[step] for c in bare) for step in BARE_STEPS},
            "bareProviderTransportSeconds": median(transport)}

