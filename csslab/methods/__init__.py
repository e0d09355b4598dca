"""The registry of methods: one file each, composed from the pure losses in ``csslab.losses``."""

from csslab.methods.base import Method, frozen_copy
from csslab.methods.finetune import FineTune
from csslab.methods.joint import Joint

METHODS = {
    "finetune": FineTune,
    "joint": Joint,
}


def get_method(name: str) -> type[Method]:
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}: valid methods are {', '.join(METHODS)}")
    return METHODS[name]


__all__ = ["METHODS", "Method", "frozen_copy", "get_method"]
