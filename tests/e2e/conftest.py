"""The e2e suite: the README's `make build` + `sam deploy` into MiniStack, then real sweeps.

One `LocalStack` for the session: the provider simulators over HTTPS (a trustme CA), MiniStack
with AUTH=true (so every AWS call of a function is authorised against the function's own role),
the secrets (README step 1), the deploy (README step 2) with `AllowInsecureHttp=false`, the
schedules disabled after the deploy (the schedule test enables one for a while). On top of it
this suite adds one SQS queue per outcome topic, and the roles' inline policies as deployed.

Settings here only: ``HttpTimeoutSeconds=3`` (instead of the documented 30 s) keeps the
outage test short; ``CheckQueueVisibilitySeconds=15`` and ``CheckQueueMaxReceiveCount=2`` (instead
of 720 s and 5) take a check request that always fails to its dead-letter queue in about 30 s, not
48 minutes. AWS would refuse a visibility timeout below the functions' 120 s timeout; MiniStack
does not compare them, and 15 s still outlasts a check there (2 s did not: a request whose first
check was still running was delivered again, and reached the dead-letter queue although its check
succeeded). ``SECRET_MAX_AGE_SECONDS=0`` reaches every function worker through MiniStack's
environment (as ``REQUESTS_CA_BUNDLE`` does, set by LocalStack), so a warm worker re-reads its
secret on every sweep and the least-privilege test sees the ProviderSecret statement go at once
(the product default, 300 s, would hide it).

Every test starts from empty tables and queues, the deployed policies, and no simulator requests.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from e2e.deployed import PROVIDER_IDS, E2EStack
from e2e.outcomes import Subscriber
from e2e.policies import RolePolicies, role_name_of
from paysweep_local.stack import LocalStack
from support.scenarios import ACCOUNT_SECRETS

E2E_PARAMETERS = {"HttpTimeoutSeconds": "3", "CheckQueueVisibilitySeconds": "15", "CheckQueueMaxReceiveCount": "2"}
E2E_FUNCTION_ENV = {"SECRET_MAX_AGE_SECONDS": "0"}
SETUP_SECONDS: dict[str, float] = {}
"""How long the session's set-up took, by step (printed at the end of the session)."""


@pytest.fixture(scope="session")
def e2e(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2EStack]:
    started = time.monotonic()
    local = LocalStack(parameters=E2E_PARAMETERS, function_env=E2E_FUNCTION_ENV, credentials=ACCOUNT_SECRETS,
                       work_dir=tmp_path_factory.mktemp("e2e"))
    with local:
        stack = E2EStack(local)
        stack.subscribe_queues()
        for policies in roles(stack).values():
            policies.restore()  # the deployed policies, plus MiniStack's alias actions
        record_setup(stack, time.monotonic() - started)
        yield stack


def record_setup(stack: E2EStack, total: float) -> None:
    """The deploy's own steps (`make build`, `sam deploy`) and the whole set-up, for the summary."""
    names = {"build": "make build / sam build", "deploy": "sam deploy"}
    SETUP_SECONDS.update({names.get(step, step): seconds for step, seconds in stack.deployment.seconds.items()})
    SETUP_SECONDS["total set-up"] = total


_ROLES: dict[str, RolePolicies] = {}


def roles(stack: E2EStack) -> dict[str, RolePolicies]:
    """Each function's role policies, read once after the deploy (the deployed truth)."""
    if not _ROLES:
        iam, lambda_client = stack.client("iam"), stack.client("lambda")
        for provider in PROVIDER_IDS:
            _ROLES[provider] = RolePolicies(iam, role_name_of(lambda_client, stack.function_name(provider)))
    return _ROLES


@pytest.fixture
def stack(e2e: E2EStack) -> Iterator[E2EStack]:
    e2e.clear()
    yield e2e
    for policies in roles(e2e).values():
        policies.restore()


@pytest.fixture
def subscriber(stack: E2EStack) -> Subscriber:
    """Everything the test's outcomes delivered to the subscribers' queues, schema-checked."""
    return Subscriber(stack)


@pytest.fixture
def role_policies(e2e: E2EStack) -> dict[str, RolePolicies]:
    return roles(e2e)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if SETUP_SECONDS:
        figures = ", ".join(f"{step} {seconds:.1f} s" for step, seconds in SETUP_SECONDS.items())
        terminalreporter.write_line(f"e2e MiniStack set-up: {figures}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """One worker runs the whole e2e suite, so its stack is deployed once (make test: --dist loadgroup)."""
    for item in items:
        if "tests/e2e/" in item.nodeid:
            item.add_marker(pytest.mark.xdist_group("e2e"))
