"""The registry of methods: one file each, composed from the pure losses in ``csslab.losses``."""

import dataclasses
import re

from csslab.methods import references
from csslab.methods.base import Method, frozen_copy, previous_model
from csslab.methods.dkd import DKD, DKDM
from csslab.methods.eir import EIR
from csslab.methods.ewc import EWC
from csslab.methods.ewf import EWF
from csslab.methods.finetune import FineTune
from csslab.methods.ilt import ILT
from csslab.methods.joint import Joint
from csslab.methods.lwf import LwF
from csslab.methods.microseg import MicroSeg
from csslab.methods.mib import MiB
from csslab.methods.mib_augm import MiBAugM
from csslab.methods.plop import PLOP
from csslab.methods.pseudo import Pseudo
from csslab.methods.replay import Replay
from csslab.methods.sdr import SDR
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
    "dkd": DKD,
    "dkd-m": DKDM,
    "ewf": EWF,
    "sdr": SDR,
    "microseg": MicroSeg,
    "mib-augm": MiBAugM,
    "eir": EIR,
}
_BUILTINS = dict(METHODS)  # a method from a file or a plugin may not take one of their names


_NAME_RE = re.compile(r"[a-z0-9][a-z0-9-]*")  # a CLI word: --method lwf-mc


def register(cls):
    """Add ``cls`` to ``METHODS`` under ``cls.name`` and return it, so it also works as a decorator
    (``@register`` above a class in any file); ``csslab.run(cls.name)`` then trains it."""
    if not (isinstance(cls, type) and issubclass(cls, Method)):  # ValueError: the CLI prints it as one line
        raise ValueError(  # noqa: TRY004
            f"cannot register {cls!r}: a method must be a subclass of csslab.methods.Method")
    if not (isinstance(cls.Params, type) and dataclasses.is_dataclass(cls.Params)):
        raise ValueError(f"cannot register {cls.__name__}: its Params {cls.Params!r} must be a dataclass "
                         "(fields with defaults, e.g. lam: float = 10.0)")
    if not isinstance(cls.name, str) or not _NAME_RE.fullmatch(cls.name):
        raise ValueError(f"invalid method name {cls.name!r} for {cls.__name__}: use lowercase letters, digits and "
                         "hyphens, e.g. 'lwf-mc'")
    if cls.name in METHODS:
        raise ValueError(f"method name {cls.name!r} of {cls.__name__} is already registered (by "
                         f"{METHODS[cls.name].__name__}): choose a name not in {', '.join(METHODS)}")
    METHODS[cls.name] = cls
    return cls


def get_method(name: str) -> type[Method]:
    """The class of ``name``: a built-in (or ``register``-ed) method, a reference ``path/to/file.py:Class`` or
    ``package.module:Class``, or an installed plugin's (entry-point group ``csslab.methods``)."""
    return _resolve(name)[0]


def method_source(name: str) -> str | None:
    """What a run records of the code of a method from outside csslab (results.json ``versions.method``): its file's
    digest, or a plugin's ``DIST VERSION file DIGEST``; None for a built-in (``versions.code`` covers it)."""
    return _resolve(name)[1]


def method_label(name: str) -> str:
    """The name a method goes by in tables and directory names: its class's ``name`` for a reference."""
    return get_method(name).name if references.is_reference(name) else name


def _resolve(name: str):
    if not isinstance(name, str):
        raise ValueError(f"invalid method {name!r}: give a name or a reference path/to/file.py:Class")
    if name in METHODS:
        return METHODS[name], None
    builtins = tuple(_BUILTINS)
    if references.is_reference(name):
        return references.load_reference(name, builtins)
    found = references.plugins()
    if name in found and name not in builtins:
        return references.load_plugin(found[name], builtins)
    plugins = f"; plugins: {', '.join(sorted(set(found) - set(builtins)))}" if set(found) - set(builtins) else ""
    raise ValueError(f"unknown method {name!r}: valid methods are {', '.join(METHODS)}{plugins}, or a reference "
                     "path/to/file.py:Class or package.module:Class")


__all__ = ["METHODS", "Method", "frozen_copy", "get_method", "method_label", "method_source", "previous_model",
           "register"]
