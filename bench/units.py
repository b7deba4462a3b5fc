"""The figures about DynamoDB writes and what they cost: calls, write units, item sizes (also of
orders naming a merchant account), refused claims of overlapping sweeps, audits, and the cost per
million checks.

Write units are MiniStack's `ConsumedCapacity`, which the sandboxes ask for on every DynamoDB
call (`meters["writeUnits"]`, table and indexes). Two things DynamoDB does not report, and so
neither does MiniStack, are derived, and each figure says how:

* a refused conditional write carries no `ConsumedCapacity` in the error answer, though DynamoDB
  bills it as a write of the existing item (1 unit per started KB): refused claims are counted
  (the sweeps' `claimConflicts`) and priced at that charge, the items' sizes asked of MiniStack;
* the units of one write among a sweep's many (the meters sum per invocation): what the audit
  index costs at a decision is asked of MiniStack by putting a copy of the decided item into a
  scratch copy of the orders table (`bench.sizes`).
"""

from __future__ import annotations

import json
import math
import statistics
import time
from dataclasses import asdict
from datetime import timedelta
from typing import Any

from paysweep.aws.dynamodb import to_item
from paysweep.domain.clock import to_iso
from paysweep.domain.item import HISTORY_LIMIT

from bench import cost
from bench.context import LAMBDA_FULL_VCPU_MB, Context, main_sweep, measured_or
from bench.harness import BENCH_ACCOUNTS, MAIN_MIX, Bench, SweepRun, order_prefix
from bench.report import seconds
from bench.sizes import PAD, Sizer

TERMINAL_KINDS = ("approved", "cancelled")
LEASE_MARGIN_BYTES = 100
"""Bytes added to an order when asking what a refused claim of it costs: more than the lease
(`leaseOwner`, `leaseUntil`, names included) the other sweep's claim gave it."""
AUDIT_INDEX = "audit-index"


# -- calls and write units per check -------------------------------------------------------------


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
    calls_table(ctx, columns)
    pending_writes = pending.dynamodb_writes / pending.orders
    terminal_writes = terminal.dynamodb_writes / terminal.orders
    report.check("DynamoDB writes per check that leaves the order pending",
                 f"{pending_writes:.2f} ({pending_writes / 2:.2f} x the design's 2)", "<= 2",
                 pending_writes <= 2 and not pending.problems(), "claim, then reschedule-and-release")
    report.check("DynamoDB writes per terminal check", f"{terminal_writes:.2f} ({terminal_writes / 3:.2f} x the design's 3)",
                 "<= 3 (outbox included)", terminal_writes <= 3 and not terminal.problems(),
                 "claim, decide (the outbox), confirm published")
    for name, run in columns[1:]:
        messages = sum(run.outcomes.values())
        ideal = sum(math.ceil(n / 10) for n in run.outcomes.values())
        per_call = messages / run.publish_batches if run.publish_batches else 0.0
        report.check(f"PublishBatch calls ({name})", f"{run.publish_batches} for {messages} messages "
                     f"({per_call:.1f} per call; {run.publish_batches / max(1, ideal):.2f} x the ideal)",
                     f"= sum over topics of ceil(n / 10) = {ideal}", run.publish_batches <= ideal)
    if pending_item is None:
        raise RuntimeError("no pending order left to take the steady state from")
    write_units_figures(ctx, pending, terminal, pending_item)
    report.record("calls", {"pending": pending.to_json(cal), "terminal": terminal.to_json(cal)})


def calls_table(ctx: Context, columns: list[tuple[str, SweepRun]]) -> None:
    """AWS calls per order (the fault proxy's count of the sandboxes' requests), by kind."""
    report = ctx.report

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
    report.say("  (the fault proxy's count of the sandbox's requests; Query calls are per page of the due index, so "
               "they are shared by up to 250 orders; other calls: "
               + "; ".join(f"{name}: {run.other_calls or 'none'}" for name, run in columns) + ")")
    for name, run in columns:
        for problem in run.problems():
            report.say(f"  WARNING ({name}): {problem}")


def steady_runs(ctx: Context, pending_item: dict[str, Any]) -> tuple[dict[str, SweepRun], dict[str, Any] | None]:
    """The steady-state sweeps of each kind, and the steady pending order as its sweep left it."""
    bench, s = ctx.bench(), ctx.sizes
    runs: dict[str, SweepRun] = {}
    steady_pending: dict[str, Any] | None = None
    for kind in ("pending", *TERMINAL_KINDS):
        label = f"steady {kind}"
        runs[kind] = measured_or(ctx, f"steady-{kind}", lambda label=label, kind=kind: bench.measure(
            label=label, kinds=[kind] * s.calls_orders, concurrency=s.concurrency, latency_s=0.0,
            steady_from=pending_item))
        if kind == "pending":
            steady_pending = bench.stack.order(f"{order_prefix(label)}-{0:06d}")
    return runs, steady_pending


