"""The ``Method`` base class: what a continual-segmentation method may change in training."""

from __future__ import annotations

import abc
import copy
import math
from dataclasses import dataclass, field, fields
from typing import get_type_hints

import torch
from torch import nn

from csslab.core.config import TrainConfig, coerce
from csslab.model.network import mib_background_shift

# the backbones' named maps a method may read (csslab.model.network: "enc2" is the seed backbone's only)
FEATURE_MAPS = ("enc1", "enc2", "encoder", "decoder")
# the pretrainings that saw the scenes' classes, as ImageNet saw Pascal-VOC's: digits (image-level labels) and
# joint (its analysis bound); under them a method's ``pretrained_params`` are its defaults
KNOWS_THE_CLASSES = ("digits", "joint")


@dataclass
class Params:
    """Hyper-parameters of a method; subclasses add fields with the paper's defaults, declared by ``param``."""


def param(default, *, low=None, high=None, choices=None, items=None):
    """A Params field with what its values may be, declared once and checked by ``Method.make_params``:
    a number in [``low``, ``high``] (None: an open end; never nan or inf), one of ``choices``, or, with
    ``items`` (int or str), a comma-separated list whose every item is such a value."""
    return field(default=default, metadata={"low": low, "high": high, "choices": choices, "items": items})


def _span(low, high) -> str:
    if low is not None and high is not None:
        return f"in [{low:g}, {high:g}]"
    return f">= {low:g}" if low is not None else f"<= {high:g}" if high is not None else ""


def check_params(method: str, params, typed: dict | None = None) -> None:
    """Refuse, in one line naming the value and the valid ones, a value of ``params`` outside what its fields
    declare (``param``): non-finite or out-of-range numbers (any float field's nan or inf too), unknown choices.
    ``typed``: the values as given, to echo a non-finite one as typed (1e309, not the inf it became)."""
    for f in fields(params):
        value, meta = getattr(params, f.name), f.metadata
        where = f"params.{f.name}={value!r}" if isinstance(value, str) else f"params.{f.name}={value}"
        where += f" for method {method}"
        if meta.get("items") is not None:
            _check_items(where, value, meta, f.default)
        elif meta.get("choices") is not None and value not in meta["choices"]:
            raise ValueError(f"invalid {where}: valid values are {', '.join(map(str, meta['choices']))}")
        elif isinstance(value, float) and not math.isfinite(value):
            shown = (typed or {}).get(f.name, value)
            span = _span(meta.get("low"), meta.get("high"))
            raise ValueError(f"invalid params.{f.name}={shown} for method {method}: must be a finite number "
                             f"{span}".rstrip())
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            low, high = meta.get("low"), meta.get("high")
            if (low is not None and value < low) or (high is not None and value > high):
                raise ValueError(f"invalid {where}: must be {_span(low, high)}")


def _check_items(where: str, value, meta, example) -> None:
    kind, choices, low, high = meta["items"], meta.get("choices"), meta.get("low"), meta.get("high")
    words = [w.strip() for w in str(value).split(",")]
    rule = (f"valid items are {', '.join(choices)}" if choices else
            f"every item must be {'an integer' if kind is int else 'a number'} {_span(low, high)}")
    for word in words:
        try:
            item = kind(word)
        except ValueError:
            item = None
        if item is None or (choices is not None and item not in choices) or (
                low is not None and item < low) or (high is not None and item > high):
            raise ValueError(f"invalid {where}: a comma-separated list, e.g. {example}; {rule}")


def frozen_copy(model: nn.Module) -> nn.Module:
    """The teacher: a copy of ``model`` in eval mode that never receives gradients."""
    teacher = copy.deepcopy(model).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher


def previous_model(model: nn.Module, task, head_init: str = "random") -> nn.Module:
    """The teacher of ``task``: a frozen copy of ``model`` as it was before the task's head was
    added, i.e. without that head and, after ``init="mib"``, with the background bias restored
    (``add_head`` lowered it by ``mib_background_shift``). Its logits have ``task.n_old`` channels."""
    teacher = frozen_copy(model)
    n_new = teacher.heads[-1].out_channels
    teacher.heads = teacher.heads[:-1]
    if head_init == "mib":
        with torch.no_grad():
            teacher.heads[0].bias[0] += mib_background_shift(n_new)
    if teacher.n_channels != task.n_old:
        raise ValueError(f"the model has {teacher.n_channels} old channels, task {task.index} expects {task.n_old}")
    return teacher


def head_channels(task) -> int:
    """Channels of ``task``'s head: its classes, and background in the first task's."""
    return len(task.classes) + (1 if task.index == 0 else 0)


def freeze_batchnorm(*modules: nn.Module) -> None:
    """Every BatchNorm layer in ``modules`` in eval mode: it normalises with its running statistics, as a
    frozen teacher's do, and no longer updates them (PLOP's fix_bn, SSUL's frozen BatchNorm)."""
    for module in modules:
        for layer in module.modules():
            if isinstance(layer, nn.modules.batchnorm._BatchNorm):
                layer.eval()


def set_requires_grad(module: nn.Module, flag: bool) -> None:
    for p in module.parameters():
        p.requires_grad_(flag)


