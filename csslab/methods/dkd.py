"""DKD: sigmoid classifiers, distillation of the old logits and of their positive and negative parts."""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from csslab.losses import all_negative_bce, decompose_logits, new_class_bce, new_class_bce_all_pixels, sigmoid_kd
from csslab.methods.base import Method, freeze_batchnorm, param
from csslab.methods.memory import Replaying
from csslab.methods.recipes import freeze_batchnorm_affine


@dataclass
class DKDParams:
    # DKD's configs/config_voc.json and scripts/voc/*.sh
    mbce: float = param(1.0, low=0)  # weight of the current classes' BCE
    kd: float = param(5.0, low=0)  # weight of the distillation of the old classes' logits
    dkd_pos: float = param(5.0, low=0)  # ... of their positive parts
    dkd_neg: float = param(5.0, low=0)  # ... of their negative parts
    # weight of the auxiliary classifier's loss; 0 also starts new classifiers at random (DKD)
    ac: float = param(1.0, low=0)
    pos_weight: float = param(1.0, low=0)  # BCE's weight of positive pixels after the first task
    base_pos_weight: float = param(2.0, low=0)  # ... in the first task (INIT_POSWEIGHT)
    # the classifiers' learning rate, times the task's (train_voc.py's param groups); with 1 no new digit was
    # learnt: the copied auxiliary weights are all negative (docs/methods.md#dkd)
    head_lr: float = param(10.0, low=0)
    memory_size: int = param(0, low=0)  # DKD-M: a class-balanced memory of scenes, as replay's (0 = plain DKD)
    replay_fraction: float = param(0.5, low=0, high=4)  # replayed scenes added to each batch (memory_size > 0)
    # DKD's code (docs/methods.md#recipes): from task 1 BatchNorm's weight and bias frozen (--freeze_bn's param
    # groups), and ignored pixels counted as negatives of the new classes' BCE (its WBCELoss)
    freeze_bn_affine: bool = False
    ignored_negative: bool = False


class DKD(Replaying, Method):
    """Sigmoid classifiers: each class's BCE on the task's labels (``new_class_bce``) and, for the old
    classes, BCE against the old model's sigmoid scores (``sigmoid_kd``) of their logits and of the
    positive and negative parts of those logits (``decompose_logits``): the decomposed KD. Channel 0 is
    an auxiliary classifier, trained on detached features to score every pixel low (``all_negative_bce``);
    new classifiers start as copies of it. The classifiers train at ``head_lr`` = 10 times the learning rate.
    From task 1 on every BatchNorm keeps its statistics. A pixel is predicted as the class of highest
    sigmoid score if that score exceeds 0.5, else background.

    References: Baek et al., Decomposed Knowledge Distillation for Class-Incremental Semantic
    Segmentation, NeurIPS 2022.
    """

    name = "dkd"
    designed_for = "an ImageNet-pretrained backbone whose BatchNorm it freezes after the first task"
    relies_on_pretraining = True
    Params = DKDParams
    base_task = "dkd-bce"  # its own first task (BCE + auxiliary loss), shaped by base_params: dkd and dkd-m share it
    base_params = ("base_pos_weight", "mbce", "ac", "head_lr", "ignored_negative")

    def parameters(self, model):
        """The classifiers (auxiliary one included) at ``head_lr`` times the learning rate, as DKD's code."""
        if self.params.head_lr == 1:
            return super().parameters(model)
        heads = {id(p) for p in model.heads.parameters()}
        trained = super().parameters(model)
        return [{"params": [p for p in trained if id(p) not in heads], "lr_scale": 1.0},
                {"params": [p for p in trained if id(p) in heads], "lr_scale": self.params.head_lr}]

    def add_head(self, model, task):
        head = super().add_head(model, task)
        if task.index and self.params.ac > 0:  # DKD's init_novel_classifier
            first = model.heads[0]
            with torch.no_grad():
                head.weight.copy_(first.weight[:1].expand_as(head.weight))
                head.bias.copy_(first.bias[:1].expand_as(head.bias))
        return head

    def before_task(self, task, model, images, masks):
        super().before_task(task, model, images, masks)
        if task.index and self.params.freeze_bn_affine:
            freeze_batchnorm_affine(model)

    def train_mode(self, model):
        model.train()
        if self.task is not None and self.task.index > 0:
            freeze_batchnorm(model)  # DKD's --freeze_bn in every step after the first

    def eval_model(self, model):
        return ThresholdBackground(model)

    def loss(self, model, images, masks):
        p = self.params
        first = self.task is None or self.task.index == 0
        n_old = 1 if self.task is None else self.task.n_old
        logits, features = outputs(model, images)
        bce = new_class_bce_all_pixels if p.ignored_negative else new_class_bce
        terms = {"bce": p.mbce * bce(logits, masks, n_old, p.base_pos_weight if first else p.pos_weight),
                 "ac": p.ac * all_negative_bce(logits[:, :1])}
        if self.teacher is not None:
            with torch.no_grad():
                old_logits, old_features = outputs(self.teacher, images)
            terms["kd"] = p.kd * sigmoid_kd(logits[:, 1:n_old], old_logits[:, 1:])
            positive, negative = decompose_logits(features, class_weights(model)[: n_old - 1])
            old_positive, old_negative = decompose_logits(old_features, class_weights(self.teacher))
            terms["dkd_pos"] = p.dkd_pos * sigmoid_kd(positive, old_positive)
            terms["dkd_neg"] = p.dkd_neg * sigmoid_kd(negative, old_negative)
        return terms


@dataclass
class DKDMParams(DKDParams):
    memory_size: int = param(100, low=0)  # DKD-M's (its scripts' MEMORY_SIZE), as replay's default


class DKDM(DKD):
    """DKD-M: DKD with a class-balanced memory of ``memory_size`` = 100 scenes mixed into every batch;
    a stored scene's old classes are negatives of the new classifiers, as DKD masks them to background.

    References: Baek et al., Decomposed Knowledge Distillation for Class-Incremental Semantic
    Segmentation, NeurIPS 2022.
    """

    name = "dkd-m"
    Params = DKDMParams


def outputs(model, images):
    """Logits [B, 1 + n_seen, H, W] whose channel 0 is the auxiliary classifier (the first head's channel 0)
    on detached features, as DKD's, so its loss does not move the backbone; and those features [B, F, h, w]."""
    seen = {}
    first = model.heads[0]

    def auxiliary(features):
        seen["features"] = features
        return F.conv2d(features.detach(), first.weight[:1], first.bias[:1])  # B, 1, h, w

    logits, _ = model.forward_features(images, [auxiliary, *model.heads])  # B, 1 + 1 + n_seen, H, W
    return torch.cat([logits[:, :1], logits[:, 2:]], 1), seen["features"]


def class_weights(model):
    """The 1x1 classifiers' weights of the seen classes, [n_seen, F, 1, 1] (the auxiliary channel left out)."""
    return torch.cat([head.weight for head in model.heads])[1:]


class ThresholdBackground(nn.Module):
    """DKD's prediction as an argmax: background's logit fixed at 0 (sigmoid 0.5), so a class wins where its
    score exceeds 0.5 and is the highest; a tie at 0.5 is background, as DKD's strict > 0.5."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        logits = self.model(x)  # B, 1 + n_seen, H, W
        return torch.cat([torch.zeros_like(logits[:, :1]), logits[:, 1:]], 1)
