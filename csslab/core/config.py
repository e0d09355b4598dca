"""Typed run configuration: dataclasses, saved as YAML, overridden with ``section.key=value``."""

from __future__ import annotations

import copy
import functools
import math
import reprlib
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path
from dataclasses import asdict, dataclass, field, fields
from typing import get_type_hints

import yaml


SETTING_SWITCHES = ("old_in_images", "future_in_images", "old_labels", "test_future", "instances")

# train.protocol: a preset of the optimiser fields; setting it (``--set train.protocol=paper``, or in a
# config file) sets these, and keys written after it override them. paper: MiB's and PLOP's SGD recipe
# (Nesterov momentum 0.9, weight decay 1e-4, poly, lr/10 after the first task) with the learning rate
# measured for this budget (docs/methods.md#protocols).
PROTOCOLS = {
    "fast": {"optimizer": "adam", "lr": 2e-3, "lr_incremental": 0.0, "weight_decay": 0.0, "momentum": 0.9,
             "nesterov": True, "schedule": "poly"},
    "paper": {"optimizer": "sgd", "lr": 0.1, "lr_incremental": 0.01, "weight_decay": 1e-4, "momentum": 0.9,
              "nesterov": True, "schedule": "poly"},
}
OPTIMIZERS = ("adam", "sgd")
# model.pretrain (csslab.training.pretrain): from scratch; shapes; digits (image-level labels, ImageNet's analogue);
# joint (a joint run's backbone: an analysis upper bound, not a CSS protocol)
PRETRAINS = ("none", "shapes", "digits", "joint")
# model.pretrain_steps=0: the pretraining's own budget (docs/methods.md#pretrained-backbone has the probe behind
# digits'); joint trains the run's own budget
PRETRAIN_STEPS = {"shapes": 300, "digits": 3000}


@dataclass
class ScenarioConfig:
    """A scenario's options; ``csslab.scenarios.Scenario.from_config`` builds it, ``Scenario.config()``
    writes it back resolved (as a run saves it): the switches explicit, ``setting`` named after them."""

    tasks: str = "2-2-2-2-2"
    setting: str = "overlap"  # a preset, or a compact name of the switches (old=yes,future=no,labels=keep,test=ignore)
    class_order: str = "natural"
    data: str = "embedded"
    train_scenes: int = 2000  # scenes per task (the joint bound gets all tasks' scenes)
    test_scenes: int = 500
    # > 0: validation scenes from training digits held out of every task's scenes (val_fraction of each class),
    # evaluated after every task beside the test scenes, for tuning without touching the test set; 0 = none
    val_scenes: int = 0
    val_fraction: float = 0.1
    old_in_images: bool | None = None  # a switch set here overrides the setting's; None: the setting's value
    future_in_images: bool | None = None
    old_labels: str | None = None
    test_future: str | None = None
    instances: str | None = None  # shared, or partitioned: each training digit instance in one task's scenes
    # how scenes look (csslab.data.scenes.SceneConfig, whose defaults these are, checks and documents them)
    size: int = 60
    min_digits: int = 2
    max_digits: int = 4
    max_box_iou: float = 0.2
    ink: float = 0.5
    max_tries: int = 20


@dataclass
class ModelConfig:
    backbone: str = "fast"
    pretrain: str = "none"  # PRETRAINS: trained once, cached, loaded before task 0 (docs/methods.md)
    pretrain_steps: int = 0  # shapes' and digits' optimiser steps (a fresh batch each); 0: PRETRAIN_STEPS

    def pretrain_budget(self) -> int:
        """The optimiser steps the pretraining takes: ``pretrain_steps``, or its kind's own (0 for none, joint)."""
        return self.pretrain_steps or PRETRAIN_STEPS.get(self.pretrain, 0)


@dataclass
class TrainConfig:
    steps: int = 250  # optimisation steps per task
    # > 0: each task trains steps_per_class x its number of classes steps instead, as MiB's and PLOP's epochs
    # give a bigger task more iterations (a 6-class task needs it: docs/methods.md#steps-per-class); 0 = `steps`
    steps_per_class: int = 0
    batch_size: int = 32
    protocol: str = "fast"  # a preset of the fields below to schedule (PROTOCOLS): fast or paper
    optimizer: str = "adam"  # adam or sgd
    lr: float = 2e-3
    lr_incremental: float = 0.0  # learning rate of tasks after the first (MiB/PLOP use lr/10); 0 = lr
    weight_decay: float = 0.0
    momentum: float = 0.9  # SGD's
    nesterov: bool = True  # SGD's (MiB's and PLOP's)
    schedule: str = "poly"  # learning rate within a task: poly (MiB, PLOP) or constant
    device: str = "cpu"
    threads: int = 0  # torch threads on CPU; 0 = torch's default (all cores), saved resolved to the number
    eval_batch_size: int = 250
    frame_every: int = 0  # steps between animation frames; 0 = up to 50 per run, at least 10 steps apart
    frame_scenes: int = 100  # test scenes evaluated for each frame
    checkpoints: bool = True
    precision: str = "fp32"  # fp32, or bf16 (autocast; csslab/core/precision.py): part of the numbers
    log: str = "csv"  # sinks of per-step losses and per-task metrics (csslab/training/tracking.py): csv, tensorboard, none