def write_units_figures(ctx: Context, pending: SweepRun, terminal: SweepRun, pending_item: dict[str, Any]) -> None:
    """Write units per check, as MiniStack's ConsumedCapacity reported them to the sandbox, fresh
    and at the steady state (history full), and the decided items' sizes."""
    report = ctx.report
    steady, steady_pending = steady_runs(ctx, pending_item)
    columns = [("fresh pending", pending), ("fresh approved", terminal),
               *((f"steady {kind}", run) for kind, run in steady.items())]
    if "sweep" in ctx.runs:
        columns.append(("main sweep (fresh, mix)", ctx.runs["sweep"]))
    report.say("  Write request units as MiniStack's ConsumedCapacity reported them (ReturnConsumedCapacity=INDEXES on "
               "every DynamoDB call of the sandbox: table and each index, by DynamoDB's rules). 'steady': orders "
               f"checked many times before (history full, {HISTORY_LIMIT} lines), the state most checks see")
    report.table(["per check"] + [name for name, _ in columns], [
        ["DynamoDB write calls"] + [f"{run.dynamodb_writes / max(1, run.checked):.2f}" for _, run in columns],
        ["WRU (ConsumedCapacity)"] + [f"{run.wru_per_check():.2f}" for _, run in columns],
        ["refused claims (no WRU reported)"] + [f"{run.refused_claims / max(1, run.checked):.2f}" for _, run in columns],
    ])
    for name, run in columns:
        for problem in run.problems():
            report.say(f"  WARNING ({name}): {problem}")
    for label, run, rule in (("pending-only", pending, "claim 1 + reschedule (1 table + 2 due index)"),
                             ("approved-only", terminal, "claim 1 + decide 1 + confirm (1 table + 1 due index)")):
        expected = 4 * run.checked
        report.say(f"  against the rules by hand: the fresh {label} sweep of {run.checked} orders was reported "
                   f"{run.wru:,.0f} units; {rule} = 4 per check gives {expected:,} "
                   f"({'equal' if run.wru == expected else f'{run.wru / max(1, expected):.2f} x'})")
    wru_pending = steady["pending"].wru_per_check()
    wru_terminal = {kind: steady[kind].wru_per_check() for kind in TERMINAL_KINDS}
    report.check("wru-pending", f"{wru_pending:.2f} ({wru_pending / cost.FLOOR_WRU_PENDING:.2f} x the floor "
                 f"{cost.FLOOR_WRU_PENDING:g})", "<= 4", wru_pending <= 4 and not steady["pending"].problems(),
                 f"steady state, MiniStack's ConsumedCapacity; fresh {pending.wru_per_check():.2f}")
    worst = max(wru_terminal.values())
    report.check("wru-terminal", f"{worst:.2f} ({worst / cost.FLOOR_WRU_TERMINAL:.2f} x the floor "
                 f"{cost.FLOOR_WRU_TERMINAL:g})", "<= 6 (outbox included)",
                 worst <= 6 and not any(steady[k].problems() for k in wru_terminal),
                 "steady state, MiniStack's ConsumedCapacity, " + ", ".join(f"{k} {v:.2f}" for k, v in wru_terminal.items())
                 + f"; fresh approved {terminal.wru_per_check():.2f}")
    sizes = decided_sizes(ctx, steady_pending or pending_item, pending_item)
    ctx.wru = {"pending": wru_pending, **wru_terminal, "freshPending": pending.wru_per_check(),
               "freshApproved": terminal.wru_per_check(), "dueEntryBytes": sizes["dueEntryBytes"],
               "messageBytes": sizes["messageBytes"]}
    report.record("writeUnits", {"perCheck": ctx.wru, "itemSizes": sizes,
                                 "runs": {name: run.to_json(run.calibration) for name, run in columns
                                          if name.startswith("steady")}})
    account_figures(ctx, steady, pending_item, sizes)


# -- orders naming a merchant account ----------------------------------------------------------------

ACCOUNT_KINDS = ("pending", "approved")
"""The steady-state sweeps measured again with orders naming a merchant account."""


