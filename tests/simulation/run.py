"""Run seeds of the deterministic simulation, in parallel processes; replay one in detail.

    python -m simulation.run --seeds 10000            # seeds 0..9999 (make simulate SEEDS=n)
    python -m simulation.run --seed 1568              # one seed, its world and its violation
    python -m simulation.run --seeds 3000 --bug drop-outbox-marker   # hunt a seeded bug

Run from the `tests` folder (or with it on sys.path). Exit status 1 when an invariant broke.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import sys
import time
import traceback
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

MAX_REPORTED = 5


class Found(NamedTuple):
    seed: int
    invariant: str
    sweeps: int
    text: str


class Outcome(NamedTuple):
    seeds: int
    sweeps: int
    steps: int
    faults: int
    found: list[Found]


def run_seeds(seeds: Iterable[int], bug: str | None = None, stop_at_first: bool = False) -> Outcome:
    """Each seed's world in this process. Imports happen here: each worker process does its own."""
    from simulation import bugs
    from simulation.invariants import Violation
    from simulation.world import World

    logging.disable(logging.CRITICAL)  # the product logs every step; the simulation reads the state instead
    undo = bugs.seed(bug) if bug else None
    count = sweeps = steps = faults = 0
    found: list[Found] = []
    try:
        for seed in seeds:
            count += 1
            world = World(seed)
            try:
                world.run()
            except Violation as violation:
                found.append(Found(seed, violation.invariant, violation.sweeps, str(violation)))
            except Exception:  # noqa: BLE001 - a simulation that cannot finish is reported, not hidden
                found.append(Found(seed, "the simulation finishes", len(world.sweeps),
                                   f"seed {seed}: {world.describe()}\n{traceback.format_exc()}"))
            sweeps += len(world.sweeps)
            steps += world.scheduler.steps
            faults += sum(world.faults.injected.values())
            if found and stop_at_first:
                break
    finally:
        if undo:
            undo()
    return Outcome(count, sweeps, steps, faults, found)


def _worker(arguments: tuple[int, int, int, str | None, bool]) -> Outcome:
    start, stop, step, bug, stop_at_first = arguments
    return run_seeds(range(start, stop, step), bug, stop_at_first)


def run_parallel(start: int, count: int, jobs: int, bug: str | None = None, stop_at_first: bool = False) -> Outcome:
    """Seeds start..start+count-1, dealt round-robin to `jobs` processes."""
    if jobs <= 1:
        return run_seeds(range(start, start + count), bug, stop_at_first)
    context = multiprocessing.get_context("spawn")
    with context.Pool(jobs) as pool:
        parts = pool.map(_worker, [(start + j, start + count, jobs, bug, stop_at_first) for j in range(jobs)])
    found = sorted((f for part in parts for f in part.found), key=lambda f: f.seed)
    return Outcome(sum(p.seeds for p in parts), sum(p.sweeps for p in parts), sum(p.steps for p in parts),
                   sum(p.faults for p in parts), found)


def report(outcome: Outcome, seconds: float) -> str:
    lines = [
        (f"deterministic simulation: {outcome.seeds} seeds, {outcome.sweeps} sweeps, {outcome.steps} scheduler "
         f"steps, {outcome.faults} faults injected, {seconds:.1f} s; {len(outcome.found)} broke an invariant")
    ]
    lines += [f.text for f in outcome.found[:MAX_REPORTED]]
    return "\n\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=1000)
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--seed", type=int, help="replay this one seed")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--bug", help="seed a bug first (see simulation/bugs.py)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    if args.seed is not None:
        outcome = run_seeds([args.seed], args.bug)
    else:
        outcome = run_parallel(args.start, args.seeds, args.jobs, args.bug)
    print(report(outcome, time.monotonic() - started))
    return 1 if outcome.found else 0


if __name__ == "__main__":
    # The tests folder, and each function folder as in Lambda's /var/task (pyproject's pytest
    # pythonpath): the simulated provider takes the providers' profiles from their functions.
    root = Path(__file__).resolve().parents[2]
    functions = sorted(str(folder) for folder in (root / "functions").iterdir() if folder.is_dir())
    sys.path[:0] = [str(root / "tests"), *functions]
    sys.exit(main())
