"""The integration suites run the real handlers over real HTTPS: MiniStack with the template
deployed by the README's `sam build` + `sam deploy`, and the provider simulators.

One LocalStack for the session (about 18 s; one per pytest-xdist worker), its provider secrets
holding a default and two more merchant accounts each (`ACCOUNT_SECRETS`); every test starts from
empty tables, an empty outcome queue, no faults, no revoked account and simulated time at zero.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from paysweep_local.stack import LocalStack
from support.outcomes import Published
from support.scenarios import ACCOUNT_SECRETS, INTEGRATION_PARAMETERS


@pytest.fixture(scope="session")
def local_stack() -> Iterator[LocalStack]:
    with LocalStack(parameters=INTEGRATION_PARAMETERS, credentials=ACCOUNT_SECRETS) as stack:
        yield stack


@pytest.fixture
def stack(local_stack: LocalStack) -> Iterator[LocalStack]:
    local_stack.clock_offset_seconds = 0
    local_stack.clear()
    yield local_stack
    local_stack.faults.clear_faults()
    for simulator in local_stack.simulators.values():
        simulator.revoked.clear()


@pytest.fixture
def published(stack: LocalStack) -> Published:
    """Outcomes as subscribers receive them; every message is checked against the schema."""
    return Published(stack)
