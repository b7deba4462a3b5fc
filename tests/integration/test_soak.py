"""The chaos soak: about 2,000 orders, random faults at about 10 % of steps, two sweepers at once.

Three providers: KICC and Toss Payments (which cancel), TeemoPay (which cannot), each with three
merchant accounts (its default and two more, one in three orders each): every request must be made
as its order's account, every message name its order's account. Some customers pay
after their order expired (the provider's books change after the decision): the sweeps' audits must
find every such payment and correct its outcome (CANCELLED or REVIEW `LATE_PAYMENT`; a late deposit
into a Toss virtual account, which paysweep cannot refund, REVIEW `LATE_PAYMENT`), and audit
every other expired order without publishing anything.

Every kind of fault of the fault suite, at random: provider 5xx, timeouts and answers that break
the docs; DynamoDB throttling and errors on queries and writes; SNS publish failures; crashed
Lambda containers. Two sweeps of each provider run at once every simulated minute until nothing
is due; then every invariant of the architecture (README, Reliability; `support.invariants`) is
checked over the whole run, and the figures
are printed (`make soak` shows them; the README's Reliability section quotes one run).
"""

from __future__ import annotations

import os
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from itertools import pairwise
from typing import Any

import pytest
from paysweep_local.simulators import kicc, teemopay, toss
from paysweep_local.stack import LocalStack
from support.invariants import check_all
from support.outcomes import Published
from support.scenarios import (
    ACCOUNT_SECRETS,
    ACCOUNTS,
    KICC,
    TEEMO,
    TOSS,
    simulator_account,
    toss_cancel_path,
    toss_lookup_path,
)
from support.settle import unsettled

ORDERS = int(os.environ.get("PAYSWEEP_SOAK_ORDERS") or "2000")
FAULT_RATE = 0.10
HTTP_TIMEOUT_SECONDS = 3
"""The provider read timeout of the soak's stack (the documented 30 s would make a round slow)."""
SEED = int(os.environ.get("PAYSWEEP_SOAK_SEED", "20261122"))
ROUND = 60  # simulated seconds between schedule ticks
PROVIDERS = (KICC, TEEMO, TOSS)
MAX_ROUNDS = 30

# Short windows so expiring orders resolve in a few simulated minutes, and a flat one-minute
# backoff so an order that met several faults is not left waiting 10 simulated minutes
# (the growing schedule is tested on its own in the provider suites).
SOAK_ENV = {"BACKOFF_SCHEDULE_SECONDS": "60", "SWEEP_CONCURRENCY": os.environ.get("PAYSWEEP_SOAK_CONCURRENCY", "8"), "EXPIRY_GRACE_SECONDS": "60", "FINAL_RETRY_SECONDS": "180", "OUTBOX_GRACE_SECONDS": "60", "AUDIT_SCHEDULE_SECONDS": "300,600"}
"""Audits five and ten simulated minutes after a decision, instead of an hour and a day."""

APPROVED = {("APPROVED", None)}
KICC_PAID = APPROVED | {("CANCELLED", "DB_UPDATE_FAILED"), ("REVIEW", "CANCEL_REFUSED")}
TEEMO_PAID = APPROVED | {("REVIEW", "DB_UPDATE_FAILED")}
EXPIRED = {("FAILED", "EXPIRED"), ("REVIEW", "EXPIRED")}
"""Unpaid: FAILED, or, for an order faults sent to REVIEW UNKNOWN_PROVIDER_STATE, its audit's
follow-up saying the provider reports it unpaid."""
KICC_PAID_LATE = {("CANCELLED", "LATE_PAYMENT"), ("REVIEW", "CANCEL_REFUSED"), ("REVIEW", "LATE_PAYMENT")}
"""Paid after the decision: cancelled (or a refused cancel); REVIEW when it was in REVIEW."""
TOSS_PAID = KICC_PAID
TOSS_DEPOSITED = APPROVED | {("REVIEW", "DB_UPDATE_FAILED")}
"""A virtual account's deposit: its answer is not cancellable (no refund account), so an approval the
table cannot record goes to a person, REVIEW DB_UPDATE_FAILED, as on a provider without a cancel."""
TOSS_DEPOSITED_LATE = {("REVIEW", "LATE_PAYMENT")}
"""A deposit after the decision: not cancellable, so the audit's correction is REVIEW LATE_PAYMENT
(superseding the FAILED, or following up a REVIEW), never a cancel."""


