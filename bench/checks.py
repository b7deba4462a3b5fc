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
approval, a PublishBatch of its one message, the confirmation. The bare check asks the same
simulator between its claim and its record (not timed into the bound), so its connections wait
as long between calls as the handler's do. The figure is the ratio of the medians; each
handler's check is followed by a bare one (the bare process is kept running between them), so
both meet the same load of the shared machine.

The sandbox is warm: an empty sweep, then unmeasured checks (the provider secret read, the
provider's connection opened), so no cold start and no GetSecretValue is in the figure. One
check of several orders then shows the calls per order as a request grows (the PublishBatch is
shared, ten messages a call).
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

from bench.context import Context
from bench.harness import KICC_FIND_PATH, Bench

DESIGN_CALLS = 4
"""claim, record, publish, confirm."""
TARGET_CALLS = 4
TARGET_RATIO = 1.3
BARE_STEPS = ("claim", "record", "publish", "confirm")
"""The AWS calls of the bare check: its bound (its `provider` step is timed apart)."""
BARE_OPERATIONS = {"UpdateItem": "dynamodb.UpdateItem", "PublishBatch": "sns.PublishBatch"}
"""The bare check's AWS calls by the proxy's names (its provider POSTs are not AWS calls)."""
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


@dataclass(frozen=True)
class BareCheck:
    """The same check made bare (`bench.bare` `checks`)."""

    steps: dict[str, float]
    """Seconds of each step: claim, provider, record, publish, confirm."""
    calls: dict[str, int]
    cpu_s: float
    provider_s: float
    """The simulator's time on its request (arrival to answer ready)."""

    @property
    def aws_s(self) -> float:
        """The bound: its 4 AWS calls, one after the other."""
        return sum(self.steps[step] for step in BARE_STEPS)

    @property
    def transport_s(self) -> float:
        """The provider's POST round trip beyond the simulator's own time (TLS, HTTP, JSON)."""
        return self.steps["provider"] - self.provider_s


def fig_check(ctx: Context) -> None:
    report, s = ctx.report, ctx.sizes
    bench = ctx.bench()
    report.heading("check", "Checks on demand: AWS calls per check, handler time beyond the provider")
    cal = ctx.calibrate_now("before check")
    concurrency = int(bench.function_env["SWEEP_CONCURRENCY"])
    report.say(f"  the KICC function's handler in a warm sandbox (SWEEP_CONCURRENCY {concurrency}, as deployed); orders "
               "pending in the due index but not due (next check tomorrow), the KICC simulator answering approved "
               f"after {s.latency_s * 1000:.0f} ms over HTTPS; {s.check_orders} single-order checks, each followed by "
               f"the same check made bare (its own process, kept running); then one check of {s.check_batch} orders")
    report.say(f"  warm: an empty sweep, then {WARM_UP_CHECKS} unmeasured checks (the provider secret read, the provider's "
               "connection open), so no cold start and no GetSecretValue below; the bare process warms the same way")
    bench.clear()
    function = bench.function(concurrency)
    bench.stack.kicc.latency_seconds = s.latency_s
    try:
        warm = bench.due_orders("check-warm", ["approved"] * WARM_UP_CHECKS, due=False)
        mine = bench.due_orders("check", ["approved"] * s.check_orders, due=False)
        bare_warm = bench.due_orders("bare-warm", ["approved"] * WARM_UP_CHECKS, due=False)
        theirs = bench.due_orders("bare", ["approved"] * s.check_orders, due=False)
        batch_items = bench.due_orders("check-batch", ["approved"] * s.check_batch, due=False)
        bench.put(warm + mine + bare_warm + theirs + batch_items)
        for item in warm:
            sample = one_check(bench, function, item["orderId"])
            if sample.problem:
                raise RuntimeError(f"warm-up check failed: {sample.problem}")
        samples: list[CheckSample] = []
        bare: list[BareCheck] = []
        with bench.bare_checker([item["orderId"] for item in bare_warm]) as check_bare:
            for item, other in zip(mine, theirs, strict=True):
                samples.append(one_check(bench, function, item["orderId"]))
                bare.append(one_bare_check(bench, check_bare, other["orderId"]))
        batch = one_check(bench, function, *(item["orderId"] for item in batch_items))
    finally:
        bench.stack.kicc.latency_seconds = 0.0
        bench.retire(function)

    problems = [f"{sample.order_id}: {sample.problem}" for sample in [*samples, batch] if sample.problem]
    problems += [f"bare: {calls} AWS calls" for calls in (aws_calls(check.calls) for check in bare) if calls != DESIGN_CALLS]
    for problem in problems:
        report.say(f"  WARNING: {problem}")
    calls_figure(ctx, samples, batch, bare, not problems)
    times = time_figure(ctx, samples, bare, cal.call_s, not problems)
    report.record("check", times | {
        "latencySeconds": s.latency_s, "concurrency": concurrency,
        "samples": [asdict(sample) | {"awsCalls": sample.aws_calls, "beyondSeconds": sample.beyond_s}
                    for sample in samples],
        "batch": asdict(batch) | {"orders": s.check_batch, "awsCalls": batch.aws_calls},
        "bare": [asdict(check) | {"awsSeconds": check.aws_s} for check in bare],
        "problems": problems, "callAloneSeconds": cal.call_s,
    })


def one_bare_check(bench: Bench, check_bare: Callable[[str], dict[str, Any]], order_id: str) -> BareCheck:
    bench.stack.kicc.reset_requests()
    answer = check_bare(order_id)
    served = [request.answered_s - request.received_s for request in bench.stack.kicc.requests_for(KICC_FIND_PATH)]
    return BareCheck(steps=answer["steps"], calls=answer["calls"], cpu_s=answer["cpuSeconds"],
                     provider_s=served[0] if served else 0.0)


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


def aws_calls(bare_calls: dict[str, int]) -> int:
    """The bare check's AWS calls (not its provider POST)."""
    return sum(count for name, count in bare_calls.items() if name in BARE_OPERATIONS)


def calls_figure(ctx: Context, samples: list[CheckSample], batch: CheckSample, bare_checks: list[BareCheck],
                 clean: bool) -> None:
    report, s = ctx.report, ctx.sizes
    bare: Counter[str] = Counter()
    for check in bare_checks:
        bare.update({BARE_OPERATIONS[name]: count for name, count in check.calls.items() if name in BARE_OPERATIONS})
    operations = sorted({op for sample in [*samples, batch] for op in sample.calls} | set(bare))
    n = len(samples)
    rows = []
    for op in operations:
        counts = [sample.calls.get(op, 0) for sample in samples]
        rows.append([op, f"{sum(counts) / n:.2f}", max(counts), f"{batch.calls.get(op, 0) / s.check_batch:.2f}",
                     f"{bare[op] / max(1, len(bare_checks)):.2f}"])
    totals = [sample.aws_calls for sample in samples]
    mean, worst = sum(totals) / n, max(totals)
    rows.append(["all AWS calls", f"{mean:.2f}", worst, f"{batch.aws_calls / s.check_batch:.2f}",
                 f"{sum(bare.values()) / max(1, len(bare_checks)):.2f}"])
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


def time_figure(ctx: Context, samples: list[CheckSample], bare: list[BareCheck], call_alone_s: float,
                clean: bool) -> dict[str, Any]:
    report = ctx.report

    def ms(value: float) -> str:
        return f"{value * 1000:.1f} ms"

    def median(values: Iterable[float]) -> float:
        return statistics.median(list(values))

    beyond = median(sample.beyond_s for sample in samples)
    bound = median(check.aws_s for check in bare)
    ratio = beyond / bound
    report.say("  time: the handler's own duration (the sandbox's handlerSeconds: the runtime loop's event to its "
               "posted answer) minus the simulator's time on the check's request (arrival to answer ready); bound: "
               "the same 4 AWS calls made bare, one after the other (bench/bare.py checks); each handler check is "
               "followed by a bare one, so both meet the same load; medians")
    half = len(samples) // 2
    parts = [("first half", slice(0, half)), ("second half", slice(half, None)), ("all", slice(None))] if half else []
    rows = []
    for name, part in parts or [("all", slice(None))]:
        mine, theirs = median(x.beyond_s for x in samples[part]), median(x.aws_s for x in bare[part])
        rows.append([name, len(samples[part]), ms(mine), ms(theirs), f"{mine / theirs:.2f}"])
    report.table(["checks", "pairs", "handler beyond the provider", "bare 4 AWS calls", "ratio"], rows)
    pair_ratios = sorted(sample.beyond_s / check.aws_s for sample, check in zip(samples, bare, strict=True))
    quartiles = statistics.quantiles(pair_ratios, n=4) if len(pair_ratios) > 1 else pair_ratios * 3
    handler = median(sample.handler_s for sample in samples)
    engine = median(sample.engine_ms / 1000 - sample.provider_s for sample in samples)
    around = median(sample.handler_s - sample.engine_ms / 1000 for sample in samples)
    report.say(f"  pair by pair: ratio median {statistics.median(pair_ratios):.2f}, quartiles {quartiles[0]:.2f} and "
               f"{quartiles[2]:.2f}, range {pair_ratios[0]:.2f} to {pair_ratios[-1]:.2f}")
    report.say(f"  handler (medians of {len(samples)}): {ms(handler)} in all, the simulator "
               f"{ms(median(x.provider_s for x in samples))}, beyond it {ms(beyond)}; of that, SweepEngine.check "
               f"{ms(engine)} (its durationMs, whole ms), the handler around it {ms(around)} (the summary logged, "
               f"metrics, the answer); the invocation as its caller saw it {ms(median(x.invocation_s for x in samples))}")
    report.say(f"  bare (medians of {len(bare)}): " + ", ".join(f"{step} {ms(median(c.steps[step] for c in bare))}"
                                                              for step in BARE_STEPS)
               + f"; one claim-shaped call alone at the calibration {ms(call_alone_s)}")
    transport = median(check.transport_s for check in bare)
    with_post = median(check.aws_s + check.transport_s for check in bare)
    report.say(f"  in the handler's time beyond the provider but not in the bound: the provider's POST round trip beyond "
               f"the simulator's own time, {ms(transport)} bare (TLS, HTTP, JSON); the logs and metrics; the worker "
               f"pool. With that round trip added to the bound ({ms(with_post)}), as the handler must make it too, the "
               f"ratio would be {beyond / with_post:.2f}. CPU per check: sandbox {ms(median(x.cpu_s for x in samples))}, "
               f"bare {ms(median(c.cpu_s for c in bare))} (its 4 AWS calls and the POST)")
    report.check("check-overhead: handler time beyond the provider / the same 4 AWS calls bare",
                 f"{ratio:.2f} ({ms(beyond)} vs {ms(bound)}, medians)", f"<= {TARGET_RATIO}",
                 ratio <= TARGET_RATIO and clean, "warm sandbox, one order per check, provider approves")
    return {"beyondSeconds": beyond, "bareSeconds": bound, "ratio": ratio, "pairRatios": pair_ratios,
            "handlerSeconds": handler, "engineBeyondSeconds": engine, "aroundEngineSeconds": around,
            "bareStepSeconds": {step: median(c.steps[step] for c in bare) for step in (*BARE_STEPS, "provider")},
            "bareProviderTransportSeconds": transport, "ratioWithProviderTransport": beyond / with_post,
            "sandboxCpuSeconds": median(x.cpu_s for x in samples),
            "bareCpuSeconds": median(c.cpu_s for c in bare)}
