"""The e2e suite: the README's `make build` + `sam deploy` into MiniStack, then real sweeps.

One deployment for the session (about 20 s): a test CA, both provider simulators over HTTPS
with a certificate it signed, MiniStack with AUTH=true (so every AWS call of a function is
authorised against the function's own role), the secrets (README step 1), the deploy
(README step 2) with `AllowInsecureHttp=false`, one SQS queue per outcome topic. The schedules
are disabled after the deploy so that only a test decides when a sweep runs; the schedule test
enables one for a while.

How the functions come to trust the test CA without a product change: MiniStack starts each
function worker with its own environment overlaid by the function's variables, so
``REQUESTS_CA_BUNDLE`` given to MiniStack reaches `requests` in the function (the product's
`verify=True` then verifies against the test CA, and only it). ``SECRET_MAX_AGE_SECONDS=0``
rides the same way, so a warm worker re-reads its secret on every sweep and the least-privilege
test sees the ProviderSecret statement go at once (the product default, 300 s, would hide it).

Every test starts from empty tables and queues, the deployed policies, and no simulator requests.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from e2e.deployed import FUNCTION_OUTPUTS, E2EStack
from e2e.policies import RolePolicies, role_name_of
from paysweep_local.keys import (
    kicc_secret,
    kicc_simulator_kwargs,
    merchant_keys,
    teemopay_secret,
    teemopay_simulator_kwargs_for,
)
from paysweep_local.ministack import MiniStack
from paysweep_local.sam_deploy import create_secret, deploy
from paysweep_local.simulators import KiccSimulator, TeemoPaySimulator
from paysweep_local.tls import TestCA

LOCAL_PARAMETERS = {
    "AllowInsecureHttp": "false",
    # 3 s provider timeouts (instead of the documented 30 s) keep the outage test short.
    "HttpTimeoutSeconds": "3",
    "TableDeletionProtection": "false",
}
SETUP_SECONDS: dict[str, float] = {}
"""How long the session's set-up took, by step (printed at the end of the session)."""


@pytest.fixture(scope="session")
def e2e(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2EStack]:
    started = time.monotonic()
    work = tmp_path_factory.mktemp("e2e")
    ca = TestCA.create(work / "tls")
    kicc_credentials, teemopay_credentials = kicc_secret(), teemopay_secret(merchant_keys())
    kicc = KiccSimulator(**kicc_simulator_kwargs(kicc_credentials)).start(ca.server_context())
    teemopay = TeemoPaySimulator(**teemopay_simulator_kwargs_for(teemopay_credentials)).start(ca.server_context())
    ministack = MiniStack(auth=True, extra_env={"REQUESTS_CA_BUNDLE": str(ca.ca_file), "SECRET_MAX_AGE_SECONDS": "0"})
    try:
        ministack.start()
        SETUP_SECONDS["ministack start"] = time.monotonic() - started
        values = {
            "KiccBaseUrl": kicc.base_url,
            "KiccSecretArn": create_secret(ministack, "paysweep/kicc-wechatpay", kicc_credentials),
            "TeemoPayBaseUrl": teemopay.base_url,
            "TeemoPaySecretArn": create_secret(ministack, "paysweep/teemopay", teemopay_credentials),
            **LOCAL_PARAMETERS,
        }
        deployment = deploy(ministack, work / "deploy", values)
        SETUP_SECONDS.update({f"make build / sam {k}" if k == "build" else f"sam {k}": v for k, v in deployment.seconds.items()})
        stack = E2EStack(ministack, deployment, kicc, teemopay)
        for provider in FUNCTION_OUTPUTS:
            stack.set_schedule(provider, "DISABLED")
        stack.subscribe_queues()
        for provider in FUNCTION_OUTPUTS:
            roles(stack)[provider].restore()  # the deployed policies, plus MiniStack's alias actions
        SETUP_SECONDS["total set-up"] = time.monotonic() - started
        yield stack
    finally:
        ministack.stop()
        kicc.stop()
        teemopay.stop()


_ROLES: dict[str, RolePolicies] = {}


def roles(stack: E2EStack) -> dict[str, RolePolicies]:
    """Each function's role policies, read once after the deploy (the deployed truth)."""
    if not _ROLES:
        iam, lambda_client = stack.client("iam"), stack.client("lambda")
        for provider in FUNCTION_OUTPUTS:
            _ROLES[provider] = RolePolicies(iam, role_name_of(lambda_client, stack.function_name(provider)))
    return _ROLES


@pytest.fixture
def stack(e2e: E2EStack) -> Iterator[E2EStack]:
    e2e.clear()
    yield e2e
    for policies in roles(e2e).values():
        policies.restore()


@pytest.fixture
def role_policies(e2e: E2EStack) -> dict[str, RolePolicies]:
    return roles(e2e)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if SETUP_SECONDS:
        figures = ", ".join(f"{step} {seconds:.1f} s" for step, seconds in SETUP_SECONDS.items())
        terminalreporter.write_line(f"e2e MiniStack set-up: {figures}")
