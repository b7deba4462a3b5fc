"""The benchmark's stage: the local stack, orders to sweep, and measured sweeps.

Everything runs on the shared `LocalStack` (`paysweep_local.stack`): MiniStack with the real
`template.yaml` deployed by `sam build` + `sam deploy`, the KICC simulator over HTTPS, the real
handler in local sandboxes that reach MiniStack through the fault proxy. What a sweep costs
comes from the stack's own meters:

* AWS calls by `service.Operation`: the fault proxy's counter (`stack.faults.calls`), cleared
  before each measurement;
* DynamoDB write units, items read and the sandbox's CPU seconds: the invocation's `meters`
  (write units from MiniStack's `ConsumedCapacity`, asked for on every DynamoDB call);
* CPU of MiniStack's server and of this process (the fault proxy and the simulators): /proc.

The benchmark changes the deployment in two ways only, both through documented knobs:
`FunctionTimeoutSeconds=900` (the template's maximum), so a sweep of 10,000 orders is not cut
short by the default timeout; and `SWEEP_CONCURRENCY` / `PROVIDER_RATE_LIMIT_PER_SECOND` per
measurement, on the sandbox's environment as the template would set them from its parameters.
The stack's outcome queue is unsubscribed: in AWS, SNS fans out on its own side, after the
PublishBatch answer; locally the fan-out would be MiniStack's work inside the sweep. The stack's
KICC secret holds the default account and two merchant accounts (`BENCH_ACCOUNTS`, each its own
mall, `paysweep_local.simulators.keys.kicc_secret`); orders name none unless a figure says so.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import random
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from paysweep.aws.dynamodb import to_item
from paysweep.domain.clock import to_iso
from paysweep.domain.item import HISTORY_LIMIT
from paysweep.domain.orders import new_order_item, shard_prefix, sweep_key
from paysweep_local.providers import BY_ID
from paysweep_local.sandbox import InvocationResult, LocalFunction
from paysweep_local.simulators import kicc
from paysweep_local.simulators.keys import kicc_secret
from paysweep_local.stack import OUTCOMES, LocalStack

from bench.procstat import CpuMeter, peak_rss_mb

KICC = "kicc-wechatpay"
KICC_FIND_PATH = "/api/trades/wechatpay/find"
"""The KICC status query the adapter posts (functions/kicc_wechatpay/kicc_adapter.py FIND_PATH)."""
REPO = Path(__file__).resolve().parents[1]
BENCH_PARAMETERS = {"FunctionTimeoutSeconds": "900"}
AMOUNT_WON = 1000
SELLER = "seller-00000000b"
"""A merchant account of realistic length (16 characters) the bench stack's KICC secret holds."""
LONGEST_SELLER = "seller-" + "0" * 24 + "b"
"""The longest merchant id the contract allows (32 characters), also in the bench stack's secret."""
BENCH_ACCOUNTS = (SELLER, LONGEST_SELLER)

SEQUENTIAL_CALLS_PER_CHECK = 2
"""A check's claim before its provider call and its record after, each waited for in its slot."""
DYNAMODB_READS = frozenset({"Query", "Scan", "GetItem", "BatchGetItem", "TransactGetItems"})
DYNAMODB_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})

SCRIPTS: dict[str, Callable[[], list[Any]]] = {
    "pending": lambda: [kicc.pending()],
    "approved": lambda: [kicc.approved()],
    "cancelled": lambda: [kicc.cancelled("TS02")],
}
"""What the KICC simulator answers, forever, for an order of each kind."""


# ----------------------------------------------------------------------------------------
# Orders
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mix:
    """Shares of due orders by what the provider answers: still pending, approved, cancelled."""

    pending: float
    approved: float
    cancelled: float = 0.0

    def kinds(self, n: int, seed: int = 0) -> list[str]:
        """Exactly proportional kinds (largest remainder), shuffled reproducibly."""
        shares = {"pending": self.pending, "approved": self.approved, "cancelled": self.cancelled}
        exact = {kind: n * share for kind, share in shares.items()}
        counts = {kind: int(value) for kind, value in exact.items()}
        for kind in sorted(exact, key=lambda k: exact[k] - counts[k], reverse=True)[: n - sum(counts.values())]:
            counts[kind] += 1
        kinds = [kind for kind, count in counts.items() for _ in range(count)]
        random.Random(seed).shuffle(kinds)
        return kinds

    def describe(self) -> str:
        parts = [f"{share:.0%} {name}" for name, share in
                 (("still pending", self.pending), ("approved", self.approved), ("cancelled at KICC", self.cancelled))
                 if share]
        return ", ".join(parts)