@dataclass(frozen=True)
class Kind:
    provider: str
    name: str
    weight: int
    acceptable: frozenset[tuple[str, str | None]]
    expiring: bool = False
    pays_late: bool = False
    """The customer pays once the order has been decided (the simulator is rescripted then)."""


KINDS = [
    Kind(KICC, "paid", 50, frozenset(KICC_PAID)),
    Kind(KICC, "late", 20, frozenset(KICC_PAID)),
    Kind(KICC, "mismatch", 8, frozenset({("CANCELLED", "AMOUNT_MISMATCH"), ("REVIEW", "CANCEL_REFUSED")})),
    Kind(KICC, "provider-cancelled", 6, frozenset({("CANCELLED", "PROVIDER_CANCELLED")})),
    Kind(KICC, "partial", 3, frozenset({("REVIEW", "PARTIAL_CANCEL")})),
    Kind(KICC, "unpaid", 8, frozenset(EXPIRED), expiring=True),
    Kind(KICC, "error-then-paid", 5, frozenset(KICC_PAID)),
    Kind(KICC, "paid-late", 5, frozenset(KICC_PAID_LATE), expiring=True, pays_late=True),
    Kind(TEEMO, "paid", 50, frozenset(TEEMO_PAID)),
    Kind(TEEMO, "late", 20, frozenset(TEEMO_PAID)),
    Kind(TEEMO, "declined", 8, frozenset({("FAILED", "PROVIDER_DECLINED")})),
    Kind(TEEMO, "overpaid", 6, frozenset({("REVIEW", "AMOUNT_MISMATCH")})),
    Kind(TEEMO, "not-found", 8, frozenset(EXPIRED), expiring=True),
    Kind(TEEMO, "busy-then-paid", 8, frozenset(TEEMO_PAID)),
    Kind(TEEMO, "paid-late", 5, frozenset({("REVIEW", "LATE_PAYMENT")}), expiring=True, pays_late=True),
    Kind(TOSS, "paid", 40, frozenset(TOSS_PAID)),
    Kind(TOSS, "late", 15, frozenset(TOSS_PAID)),
    Kind(TOSS, "deposited", 10, frozenset(TOSS_DEPOSITED)),
    Kind(TOSS, "mismatch", 8, frozenset({("CANCELLED", "AMOUNT_MISMATCH"), ("REVIEW", "CANCEL_REFUSED")})),
    Kind(TOSS, "va-mismatch", 3, frozenset({("REVIEW", "AMOUNT_MISMATCH")})),
    Kind(TOSS, "aborted", 8, frozenset({("FAILED", "PROVIDER_DECLINED")})),
    Kind(TOSS, "not-found", 8, frozenset(EXPIRED), expiring=True),
    Kind(TOSS, "paid-late", 5, frozenset(KICC_PAID_LATE), expiring=True, pays_late=True),
    Kind(TOSS, "deposit-late", 3, frozenset(TOSS_DEPOSITED_LATE), expiring=True, pays_late=True),
]
TOSS_ACCOUNTS = {"deposited", "va-mismatch", "deposit-late"}
"""The Toss kinds paid by virtual account; the others by card."""


def kicc_script(kind: str) -> list[Any]:
    return {
        "paid": [kicc.approved()],
        "late": [kicc.pending(times=2), kicc.approved()],
        "mismatch": [kicc.approved(amount=999)],
        "provider-cancelled": [kicc.cancelled("TS02")],
        "partial": [kicc.partial_cancel()],
        "unpaid": [kicc.pending()],
        "error-then-paid": [kicc.error(res_cd="W001"), kicc.approved()],
        "paid-late": [kicc.pending()],
    }[kind]


