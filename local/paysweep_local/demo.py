"""`make run`: the whole of paysweep on this machine, no AWS account needed.

Starts MiniStack, deploys template.yaml into it with the README's `sam build` + `sam deploy`,
starts the provider simulators over HTTPS, registers a realistic mix of orders, then runs each
provider's real `lambda_handler` on schedule ticks (one tick = one minute of simulated time) and
prints every outcome as it arrives on its SNS topic. Ends when every order is resolved (exit 0;
exit 1 if any outcome differs from what its scenario should produce).

    python -m paysweep_local.demo [--keep-running] [--tick-seconds 0.1] [--max-ticks 30]

While it runs, `.paysweep-local/env` holds the variables that point the `paysweep` command
at this stack (`source .paysweep-local/env; .venv/bin/paysweep review`); it is removed at exit.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from paysweep.aws.dynamodb import to_item

from paysweep_local.simulators import kicc, teemopay, toss
from paysweep_local.stack import Delivered, LocalStack

REPO = Path(__file__).resolve().parents[2]

TICK = timedelta(minutes=1)
ENV_FILE = REPO / ".paysweep-local" / "env"
"""Where a running demo tells the `paysweep` command how to reach it (the port is random)."""


@dataclass
class Scenario:
    order_id: str
    provider: str
    story: str
    expected: str
    """`OUTCOME` or `OUTCOME/REASON`."""
    amount: str = "1000"
    currency: str = "KRW"
    script: list[Any] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    """More of the simulator's payment: `cancel_script`, Toss's `method`."""
    expires_in: timedelta | None = None


def kicc_scenarios() -> list[Scenario]:
    k, paid = "kicc-wechatpay", [kicc.approved()]
    return [
        Scenario("K-PAID", k, "paid before the first sweep", "APPROVED", script=paid),
        Scenario("K-LATE", k, "paid after two checks", "APPROVED", script=[kicc.pending(times=2), *paid]),
        Scenario("K-USD", k, "USD 12.03, reported as 1203 cents", "APPROVED", "12.03", "USD", paid),
        Scenario("K-FLAKY", k, "HTTP 502 first, then paid", "APPROVED", script=[kicc.http_error(502), *paid]),
        Scenario("K-ONE-WON", k, "approved 1 won short: cancelled", "CANCELLED/AMOUNT_MISMATCH",
                 script=[kicc.approved(amount=999)]),
        Scenario("K-CURRENCY", k, "approved in USD for a KRW order", "CANCELLED/CURRENCY_MISMATCH",
                 script=[kicc.approved(currency="USD")]),
        Scenario("K-REFUSED", k, "mismatch, and KICC refuses the cancel", "REVIEW/CANCEL_REFUSED",
                 script=[kicc.approved(amount=1100)], options={"cancel_script": [kicc.refuse()]}),
        Scenario("K-VOID", k, "cancelled at KICC (TS12)", "CANCELLED/PROVIDER_CANCELLED", script=[kicc.cancelled("TS12")]),
        Scenario("K-PARTIAL", k, "partially cancelled at KICC (TS06)", "REVIEW/PARTIAL_CANCEL", script=[kicc.partial_cancel()]),
        Scenario("K-UNPAID", k, "QR never scanned; expires in 5 minutes", "FAILED/EXPIRED", script=[kicc.pending()],
                 expires_in=timedelta(minutes=5)),
    ]


def teemopay_scenarios() -> list[Scenario]:
    t, paid, soon = "teemopay", [teemopay.paid()], timedelta(minutes=5)
    return [
        Scenario("T-PAID", t, "deposited before the first sweep", "APPROVED", script=paid),
        Scenario("T-LATE", t, "deposited after three checks", "APPROVED", script=[teemopay.pending(times=3), *paid]),
        Scenario("T-BUSY", t, "412 'try again later' twice, then paid", "APPROVED",
                 script=[teemopay.retry_later(times=2), *paid]),
        Scenario("T-DECLINED", t, "payment failed at TeemoPay", "FAILED/PROVIDER_DECLINED", script=[teemopay.failed()]),
        Scenario("T-OVERPAID", t, "received 1500 for a 1000 order", "REVIEW/AMOUNT_MISMATCH",
                 script=[teemopay.paid(amount="1500.00")]),
        Scenario("T-UNKNOWN", t, "TeemoPay never heard of it; expires in 5 minutes", "FAILED/EXPIRED",
                 script=[teemopay.not_found()], expires_in=soon),
        Scenario("T-GARBLED", t, "answers HTML forever; expires in 5 minutes", "REVIEW/UNKNOWN_PROVIDER_STATE",
                 script=[teemopay.non_json()], expires_in=soon),
    ]


def toss_scenarios() -> list[Scenario]:
    s, va = "toss-payments", {"method": toss.VIRTUAL_ACCOUNT}
    return [
        Scenario("TOSS-CARD", s, "card approved before the first sweep", "APPROVED", script=[toss.done()]),
        Scenario("TOSS-OVER", s, "card charged 1100 for a 1000 order: cancelled", "CANCELLED/AMOUNT_MISMATCH",
                 script=[toss.done(amount=1100, balance=1100)]),
        Scenario("TOSS-VA", s, "virtual account, deposited after two checks", "APPROVED",
                 script=[toss.waiting_for_deposit(times=2), toss.done()], options=va),
        Scenario("TOSS-ABORTED", s, "card payment aborted at Toss", "FAILED/PROVIDER_DECLINED", script=[toss.aborted()]),
    ]


def all_scenarios() -> list[Scenario]:
    return kicc_scenarios() + teemopay_scenarios() + toss_scenarios()


BROKEN = Scenario("K-BROKEN", "kicc-wechatpay", "written by a buggy writer: negative amount, no pgCno",
                  "REVIEW/INVALID_ORDER")


def register(stack: LocalStack, scenario: Scenario, n: int) -> None:
    expires = stack.now() + scenario.expires_in if scenario.expires_in else None
    refs: dict[str, str] = {}
    if scenario.provider == "kicc-wechatpay":
        refs["pgCno"] = f"PG{n:06d}"
        minor = int(Decimal(scenario.amount).scaleb(2 if scenario.currency == "USD" else 0))
        stack.kicc.add_payment(refs["pgCno"], scenario.order_id, minor, scenario.currency, script=scenario.script,
                               **scenario.options)
    elif scenario.provider == "toss-payments":
        stack.toss.add_payment(scenario.order_id, int(scenario.amount), script=scenario.script, **scenario.options)
    else:
        stack.teemopay.add_order(scenario.order_id, scenario.amount, script=scenario.script)
    stack.register(scenario.order_id, scenario.provider, scenario.amount, scenario.currency, refs=refs, expires_at=expires)


def register_broken(stack: LocalStack) -> None:
    """A raw write that skips the helper, as a buggy writer would: it must end in REVIEW, not vanish."""
    now = stack.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    stack.client("dynamodb").put_item(TableName=stack.table, Item=to_item({
        "orderId": BROKEN.order_id, "provider": BROKEN.provider, "status": "PENDING", "amount": Decimal(-5),
        "currency": "KRW", "createdAt": now, "sweepKey": f"{BROKEN.provider}#0", "nextCheckAt": now}))


COLUMNS = (("tick", 4), ("provider", 14), ("order", 17), ("outcome", 9), ("reason", 22), ("requested", 12),
           ("reported", 12), ("topic ok", 8), ("expected", 3))


def print_row(cells: list[str]) -> None:
    print("  ".join(cell.ljust(width) for cell, (_, width) in zip(cells, COLUMNS, strict=True)), flush=True)


def outcome_row(tick: int, delivered: Delivered, expected: str | None) -> bool:
    """Print one outcome as it arrived; whether it is what its scenario expects."""
    m = delivered.message
    ok = expected in (None, m["outcome"] + (f"/{m['reason']}" if m["reason"] else ""))
    money = [f"{v['amount']} {v['currency']}" if v else "-" for v in (m["requested"], m["reported"])]
    print_row([str(tick), m["provider"], m["orderId"], m["outcome"], m["reason"] or "-", *money,
               "yes" if delivered.topic == m["outcome"] else "NO", "ok" if ok else "NO"])
    return ok


def tick_line(tick: int, results: dict[str, Any]) -> str:
    parts = []
    for provider, result in results.items():
        if result.error:
            parts.append(f"{provider}: ERROR {result.error['errorType']}: {result.error['errorMessage']}")
            continue
        summary = result.result
        outcomes = sum(summary["outcomes"].values())
        parts.append(f"{provider}: checked {summary['checked']}, decided {outcomes}, {summary['durationMs']} ms")
    return f"  tick {tick:>2} (+{tick} min)  " + " | ".join(parts)


@contextmanager
def operator_env_file(stack: LocalStack, path: Path = ENV_FILE) -> Iterator[Path]:
    """Write the `paysweep` command's environment for this stack, as `export` lines, and remove
    the file at exit (unless another run has replaced it), so it never points at a dead emulator."""
    lines = ["# written by `make run` while it runs: source it, then use .venv/bin/paysweep"]
    lines += [f"export {name}={shlex.quote(value)}" for name, value in stack.operator_env().items()]
    text = "\n".join(lines) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    try:
        yield path
    finally:
        if path.exists() and path.read_text() == text:
            path.unlink()


def run(args: argparse.Namespace) -> int:
    print("paysweep local run: MiniStack, provider simulators over HTTPS, the real handlers\n")
    started = time.monotonic()
    with LocalStack() as stack, operator_env_file(stack) as env_file:
        assert stack.deployment is not None
        seconds = ", ".join(f"{step} {value:.1f} s" for step, value in stack.deployment.seconds.items())
        print(f"deployed template.yaml into MiniStack with sam build + sam deploy ({seconds}); "
              f"up in {time.monotonic() - started:.1f} s")
        for name, reason in stack.deployment.removed.items():
            print(f"  left out locally: {name} ({reason})")
        if args.deploy_only:  # make deploy-local
            print("\n".join(f"ran: {shlex.join(command)}" for command in stack.deployment.commands))
            print("\n".join(f"output {k} = {v}" for k, v in sorted(stack.deployment.outputs.items())))
            return 0
        print(f"operator command against this stack, from another shell while it runs:\n"
              f"  source {env_file.relative_to(REPO)} && .venv/bin/paysweep review")
        scenarios = [*all_scenarios(), BROKEN]
        for n, scenario in enumerate(scenarios[:-1]):
            register(stack, scenario, n)
        register_broken(stack)
        expected = {s.order_id: s.expected for s in scenarios}
        per_provider = Counter(s.provider for s in scenarios)
        print(f"\nregistered {len(scenarios)} orders ({', '.join(f'{n} {p}' for p, n in per_provider.items())}):")
        for s in scenarios:
            print(f"  {s.order_id:<18} {s.story:<48} -> expect {s.expected}")
        return sweep_until_resolved(stack, args, expected)


def sweep_until_resolved(stack: LocalStack, args: argparse.Namespace, expected: dict[str, str]) -> int:
    seen, wrong, tick = Counter(), [], 0
    print()
    print_row([name for name, _ in COLUMNS])
    print_row(["-" * width for _, width in COLUMNS])
    try:
        while tick < args.max_ticks or args.keep_running:
            futures: dict[str, Future[Any]] = {p: stack.sweep_async(p) for p in stack.functions}
            results = {p: f.result() for p, f in futures.items()}
            print(tick_line(tick, results), flush=True)
            assert stack.outcomes is not None
            for delivered in stack.outcomes.drain():
                seen[(delivered.message["provider"], delivered.message["outcome"])] += 1
                if not outcome_row(tick, delivered, expected.pop(delivered.message["orderId"], None)):
                    wrong.append(delivered.message["orderId"])
            if not expected and not args.keep_running:
                break
            if args.keep_running:
                add_live_order(stack, tick)
            stack.advance(TICK.total_seconds())
            tick += 1
            time.sleep(args.tick_seconds)
    except KeyboardInterrupt:
        print("\nstopped.")
    return summary(seen, expected, wrong)


def add_live_order(stack: LocalStack, tick: int) -> None:
    """With --keep-running: a new order every tick (a paid scenario again), so there is always work."""
    paid = [s for s in all_scenarios() if s.expected == "APPROVED"]
    scenario = paid[tick % len(paid)]
    register(stack, replace(scenario, order_id=f"{scenario.order_id}-{tick}"), 1000 + tick)


def summary(seen: Counter[tuple[str, str]], unresolved: dict[str, str], wrong: list[str]) -> int:
    print("\nsummary: " + ", ".join(f"{p} {o} {n}" for (p, o), n in sorted(seen.items())))
    for problem, orders in (("NOT RESOLVED", sorted(unresolved)), ("UNEXPECTED OUTCOME", wrong)):
        if orders:
            print(f"  {problem}: {', '.join(orders)}")
    ok = not unresolved and not wrong
    print("  every order resolved as its scenario expects" if ok else "  some orders did not resolve as expected")
    return 0 if ok else 1


def _stop(signum: int, frame: object) -> None:
    """`kill` ends a run as Ctrl-C does: the stack stops and `.paysweep-local/env` is removed."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started in the background
    parser = argparse.ArgumentParser(prog="make run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep-running", action="store_true", help="keep sweeping (and adding orders) until Ctrl-C")
    parser.add_argument("--tick-seconds", type=float, default=0.1, help="real seconds between schedule ticks")
    parser.add_argument("--max-ticks", type=int, default=30, help="give up after this many ticks")
    parser.add_argument("--deploy-only", action="store_true", help="deploy, print what was done, stop (make deploy-local)")
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
