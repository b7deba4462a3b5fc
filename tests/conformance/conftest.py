"""One store contract, several emulators: the `backend` fixture (backends in `backends.py`).

Each test gets a store bound to fresh tables on one backend; adding a backend (an in-memory
store, say) is one entry in `backends.BACKENDS`: the tests never name a backend.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conformance.backends import BACKENDS, Backend, Store


@pytest.fixture(scope="session", params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    with BACKENDS[request.param]() as started:
        yield started


@pytest.fixture
def store(backend: Backend) -> Store:
    """A store bound to fresh tables on one backend."""
    return backend.fresh_store()