MAIN_MIX = Mix(pending=0.70, approved=0.25, cancelled=0.05)
"""The benchmark's default answer mix for due orders."""


def due_order_item(order_id: str, shard: int, shards: int, now: datetime,
                   merchant_id: str | None = None) -> dict[str, Any]:
    """A valid pending KICC order, due now, in the given shard (any shard is valid per the contract),
    naming its merchant account when `merchant_id` is given."""
    item = new_order_item(order_id=order_id, provider=KICC, amount=Decimal(AMOUNT_WON), currency="KRW",
                          shards=shards, created_at=now - timedelta(minutes=2), first_check_after=timedelta(0),
                          refs={"pgCno": f"PG{order_id}"}, merchant_id=merchant_id)
    item["sweepKey"] = sweep_key(KICC, shard)
    return item


def later_order_item(order_id: str, shard: int, shards: int, now: datetime,
                     merchant_id: str | None = None) -> dict[str, Any]:
    """A pending order in the due index that is not due yet (its next check is tomorrow)."""
    item = due_order_item(order_id, shard, shards, now, merchant_id)
    item["nextCheckAt"] = to_iso(now + timedelta(days=1))
    return item


def terminal_order_item(order_id: str, now: datetime) -> dict[str, Any]:
    """An order decided long ago, as the sweeper leaves it: out of both indexes."""
    at = to_iso(now - timedelta(days=1))
    return {
        "orderId": order_id, "provider": KICC, "status": "APPROVED", "amount": Decimal(AMOUNT_WON),
        "currency": "KRW", "pgCno": f"PG{order_id}", "createdAt": at, "attempts": 1, "generation": 0,
        "history": [f"{at} status APPROVED TS01"],
        "outcome": {"outcome": "APPROVED", "reason": None, "eventId": f"{order_id}:APPROVED", "occurredAt": at},
        "updatedAt": at,
    }


def order_prefix(label: str) -> str:
    """A label made fit for an order id (letters, digits, '-', at most 20 characters)."""
    return re.sub(r"[^A-Za-z0-9]+", "-", label).strip("-")[:20] or "B"


# ----------------------------------------------------------------------------------------
# Measurements
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Calibration:
    """Local AWS's own capacity: claim-shaped calls from another process, through the fault proxy
    (the sandboxes' path: TLS to the proxy in this process, then MiniStack), and straight to
    MiniStack (what the proxy costs)."""

    calls: int
    seconds: float
    threads: int
    ministack_cpu_share: float
    """MiniStack server CPU seconds per wall second during calibration (1.0 = one core busy)."""
    proxy_cpu_share: float
    """This process's (the fault proxy's) CPU seconds per wall second."""
    direct_seconds: float
    """The same calls straight to MiniStack's own endpoint."""
    call_s: float
    """Median duration of one call made alone, through the fault proxy: what a check waits per call."""
    direct_call_s: float

    @property
    def calls_per_second(self) -> float:
        return self.calls / self.seconds

    @property
    def direct_calls_per_second(self) -> float:
        return self.calls / self.direct_seconds