def teemopay_script(kind: str) -> list[Any]:
    return {
        "paid": [teemopay.paid()],
        "late": [teemopay.pending(times=2), teemopay.paid()],
        "declined": [teemopay.failed()],
        "overpaid": [teemopay.paid(amount="1500.00")],
        "not-found": [teemopay.not_found()],
        "busy-then-paid": [teemopay.retry_later(), teemopay.paid()],
        "paid-late": [teemopay.not_found()],
    }[kind]


def toss_script(kind: str) -> list[Any]:
    return {
        "paid": [toss.done()],
        "late": [toss.ready(), toss.in_progress(), toss.done()],
        "deposited": [toss.waiting_for_deposit(times=2), toss.done()],
        "mismatch": [toss.done()],  # of 999 won (`register`)
        "va-mismatch": [toss.done()],  # of 1100 won
        "aborted": [toss.aborted()],
        "not-found": [toss.not_found()],
        "paid-late": [toss.ready()],
        "deposit-late": [toss.waiting_for_deposit()],
    }[kind]


@pytest.fixture(scope="module")
def soak_stack() -> Iterator[LocalStack]:
    with LocalStack(parameters={"HttpTimeoutSeconds": str(HTTP_TIMEOUT_SECONDS)}, function_env=SOAK_ENV,
                    credentials=ACCOUNT_SECRETS) as stack:
        yield stack


def register(stack: LocalStack, rng: random.Random) -> tuple[dict[str, Kind], dict[str, str | None]]:
    """The orders' kinds, and the merchant account each names (None: the default), one in three each."""
    kinds: dict[str, Kind] = {}
    merchants: dict[str, str | None] = {}
    for n in range(ORDERS):
        kind = rng.choices(KINDS, weights=[k.weight for k in KINDS])[0]
        order_id = f"S{n:05d}-{kind.name}"[:32]
        kinds[order_id], merchants[order_id] = kind, rng.choice((None, *ACCOUNTS))

    def write(order_id: str) -> None:
        kind, merchant = kinds[order_id], merchants[order_id]
        expires = stack.now() + timedelta(minutes=3) if kind.expiring else None
        account = simulator_account(stack, kind.provider, merchant)
        if kind.provider == KICC:
            stack.kicc.add_payment(f"PG{order_id}", order_id, 1000, script=kicc_script(kind.name), account=account)
            stack.register(order_id, KICC, 1000, refs={"pgCno": f"PG{order_id}"}, expires_at=expires,
                           merchant_id=merchant)
        elif kind.provider == TOSS:
            method = toss.VIRTUAL_ACCOUNT if kind.name in TOSS_ACCOUNTS else toss.CARD
            paid = {"mismatch": 999, "va-mismatch": 1100}.get(kind.name, 1000)
            stack.toss.add_payment(order_id, paid, method=method, script=toss_script(kind.name),
                                   payment_key=toss_payment_key(order_id), account=account)
            stack.register(order_id, TOSS, 1000, expires_at=expires, merchant_id=merchant)
        else:
            stack.teemopay.add_order(order_id, "1000", script=teemopay_script(kind.name), account=account)
            stack.register(order_id, TEEMO, 1000, expires_at=expires, merchant_id=merchant)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write, kinds))
    return kinds, merchants


def toss_payment_key(order_id: str) -> str:
    """The soak's paymentKey of an order's Toss payment (Toss's are opaque; these name their order)."""
    return f"pk{order_id}"


