"""The sandboxes' simulated clock (`paysweep_local.sandbox_clock`) under threads, as a sweep's
worker pool asks for the time: every read shifted, and the process never ended by libfaketime.

The prebuilt single-threaded libfaketime failed this: about one read in 600 came back as the
real time, and a torn offset once ended a sandbox with `exit(1)` in a CI run.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from paysweep_local.sandbox_clock import SandboxClock, library_path, vendored_source

OFFSET = 100 * 86_400.0
THREADS, READS = 8, 20_000
CHILD = """
import sys, threading, time
start = float(sys.argv[1])
unshifted = []
def reader():
    count = 0
    for _ in range({reads}):
        if time.time() < start + 86_400:
            count += 1
    unshifted.append(count)
threads = [threading.Thread(target=reader) for _ in range({threads})]
for t in threads: t.start()
for t in threads: t.join()
print(sum(unshifted))
"""


def test_every_read_of_many_threads_is_shifted(tmp_path: Path) -> None:
    clock = SandboxClock(tmp_path / "offset", offset=OFFSET)
    child = subprocess.run(
        [sys.executable, "-c", CHILD.format(reads=READS, threads=THREADS), str(time.time())],
        env={"PATH": "/usr/bin:/bin", **clock.environment()}, capture_output=True, text=True, timeout=120, check=False,
    )
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == "0", f"{child.stdout.strip()} of {THREADS * READS} reads were the real time"


def test_the_built_library_fakes_what_the_prebuilt_one_does() -> None:
    """Same exported symbols as the package's prebuilt library: only the locking differs."""

    def exported(library: Path) -> set[str]:
        listing = subprocess.run(["nm", "-D", "--defined-only", str(library)], capture_output=True, text=True,
                                 check=True).stdout
        return {line.split()[-1] for line in listing.splitlines() if line.strip()}

    prebuilt = vendored_source() / "libfaketime.so.1"
    built = library_path()
    assert built.name == "libfaketimeMT.so.1"
    assert exported(built) == exported(prebuilt)
    assert "nanosleep" not in {name.split("@")[0] for name in exported(built)}, "sleeps must stay real"