@dataclass
class Config:
    method: str = "finetune"
    seed: int = 0
    scenario: ScenarioConfig = field(default_factory=ScenarioConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    params: dict = field(default_factory=dict)  # the method's hyper-parameters (``--set params.lam=5``)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Config":
        config = cls()
        for key, value in (data or {}).items():
            if key in ("scenario", "model", "train", "params") and not isinstance(value, (dict, type(None))):
                what = ("the method's parameters, e.g. params: {lam: 10}" if key == "params" else
                        f"its keys ({', '.join(f.name for f in fields(getattr(config, key)))})")
                raise ValueError(f"the {key} section is {_shown(value)}, expected a mapping of {what}")
            if key in ("scenario", "model", "train"):
                section = getattr(config, key)
                value = dict(value or {})
                if key == "train" and "protocol" in value:  # the preset first, the keys written beside it win
                    _assign(section, "protocol", value.pop("protocol"), "train.protocol")
                    set_protocol(section)
                for sub, sub_value in value.items():
                    _assign(section, sub, sub_value, f"{key}.{sub}")
            elif key == "params":
                config.params = dict(value or {})
            else:
                _assign(config, key, value, key)
        return config

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_yaml(cls, text: str, source: str | None = None) -> "Config":
        """A Config from YAML text; malformed YAML, another shape or a bad value is a one-line ValueError
        naming ``source`` (a file, as the flag that gave it; None: "the configuration", and a bad value's
        error says no source)."""
        name = source or "the configuration"
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            problem = getattr(error, "problem", None) or str(error).splitlines()[0]
            raise ValueError(f"{name} is not valid YAML: {problem}{where}") from None
        except RecursionError:  # PyYAML recurses once per level: thousands of nested '[' exhaust Python's stack
            raise ValueError(f"{name} is not valid YAML for csslab: nested too deeply to read; a configuration is a "
                             "mapping of keys and sections two levels deep, as a run's config.yaml") from None
        if data is not None and not isinstance(data, dict):
            raise ValueError(f"{name} holds a YAML {type(data).__name__}, expected a mapping of keys (method, seed) "
                             "and sections (scenario, model, train, params), as a run's config.yaml")
        try:
            return cls.from_dict(data)
        except ValueError as error:
            if source is None:
                raise
            raise ValueError(f"{source}: {error}") from None

    @classmethod
    def from_file(cls, path, flag: str = "--config") -> "Config":
        """A Config from a YAML file (e.g. a run's config.yaml), with one-line errors naming ``flag``."""
        path = Path(path)
        expected = "expected a YAML file such as a run's config.yaml"
        try:
            mode = path.stat().st_mode
        except FileNotFoundError:
            raise ValueError(f"invalid {flag} {path}: no such file; {expected}") from None
        if not stat.S_ISREG(mode):  # a FIFO would block the read, a device never end it: refused, not opened
            what = "a directory" if stat.S_ISDIR(mode) else _FILE_KINDS.get(stat.S_IFMT(mode), "not a regular file")
            raise ValueError(f"invalid {flag} {path}: {what}, not a regular file; {expected}")
        data = path.read_bytes()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ValueError(f"invalid {flag} {path}: not UTF-8 text (byte 0x{data[error.start]:02x} at offset "
                             f"{error.start}); {expected}") from None
        return cls.from_yaml(text, f"{flag} {path}")


_FILE_KINDS = {stat.S_IFIFO: "a FIFO", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
               stat.S_IFSOCK: "a socket"}
_SHORT = reprlib.Repr()  # a value echoed in an error: a long string or deep list cut, so the error stays one short line
_SHORT.maxstring, _SHORT.maxother, _SHORT.maxlevel = 60, 60, 3


def _shown(value) -> str:
    return _SHORT.repr(value)


def coerce(value, hint, name):
    """Convert a YAML/CLI value to the field's type, or raise a one-line ValueError."""
    hint_text = str(hint).replace("typing.", "")
    optional = "None" in hint_text
    kind = None
    for t in (bool, int, float, str):
        if hint is t or hint_text.startswith(t.__name__):
            kind = t
            break
    if optional and (value is None or (isinstance(value, str) and value.lower() in ("none", "null", "~", "",
                                                                                     "preset"))):
        return None
    if kind is bool:
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("true", "yes", "on", "1"):
            return True
        if str(value).lower() in ("false", "no", "off", "0"):
            return False
        raise ValueError(f"invalid value {_shown(value)} for {name}: expected true/false")
    if kind is int:
        if isinstance(value, bool):
            raise ValueError(f"invalid value {_shown(value)} for {name}: expected an integer")
        try:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value)
        except (TypeError, ValueError):
            raise ValueError(f"invalid value {_shown(value)} for {name}: expected an integer") from None
    if kind is float:
        try:
            if isinstance(value, bool):  # YAML's yes/no in a config file are not numbers
                raise ValueError
            return float(value)
        except (TypeError, ValueError):
            raise ValueError(f"invalid value {_shown(value)} for {name}: expected a number") from None
    if kind is str:
        return str(value)
    return value