def account_figures(ctx: Context, steady: dict[str, SweepRun], fresh_pending: dict[str, Any],
                    sizes: dict[str, Any]) -> None:
    """Write units per check of orders naming a merchant account (`merchantId`) against the same
    steady-state sweeps of orders naming none: the attribute is written once, by the order's
    writer, so a check's writes are the same and only the item is larger. Each account's orders
    have the steady runs' ids (their sizes compare) and their payments are booked under the
    account's own mall, so the sweep approves them only if it asks as that account."""
    report, bench, s = ctx.report, ctx.bench(), ctx.sizes
    started = time.monotonic()
    runs: dict[str, dict[str, SweepRun]] = {}
    pending_items: dict[str, dict[str, Any] | None] = {}
    for merchant in BENCH_ACCOUNTS:
        runs[merchant] = {}
        for kind in ACCOUNT_KINDS:
            label = f"steady {kind}, account of {len(merchant)}"
            prefix = order_prefix(f"steady {kind}")
            runs[merchant][kind] = measured_or(ctx, f"steady-{kind}-account-{len(merchant)}", lambda kind=kind, label=label,
                                               merchant=merchant, prefix=prefix: bench.measure(
                label=label, kinds=[kind] * s.calls_orders, concurrency=s.concurrency, latency_s=0.0,
                steady_from=fresh_pending, merchant_id=merchant, prefix=prefix))
            if kind == "pending":
                pending_items[merchant] = bench.stack.order(f"{prefix}-{0:06d}")
    wrong = account_problems(bench, steady, runs)
    account_sizes = {merchant: account_item_sizes(ctx, fresh_pending, pending_items[merchant], sizes["lease"], merchant)
                     for merchant in BENCH_ACCOUNTS}
    none_sizes = {"pendingBytes": sizes["pendingBytes"], "claimedBytes": sizes["claimedBytes"],
                  **{kind: (sizes[kind] or {}).get("decidedBytes") for kind in TERMINAL_KINDS}}
    columns = [("no account", steady, none_sizes),
               *((f"{merchant[:16] + '...' if len(merchant) > 16 else merchant} ({len(merchant)} ch.)", runs[merchant],
                  account_sizes[merchant]) for merchant in BENCH_ACCOUNTS)]
    report.say(f"  orders naming a merchant account (merchantId): the bench stack's KICC secret holds the default account "
               f"and {len(BENCH_ACCOUNTS)} named, each its own mall, and the simulator books each order's payment under its "
               f"account's mall; steady state, {s.calls_orders} orders a sweep, the ids of the steady sweeps above")

    def bytes_cell(value: int | None) -> str:
        return f"{value:,} B" if value else "-"

    report.table(["per check, steady state"] + [name for name, _, _ in columns], [
        *([f"WRU, {kind}"] + [f"{kind_runs[kind].wru_per_check():.2f}" for _, kind_runs, _ in columns]
          for kind in ACCOUNT_KINDS),
        *([f"DynamoDB write calls, {kind}"] + [f"{kind_runs[kind].dynamodb_writes / max(1, kind_runs[kind].checked):.2f}"
                                               for _, kind_runs, _ in columns] for kind in ACCOUNT_KINDS),
        ["outcomes of the approved sweep"] + [" ".join(f"{k} {v}" for k, v in sorted(kind_runs["approved"].outcomes.items()))
                                              or "none" for _, kind_runs, _ in columns],
        ["provider requests, by mall"] + [" ".join(f"{mall} {n}" for mall, n in sorted(account_requests(kind_runs).items()))
                                          for _, kind_runs, _ in columns],
        ["bytes: pending (as its sweep left it)"] + [bytes_cell(item["pendingBytes"]) for _, _, item in columns],
        ["bytes: leased (claimed)"] + [bytes_cell(item["claimedBytes"]) for _, _, item in columns],
        *([f"bytes: decided {kind} (in the outbox)"] + [bytes_cell(item[kind]) for _, _, item in columns]
          for kind in TERMINAL_KINDS),
    ])
    for problem in wrong:
        report.say(f"  WARNING: {problem}")
    ratios = {(merchant, kind): runs[merchant][kind].wru_per_check() / max(1e-9, steady[kind].wru_per_check())
              for merchant in BENCH_ACCOUNTS for kind in ACCOUNT_KINDS}
    worst = max(ratios.values(), key=lambda r: abs(r - 1))
    largest = max(size for entry in account_sizes.values() for name, size in entry.items()
                  if name != "attributeBytes" and size)
    report.say("  the merchantId attribute (name and value) adds "
               + ", ".join(f"{entry['attributeBytes']} B ({len(merchant)} characters)"
                           for merchant, entry in account_sizes.items())
               + f" to every item; the largest item naming an account, {largest:,} B, is {1024 - largest:,} B under 1 KB "
               + "(a write is billed per started KB of the larger of the item before and after)")
    report.check("wru-accounts", f"{worst:.2f} (" + "; ".join(f"{len(merchant)} ch.: " + ", ".join(
                     f"{kind} {runs[merchant][kind].wru_per_check():.2f} / {steady[kind].wru_per_check():.2f}"
                     for kind in ACCOUNT_KINDS) for merchant in BENCH_ACCOUNTS) + ")",
                 "= 1.00", all(ratio == 1 for ratio in ratios.values()) and not wrong,
                 f"write units per check, orders naming an account / orders naming none, the worst of {len(ratios)}; "
                 "steady state, MiniStack's ConsumedCapacity; merchantId is written once, by the order's writer")
    report.say(f"  (orders naming an account: {len(BENCH_ACCOUNTS) * len(ACCOUNT_KINDS)} sweeps of {s.calls_orders} and "
               f"{len(BENCH_ACCOUNTS)} decided sweeps to size them, {seconds(time.monotonic() - started)} of the figure)")
    report.record("accountWriteUnits", {
        "accounts": {merchant: {"mallId": bench.mall_of(merchant), "characters": len(merchant),
                                "wruPerCheck": {kind: run.wru_per_check() for kind, run in runs[merchant].items()},
                                "itemSizes": account_sizes[merchant]} for merchant in BENCH_ACCOUNTS},
        "noAccount": {"wruPerCheck": {kind: steady[kind].wru_per_check() for kind in ACCOUNT_KINDS},
                      "itemSizes": none_sizes},
        "ratios": {f"{merchant}/{kind}": ratio for (merchant, kind), ratio in ratios.items()},
        "problems": wrong,
        "runs": {f"{merchant}/{kind}": run.to_json(run.calibration)
                 for merchant in BENCH_ACCOUNTS for kind, run in runs[merchant].items()},
    })


