"""The local stack: the AWS emulator (moto server), provider simulators, and the demo.

Development-only: nothing here ships to Lambda. Tests, `make run` and the benchmark all
use it, so the system they exercise is the same one.
"""
