"""The one list of providers the local stack knows: add a provider here and only here.

`make run`, the local deploy, the integration and e2e fixtures and the benchmark loop over
`PROVIDERS`: each entry says which template parameters take the simulator's URL and the
secret's ARN, where the function's name is in the stack's outputs, which secret the product
reads, and how to build a simulator that accepts exactly that secret. Its order contract is its
function folder's own (`profile`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from paysweep.domain.providers import ProviderProfile
from paysweep_ops.profiles import profile_in

from paysweep_local.simulators import KiccSimulator, SimulatorBase, TeemoPaySimulator, TossSimulator
from paysweep_local.simulators.keys import (
    kicc_secret,
    kicc_simulator_kwargs,
    teemopay_secret,
    teemopay_simulator_kwargs_for,
    toss_secret,
    toss_simulator_kwargs,
)

Clock = Callable[[], datetime]
FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"


@dataclass(frozen=True)
class LocalProvider:
    id: str
    """The provider id orders carry (CONTRACT.md)."""
    attribute: str
    """The stack attribute tests reach its simulator by (`stack.kicc`)."""
    folder: str
    """Its function's code folder under functions/."""
    function_output: str
    base_url_parameter: str
    secret_parameter: str
    secret: Callable[..., dict[str, Any]]
    """The product's secret (CONTRACT.md section 4), fixed local credentials; `secret(accounts=("seller-b",))`
    adds merchant accounts (`paysweep_local.simulators.keys`)."""
    simulator: Callable[[Mapping[str, Any], Clock, dict[str, Any]], SimulatorBase]
    """A simulator that accepts the product using that secret, every account it holds, on that clock."""

    @property
    def secret_name(self) -> str:
        return f"paysweep/{self.id}"

    @property
    def profile(self) -> ProviderProfile:
        """Its order contract, as its function folder defines it (`PROFILE` of `*_profile.py`)."""
        return _profile(self.folder)


@cache
def _profile(folder: str) -> ProviderProfile:
    return profile_in(FUNCTIONS / folder)


PROVIDERS: tuple[LocalProvider, ...] = (
    LocalProvider(
        id="kicc-wechatpay", attribute="kicc", folder="kicc_wechatpay", function_output="KiccWechatPayFunctionName",
        base_url_parameter="KiccBaseUrl", secret_parameter="KiccSecretArn", secret=kicc_secret,
        simulator=lambda secret, clock, options: KiccSimulator(**kicc_simulator_kwargs(dict(secret)), clock=clock),
    ),
    LocalProvider(
        id="teemopay", attribute="teemopay", folder="teemopay", function_output="TeemoPayFunctionName",
        base_url_parameter="TeemoPayBaseUrl", secret_parameter="TeemoPaySecretArn", secret=teemopay_secret,
        simulator=lambda secret, clock, options: TeemoPaySimulator(
            **teemopay_simulator_kwargs_for(dict(secret)), clock=clock, **options),
    ),
    LocalProvider(
        id="toss-payments", attribute="toss", folder="toss_payments", function_output="TossPaymentsFunctionName",
        base_url_parameter="TossBaseUrl", secret_parameter="TossSecretArn", secret=toss_secret,
        simulator=lambda secret, clock, options: TossSimulator(
            **toss_simulator_kwargs(secret), clock=clock, **options),
    ),
)
BY_ID = {provider.id: provider for provider in PROVIDERS}