def inject_faults(stack: LocalStack, kinds: dict[str, Kind]) -> None:
    provider_faults = [kicc.http_error(502), kicc.slow(4), kicc.non_json(), kicc.raw({"resCd": 0})]
    stack.kicc.chaos(kicc.FIND_PATH, FAULT_RATE, provider_faults, seed=SEED)
    stack.kicc.chaos(kicc.REVISE_PATH, FAULT_RATE, provider_faults, seed=SEED + 1)
    teemo_faults = [teemopay.http_error(503), teemopay.slow(4), teemopay.non_json(), teemopay.raw({"code": "200"})]
    stack.teemopay.chaos(teemopay.QUERY_PATH, FAULT_RATE, teemo_faults, seed=SEED + 2)
    # Toss's paths carry the order id (lookups) and the paymentKey (cancels), and the simulator's
    # chaos is per exact path: the same faults at the same rate, on each payment's two paths.
    toss_faults = [toss.http_error(502), toss.slow(4), toss.non_json(), toss.raw({"status": "DONE"})]
    toss_orders = sorted(o for o, kind in kinds.items() if kind.provider == TOSS)
    for n, order_id in enumerate(toss_orders):
        stack.toss.chaos(toss_lookup_path(order_id), FAULT_RATE, toss_faults, seed=SEED + 100 + 2 * n)
        stack.toss.chaos(toss_cancel_path(toss_payment_key(order_id)), FAULT_RATE, toss_faults, seed=SEED + 101 + 2 * n)
    faults = stack.faults
    faults.add_fault("dynamodb", "Query", error="throttle", times=-1, probability=FAULT_RATE / 2, seed=SEED + 3)
    faults.add_fault("dynamodb", "Query", error="internal", times=-1, probability=FAULT_RATE / 2, seed=SEED + 4)
    faults.add_fault("dynamodb", "UpdateItem", error="throttle", times=-1, probability=FAULT_RATE / 2, seed=SEED + 5)
    faults.add_fault("dynamodb", "UpdateItem", error="internal", times=-1, probability=FAULT_RATE / 2, seed=SEED + 6)
    faults.add_fault("sns", "PublishBatch", error="internal", times=-1, probability=FAULT_RATE, seed=SEED + 7)


class Crasher:
    """Kills a provider's containers mid-sweep, at random, in about FAULT_RATE of the rounds."""

    def __init__(self, stack: LocalStack, rng: random.Random) -> None:
        self.stack, self.rng, self.crashes = stack, rng, 0

    def maybe_crash(self) -> threading.Thread | None:
        if self.rng.random() >= FAULT_RATE:
            return None
        provider, delay = self.rng.choice(PROVIDERS), self.rng.uniform(0.05, 1.0)
        self.crashes += 1
        thread = threading.Thread(target=lambda: (time.sleep(delay), self.stack.functions[provider].kill()))
        thread.start()
        return thread


def one_round(stack: LocalStack, crasher: Crasher, published: Published) -> list[Any]:
    """Two sweeps of each provider at once, as an overrun schedule would produce.

    Subscribers read while the sweeps publish, as real ones do: a queue left to fill for a
    whole round makes the emulator's SQS (which counts every message on every send) crawl.
    """
    crash = crasher.maybe_crash()
    stop = threading.Event()
    reader = threading.Thread(target=read_until, args=(published, stop))
    reader.start()
    runs = [stack.sweep_async(p) for p in PROVIDERS for _ in range(2)]
    results = [r.result() for r in runs]
    stop.set()
    reader.join()
    if crash:
        crash.join()
    for result in results:
        assert result.ok or result.error["errorType"] == "Runtime.ExitError", result.error  # only crashes, never a bug
    return results


def read_until(published: Published, stop: threading.Event) -> None:
    while not stop.wait(0.5):
        published.collect()