class Method(abc.ABC):
    """A continual-learning method, driven by the trainer through this lifecycle per task:

    1. ``prepare(scenario, steps)`` once: the tasks to train and the steps per task
       (only the joint upper bound changes them);
    2. ``add_head(model, task)``: the task's head, initialised by ``head_init`` (a method may build its own);
    3. ``before_task(task, model, images, masks)``: snapshot a teacher, compute statistics, ...;
    4. per step: ``batch(images, masks)`` may mix in stored samples, then
       ``loss(model, images, masks)`` returns named loss terms; the trainer sums them and steps
       an optimiser over ``parameters(model)``;
    5. ``after_task(task, model, images, masks)``: update memories, Fisher information, ...

    A method never owns the optimiser step. State lives on the instance.
    """

    name = "method"
    Params = Params
    # what a method needs, checked before a run starts (csslab.training.checks):
    bound = None  # "lower" (finetune) or "upper" (joint): a reference, not continual; runs on one task too
    memory_param = None  # the Params field sizing a memory of scenes kept across tasks (Replaying's)
    head_init = "random"  # init of the heads added after task 0: "random" or "mib"
    # how the first task trains when it is trained alike by several methods ("ce": plain cross-entropy over
    # its labels, nothing else): benchmark trains it once per configuration (csslab.training.shared_base); None: own
    base_task = None
    base_params = ()  # the Params fields that shape that first task: part of the shared base's key (DKD's)
    # the regime its paper built it for (``csslab methods``; docs/methods.md#pretrained-backbone): every CSS paper
    # starts from an ImageNet-pretrained backbone; relies_on_pretraining marks the methods that barely move or freeze it
    designed_for = "an ImageNet-pretrained backbone, trained whole"
    relies_on_pretraining = False
    # the params its paper's code trains with on that backbone, where validation from scratch chose others: its
    # defaults when model.pretrain is one of KNOWS_THE_CLASSES (SSUL's per-layer rates: docs/methods.md#recipes)
    pretrained_params: dict = {}

    def __init__(self, params: Params | None = None, device="cpu", seed: int = 0,
                 eval_batch_size: int = TrainConfig.eval_batch_size):
        self.params = params if params is not None else self.Params()
        check_params(self.name, self.params)
        self.device = torch.device(device)
        self.generator = torch.Generator().manual_seed(seed)
        self.eval_batch_size = eval_batch_size  # scenes per forward pass outside training (train.eval_batch_size)
        self.task = None
        self.teacher = None
        self.setup()

    def setup(self) -> None:
        """The method's own state, built from ``self.params`` once the base has set params, device and
        generator (a memory, Fisher information, prototypes). A subclass calls ``super().setup()``."""

    @classmethod
    def make_params(cls, values: dict | None = None, pretrain: str = "none"):
        """The method's params from a dict, refusing unknown keys, ill-typed values and values outside what
        each field declares (``param``: ranges, choices, lists; never a nan or inf number), in one line.
        ``pretrain``: the run's ``model.pretrain``; under one of KNOWS_THE_CLASSES, ``pretrained_params`` stand
        in for the values not given."""
        values = dict(values or {})
        known = {f.name: f for f in fields(cls.Params)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            valid = ", ".join(known) or "(none)"
            raise ValueError(f"unknown parameter {unknown[0]!r} for method {cls.name}: valid parameters are {valid}")
        hints = get_type_hints(cls.Params)
        given = (cls.pretrained_params if pretrain in KNOWS_THE_CLASSES else {}) | values
        params = cls.Params(**{k: coerce(v, hints[k], f"params.{k}") for k, v in given.items()})
        check_params(cls.name, params, values)
        return params

    def prepare(self, scenario, steps: int):
        return scenario, steps

    def parameters(self, model: nn.Module):
        """What the task's optimiser trains: parameters, or param groups ``{"params": [...], "lr_scale": k}``
        that train at k times the task's learning rate (``train.make_optimizer``; DKD's classifiers)."""
        return [p for p in model.parameters() if p.requires_grad]

    def train_mode(self, model: nn.Module) -> None:
        """Put ``model`` in training mode; the trainer calls it instead of ``model.train()`` so a
        method that freezes layers can keep their normalisation statistics in eval mode."""
        model.train()

    def eval_model(self, model: nn.Module) -> nn.Module:
        """What evaluation runs (its argmax over channels 0..n_seen is the prediction): ``model``, or a
        method's module around it (SSUL's unknown head joining background)."""
        return model

    def add_head(self, model: nn.Module, task) -> nn.Module:
        """Append ``task``'s head to ``model``: a 1x1 classifier of ``head_channels(task)`` channels, with
        ``head_init`` from the second task on. Resume rebuilds a saved model's heads through it too."""
        return model.add_head(head_channels(task), init=self.head_init if task.index else "random")

    def base_key(self) -> str | None:
        """What identifies this method's first task among shared bases: ``base_task`` and the values of its
        ``base_params`` (None: it trains its own)."""
        if not self.base_task:
            return None
        return "-".join([self.base_task, *(f"{k}{getattr(self.params, k):g}" for k in self.base_params)])

    def before_task(self, task, model, images, masks) -> None:
        """Called after the task's head is added. The base sets ``self.task`` and, from the
        second task on, ``self.teacher``: the frozen model of the previous task."""
        self.task = task
        self.teacher = previous_model(model, task, self.head_init) if task.index > 0 else None

    def batch(self, images: torch.Tensor, masks: torch.Tensor):
        return images, masks

    @abc.abstractmethod
    def loss(self, model, images, masks) -> dict:
        """Named loss terms (scalar tensors) for one batch; the trainer sums them. Every method
        defines it: a subclass without ``loss`` cannot be instantiated."""

    def after_task(self, task, model, images, masks) -> None:
        pass

    def state_dict(self) -> dict:
        """What must survive a restart between tasks (memories, Fisher, teacher-free state)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass
