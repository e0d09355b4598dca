"""Settings of background shift as explicit switches, and the label maps they imply.

Every relabelling is one lookup table applied as ``lut[mask]``: digit masks (0 = background,
digit d = d+1) become *channel* labels (0 = background, c = the c-th class of the class order).
"""

from __future__ import annotations

from dataclasses import astuple, dataclass, fields, replace

import numpy as np

from csslab.core.config import SETTING_SWITCHES
from csslab.core.constants import BACKGROUND, IGNORE
from csslab.scenarios.tasks import Task

_CHOICES = {  # the switches, in order, and their values
    "old_in_images": (True, False),
    "future_in_images": (True, False),
    "old_labels": ("background", "keep"),
    "test_future": ("ignore", "background"),
    "instances": ("shared", "partitioned"),
}
SWITCHES = tuple(_CHOICES)  # a setting's switches, by name
_SHORT = ("old", "future", "labels", "test", "instances")  # the switches in a compact name


@dataclass(frozen=True)
class Setting:
    """What training scenes of task t may contain and how they are labelled (docs/architecture.md#settings)."""

    old_in_images: bool = True
    future_in_images: bool = True
    old_labels: str = "background"
    test_future: str = "ignore"
    # every task's scenes drawn from all training digits, or each digit instance given to one task only
    # (Kwak et al.'s partitioned scenario; Scenario._train_digits)
    instances: str = "shared"

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if value not in _CHOICES[f.name] or type(value) is not type(_CHOICES[f.name][0]):
                valid = ", ".join(str(c).lower() if isinstance(c, bool) else c for c in _CHOICES[f.name])
                raise ValueError(f"invalid setting switch {f.name}={value!r}: valid values are {valid}")

    @property
    def name(self) -> str:
        """The preset name when the switches match one, else the switches' compact name
        (``old=yes,future=yes,labels=keep,test=ignore``, with ``,instances=partitioned`` appended when
        digit instances are partitioned), which ``make_setting`` accepts too."""
        for preset, setting in PRESETS.items():
            if setting == self:
                return preset
        values = [("yes" if v else "no") if isinstance(v, bool) else v for v in astuple(self)]
        pairs = [f"{key}={value}" for key, value in zip(_SHORT, values)]
        return ",".join(pairs if self.instances != "shared" else pairs[:-1])


PRESETS = {
    "overlap": Setting(True, True, "background"),  # MiB "overlapped"; the original notebook
    "disjoint": Setting(True, False, "background"),  # MiB "disjoint"
    "sequential": Setting(True, False, "keep"),  # no background shift
    "clean": Setting(False, False, "background"),  # only current digits in scenes
    # overlap, each digit instance in one task's scenes only (Kwak, Cha & Moon 2024's "partitioned")
    "partitioned": Setting(True, True, "background", instances="partitioned"),
}


def _parse_bool(name, value):
    if isinstance(value, bool):
        return value
    text = str(value).lower()
    if text in ("yes", "true", "1"):
        return True
    if text in ("no", "false", "0"):
        return False
    raise ValueError(f"invalid setting switch {name}={value!r}: valid values are yes, no")


def _from_name(name) -> Setting | None:
    """The setting a compact name (``Setting.name`` of a preset-less combination) stands for; the
    ``instances`` part is optional (names written before it existed read as shared instances)."""
    pairs = [part.partition("=") for part in name.split(",")] if isinstance(name, str) else []
    keys = [(key, sep) for key, sep, _ in pairs]
    if keys not in ([(key, "=") for key in _SHORT], [(key, "=") for key in _SHORT[:-1]]):
        return None
    values = {switch: value for switch, (_, _, value) in zip(SETTING_SWITCHES, pairs)}
    return make_setting(Setting(), **values)


def make_setting(preset: str | Setting = "overlap", **switches) -> Setting:
    """A preset by name (or a compact name, as ``Setting.name`` writes it), with any switch
    overridden (``old_labels="keep"``)."""
    if isinstance(preset, Setting):
        base = preset
    elif preset in PRESETS:
        base = PRESETS[preset]
    elif (base := _from_name(preset)) is None:
        raise ValueError(f"unknown setting {preset!r}: valid presets are {', '.join(PRESETS)} (or switches named "
                         f"as in old=yes,future=no,labels=keep,test=ignore)")
    overrides = {}
    for name, value in switches.items():
        if value is None:
            continue
        if name not in _CHOICES:
            raise ValueError(f"unknown setting switch {name!r}: valid switches are {', '.join(_CHOICES)}")
        overrides[name] = _parse_bool(name, value) if name.endswith("_in_images") else value
    return replace(base, **overrides)


def all_settings() -> list[Setting]:
    """Every distinct combination of the background-shift switches (old_labels is moot when old digits
    never appear) on shared digit instances, then the ``partitioned`` preset: the instance switch is a
    second axis, measured on the default setting rather than doubling the matrix."""
    out = []
    for old in (True, False):
        for future in (True, False):
            for labels in ("background", "keep") if old else ("background",):
                out.append(Setting(old, future, labels))
    return out + [PRESETS["partitioned"]]


def channel_of(class_order) -> dict[int, int]:
    """Digit -> model channel (1 + its position in the class order)."""
    return {digit: 1 + i for i, digit in enumerate(class_order)}


def allowed_digits(task: Task, setting: Setting, class_order) -> tuple[int, ...]:
    """Digits that may appear in training scenes of ``task``."""
    future = tuple(c for c in class_order if c not in task.seen_classes)
    allowed = list(task.classes)
    if setting.old_in_images:
        allowed += task.old_classes
    if setting.future_in_images:
        allowed += future
    return tuple(sorted(allowed))


def train_lut(task: Task, setting: Setting, class_order) -> np.ndarray:
    """Digit mask -> training labels at ``task``: current classes labelled, future ones background,
    old ones background or kept (the ``old_labels`` switch)."""
    lut = np.full(256, BACKGROUND, dtype=np.uint8)
    lut[IGNORE] = IGNORE
    channel = channel_of(class_order)
    for digit in task.classes:
        lut[digit + 1] = channel[digit]
    if setting.old_labels == "keep":
        for digit in task.old_classes:
            lut[digit + 1] = channel[digit]
    return lut


def eval_lut(task: Task, setting: Setting, class_order) -> np.ndarray:
    """Digit mask -> evaluation labels after ``task``: seen classes labelled; classes not yet seen
    ignored (MiB) or counted as background (the ``test_future`` switch)."""
    lut = np.full(256, BACKGROUND, dtype=np.uint8)
    lut[IGNORE] = IGNORE
    channel = channel_of(class_order)
    for digit in class_order:
        if digit in task.seen_classes:
            lut[digit + 1] = channel[digit]
        elif setting.test_future == "ignore":
            lut[digit + 1] = IGNORE
    return lut


def channel_to_digit_index(class_order) -> np.ndarray:
    """Model channel -> index in results' class list (0 = background, d+1 = digit d)."""
    return np.array([BACKGROUND] + [d + 1 for d in class_order], dtype=np.int64)