def test_chaos_soak(soak_stack: LocalStack) -> None:
    stack, rng = soak_stack, random.Random(SEED)
    stack.clear()
    published = Published(stack)
    started = time.monotonic()
    kinds, merchants = register(stack, rng)
    inject_faults(stack, kinds)
    crasher = Crasher(stack, rng)
    sweeps, rounds, backlog, paid_late = 0, 0, [], set()
    registered = time.monotonic() - started
    for rounds in range(1, MAX_ROUNDS + 1):
        round_started = time.monotonic()
        sweeps += len(one_round(stack, crasher, published))
        published.collect()
        items = stack.orders()
        pay_late(stack, kinds, items, paid_late)
        left = unsettled(stack, items, audits=True)
        backlog.append((len(left), time.monotonic() - round_started, [i["orderId"] for i in left[:3]]))
        if not left:
            break
        stack.advance(ROUND)
    print(f"\n  registered {ORDERS} orders in {registered:.0f} s; unsettled after each round (wall s, first ids):")
    print("  " + "; ".join(f"{n} ({s:.0f} s{', ' + ','.join(ids) if n and n <= 3 else ''})" for n, s, ids in backlog))
    faults = fault_figures(stack, crasher)
    stack.faults.clear_faults()
    items = stack.orders()
    messages = [d.message for d in published.all]
    report(kinds, items, messages, faults, sweeps, rounds, time.monotonic() - started)

    check_all(items, messages)
    overlapping = overlapping_queries(stack)
    assert not overlapping, f"orders asked about twice at once: {overlapping[:5]}"
    wrong = wrong_outcomes(kinds, items)
    assert not wrong, f"wrong outcomes: {wrong[:10]}"
    wrong_accounts = signed_with_another_account(stack, kinds, merchants)
    assert not wrong_accounts, f"requests made as another merchant account: {wrong_accounts[:5]}"
    mislabelled = [m["eventId"] for m in messages if m.get("merchantId") != merchants[m["orderId"]]]
    assert not mislabelled, f"messages naming another merchant account than their order: {mislabelled[:5]}"
    second_cancels = [p for p in kinds if kinds[p].provider == KICC and len(stack.kicc.payment(f"PG{p}").revise_keys) > 1]
    second_cancels += [p for p in kinds if kinds[p].provider == TOSS and len(stack.toss.payment(p).cancel_keys) > 1]
    assert not second_cancels, f"a second cancel under another key: {second_cancels}"
    late = [o for o, kind in kinds.items() if kind.pays_late]
    assert late and paid_late == set(late), "every late payer paid after a decision"
    uncorrected = [o for o in late if not any(m.get("supersedes") for m in messages if m["orderId"] == o)]
    assert not uncorrected, f"late payments never corrected: {uncorrected[:10]}"
    assert sum(faults.values()) >= 0.05 * ORDERS, "the soak injected too few faults to mean anything"


def signed_with_another_account(stack: LocalStack, kinds: dict[str, Kind],
                                merchants: dict[str, str | None]) -> list[str]:
    """Every provider request, made as the account of the order it is about? (Toss: by the order
    id in a lookup's path, the paymentKey in a cancel's; KICC: the pgCno; TeemoPay: the order no.)"""
    by_payment_key = {toss_payment_key(order_id): order_id for order_id in kinds}
    wrong = []
    for provider in PROVIDERS:
        for request in stack.simulators[provider].requests:
            body = request.body or {}
            if provider == KICC:
                order_id = str(body.get("pgCno", ""))[2:]
            elif provider == TEEMO:
                order_id = str(body.get("merchantOrderNo", ""))
            else:
                last = request.path.rstrip("/").split("/")
                order_id = last[-1] if "/orders/" in request.path else by_payment_key.get(last[-2], "")
            if order_id in merchants and request.account != simulator_account(stack, provider, merchants[order_id]):
                wrong.append(f"{provider} {request.path} for {order_id} as {request.account}")
    return wrong


def pay_late(stack: LocalStack, kinds: dict[str, Kind], items: list[dict[str, Any]], paid: set[str]) -> None:
    """The late payers pay once their order is decided and its outcome published."""
    for item in items:
        order_id = item["orderId"]
        if not kinds[order_id].pays_late or order_id in paid or "sweepKey" in item:
            continue
        if item.get("status") in ("FAILED", "REVIEW"):
            if kinds[order_id].provider == KICC:
                stack.kicc.rescript(f"PG{order_id}", [kicc.approved()])
            elif kinds[order_id].provider == TOSS:
                stack.toss.rescript(order_id, [toss.done()])
            else:
                stack.teemopay.rescript(order_id, [teemopay.paid()])
            paid.add(order_id)


