"""The checks of a run's configuration section by section (model, training options, the digits a scenario needs),
made before any scene is generated or anything trained; ``csslab.training.spec.validate`` runs them with the checks
across sections. Bad input stops with one line naming the bad value and the valid ones."""

from __future__ import annotations

import math
import numbers
import os

import numpy as np
import torch

from csslab.core.words import plural
from csslab.core.config import OPTIMIZERS, PRETRAINS, PROTOCOLS, ModelConfig, ScenarioConfig, TrainConfig
from csslab.data.digits import load_digits
from csslab.model.network import make_backbone
from csslab.core.precision import PRECISIONS, bf16_problem
from csslab.scenarios import Scenario
from csslab.training.tracking import check_log


SEED_MAX = 2**32 - 1  # the largest seed numpy (legacy seeding) and torch both take as it is


def check_seed(seed) -> None:
    """The run's seed is an integer every random number generator of the run takes."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed <= SEED_MAX:
        raise ValueError(f"invalid seed {seed!r}: must be an integer in 0..{SEED_MAX} (2**32 - 1)")


# bytes of memory per scene pixel while a run builds and holds its scenes, measured (ru_maxrss, 5-5 finetune,
# 2,000-20,000 training and 500-20,000 test scenes): 13-14 for the current task's training scenes (the previous
# task's are still held while they are built) and 13 for the test scenes (kept for the frames, built again to
# evaluate); validation scenes are counted like test scenes
SCENE_BYTES_PER_PIXEL = 14


def physical_memory() -> int | None:
    """The machine's memory in bytes (None where the OS does not say)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def check_memory(s: ScenarioConfig, tasks_at_once: int = 1) -> None:
    """Refuse scene counts whose scenes could not fit in this machine's memory, before any is built
    (``tasks_at_once``: tasks whose training scenes one task trains on, all of them for the upper bound)."""
    need = SCENE_BYTES_PER_PIXEL * s.size ** 2 * (s.train_scenes * tasks_at_once + s.test_scenes + s.val_scenes)
    have = physical_memory()
    if have and need > have:
        counts = f"scenario.train_scenes={s.train_scenes}" + (f" (x {tasks_at_once} tasks)" * (tasks_at_once > 1))
        counts += f", test_scenes={s.test_scenes}" + (f", val_scenes={s.val_scenes}" if s.val_scenes else "")
        raise ValueError(f"{counts} of {s.size}x{s.size} pixels need about {_bytes(need)} of memory, more than this "
                         f"machine's {_bytes(have)}: use fewer scenes (at most about "
                         f"{max(0, have // (SCENE_BYTES_PER_PIXEL * s.size ** 2)):,} in all at this size)")


def _bytes(n: int) -> str:
    return next(f"{n / 1000 ** k:.1f} {unit}" for k, unit in ((4, "TB"), (3, "GB"), (2, "MB"), (0, "bytes"))
                if n >= 1000 ** k or k == 0)


MAX_STEPS = 10_000_000  # per task: far beyond any useful budget (a default task is 250), within every counter


def check_model(m: ModelConfig) -> None:
    """The model options' own checks: the backbone and its pretraining (``csslab.training.pretrain``)."""
    make_backbone(m.backbone)
    if m.pretrain not in PRETRAINS:
        raise ValueError(f"invalid model.pretrain {m.pretrain!r}: valid values are {', '.join(PRETRAINS)}")
    if not 0 <= m.pretrain_steps <= MAX_STEPS:
        raise ValueError(f"invalid model.pretrain_steps {m.pretrain_steps}: must be a number of steps in "
                         f"1..{MAX_STEPS:,}, or 0 for the pretraining's own budget")


