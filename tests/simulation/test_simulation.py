"""The deterministic simulation of the sweep (README, Tests): the real engine and decision code
in one process, on an injected clock and a seeded scheduler, with in-memory doubles and a
fault at any call; the architecture's invariants after every write.

`make test` runs `PAYSWEEP_SIM_SEEDS` seeds (10,000 by default); `make simulate SEEDS=n` more,
`make simulate SEED=k` replays one. Each seeded bug of `bugs.py` must be found.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from collections.abc import Iterator

import pytest
from paysweep.domain import item

from simulation import bugs
from simulation.run import report, run_parallel, run_seeds
from simulation.world import World

SEEDS = int(os.environ.get("PAYSWEEP_SIM_SEEDS", "10000"))
JOBS = int(os.environ.get("PAYSWEEP_SIM_JOBS", "2"))
REGRESSION_SEEDS = (1568, 1811, 1995, 17426, 26997, 27590, 31367, 35424, 36879, 37617)
"""Seeds that once broke an invariant, run on every `make test` whatever SEEDS says. Each found
a bug in the product (a claim refused by a throttle reported as complete; a call made after the
lease lapsed; a compensation cancelling an approval whose write had landed; a cancel sent before
it was journaled) or a wrong belief in the simulation's model of the world (README, Tests)."""
BUG_HUNT_SEEDS = 20000
"""Seeds a seeded bug may take to be found; most are found far sooner (README, Tests)."""


@pytest.fixture(autouse=True)
def _quiet() -> Iterator[None]:
    logging.disable(logging.CRITICAL)
    yield
    logging.disable(logging.NOTSET)


def test_every_invariant_holds_over_ten_thousand_seeded_schedules() -> None:
    started = time.monotonic()
    outcome = run_parallel(0, SEEDS, JOBS)
    print("\n" + report(outcome, time.monotonic() - started))
    assert outcome.seeds == SEEDS
    assert outcome.faults > SEEDS, "the schedules injected too few faults to mean anything"
    assert not outcome.found, report(outcome, time.monotonic() - started)


def test_seeds_that_once_broke_an_invariant_keep_every_invariant() -> None:
    outcome = run_seeds(REGRESSION_SEEDS)
    assert not outcome.found, report(outcome, 0.0)


@pytest.mark.parametrize("bug", sorted(bugs.BUGS))
def test_a_seeded_bug_is_found(bug: str) -> None:
    outcome = run_seeds(range(BUG_HUNT_SEEDS), bug, stop_at_first=True)
    assert outcome.found, f"{bug}: no invariant broke in {outcome.seeds} seeds"
    found = outcome.found[0]
    print(f"\n{bug}: found by '{found.invariant}' at seed {found.seed}, {found.sweeps} sweeps into that world "
          f"({outcome.sweeps} sweeps over {outcome.seeds} seeds)")


def test_a_seed_replays_exactly() -> None:
    def fingerprint(seed: int) -> tuple[object, ...]:
        world = World(seed).run()
        return (
            world.scheduler.steps,
            round(world.scheduler.now, 9),
            sorted((i[item.ORDER_ID], i[item.STATUS], tuple(i.get(item.HISTORY) or ())) for i in world.memory.all_items()),
            [m.body for m in world.delivered.messages],
            sorted(world.faults.injected.items()),
        )

    for seed in (3, 1568, 27590):
        assert fingerprint(seed) == fingerprint(seed), f"seed {seed} did not replay"


def test_toss_worlds_cancel_after_a_lookup_and_confirm_by_lookup() -> None:
    """A share of the worlds cancel as Toss Payments does (`simulation.provider`): their cancels are a
    lookup then the cancel under the one key, settled by the lookup where it can, and confirmed by
    lookup. A deposited virtual account is answered not cancellable: never cancelled, not even looked
    up for a cancel."""
    worlds = [World(seed) for seed in range(200)]
    toss = [world.run() for world in worlds if world.looks_up_first]
    assert len(toss) > 30 and all(world.provider_id == "toss-payments" for world in toss)
    calls = Counter(kind for world in toss for p in world.books.payments.values() for _, _, kind in p.calls)
    assert calls["cancel_lookup"] > calls["cancel"] > 0 and calls["cancel_confirm"] > 0, calls
    keys = {key for world in toss for p in world.books.payments.values() for key in p.cancel_keys}
    assert keys and all(key.startswith("paysweep:ORDER-") and key.endswith((":cancel:1", ":cancel:2")) for key in keys)
    refused = [p for world in toss for p in world.books.payments.values() if p.refuses_cancel and p.calls]
    assert refused and all(kind not in ("cancel", "cancel_lookup") for p in refused for _, _, kind in p.calls), \
        "a deposited virtual account is never cancelled"


def test_worlds_hold_several_merchant_accounts() -> None:
    """Most orders name a merchant account of the world's secret (the default account's fields at the
    top, the named ones under "accounts", each with credentials of its own), and every call about an
    order presented its account's credentials. An order naming an account the secret lacks ended
    REVIEW INVALID_ORDER and was never asked about. While one account's key was revoked, its orders'
    calls were refused (MISCONFIGURED) and the orders decided once it was back; the other accounts'
    orders were answered meanwhile."""
    worlds = [World(seed).run() for seed in range(300)]
    plans = [plan for world in worlds for plan in world.plans.values()]
    assert sum(plan.merchant_id is not None for plan in plans) > len(plans) / 2, "most orders name an account"
    assert {len(world.named_accounts) for world in worlds} == {0, 1, 2, 3}
    for world in worlds:
        accounts = world.secret.get("accounts", {})
        assert list(accounts) == world.named_accounts and "accounts" not in world.secret.get("accounts", {})
        assert len(world.books.accounts) == len(world.named_accounts) + 2, "distinct credentials per account"
    payments = [p for world in worlds for p in world.books.payments.values() if p.account is not None]
    assert sum(len(p.presented) for p in payments) > 1000
    assert all(whose == p.account for p in payments for _, _, whose in p.presented)

    unknown = [(world, plan) for world in worlds for plan in world.plans.values() if plan.unknown_account]
    assert unknown, "some orders name an account the secret lacks"
    for world, plan in unknown:
        [order] = [i for i in world.memory.all_items() if i[item.ORDER_ID] == plan.order_id]
        assert (order[item.STATUS], order[item.OUTCOME]["reason"]) == ("REVIEW", "INVALID_ORDER")
        assert not world.books.payments[plan.order_id].calls

    revoked = [world for world in worlds if world.books.refused]
    assert len(revoked) > 10
    others_answered = 0
    for world in revoked:
        revocation = world.books.revocation
        assert revocation is not None
        assert all(whose == revocation.account and revocation.start <= at < revocation.end
                   for at, _, whose in world.books.refused), "only the revoked account, only while revoked"
        others_answered += sum(revocation.start <= at < revocation.end
                               for p in world.books.payments.values() if p.account != revocation.account
                               for at, _, _ in p.presented)
    assert others_answered > 20, "the other accounts' orders are asked about as usual meanwhile"


def test_the_bugs_are_undone() -> None:
    """A bug hunt leaves the product as it was: the next schedules run the real code."""
    before = item.decide
    undo = bugs.seed("drop-the-outbox-marker")
    assert item.decide is not before
    undo()
    assert item.decide is before
