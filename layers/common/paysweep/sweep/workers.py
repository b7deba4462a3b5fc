"""Where a sweep's per-order work runs: a bounded pool of worker threads.

The engine only submits tasks and waits for them; how they are scheduled is this seam's
business. In Lambda it is a thread pool (provider calls are I/O-bound: one sweep keeps
`SWEEP_CONCURRENCY` of them in flight). The deterministic simulation (tests/simulation)
plugs in a scheduler that runs one task step at a time in an order chosen by its seed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

Task = Callable[[], None]


class Workers(Protocol):
    def submit(self, task: Task) -> None:
        """Run `task` on a worker; blocks while as many tasks as the pool holds are waiting."""
        ...

    def join(self) -> None:
        """Wait until every task submitted so far has finished (the pool stays open)."""
        ...


WorkersFactory = Callable[[int], AbstractContextManager[Workers]]
"""Opens a pool for one sweep at a concurrency; leaving the context waits for every task."""


class _BoundedPool:
    def __init__(self, pool: ThreadPoolExecutor, bound: int) -> None:
        self._pool = pool
        self._slots = threading.BoundedSemaphore(bound)
        self._idle = threading.Condition()
        self._running = 0

    def submit(self, task: Task) -> None:
        self._slots.acquire()
        with self._idle:
            self._running += 1
        future = self._pool.submit(task)
        future.add_done_callback(self._done)

    def _done(self, _: object) -> None:
        self._slots.release()
        with self._idle:
            self._running -= 1
            if not self._running:
                self._idle.notify_all()

    def join(self) -> None:
        with self._idle:
            self._idle.wait_for(lambda: not self._running)


@contextmanager
def thread_workers(concurrency: int) -> Iterator[Workers]:
    """`concurrency` threads, and at most twice as many tasks queued: the due index is read
    only a little ahead of the claims, so a sweep that stops early has claimed nothing it
    cannot start."""
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="sweep") as pool:
        yield _BoundedPool(pool, concurrency * 2)
