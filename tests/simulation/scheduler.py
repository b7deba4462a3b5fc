"""A deterministic scheduler for the real sweep's real threads.

Every simulated thread is an OS thread, but only one runs at a time: the one the scheduler
chose. A thread gives the turn back at a *pause* (every call to a port double is one, with the
simulated time the call takes), and the scheduler hands it to the thread whose pause ends
first, breaking ties with its seeded random generator. Simulated time is the end of the pause
that was chosen, so concurrent calls overlap in time as they would in Lambda, and one seed
always gives the same interleaving, the same clock readings and the same outcome.

A thread may also *wait* for a condition (a full worker pool, tasks still running): it is
not runnable until the condition holds. Killing a group (a crashed or timed-out Lambda
invocation) raises `Killed` in each of its threads at their next turn; nothing they do after
that point happens.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

EPOCH = datetime(2026, 11, 22, 3, 0, 0, tzinfo=UTC)


class Killed(BaseException):
    """Raised in a thread whose invocation was killed: a BaseException, so the product's own
    `except Exception` (one order's surprise never stops the others) cannot swallow it."""


class Deadlock(RuntimeError):
    """No thread can run and some wait: the simulation itself is wrong."""


class _Thread:
    __slots__ = ("done", "group", "label", "ready_at", "until", "wake")

    def __init__(self, label: str, group: str, ready_at: float) -> None:
        self.label = label
        self.group = group
        self.ready_at = ready_at
        self.until: Callable[[], bool] | None = None
        self.done = False
        self.wake = threading.Event()
        """Set when this thread is given the turn: each waits on its own, so a hand-over wakes
        exactly one OS thread."""


class _Carrier:
    """An OS thread that runs simulated threads one after another: starting an OS thread costs
    a few hundred microseconds, and a seed starts dozens of simulated ones."""

    _idle: ClassVar[list[_Carrier]] = []
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self) -> None:
        self._job: Callable[[], None] | None = None
        self._ready = threading.Event()
        threading.Thread(target=self._loop, name="sim-carrier", daemon=True).start()

    @classmethod
    def take(cls) -> _Carrier:
        with cls._lock:
            return cls._idle.pop() if cls._idle else cls()

    def carry(self, job: Callable[[], None]) -> None:
        self._job = job
        self._ready.set()

    def _loop(self) -> None:
        while True:
            self._ready.wait()
            self._ready.clear()
            job, self._job = self._job, None
            if job is not None:
                job()
            with _Carrier._lock:
                _Carrier._idle.append(self)


