"""The registry of methods: one file each, composed from the pure losses in ``csslab.losses``."""

from csslab.methods.base import Method, frozen_copy, previous_model
from csslab.methods.ewc import EWC
from csslab.methods.finetune import FineTune
from csslab.methods.ilt import ILT
from csslab.methods.joint import Joint
from csslab.methods.lwf import LwF
from csslab.methods.mib import MiB
from csslab.methods.plop import PLOP
from csslab.methods.pseudo import Pseudo
from csslab.methods.replay import Replay
from csslab.methods.ssul import SSUL

METHODS = {
    "finetune": FineTune,
    "joint": Joint,
    "replay": Replay,
    "lwf": LwF,
    "ilt": ILT,
    "mib": MiB,
    "plop": PLOP,
    "ssul": SSUL,
    "pseudo": Pseudo,
    "ewc": EWC,
}


def get_method(name: str) -> type[Method]:
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}: valid methods are {', '.join(METHODS)}")
    return METHODS[name]


__all__ = ["METHODS", "Method", "frozen_copy", "get_method", "previous_model"]