def account_requests(runs: dict[str, SweepRun]) -> dict[str, int]:
    """Provider requests of the runs of `ACCOUNT_KINDS` by the mall they were made as."""
    counts: dict[str, int] = {}
    for run in (runs[kind] for kind in ACCOUNT_KINDS):
        for mall, n in run.provider_accounts.items():
            counts[mall] = counts.get(mall, 0) + n
    return counts


def account_problems(bench: Bench, steady: dict[str, SweepRun], runs: dict[str, dict[str, SweepRun]]) -> list[str]:
    """Anything that makes the account runs not the same work as the runs naming none: every order
    checked, every approved order APPROVED (not REVIEW INVALID_ORDER), every pending one left
    pending, and every provider request made as the order's account's mall."""
    found: list[str] = []
    for merchant, kind_runs in {None: steady, **runs}.items():
        mall = bench.mall_of(merchant)
        for kind in ACCOUNT_KINDS:
            run, name = kind_runs[kind], f"{kind}, {merchant or 'no account'}"
            found += [f"{name}: {problem}" for problem in run.problems()]
            expected = {"APPROVED": run.orders} if kind == "approved" else {}
            if dict(run.outcomes) != expected:
                found.append(f"{name}: outcomes {dict(run.outcomes)}, expected {expected or 'none'}")
            if kind == "pending" and run.total("rescheduled") != run.orders:
                found.append(f"{name}: {run.total('rescheduled')} of {run.orders} orders left pending")
            if run.provider_accounts != {mall: run.orders}:
                found.append(f"{name}: provider requests by mall {run.provider_accounts}, expected {mall} {run.orders}")
    return found


def account_item_sizes(ctx: Context, fresh_pending: dict[str, Any], pending: dict[str, Any] | None,
                       lease: dict[str, Any], merchant: str) -> dict[str, Any]:
    """The sizes `decided_sizes` gives for orders naming no account, of orders naming `merchant`:
    pending as its steady sweep left it, leased, decided of each terminal kind (in the outbox)."""
    sizer = ctx.sizer()
    decided = decided_orders(ctx, fresh_pending, merchant_id=merchant)
    if pending is None or pending.get("merchantId") != merchant:
        raise RuntimeError(f"no pending order naming {merchant!r} left to size")
    found: dict[str, Any] = {"pendingBytes": sizer.size(to_item(pending)),
                             "claimedBytes": sizer.size(to_item({**pending, **lease})) if lease else None}
    for kind, items in decided.items():
        named = [item for item in items if item.get("merchantId") == merchant]
        found[kind] = decided_entry(sizer, named, shares=False)["decidedBytes"] if named else None
    found["attributeBytes"] = found["pendingBytes"] - sizer.size(to_item({k: v for k, v in pending.items()
                                                                          if k != "merchantId"}))
    return found


# -- item sizes ------------------------------------------------------------------------------------