class Scheduler:
    def __init__(self, rng: random.Random, *, jitter: float = 0.01) -> None:
        self.rng = rng
        self.jitter = jitter
        self.now = 0.0
        """Simulated seconds since `EPOCH`."""
        self._lock = threading.Lock()
        self._threads: dict[str, _Thread] = {}
        self._killed: set[str] = set()
        self._local = threading.local()
        self._failures: list[tuple[str, BaseException]] = []
        self._idle = threading.Event()
        """Set when no thread can run: all are done, or the rest wait for ever (a deadlock)."""
        self.steps = 0

    # -- time ----------------------------------------------------------------------------

    def clock(self) -> datetime:
        return EPOCH + timedelta(seconds=self.now)

    def monotonic(self) -> float:
        return self.now

    # -- threads ---------------------------------------------------------------------------

    def spawn(self, label: str, group: str, body: Callable[[], None]) -> None:
        """Start a simulated thread; it first runs when the scheduler gives it the turn."""
        with self._lock:
            if label in self._threads:
                raise ValueError(f"two threads named {label}")
            state = self._threads[label] = _Thread(label, group, self.now + self._jitter())
        _Carrier.take().carry(lambda: self._run(state, body))

    def _run(self, state: _Thread, body: Callable[[], None]) -> None:
        self._local.state = state
        try:
            self._wait_for_turn(state)
            body()
        except Killed:
            pass
        except BaseException as error:  # noqa: BLE001 - reported by run(), the simulation's driver
            self._failures.append((state.label, error))
        finally:
            with self._lock:
                state.done = True
                self._dispatch()

    @property
    def current_group(self) -> str:
        return str(self._local.state.group)

    def pause(self, seconds: float = 0.0) -> None:
        """Give the turn back for `seconds` of simulated time (a call in flight)."""
        state: _Thread = self._local.state
        with self._lock:
            state.ready_at = self.now + max(0.0, seconds) + self._jitter()
            self._dispatch()
        self._wait_for_turn(state)

    def wait_until(self, condition: Callable[[], bool]) -> None:
        """Give the turn back until `condition()` holds (checked under the scheduler's lock)."""
        state: _Thread = self._local.state
        with self._lock:
            if condition():
                return
            state.until = condition
            self._dispatch()
        self._wait_for_turn(state)

    def kill(self, group: str) -> None:
        """Every thread of the group stops at its next turn (the invocation crashed)."""
        with self._lock:
            self._killed.add(group)

    def is_killed(self, group: str) -> bool:
        return group in self._killed

    def _jitter(self) -> float:
        return self.rng.random() * self.jitter

    def _wait_for_turn(self, state: _Thread) -> None:
        state.wake.wait()
        state.wake.clear()
        if state.group in self._killed:
            raise Killed

    def _dispatch(self) -> None:
        """Hand the turn to the next thread (lock held): the earliest runnable pause, ties by seed."""
        runnable = []
        for state in self._threads.values():
            if state.done:
                continue
            if state.group in self._killed:
                runnable.append((self.now, state.label, state))  # let it die at once
            elif state.until is None:
                runnable.append((state.ready_at, state.label, state))
            elif state.until():
                state.until = None
                state.ready_at = self.now
                runnable.append((state.ready_at, state.label, state))
        if not runnable:
            self._idle.set()
            return
        first = min(at for at, _, _ in runnable)
        ties = sorted((label, state) for at, label, state in runnable if at == first)
        chosen = ties[0][1] if len(ties) == 1 else self.rng.choice(ties)[1]
        self.now = max(self.now, first)
        self.steps += 1
        chosen.wake.set()

    # -- the driver --------------------------------------------------------------------------

    def run(self, max_steps: int = 200_000) -> None:
        """Run every spawned thread to its end; raises what a thread raised unexpectedly."""
        self._idle.clear()
        with self._lock:
            self._dispatch()
        while not self._idle.wait(timeout=60):
            if self.steps > max_steps:
                raise Deadlock(f"more than {max_steps} steps: a livelock")
        with self._lock:
            waiting = [state.label for state in self._threads.values() if not state.done]
        if self._failures:
            label, error = self._failures[0]
            error.add_note(f"(in simulated thread {label})")
            raise error
        if waiting:
            raise Deadlock(f"nothing can run; waiting: {waiting}")


class SimulatedWorkers:
    """The engine's worker pool (`paysweep.sweep.workers.Workers`) on the scheduler: a thread
    per task, at most `bound` tasks at once; leaving the pool waits for all of them."""

    def __init__(self, scheduler: Scheduler, group: str, bound: int) -> None:
        self._scheduler = scheduler
        self._group = group
        self._bound = bound
        self._running = 0
        self._started = 0

    def submit(self, task: Callable[[], None]) -> None:
        self._scheduler.wait_until(lambda: self._running < self._bound)
        self._running += 1
        self._started += 1

        def body() -> None:
            try:
                task()
            finally:
                self._running -= 1

        self._scheduler.spawn(f"{self._group}/task-{self._started:03d}", self._group, body)

    def join(self) -> None:
        self._scheduler.wait_until(lambda: self._running == 0)


def workers_factory(scheduler: Scheduler) -> Callable[[int], Any]:
    """The `workers=` argument of `SweepEngine` for sweeps run on the scheduler."""

    @contextmanager
    def open_pool(concurrency: int) -> Iterator[SimulatedWorkers]:
        pool = SimulatedWorkers(scheduler, scheduler.current_group, concurrency)
        try:
            yield pool
        finally:
            pool.join()

    return open_pool