def overlapping_queries(stack: LocalStack) -> list[str]:
    """Orders the provider was asked about by two requests at once: two sweeps on one order.

    An order may well be asked again in the same round (its lease expired after a write the
    faults refused, and another sweep took it over), but never while a sweep still waits for
    the answer to a request about it. A sweep waits at most the read timeout: a simulator that
    answers later (a `slow` step longer than the timeout) is answering nobody by then, and a
    simulated minute can pass in two seconds of wall time.
    """
    by_order: dict[str, list[Any]] = {}
    for request in stack.kicc.requests + stack.teemopay.requests:
        body = request.body or {}
        order = body.get("pgCno") or body.get("merchantOrderNo")
        if order:
            by_order.setdefault(order, []).append(request)
    for request in stack.toss.requests:  # Toss names the order in the path: its id, or its payment's key
        lookup, cancel = TOSS_LOOKUP.fullmatch(request.path), TOSS_CANCEL.fullmatch(request.path)
        order = lookup[1] if lookup else cancel[1].removeprefix("pk") if cancel else None
        if order:
            by_order.setdefault(order, []).append(request)
    overlapping = []
    for order, requests in by_order.items():
        requests.sort(key=lambda r: r.received_s)
        for earlier, later in pairwise(requests):
            awaited_until = earlier.received_s + HTTP_TIMEOUT_SECONDS
            if earlier.answered_s:
                awaited_until = min(awaited_until, earlier.answered_s)
            if later.received_s < awaited_until:
                overlapping.append(order)
                break
    return overlapping


TOSS_LOOKUP, TOSS_CANCEL = re.compile(r"/v1/payments/orders/([^/]+)"), re.compile(r"/v1/payments/([^/]+)/cancel")


def fault_figures(stack: LocalStack, crasher: Crasher) -> Counter[str]:
    faults: Counter[str] = Counter()
    for provider in PROVIDERS:
        for name, count in stack.simulators[provider].chaos_fired.items():
            faults[f"{provider} {name}"] += count
    for rule in stack.faults.fault_report():
        faults[f"{rule['service']} {rule['operation']} {rule['error']}"] += rule["fired"]
    faults["Lambda container crash"] = crasher.crashes
    return faults


def wrong_outcomes(kinds: dict[str, Kind], items: list[dict[str, Any]]) -> list[str]:
    wrong = []
    for item in items:
        got = (item.get("status"), (item.get("outcome") or {}).get("reason"))
        if got not in kinds[item["orderId"]].acceptable:
            wrong.append(f"{item['orderId']}: {got}")
    return wrong


def report(kinds: dict[str, Kind], items: list[dict[str, Any]], messages: list[dict[str, Any]],
           faults: Counter[str], sweeps: int, rounds: int, seconds: float) -> None:
    events = Counter(m["eventId"] for m in messages)
    corrections = Counter(m["reason"] for m in {m["eventId"]: m for m in messages if m.get("supersedes")}.values())
    lost = [i["orderId"] for i in items if i.get("status") not in ("APPROVED", "FAILED", "CANCELLED", "REVIEW")]
    outcomes = Counter(f"{m['outcome']}" + (f"/{m['reason']}" if m["reason"] else "") for m in messages)
    lines = [
        "",
        (f"chaos soak: {len(kinds)} orders ({sum(k.provider == KICC for k in kinds.values())} KICC, "
         f"{sum(k.provider == TEEMO for k in kinds.values())} TeemoPay, {sum(k.provider == TOSS for k in kinds.values())} "
         f"Toss Payments), seed {SEED}, fault rate {FAULT_RATE:.0%}"),
        (f"  sweeps: {sweeps} in {rounds} rounds of two concurrent sweepers per provider "
         f"({rounds} simulated minutes, {seconds:.0f} s wall time)"),
        f"  faults injected: {sum(faults.values())}",
        *[f"    {name}: {count}" for name, count in sorted(faults.items())],
        f"  messages published: {len(messages)} ({len(events)} distinct eventIds)",
        f"  duplicates by eventId: {sum(n - 1 for n in events.values())}",
        f"  outcomes: {', '.join(f'{k} {v}' for k, v in sorted(Counter(m['eventId'].split(':')[1] for m in messages).items()))}",
        f"  by reason: {', '.join(f'{k} {v}' for k, v in sorted(outcomes.items()))}",
        (f"  corrections published: {sum(corrections.values())} ({', '.join(f'{k} {v}' for k, v in sorted(corrections.items()))}); "
         f"late payers: {sum(k.pays_late for k in kinds.values())}"),
        f"  orders lost: {len(lost)}",
        f"  wrong outcomes: {len(wrong_outcomes(kinds, items))}",
    ]
    print("\n".join(lines))