def set_protocol(train: TrainConfig) -> None:
    """Set the optimiser fields of ``train`` to its protocol's preset."""
    if train.protocol not in PROTOCOLS:
        raise ValueError(f"unknown train.protocol {train.protocol!r}: valid protocols are {', '.join(PROTOCOLS)}")
    for key, value in PROTOCOLS[train.protocol].items():
        setattr(train, key, value)


def protocol_changes(train: dict) -> list[str]:
    """The optimiser fields of a (saved) train section that differ from its protocol's preset."""
    preset = PROTOCOLS.get(train.get("protocol"), {})
    return [key for key, value in preset.items() if key in train and train[key] != value]


@functools.cache
def _field_types(cls) -> dict:
    """A config dataclass's field names and their resolved types (resolved once per class: ~0.14 ms a call, and a saved
    configuration assigns ~40 fields)."""
    hints = get_type_hints(cls)
    return {f.name: hints[f.name] for f in fields(cls) if f.name in hints}


def _assign(obj, key, value, name):
    hints = _field_types(type(obj))
    if key not in hints:
        valid = ", ".join(f.name for f in fields(obj))
        raise ValueError(f"unknown config key {name!r}: valid keys here are {valid}")
    typed = coerce(value, hints[key], name)
    if isinstance(typed, float) and not math.isfinite(typed):  # no setting means anything by inf or nan
        raise ValueError(f"invalid value {_shown(value)} for {name}: expected a finite number")
    setattr(obj, key, typed)


def parse_value(text: str):
    """A CLI value as YAML reads it: numbers, lists; anything else, including the words YAML reads as
    booleans or null ('yes', 'None', '~') and 'key:' mappings, stays the text typed, which ``coerce``
    converts by the field's type and echoes as typed in an error."""
    try:
        value = yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError):  # RecursionError: thousands of nested '['
        return text
    return text.strip() if value is None or isinstance(value, (bool, dict)) else value


def apply_overrides(config: Config, overrides) -> Config:
    """Apply ``section.key=value`` strings; unknown keys and ill-typed values raise ValueError."""
    if isinstance(overrides, (str, bytes, Mapping)) or not isinstance(overrides, (Iterable, type(None))):
        raise ValueError(f"invalid overrides {_shown(overrides)}: expected a list of section.key=value strings, "
                         "e.g. ['train.lr=0.001']")
    config = copy.deepcopy(config)
    for item in overrides or ():
        if not isinstance(item, str):
            raise ValueError(f"invalid override {_shown(item)}: expected a section.key=value string, e.g. "
                             "train.lr=0.001")
        if "=" not in item:
            raise ValueError(f"invalid override {item!r}: expected section.key=value, e.g. train.lr=0.001")
        key, text = item.split("=", 1)
        set_value(config, key.strip(), parse_value(text))
    return config


def set_value(config: Config, key: str, value) -> None:
    """Set ``key`` (``seed``, ``train.steps``, ``params.lam``) of ``config`` in place to ``value``, converted to
    the field's type (a typed value stays what it is); unknown keys and ill-typed values raise ValueError."""
    parts = key.split(".")
    if len(parts) == 1:
        _assign(config, parts[0], value, parts[0])
    elif len(parts) == 2 and parts[0] == "params":
        config.params[parts[1]] = value
    elif len(parts) == 2 and parts[0] in ("scenario", "model", "train"):
        _assign(getattr(config, parts[0]), parts[1], value, key)
        if key == "train.protocol":  # the preset's optimiser fields, not those written before it
            set_protocol(config.train)
        if key == "scenario.setting":  # a new setting means its switches, not those written before it
            for switch in SETTING_SWITCHES:
                setattr(config.scenario, switch, None)
    else:
        raise ValueError(
            f"unknown config key {key!r}: sections are scenario, model, train, params (e.g. train.lr=0.001)"
        )
