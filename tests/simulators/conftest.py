"""Fixtures of the simulator tests: started simulators on a controllable clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from paysweep_local.simulators import KiccSimulator, ManualClock, TeemoPaySimulator
from paysweep_local.simulators.keys import merchant_keys
from simtest_support import MALL, SECRET

START = datetime(2026, 3, 12, 3, 0, 0, tzinfo=UTC)  # 12:00 KST


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def kicc_sim(clock: ManualClock) -> Iterator[KiccSimulator]:
    with KiccSimulator(mall_id=MALL, secret_key=SECRET, clock=clock) as sim:
        yield sim
        assert not sim.errors, sim.errors


@pytest.fixture
def teemo_sim(clock: ManualClock) -> Iterator[TeemoPaySimulator]:
    with TeemoPaySimulator(clock=clock) as sim:  # verifies what merchant_keys() signs
        yield sim
        assert not sim.errors, sim.errors


@pytest.fixture
def signing_key() -> RSAPrivateKey:
    return merchant_keys().private_key()
