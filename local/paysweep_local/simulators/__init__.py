"""Local HTTP simulators of the payment providers paysweep talks to.

`KiccSimulator` (KICC WeChat Pay) and `TeemoPaySimulator` (TeemoPay Korea payins) serve
the providers' documented APIs on 127.0.0.1, enforce what the real providers check, answer
from per-order scripts and record every request. They share no code with the product, so
a product bug is refused by the simulator rather than mirrored by it. Step factories live
in the provider modules: `from paysweep_local.simulators import kicc, teemopay`.
"""

from paysweep_local.simulators import kicc, teemopay, toss
from paysweep_local.simulators.base import ManualClock, RecordedRequest, SimulatorBase, Step
from paysweep_local.simulators.kicc import KiccSimulator
from paysweep_local.simulators.teemopay import TeemoPaySimulator
from paysweep_local.simulators.toss import TossSimulator

__all__ = [
    "KiccSimulator",
    "ManualClock",
    "RecordedRequest",
    "SimulatorBase",
    "Step",
    "TeemoPaySimulator",
    "TossSimulator",
    "kicc",
    "teemopay",
    "toss",
]
