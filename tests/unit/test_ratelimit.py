import threading
from itertools import pairwise

from paysweep.sweep.ratelimit import RateLimiter


class FakeTime:
    def __init__(self):
        self.now = 100.0
        self.lock = threading.Lock()

    def clock(self):
        with self.lock:
            return self.now

    def sleep(self, seconds):
        with self.lock:
            self.now += seconds


def test_calls_are_spaced_one_interval_apart():
    fake = FakeTime()
    limiter = RateLimiter(4, clock=fake.clock, sleep=fake.sleep)
    starts = []
    for _ in range(9):
        limiter.acquire()
        starts.append(fake.clock())
    gaps = [round(b - a, 6) for a, b in pairwise(starts)]
    assert gaps == [0.25] * 8


def test_slots_are_handed_out_in_order_to_concurrent_callers():
    slots = []
    limiter = RateLimiter(1000, clock=lambda: 0.0, sleep=slots.append)
    threads = [threading.Thread(target=limiter.acquire) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(round(s, 6) for s in slots) == [round(0.001 * n, 6) for n in range(1, 50)]


def test_zero_means_no_limit():
    calls = []
    limiter = RateLimiter(0, clock=lambda: 0.0, sleep=calls.append)
    for _ in range(100):
        limiter.acquire()
    assert calls == []
