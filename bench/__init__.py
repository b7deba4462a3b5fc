"""`make bench`: paysweep's performance benchmark (GitHub issue 6), run against the local
stack (MiniStack) and the provider simulators. Entry point: `bench/run.py`."""
