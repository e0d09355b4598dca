"""EWF: MiB's training, then the old and new endpoints' weights fused after each task."""

import math
from dataclasses import dataclass

import torch

from csslab.methods.base import set_requires_grad
from csslab.methods.mib import MiB, MiBParams


@dataclass
class EWFParams(MiBParams):  # MiB's, EWF's base method in its mib+ours scripts
    fuse: bool = True  # fuse the endpoints after each task (False: the ablation without fusion)
    # EWF's --fix_pre_cls freezes the old classifiers, background's too, whose bias MiB's init lowers every task:
    # here background collapsed by task 3, so off by default (measured: docs/methods.md#ewf)
    freeze_old_heads: bool = False


class EWF(MiB):
    """MiB (unbiased CE + λ·unbiased KD, MiB init), the old classifiers optionally frozen during a task; after it,
    every weight and BatchNorm statistic of the old model is fused with the trained one,
    θ = (1 − m)·θ_old + m·θ_new with m = sqrt(n_new / (n_new + n_old)) (``fusion_weight``; n_old counts
    background), and the fused model is evaluated and becomes the next task's start and teacher. The new
    classifier, absent from the old model, keeps its trained weights.

    References: Xiao et al., Endpoints Weight Fusion for Class Incremental Semantic Segmentation, CVPR 2023.
    """

    name = "ewf"
    designed_for = "an ImageNet-pretrained backbone moved by small steps, then fused with the old one"
    relies_on_pretraining = True
    Params = EWFParams

    def before_task(self, task, model, images, masks):
        super().before_task(task, model, images, masks)
        if task.index and self.params.freeze_old_heads:
            for head in model.heads[:-1]:
                set_requires_grad(head, False)

    def after_task(self, task, model, images, masks):
        if task.index and self.params.fuse:
            fuse_weights(model, self.teacher, fusion_weight(len(task.classes), task.n_old))
        super().after_task(task, model, images, masks)


def fusion_weight(n_new: int, n_old: int) -> float:
    """EWF's weight of the new endpoint, sqrt(n_new / (n_new + n_old)) (its run.py's merge_weight; n_old
    counts background): the more classes the old model knows, the more of it is kept."""
    if n_new < 1 or n_old < 1:
        raise ValueError(f"invalid class counts n_new={n_new}, n_old={n_old}: both must be >= 1")
    return math.sqrt(n_new / (n_new + n_old))


@torch.no_grad()
def fuse_weights(model, old_model, weight: float) -> None:
    """Set every floating-point entry of ``model``'s state that ``old_model`` also has (parameters and
    BatchNorm statistics, matched by name) to (1 − weight)·old + weight·new, in place; the rest (the new
    head, integer counters) stays."""
    old_state = old_model.state_dict()
    for name, value in model.state_dict().items():
        old = old_state.get(name)
        if old is not None and value.is_floating_point():
            if old.shape != value.shape:
                raise ValueError(f"cannot fuse {name}: shapes {tuple(old.shape)} and {tuple(value.shape)}")
            value.copy_(torch.lerp(old.to(value.device), value, weight))
