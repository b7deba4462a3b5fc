"""Simulated time for a local sandbox, shifted from outside the process with libfaketime.

The demo, the soak and many integration tests move time forward (`LocalStack.advance`). The
handler must then see the shifted time everywhere it asks for the wall clock: the product's
`utc_now`, `time.time()` in the runtime client's `get_remaining_time_in_millis()`, Powertools'
log timestamps, SigV4 and the TeemoPay request signature. Patching a product function would
shift only what calls it, and would be product code the tests change; libfaketime (preloaded
into the sandbox process) shifts the C library's realtime clock calls instead, for every caller.

One offset file per sandbox, rewritten (atomically) before each invocation and read by
libfaketime on every realtime call (``FAKETIME_NO_CACHE=1``: its cache, whole seconds at the
least, could serve the previous invocation's offset to the next one). The file changes only
between invocations, while the runtime waits for its next event, so no handler thread sees it
change under it. A read costs a few microseconds, and a sweep makes about 70 realtime calls per
order it checks (2,700 for 40 orders, measured with strace): a few milliseconds per sweep.

What stays real: ``CLOCK_MONOTONIC`` (``FAKETIME_DONT_FAKE_MONOTONIC``: timeouts, sleeps, rate
limits and deadlines measured on it keep their length; ``FAKETIME_FORCE_MONOTONIC_FIX=0``, or
libfaketime's default for glibc >= 2.30 rewrites the deadline of every timed condition wait on
it, the interpreter's GIL wait among them, into the past: the waits spin, a 40-order sweep made
99,000 realtime calls instead of 2,700 and took four times as long) and file times
(``NO_FAKE_STAT``: a shifted ``stat`` would make every ``.pyc`` look stale to the import system).

Which library: the pinned package's prebuilt ``libfaketime.so.1`` is the single-threaded build.
Without a file cache every realtime call re-reads and re-parses the offset into static buffers,
unlocked, so two handler threads asking the time together could tear them: about one call in
600 came back as the real time (a claim with a lease in the past), and once a torn buffer failed
to parse and libfaketime ended the process (``exit(1)``: ``Runtime.ExitError``, a test failing
one CI run in a few). So the stack builds the package's own vendored source once more as
libfaketime's ``libfaketimeMT.so.1`` (``-DPTHREAD_SINGLETHREADED_TIME``: each fake clock call under
one mutex, signals blocked), with the flags the prebuilt library has (no ``stat``, ``utime`` or
sleep faking: the same exported symbols), into the virtualenv, at ``make setup`` and otherwise at
first use. It costs a mutex per realtime call; its known hazard, a deadlock in a process that
forks while another thread holds the clock, does not arise in a sandbox (the runtime client and
the handler never fork).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SHARED_MEMORY = Path("/dev/shm")
LEFTOVERS = ("faketime_shm_{pid}", "sem.faketime_sem_{pid}")
"""The shared memory and semaphore libfaketime creates per process and removes only at a clean
exit: a sandbox ends with SIGKILL (a timeout, a crash, a shutdown), so the stack removes them."""
SOURCE = Path("vendor") / "libfaketime" / "src"
"""Where the PyPI package `libfaketime` keeps libfaketime's source, inside the package."""
MT_LIBRARY = "libfaketimeMT.so.1"
BUILD_FLAGS = "FAKETIME_COMPILE_CFLAGS=-UFAKE_STAT -UFAKE_UTIME -UFAKE_SLEEP"
"""The prebuilt library's feature set (the same exported symbols, checked by a test)."""
BUILT = Path(sys.prefix) / "libfaketime-mt"


def vendored_source() -> Path:
    """libfaketime's source in the pinned `libfaketime` package."""
    spec = importlib.util.find_spec("libfaketime")
    if spec is None or spec.origin is None:
        raise RuntimeError("the libfaketime package is not installed (requirements/dev.txt pins it)")
    source = Path(spec.origin).parent / SOURCE
    if not (source / "libfaketime.c").is_file():
        raise RuntimeError(f"the libfaketime package ships no source at {source}")
    return source


def library_path() -> Path:
    """The thread-safe libfaketimeMT.so.1, built from the vendored source on first need."""
    built = BUILT / MT_LIBRARY
    if not built.is_file():
        build_library()
    return built


def build_library() -> Path:
    """Build libfaketimeMT.so.1 in a scratch copy of the source; put it in place atomically."""
    BUILT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=BUILT) as scratch:
        work = Path(scratch) / "src"
        shutil.copytree(vendored_source(), work, ignore=shutil.ignore_patterns("*.so.*", "*.o"))
        done = subprocess.run(["make", "-s", "-C", str(work), MT_LIBRARY, BUILD_FLAGS],
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"building {MT_LIBRARY} failed (needs make and a C compiler):\n"
                               f"{done.stdout}{done.stderr}")
        os.replace(work / MT_LIBRARY, BUILT / MT_LIBRARY)
    return BUILT / MT_LIBRARY


class SandboxClock:
    """The offset file of one sandbox and the environment that makes its process follow it."""

    def __init__(self, path: Path, offset: float = 0.0) -> None:
        """`offset`: the clock the process starts with (its init phase runs in it too)."""
        self.path = path
        self.offset = offset
        self._write(offset)

    def environment(self) -> dict[str, str]:
        return {
            "LD_PRELOAD": str(library_path()),
            "FAKETIME_TIMESTAMP_FILE": str(self.path),
            "FAKETIME_NO_CACHE": "1",
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",
            "FAKETIME_FORCE_MONOTONIC_FIX": "0",
            "NO_FAKE_STAT": "1",
        }

    def set_offset(self, seconds: float) -> None:
        """From the process's next realtime call on, its wall clock runs `seconds` ahead."""
        if seconds != self.offset:
            self._write(seconds)
            self.offset = seconds

    def _write(self, seconds: float) -> None:
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_text(f"{seconds:+.3f}\n")
        os.replace(temporary, self.path)


def remove_leftovers(pid: int) -> None:
    """Remove what libfaketime left in /dev/shm for a process that has ended."""
    for name in LEFTOVERS:
        (SHARED_MEMORY / name.format(pid=pid)).unlink(missing_ok=True)


if __name__ == "__main__":
    print(f"built {build_library()}")