def check_train(t: TrainConfig) -> torch.device:
    """The training options' own checks; returns the device."""
    for name, ok, rule in (
        ("steps", 0 < t.steps <= MAX_STEPS, f"must be a number of steps per task in 1..{MAX_STEPS:,}"),
        ("steps_per_class", 0 <= t.steps_per_class <= MAX_STEPS,
         f"must be in 0..{MAX_STEPS:,} (0 = train.steps for every task)"),
        ("batch_size", t.batch_size > 0, "must be positive"),
        ("lr", t.lr > 0 and math.isfinite(t.lr), "must be a positive finite number"),
        ("lr_incremental", t.lr_incremental >= 0 and math.isfinite(t.lr_incremental),
         "must be >= 0 (0 = the same as train.lr)"),
        ("weight_decay", t.weight_decay >= 0, "must be >= 0"),
        ("protocol", t.protocol in PROTOCOLS, f"valid protocols are {', '.join(PROTOCOLS)}"),
        ("optimizer", t.optimizer in OPTIMIZERS, f"valid optimizers are {', '.join(OPTIMIZERS)}"),
        ("momentum", 0 <= t.momentum < 1, "must be in [0, 1)"),
        ("eval_batch_size", t.eval_batch_size > 0, "must be positive"),
        ("threads", t.threads >= 0, "must be >= 0 (0 = all cores)"),
        ("frame_every", t.frame_every >= 0, "must be >= 0 (0 = up to 50 frames per run, at least 10 steps apart)"),
        ("frame_scenes", t.frame_scenes > 0, "must be a positive number of test scenes"),
        ("precision", t.precision in PRECISIONS, f"valid values are {', '.join(PRECISIONS)}"),
    ):
        if not ok:
            raise ValueError(f"invalid {name} {getattr(t, name)} (train.{name}): {rule}")
    try:
        device = torch.device(t.device)
    except (RuntimeError, TypeError):
        raise ValueError(f"invalid device {t.device!r}: valid devices are cpu, cuda, cuda:N") from None
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"invalid device {t.device!r}: valid devices are cpu, cuda, cuda:N")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"invalid device {t.device!r}: CUDA is not available here (valid: cpu)")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ValueError(f"invalid device {t.device!r}: this machine has "
                         f"{plural(torch.cuda.device_count(), 'CUDA device')}")
    if t.precision == "bf16" and (problem := bf16_problem(device)):
        raise ValueError(f"invalid precision 'bf16' (train.precision) on {device}: {problem}; valid here: fp32")
    check_log(t.log)
    return device


def check_digits(scenario: Scenario) -> None:
    """The scenario's digit source has train and test digits of every class its tasks use."""
    digits = load_digits(scenario.data)
    needed = sorted({c for task in scenario for c in task.classes})
    for split, labels in (("train", digits.train_labels), ("test", digits.test_labels)):
        missing = sorted(set(needed) - set(np.unique(labels).tolist()))
        if missing:
            raise ValueError(f"split {scenario.split!r} needs classes {needed} but the {split} digits of "
                             f"{scenario.data!r} have none of class {', '.join(map(str, missing))}")
    shape = digits.train_images.shape[1:]
    if max(shape) > scenario.scene.size:
        raise ValueError(f"the digits of {scenario.data!r} are {shape[0]}x{shape[1]} pixels, larger than the "
                         f"{scenario.scene.size}x{scenario.scene.size} scenes (scenario.size): use 28x28 digits or a "
                         f"scenario.size of at least {max(shape)}")
    for task in scenario:  # what is left of each class once validation digits (or other tasks' parts) are taken
        left = sorted(set(task.classes) - set(np.unique(scenario.train_labels(task)).tolist()))
        if left and scenario.val_scenes:
            raise ValueError(f"invalid scenario.val_fraction={scenario.val_fraction:g}: it holds out every training "
                             f"digit of class {left[0]} for the validation scenes, leaving none for task "
                             f"{task.index}'s scenes; use a smaller fraction, e.g. {ScenarioConfig.val_fraction:g}")
        if left:
            raise ValueError(f"task {task.index} of {scenario.split!r} has no training digit of class {left[0]} in "
                             f"{scenario.data!r} (the {scenario.setting.instances} setting's share of them)")