@dataclass
class SweepRun:
    """One measured sweep (or several overlapping sweeps of disjoint shards)."""

    label: str
    orders: int
    concurrency: int
    latency_s: float
    sweepers: int
    duration_s: float
    """The handler invocation's duration, as Lambda bills it; the longest one for overlapping sweeps."""
    summaries: list[dict[str, Any]]
    calls: dict[str, int]
    """AWS requests of the sandboxes during the sweep, by `service.Operation` (the fault proxy's count)."""
    meters: dict[str, float]
    """Summed over the invocations: `writeUnits` (MiniStack's ConsumedCapacity), `itemsRead`
    (Count of every Query and Scan, 1 per GetItem that found an item), `cpuSeconds` of the sandboxes."""
    provider_arrivals: list[float]
    """When each provider request reached the simulator (epoch seconds)."""
    provider_accounts: dict[str, int]
    """Provider requests by the account (KICC mallId) they were made as."""
    cpu: dict[str, float]
    """CPU seconds during the sweep: sweeper (the sandboxes' meters), ministack, bench (proxy and simulators)."""
    worker_peak_rss_mb: float
    worker_peak_rss_before_mb: float
    errors: list[str] = field(default_factory=list)
    calibration: Calibration | None = None
    """Local AWS's capacity measured closest before this sweep (set by the figure)."""

    # -- the summary ----------------------------------------------------------------------

    def total(self, key: str) -> int:
        return sum(int(s.get(key) or 0) for s in self.summaries)

    @property
    def checked(self) -> int:
        return self.total("checked")

    @property
    def outcomes(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        for summary in self.summaries:
            counts.update(summary.get("outcomes") or {})
        return counts

    @property
    def complete(self) -> bool:
        return all(s.get("complete") for s in self.summaries)

    @property
    def wru(self) -> float:
        """Every write unit MiniStack's ConsumedCapacity reported (table and indexes; refused
        conditional writes report none)."""
        return float(self.meters.get("writeUnits", 0.0))

    def wru_per_check(self) -> float:
        return self.wru / self.checked if self.checked else 0.0

    @property
    def refused_claims(self) -> int:
        return self.total("claimConflicts")

    @property
    def items_read(self) -> int:
        return int(self.meters.get("itemsRead", 0))

    def problems(self, *, conflicts_expected: bool = False) -> list[str]:
        """Anything that makes the sweep not a clean measurement of `orders` due orders."""
        found = list(self.errors)
        if self.checked != self.orders:
            found.append(f"checked {self.checked} of {self.orders} due orders")
        if not self.complete:
            found.append(f"sweep incomplete, {self.total('leftDue')} left due")
        for summary in self.summaries:
            if summary.get("errors"):
                found.append(f"sweep errors {summary['errors']}")
            if summary.get("providerErrors"):
                found.append(f"provider errors {summary['providerErrors']}")
            if summary.get("claimConflicts") and not conflicts_expected:
                found.append(f"{summary['claimConflicts']} claim conflicts")
        return found

    # -- calls ----------------------------------------------------------------------------

    def count(self, predicate: Callable[[str, str], bool]) -> int:
        return sum(n for key, n in self.calls.items() if predicate(*key.split(".", 1)))

    @property
    def aws_calls(self) -> int:
        return sum(self.calls.values())

    @property
    def dynamodb_reads(self) -> int:
        return self.count(lambda service, op: service == "dynamodb" and op in DYNAMODB_READS)

    @property
    def dynamodb_writes(self) -> int:
        return self.count(lambda service, op: service == "dynamodb" and op in DYNAMODB_WRITES)

    @property
    def publish_batches(self) -> int:
        return self.calls.get("sns.PublishBatch", 0)

    @property
    def other_calls(self) -> dict[str, int]:
        known = {"dynamodb", "sns"}
        return {key: n for key, n in self.calls.items() if key.split(".", 1)[0] not in known
                or (key.startswith("sns.") and key != "sns.PublishBatch")}

    # -- figures --------------------------------------------------------------------------

    @property
    def throughput(self) -> float:
        """Orders checked per second of sweep."""
        return self.checked / self.duration_s if self.duration_s else 0.0

    @property
    def provider_bound_s(self) -> float:
        """ceil(N / C) x L: the sweep if only the provider's latency took time."""
        per_sweeper = math.ceil(self.orders / self.sweepers)
        return math.ceil(per_sweeper / self.concurrency) * self.latency_s

    def local_aws_bound_s(self, calibration: Calibration) -> float:
        """The sweep's AWS calls at local AWS's calibrated rate."""
        return self.aws_calls / calibration.calls_per_second

    def latency_bound_s(self, calibration: Calibration) -> float:
        """ceil(N / C) x (L + 2 calls): each check's claim and record wait on local AWS, one after
        the other, around its provider call."""
        per_sweeper = math.ceil(self.orders / self.sweepers)
        per_check = self.latency_s + SEQUENTIAL_CALLS_PER_CHECK * calibration.call_s
        return math.ceil(per_sweeper / self.concurrency) * per_check

    def adjusted_limit_s(self, calibration: Calibration) -> float:
        """The provider-bound limit with local AWS's calibrated latency and rate in it."""
        return max(self.latency_bound_s(calibration), self.local_aws_bound_s(calibration))

    def cpu_share(self, name: str) -> float:
        return self.cpu.get(name, 0.0) / self.duration_s if self.duration_s else 0.0

    def provider_rate(self) -> float | None:
        """Provider requests per second between the first and the last request."""
        times = sorted(self.provider_arrivals)
        if len(times) < 2 or times[-1] <= times[0]:
            return None
        return (len(times) - 1) / (times[-1] - times[0])

    def to_json(self, calibration: Calibration | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "label": self.label, "orders": self.orders, "concurrency": self.concurrency,
            "latencySeconds": self.latency_s, "sweepers": self.sweepers,
            "durationSeconds": round(self.duration_s, 3), "ordersPerSecond": round(self.throughput, 2),
            "providerBoundSeconds": self.provider_bound_s, "awsCalls": self.calls, "meters": self.meters,
            "providerRequests": len(self.provider_arrivals), "providerAccounts": self.provider_accounts,
            "cpuSeconds": {k: round(v, 2) for k, v in self.cpu.items()},
            "workerPeakRssMb": round(self.worker_peak_rss_mb, 1),
            "summaries": self.summaries, "problems": self.problems(),
        }
        if calibration is not None:
            data["localAwsBoundSeconds"] = round(self.local_aws_bound_s(calibration), 2)
            data["latencyBoundSeconds"] = round(self.latency_bound_s(calibration), 2)
        return data


# ----------------------------------------------------------------------------------------
# The stage
# ----------------------------------------------------------------------------------------


class Bench:
    """The local stack, set up for measuring, plus the helpers every figure uses."""

    def __init__(self, work_dir: Path) -> None:
        self.work_dir = work_dir
        (work_dir / "stack").mkdir(parents=True, exist_ok=True)  # LocalStack writes its CA there at once
        self.stack = LocalStack(parameters=BENCH_PARAMETERS, credentials={KICC: kicc_secret(accounts=BENCH_ACCOUNTS)},
                                log_dir=work_dir / "logs", work_dir=work_dir / "stack")
        self._functions: list[LocalFunction] = []
        self._serial = itertools.count(1)
        self.dynamodb: Any = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> Bench:
        self.stack.start()
        self.dynamodb = self.stack.client("dynamodb", max_pool_connections=32)
        self._detach_outcome_feed()
        return self

    def stop(self) -> None:
        for function in self._functions:
            function.stop()
        self.stack.stop()

    def _detach_outcome_feed(self) -> None:
        sns = self.stack.client("sns")
        for page in sns.get_paginator("list_subscriptions").paginate():
            for subscription in page.get("Subscriptions", []):
                sns.unsubscribe(SubscriptionArn=subscription["SubscriptionArn"])

    @property
    def shards(self) -> int:
        return self.stack.shards

    @property
    def ministack_pid(self) -> int:
        """MiniStack's server process (its CPU is local AWS's cost)."""
        process = self.stack.ministack.process
        assert process is not None, "MiniStack is not running"
        return process.pid

    @property
    def memory_mb(self) -> int:
        return self.stack.functions[KICC].info.memory_mb

    @property
    def function_env(self) -> dict[str, str]:
        """The deployed KICC function's environment variables (as MiniStack reports them)."""
        return self.stack.functions[KICC].info.environment

    # -- functions ------------------------------------------------------------------------

    def function(self, concurrency: int, *, containers: int = 1, extra_env: dict[str, str] | None = None) -> LocalFunction:
        """The KICC function as deployed, with this sweep concurrency, its sandboxes warm.

        Warming runs one sweep per sandbox on a table with no due orders: the cold start and the
        first invocation's set-up (configuration, AWS clients) are not part of any measurement.
        The provider secret is fetched at the first provider call, so each measured sweep
        includes one GetSecretValue (listed under "other AWS calls").
        """
        env = {"SWEEP_CONCURRENCY": str(concurrency), **(extra_env or {})}
        function = self.stack.local_function(BY_ID[KICC], extra_env=env,
                                             log_dir=self._log_dir(f"f{next(self._serial)}"))
        self._functions.append(function)
        futures = [function.invoke_async(self.stack.schedule_event(KICC)) for _ in range(containers)]
        for future in futures:
            result = future.result()
            if not result.ok or result.result["checked"]:
                raise RuntimeError(f"warm-up sweep was not empty or failed: {result.error or result.result}")
        return function

    def _log_dir(self, name: str) -> Path:
        folder = self.work_dir / "logs" / name
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def retire(self, function: LocalFunction) -> None:
        function.stop()
        if function in self._functions:
            self._functions.remove(function)

    # -- table ----------------------------------------------------------------------------

    def _batch_write(self, table: str, requests: Sequence[dict[str, Any]], threads: int = 6) -> None:
        chunks = [list(requests[i : i + 25]) for i in range(0, len(requests), 25)]

        def write(chunk: list[dict[str, Any]]) -> None:
            pending = {table: chunk}
            while pending:
                answer = self.dynamodb.batch_write_item(RequestItems=pending)
                pending = answer.get("UnprocessedItems") or {}

        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(write, chunks))

    def put(self, items: Iterable[dict[str, Any]]) -> float:
        """Write items straight into the orders table (BatchWriteItem); returns the seconds taken."""
        started = time.monotonic()
        self._batch_write(self.stack.table, [{"PutRequest": {"Item": to_item(item)}} for item in items])
        return time.monotonic() - started

    def clear(self) -> None:
        """Empty both tables, drop every fault and forget the simulator's request log."""
        for output in ("OrdersTableName", "CompensationsTableName"):
            table = self.stack.output(output)
            keys = [
                {"DeleteRequest": {"Key": item}}
                for page in self.dynamodb.get_paginator("scan").paginate(TableName=table, ProjectionExpression="orderId")
                for item in page.get("Items", [])
            ]
            if keys:
                self._batch_write(table, keys)
        assert self.stack.faults is not None
        self.stack.faults.clear_faults()
        self.stack.kicc.reset_requests()

    def mall_of(self, merchant_id: str | None) -> str:
        """The KICC mall of a merchant account the bench stack's secret holds (None: the default's)."""
        secret = self.stack.credentials[KICC]
        return str((secret["accounts"][merchant_id] if merchant_id is not None else secret)["mallId"])

    def due_orders(self, prefix: str, kinds: Sequence[str], *, due: bool = True,
                   merchant_id: str | None = None) -> list[dict[str, Any]]:
        """Due orders of the given kinds, spread evenly over the shards, known to the simulator
        (`due=False`: pending orders in the due index whose next check is tomorrow, which only a
        check on demand reaches). With `merchant_id` each order names that account, and the
        simulator books its payment under the account's mall."""
        now = self.stack.now()
        make = due_order_item if due else later_order_item
        items = []
        for i, kind in enumerate(kinds):
            item = make(f"{prefix}-{i:06d}", i % self.shards, self.shards, now, merchant_id)
            self.stack.kicc.add_payment(item["pgCno"], item["orderId"], AMOUNT_WON, "KRW", script=SCRIPTS[kind](),
                                        account=self.mall_of(merchant_id) if merchant_id is not None else None)
            items.append(item)
        return items

    def steady_orders(self, prefix: str, kinds: Sequence[str], checked: dict[str, Any], *,
                      merchant_id: str | None = None) -> list[dict[str, Any]]:
        """Due orders as they are after many checks (the steady state): each takes the record of
        `checked`, a real order the handler left pending, with its history full and its attempts
        as many, and is due now, unleased."""
        history = list(checked.get("history") or [])
        full = (history * HISTORY_LIMIT)[-HISTORY_LIMIT:] if history else []
        return [{**item, "history": full, "attempts": len(full) or 1,
                 **({"lastCheck": checked["lastCheck"]} if "lastCheck" in checked else {})}
                for item in self.due_orders(prefix, kinds, merchant_id=merchant_id)]

    # -- plain clients in another process (bench/bare.py) -----------------------------------

    def plain(self, spec: dict[str, Any], timeout_s: float = 600.0) -> dict[str, Any]:
        """Run `bench.bare` in its own process with this spec (plus where local AWS is); its result."""
        command, result = self._bare_command(spec)
        subprocess.run(command, cwd=REPO, check=True, timeout=timeout_s, stdin=subprocess.DEVNULL)
        return dict(json.loads(result.read_text()))

    def _bare_command(self, spec: dict[str, Any]) -> tuple[list[str], Path]:
        """`python -m bench.bare SPEC OUT` for this spec, local AWS's whereabouts added; and OUT."""
        assert self.stack.faults is not None
        spec = {"endpoint": self.stack.faults.url, "caBundle": str(self.stack.ca_file), "region": "us-east-1",
                "table": self.stack.table, **spec}
        folder = self.work_dir / f"bare-{next(self._serial)}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "spec.json").write_text(json.dumps(spec))
        out = folder / "result.json"
        return [sys.executable, "-m", "bench.bare", str(folder / "spec.json"), str(out)], out

    def bare(self, concurrency: int) -> dict[str, Any]:
        """The sweep's calls made bare over the due orders now in the table (CPU seconds, checks, calls)."""
        env = self.function_env
        return self.plain({
            "mode": "sweep", "dueIndex": env["DUE_INDEX_NAME"],
            "sweepKeys": [sweep_key(KICC, shard) for shard in range(self.shards)],
            "topics": {outcome: env[f"{outcome}_TOPIC_ARN"] for outcome in OUTCOMES},
            "providerUrl": self.stack.kicc.base_url + KICC_FIND_PATH,
            "mallId": self.stack.credentials[KICC]["mallId"], "secretArn": env["PROVIDER_SECRET_ARN"],
            "concurrency": concurrency, "pageSize": 250, "leaseSeconds": 80,
            "clockOffsetSeconds": self.stack.clock_offset_seconds,
        })

    @contextmanager
    def bare_checker(self, warm_up: Sequence[str]) -> Iterator[Callable[[str], dict[str, Any]]]:
        """Checks on demand made with plain clients (`bench.bare` `checks`, its own process, kept
        running): a function that checks one order now and returns its steps' seconds, its AWS
        calls and its CPU seconds. The orders of `warm_up` are checked first, unmeasured, before
        this returns (nothing of the bare process's runs beside a measured check)."""
        env = self.function_env
        command, _ = self._bare_command({
            "mode": "checks", "warmUp": list(warm_up), "shardPrefix": shard_prefix(KICC),
            "topics": {outcome: env[f"{outcome}_TOPIC_ARN"] for outcome in OUTCOMES},
            "providerUrl": self.stack.kicc.base_url + KICC_FIND_PATH, "mallId": self.stack.credentials[KICC]["mallId"],
            "leaseSeconds": 80, "clockOffsetSeconds": self.stack.clock_offset_seconds,
        })
        process = subprocess.Popen(command, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert process.stdin is not None and process.stdout is not None
        stdin, stdout = process.stdin, process.stdout
        if not stdout.readline():  # its warm-up done: from now on it makes calls only when asked
            raise RuntimeError(f"the bare checker did not start (exit {process.wait()})")

        def check(order_id: str) -> dict[str, Any]:
            stdin.write(order_id + "\n")
            stdin.flush()
            line = stdout.readline()
            if not line:
                raise RuntimeError(f"the bare checker ended (exit {process.wait()}) at {order_id}")
            return dict(json.loads(line))

        try:
            yield check
        finally:
            stdin.close()
            if process.wait(timeout=60):
                raise RuntimeError(f"the bare checker failed (exit {process.returncode})")

    def calibrate(self, calls: int = 1000, threads: int = 16) -> Calibration:
        """Conditional UpdateItem calls (the shape of a claim) on order-sized items from `threads`
        client threads of another process: how many calls per second local AWS serves on the
        sandboxes' path (the fault proxy), and MiniStack on its own endpoint."""
        assert self.stack.faults is not None
        now = self.stack.now()
        items = [terminal_order_item(f"CAL-{i:04d}", now) for i in range(200)]
        self.put(items)
        proxy, direct = self.stack.faults.url, self.stack.ministack.url
        answer = self.plain({"mode": "calibrate", "calls": calls, "threads": threads, "sequential": 20,
                             "now": to_iso(now), "orderIds": [item["orderId"] for item in items],
                             "endpoints": [proxy, direct], "pids": {"ministack": self.ministack_pid, "proxy": os.getpid()}})
        self.clear()
        seconds, used = answer[proxy]["seconds"], answer[proxy]["cpuSeconds"]
        return Calibration(calls, seconds, threads, used["ministack"] / seconds, used["proxy"] / seconds,
                           answer[direct]["seconds"], answer[proxy]["callSeconds"], answer[direct]["callSeconds"])

    # -- sweeps ---------------------------------------------------------------------------

    def sweep(self, function: LocalFunction, *, label: str, orders: int, concurrency: int, latency_s: float,
              shard_sets: Sequence[list[int] | None] = (None,)) -> SweepRun:
        """Run one sweep per shard set at once (each in its own warm sandbox) and measure it."""
        stack = self.stack
        assert stack.faults is not None
        stack.kicc.latency_seconds = latency_s
        stack.kicc.reset_requests()
        workers = function.pids()
        rss_before = max((peak_rss_mb(pid) for pid in workers), default=float("nan"))
        meter = CpuMeter({"ministack": self.ministack_pid, "bench": os.getpid()}).start()
        stack.faults.calls.clear()
        futures = [function.invoke_async(stack.schedule_event(KICC, shards)) for shards in shard_sets]
        results: list[InvocationResult] = [future.result() for future in futures]
        calls = dict(stack.faults.calls)
        used = meter.stop()
        requests = stack.kicc.requests
        arrivals = [request.at.timestamp() for request in requests]
        accounts = Counter(str(request.account) for request in requests)
        stack.kicc.latency_seconds = 0.0
        alive = [pid for pid in workers if pid in function.pids()]
        meters: Counter[str] = Counter()
        for result in results:
            meters.update(result.meters)
        run = SweepRun(
            label=label, orders=orders, concurrency=concurrency, latency_s=latency_s, sweepers=len(shard_sets),
            duration_s=max(result.duration_ms for result in results) / 1000,
            summaries=[result.result or {} for result in results], calls=calls, meters=dict(meters),
            provider_arrivals=arrivals, provider_accounts=dict(accounts),
            cpu={"sweeper": meters.get("cpuSeconds", 0.0), "ministack": used["ministack"], "bench": used["bench"]},
            worker_peak_rss_mb=max((peak_rss_mb(pid) for pid in alive), default=float("nan")),
            worker_peak_rss_before_mb=rss_before,
        )
        run.errors.extend(f"{r.error['errorType']}: {r.error['errorMessage']}" for r in results if r.error)
        if len(workers) < len(shard_sets):
            run.errors.append(f"{len(workers)} warm sandboxes for {len(shard_sets)} sweeps")
        return run

    def measure(self, *, label: str, kinds: Sequence[str], concurrency: int, latency_s: float,
                extra_env: dict[str, str] | None = None, steady_from: dict[str, Any] | None = None,
                merchant_id: str | None = None, prefix: str | None = None) -> SweepRun:
        """The common case: a clean table, a warm function, `len(kinds)` due orders, one sweep.
        With `steady_from` (an order the handler left pending), the orders are at the steady state
        (`steady_orders`); with `merchant_id`, they name that account; `prefix` of their ids
        (default: the label's), to give them another run's ids, so that their sizes compare."""
        self.clear()
        function = self.function(concurrency, extra_env=extra_env)
        try:
            prefix = prefix or order_prefix(label)
            self.put(self.steady_orders(prefix, kinds, steady_from, merchant_id=merchant_id) if steady_from is not None
                     else self.due_orders(prefix, kinds, merchant_id=merchant_id))
            return self.sweep(function, label=label, orders=len(kinds), concurrency=concurrency, latency_s=latency_s)
        finally:
            self.retire(function)