def decided_orders(ctx: Context, pending_item: dict[str, Any],
                   merchant_id: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """Steady-state orders of each terminal kind as the decision leaves them, in the due index (the
    outbox): swept with every PublishBatch failing (a fault of the proxy), so none is confirmed.
    With `merchant_id`, the orders name that account (and are decided as it)."""
    bench, n = ctx.bench(), ctx.sizes.decided_orders
    assert bench.stack.faults is not None
    bench.clear()
    function = bench.function(8)
    try:
        kinds = [kind for kind in TERMINAL_KINDS for _ in range(n)]
        items = [item for kind in TERMINAL_KINDS  # the ids of the steady sweeps' orders, so the sizes compare
                 for item in bench.steady_orders(order_prefix(f"steady {kind}"), [kind] * n, pending_item,
                                                 merchant_id=merchant_id)]
        bench.put(items)
        bench.stack.faults.add_fault("sns", "PublishBatch", error="internal", times=-1)
        bench.sweep(function, label="decided, unpublished", orders=len(items), concurrency=8, latency_s=0.0)
    finally:
        bench.stack.faults.clear_faults()
        bench.retire(function)
    found: dict[str, list[dict[str, Any]]] = {kind: [] for kind in TERMINAL_KINDS}
    for item, kind in zip(items, kinds, strict=True):
        decided = bench.stack.order(item["orderId"])
        if decided and (decided.get("outcome") or {}).get("outcome") == kind.upper() and "sweepKey" in decided:
            found[kind].append(decided)
    return found


def decided_sizes(ctx: Context, steady_pending: dict[str, Any], fresh_pending: dict[str, Any]) -> dict[str, Any]:
    """Sizes of the item at each step of a steady-state check, asked of MiniStack (`bench.sizes`),
    and what makes a decided item large."""
    report, sizer = ctx.report, ctx.sizer()
    decided = decided_orders(ctx, fresh_pending)
    found: dict[str, Any] = {"pendingBytes": sizer.size(to_item(steady_pending)),
                             "dueEntryBytes": due_entry_bytes(sizer, steady_pending)}
    sample = next((items[0] for items in decided.values() if items), None)
    lease = {k: sample[k] for k in ("leaseOwner", "leaseUntil") if sample and k in sample}
    found["lease"] = lease
    found["claimedBytes"] = sizer.size(to_item({**steady_pending, **lease})) if lease else None
    for kind, items in decided.items():
        found[kind] = decided_entry(sizer, items) if items else None
    found["messageBytes"] = max((message_bytes(items[0]) for items in decided.values() if items), default=0)
    text = [f"{kind} {entry['decidedBytes']:,} B ("
            + ("under 1 KB" if entry["underOneKb"] else f"OVER 1 KB by {entry['overBy']} B") + ")"
            for kind in TERMINAL_KINDS if (entry := found[kind])]
    report.say(f"  item sizes at the steady state (history full), asked of MiniStack's ConsumedCapacity: pending "
               f"{found['pendingBytes']} B, leased {found['claimedBytes']} B; decided (in the due index, the outbox; "
               f"{ctx.sizes.decided_orders} of each kind swept with PublishBatch failing): " + (", ".join(text) or "none"))
    for kind in TERMINAL_KINDS:
        if found.get(kind):
            top = list(found[kind]["attributes"].items())[:5]
            report.say(f"    largest attributes of a decided {kind} order: "
                       + ", ".join(f"{name} {size} B" for name, size in top))
    return found


def decided_entry(sizer: Sizer, items: list[dict[str, Any]], *, shares: bool = True) -> dict[str, Any]:
    """The largest decided item of a kind: its bytes and (`shares`) its attributes' shares."""
    sized = sorted(((sizer.size(to_item(item)), item) for item in items), key=lambda pair: pair[0])
    size, largest = sized[-1]
    return {"decidedBytes": size, "underOneKb": size <= 1024, "overBy": max(0, size - 1024),
            **({"attributes": sizer.attribute_sizes(to_item(largest))} if shares else {})}


def message_bytes(decided: dict[str, Any]) -> int:
    """An outcome message (its `outcome` record as JSON) plus its message attributes, as published."""
    outcome = decided.get("outcome") or {}
    body = json.dumps(outcome, default=str, separators=(",", ":"))
    return len(body.encode()) + sum(len(k) + len("String") + len(str(outcome.get(k) or ""))
                                    for k in ("provider", "outcome", "reason"))


def due_entry_bytes(sizer: Sizer, item: dict[str, Any]) -> int:
    """Bytes of an order's due-index entry (KEYS_ONLY: the table's key and the index's keys)."""
    return sizer.size(to_item({k: item[k] for k in ("orderId", "sweepKey", "nextCheckAt")}))


# -- overlapping sweepers --------------------------------------------------------------------------


def fig_conflicts(ctx: Context) -> None:
    report, s, cal = ctx.report, ctx.sizes, ctx.cal()
    bench = ctx.bench()
    report.heading("conflicts", "Two overlapping sweepers on the same shards: refused claims")
    report.say(f"  {s.conflict_orders} due orders ({MAIN_MIX.describe()}) over {bench.shards} shards; two sweeps of "
               f"every shard started together (an overrun schedule, a duplicate delivery), concurrency "
               f"{s.conflict_concurrency} each, provider latency {s.latency_s * 1000:.0f} ms; {s.conflict_rounds} rounds "
               "(each sweep starts at a random shard)")
    report.say("  A refused claim carries no ConsumedCapacity (DynamoDB's error answer has none, nor MiniStack's), but "
               "DynamoDB bills it as a write of the existing item, 1 unit per started KB: refused claims are counted "
               "(the sweeps' claimConflicts) and each priced at the units MiniStack reports for putting the largest "
               f"order of the round with {LEASE_MARGIN_BYTES} B more (its lease)")
    function = bench.function(s.conflict_concurrency, containers=2)
    rounds: list[tuple[SweepRun, float]] = []
    try:
        for round_no in range(s.conflict_rounds):
            bench.clear()
            bench.put(bench.due_orders(f"cf{round_no}", MAIN_MIX.kinds(s.conflict_orders, seed=round_no)))
            run = bench.sweep(function, label=f"overlap {round_no + 1}", orders=s.conflict_orders,
                              concurrency=s.conflict_concurrency, latency_s=s.latency_s, shard_sets=[None, None])
            rounds.append((run, refused_charge(ctx, bench)))
    finally:
        bench.retire(function)
    conflicts_table(ctx, rounds)
    checked = sum(run.checked for run, _ in rounds)
    refused_units = sum(run.refused_claims * charge for run, charge in rounds)
    all_units = refused_units + sum(run.wru for run, _ in rounds)
    value = refused_units / max(1, checked)
    clean = not any(run.problems(conflicts_expected=True) for run, _ in rounds)
    report.check("claim-conflict-wru", f"{value:.3f} ({refused_units / max(1, all_units):.1%} of the rounds' units)",
                 "<= 0.10", value <= 0.10 and clean,
                 f"{refused_units:g} refused-claim units (counted x DynamoDB's charge, not reported) over {checked} "
                 f"checks; worst round {max(r.refused_claims * c / max(1, r.checked) for r, c in rounds):.3f}")
    report.record("conflicts", {"runs": [run.to_json(cal) | {"unitsPerRefusedClaim": charge} for run, charge in rounds],
                                "refusedUnits": refused_units, "checks": checked, "refusedUnitsPerCheck": value,
                                "method": "refused claims counted (claimConflicts) x units of the largest order "
                                          f"plus {LEASE_MARGIN_BYTES} B, asked of MiniStack"})


def conflicts_table(ctx: Context, rounds: list[tuple[SweepRun, float]]) -> None:
    """Each round: what each sweep checked, refused and set aside; what the refusals cost."""
    report = ctx.report
    rows = []
    for run, charge in rounds:
        updates = run.calls.get("dynamodb.UpdateItem", 0)
        designed = 2 * run.checked + sum(run.outcomes.values())
        rows.append([run.label, seconds(run.duration_s), " + ".join(str(x.get("checked", 0)) for x in run.summaries),
                     " + ".join(str(x.get("claimConflicts", 0)) for x in run.summaries),
                     updates - designed, " + ".join(str(x.get("shardsCeded", 0)) for x in run.summaries),
                     f"{charge:g}", f"{run.refused_claims * charge / max(1, run.checked):.3f}",
                     f"{run.wru_per_check():.2f}"])
        for problem in run.problems(conflicts_expected=True):
            report.say(f"  WARNING ({run.label}): {problem}")
    report.table(["", "wall", "checked (each sweep)", "refused claims", "UpdateItem beyond the design",
                  "shards set aside", "WRU per refusal", "refused WRU per check", "reported WRU per check"], rows)
    report.say("  'UpdateItem beyond the design': the proxy's UpdateItem count less 2 per check and 1 per outcome "
               "published (claim, record, confirm): every refused or repeated write, a cross-check of the count")


def refused_charge(ctx: Context, bench: Bench) -> float:
    """Units DynamoDB bills a refused claim of this round's largest order (leased), asked of MiniStack."""
    sizer = ctx.sizer()
    margin = {PAD: {"S": "x" * LEASE_MARGIN_BYTES}}
    return max((sizer.units({**to_item(order), **margin})["table"] for order in bench.stack.orders()), default=1.0)


# -- audits ----------------------------------------------------------------------------------------


def fig_audits(ctx: Context) -> None:
    """What auditing decided orders costs: an order decided FAILED EXPIRED enters the audit index
    with its decision, then is audited an hour and a day later (its provider still saying
    unpaid: nothing published; the last audit takes it out of the schedule)."""
    report, s = ctx.report, ctx.sizes
    bench = ctx.bench()
    report.heading("audits", "Audits of decided orders (late payments): write units per failed order")
    n = s.audit_orders
    runs, entry_units = audit_runs(ctx, bench, n)
    decide, first, last = runs
    report.table(["", "outcomes", "audited", "late payments", "WRU (ConsumedCapacity)", "WRU per order", "Query calls"],
                 [[run.label, " + ".join(f"{k} {v}" for k, v in sorted(run.outcomes.items())) or "-",
                   run.total("audited"), run.total("latePayments"), f"{run.wru:g}", f"{run.wru / n:.2f}",
                   run.calls.get("dynamodb.Query", 0)] for run in runs])
    problems = [p for run in runs for p in run.problems()]
    for problem in problems:
        report.say(f"  WARNING: {problem}")
    wrong = decide.outcomes.get("FAILED", 0) != n or first.total("audited") != n or last.total("audited") != n
    if wrong:
        report.say("  WARNING: not every order was decided FAILED and audited twice: no cost line for audits")
    per_failed = entry_units + (first.wru + last.wru) / n
    ctx.audit_wru = None if wrong else per_failed
    check_wru = ctx.wru["pending"] if ctx.wru else None
    report.say(f"  per order decided FAILED EXPIRED: {entry_units:.2f} WRU for its audit-index entry at the decision "
               "(the entry's put, asked of MiniStack with a copy of a decided order: the meters sum a sweep's writes), "
               f"{first.wru / n:.2f} for the first audit (claim, record, the entry's key moved), {last.wru / n:.2f} for "
               f"the last (claim, record, the entry deleted): {per_failed:.2f} WRU in all"
               + (f", {per_failed / 2 / check_wru:.2f} x a pending check's per audit" if check_wru else "")
               + f"; priced in the cost table at {cost.FAILED_SHARE_OF_TERMINAL:.0%} of terminal checks")
    report.record("audits", {"runs": [run.to_json() for run in runs], "auditEntryUnits": entry_units,
                             "wruPerFailedOrder": per_failed, "problems": problems})


def audit_runs(ctx: Context, bench: Bench, n: int) -> tuple[list[SweepRun], float]:
    """Decide `n` expired orders FAILED, audit them an hour and a day later; and the units of a
    decided order's audit-index entry."""
    s = ctx.sizes
    bench.clear()
    function = bench.function(s.concurrency)  # warmed on the empty table
    now = bench.stack.now()
    items = [{**item, "createdAt": to_iso(now - timedelta(hours=2)), "expiresAt": to_iso(now - timedelta(minutes=10))}
             for item in bench.due_orders("au", ["pending"] * n)]
    bench.put(items)
    runs: list[SweepRun] = []
    entry_units = 0.0
    try:
        for label, advance in (("decided FAILED EXPIRED", 0), ("audit after an hour", 3660), ("audit after a day", 86400)):
            bench.stack.advance(advance)
            runs.append(bench.sweep(function, label=label, orders=n, concurrency=s.concurrency, latency_s=s.latency_s))
            if not entry_units:
                decided = bench.stack.order(items[0]["orderId"])
                entry_units = ctx.sizer().units(to_item(decided)).get(AUDIT_INDEX, 0.0) if decided else 0.0
    finally:
        bench.retire(function)
    return runs, entry_units


# -- cost ------------------------------------------------------------------------------------------


def fig_cost(ctx: Context) -> None:
    report = ctx.report
    report.heading("cost", "Cost per million status checks (us-east-1)")
    run = main_sweep(ctx)
    wru = ctx.wru
    if wru is None:
        raise RuntimeError("the cost needs the write units the 'calls' figure measures")
    bench = ctx.bench()
    empty = empty_sweep_seconds(bench)
    inputs = cost_inputs(ctx, run, wru)
    lines, details = cost.per_million_checks(inputs)
    report.say(f"  from the main sweep: {run.checked:,} checks ({MAIN_MIX.describe()}), {seconds(run.duration_s)} "
               f"measured here, {seconds(run.provider_bound_s)} provider-bound; {bench.memory_mb} MB arm64")
    rows = [[line.item, line.quantity, f"${line.dollars:,.2f}", f"${line.dollars_at_limit:,.2f}"] for line in lines]
    total = sum(line.dollars for line in lines)
    rows.append(["total", "", f"${total:,.2f}", f"${sum(line.dollars_at_limit or 0 for line in lines):,.2f}"])
    # The target and the floor are of status checks at the mix (issue 14); the audits are extra
    # provider queries on top, priced on their own line and named beside the verdict.
    checks_total = sum(line.dollars for line in lines if not line.item.startswith(cost.AUDITS_LINE))
    report.table(["per 1,000,000 checks", "quantity", "at measured duration", "at provider-bound duration"], rows)
    report.say(f"  DynamoDB: {wru['pending']:.2f} WRU per check that stays pending, {inputs.wru_per_terminal:.2f} per "
               f"terminal one (approved {wru['approved']:.2f}, cancelled {wru['cancelled']:.2f}), MiniStack's "
               f"ConsumedCapacity at the steady state (history full); {details['wruPerCheck']:.2f} per check at the mix. "
               f"The main sweep itself (fresh orders, first check) was reported {run.wru_per_check():.2f} per check. "
               f"Write calls per check: {details['measuredWritesPerCheck']:.3f} measured, "
               f"{details['modelWritesPerCheck']:.3f} by the design")
    floor = cost.floor_per_million(MAIN_MIX.pending)
    report.say(f"  floor: {cost.floor_wru(MAIN_MIX.pending):.2f} WRU per check at the mix (pending "
               f"{cost.FLOOR_WRU_PENDING:g}: move nextCheckAt once; terminal {cost.FLOOR_WRU_TERMINAL:g}: out of the "
               f"due index and an outbox marker cleared) = ${floor:,.2f} per million checks")
    report.check("cost-per-million", f"${checks_total:,.2f} ({checks_total / floor:.2f} x the floor ${floor:,.2f})",
                 "<= $2.90", checks_total <= 2.90,
                 f"the checks at the mix; DynamoDB writes ${details['wruPerCheck'] * cost.DYNAMODB_PER_WRU * cost.MILLION:,.2f} "
                 f"of it (MiniStack's ConsumedCapacity); with the audits line ${total:,.2f}")
    cost_notes(ctx, run, details, total, empty)
    report.record("cost", {"inputs": asdict(inputs), "lines": [asdict(line) for line in lines], "details": details,
                           "totalDollars": total, "checksDollars": checks_total, "floorDollars": floor,
                           "ratioToFloor": checks_total / floor, "emptySweepSeconds": empty,
                           "idleMonthlyDollars": cost.monthly_idle(empty, bench.memory_mb),
                           "prices": {"lambdaArmGbSecond": cost.LAMBDA_ARM_GB_SECOND,
                                      "lambdaPerRequest": cost.LAMBDA_PER_REQUEST,
                                      "dynamodbPerWru": cost.DYNAMODB_PER_WRU, "dynamodbPerRru": cost.DYNAMODB_PER_RRU,
                                      "snsPerPublishRequest": cost.SNS_PER_PUBLISH_REQUEST,
                                      "priceListDate": cost.PRICE_LIST_DATE}})


def cost_inputs(ctx: Context, run: SweepRun, wru: dict[str, Any]) -> cost.CostInputs:
    """The measured figures the cost is computed from."""
    bench = ctx.bench()
    outcomes = sum(run.outcomes.values())
    terminal_share = MAIN_MIX.approved + MAIN_MIX.cancelled
    # A complete sweep reads the outbox and the audit index once per shard (empty); the rest of
    # its Query calls are due-index pages, and every item its reads returned is a due-index entry.
    return cost.CostInputs(
        checks=run.checked, pending_checks=run.total("rescheduled"), terminal_checks=outcomes,
        duration_s=run.duration_s, provider_bound_s=run.provider_bound_s, memory_mb=bench.memory_mb,
        due_queries=run.calls.get("dynamodb.Query", 0) - 2 * bench.shards, due_items_read=run.items_read,
        other_queries=2 * bench.shards, publish_batches=run.publish_batches, messages_published=outcomes,
        measured_writes=run.dynamodb_writes, wru_per_pending=wru["pending"],
        wru_per_terminal=(MAIN_MIX.approved * wru["approved"] + MAIN_MIX.cancelled * wru["cancelled"]) / terminal_share,
        due_entry_bytes=wru["dueEntryBytes"], message_bytes=wru["messageBytes"], audit_wru_per_failed=ctx.audit_wru,
    )


def cost_notes(ctx: Context, run: SweepRun, details: dict[str, float], total: float, empty: float) -> None:
    """What the cost table leaves out: audits per provider query, SNS per message, CPU-bound Lambda, idle."""
    report, memory_mb = ctx.report, ctx.bench().memory_mb
    if details.get("audits"):
        queries = cost.MILLION + details["audits"]
        report.say(f"  with audits: {details['audits']:,.0f} audits are provider queries beside the million checks: "
                   f"${total:,.2f} in all, ${total / queries * cost.MILLION:,.2f} per million provider queries "
                   f"(an audit costs {details['auditWruPerAudit']:.2f} WRU, a check {details['wruPerCheck']:.2f})")
    per_message = details["snsRequestsIfBilledPerMessage"]
    report.say(f"  SNS: one billed request per PublishBatch call (<= 64 KB); billed per message it would be "
               f"{per_message:,.0f} requests (${per_message * cost.SNS_PER_PUBLISH_REQUEST:,.2f})")
    cpu_per_check = run.cpu["sweeper"] / run.checked
    vcpu = memory_mb / LAMBDA_FULL_VCPU_MB
    cpu_bound_gb_s = memory_mb / 1024 * cpu_per_check / vcpu * cost.MILLION
    report.say(f"  Lambda if CPU-bound: the sweeper used {cpu_per_check * 1000:.1f} ms of CPU per check here; at "
               f"{memory_mb} MB (~{vcpu:.2f} vCPU) that is about {cpu_bound_gb_s:,.0f} GB-s, "
               f"${cpu_bound_gb_s * cost.LAMBDA_ARM_GB_SECOND:,.2f} per million checks")
    report.say(f"  fixed: an empty sweep takes {empty * 1000:.0f} ms here; both schedules every minute cost about "
               f"${cost.monthly_idle(empty, memory_mb):,.2f} a month before any check")
    report.say(f"  prices: AWS public price list, us-east-1, in force since {cost.PRICE_LIST_DATE} (DynamoDB on-demand "
               f"cut); cross-checked {cost.PRICES_CROSS_CHECKED}; free tiers ignored")


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
