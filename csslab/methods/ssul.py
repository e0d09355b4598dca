"""SSUL: frozen backbone after the first task, sigmoid heads, an unknown class, weight transfer."""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from csslab.constants import BACKGROUND
from csslab.losses import bce_with_unknown
from csslab.methods.base import Method, set_requires_grad
from csslab.methods.memory import Replaying


@dataclass
class SSULParams:
    pseudo_threshold: float = 0.7  # sigmoid score an old-class pseudo-label needs (SSUL's 0.7)
    ink: float = 0.5  # image value from which a pixel is "salient" (the scenes' ink threshold)
    memory_size: int = 0  # SSUL-M keeps scenes in a class-balanced memory (0 = plain SSUL)
    replay_fraction: float = 0.5  # replayed scenes added to each batch (with memory_size > 0)


class SSUL(Replaying, Method):
    """BCE over background, seen classes and an *unknown* channel, with frozen old knowledge.

    Labels per batch: the task's classes keep their label; background pixels where the old model
    gives an old class a sigmoid score >= ``pseudo_threshold`` take that class; remaining
    background pixels that are ink (a free saliency map on MNIST) become *unknown*: digits of
    past or future classes. The unknown head is a 1x1 conv owned by the method and applied to
    the backbone's output beside the model's heads (the model's channels stay 1 + n_seen, so
    evaluation's argmax never sees it). From task 1 on the backbone and old heads are frozen,
    new heads start as copies of the unknown head (weight transfer), and only they and the
    unknown head train.
    References: Cha et al., SSUL: Semantic Segmentation with Unknown Label for Exemplar-based
    Class-Incremental Learning, NeurIPS 2021.
    """

    name = "ssul"
    Params = SSULParams

    def __init__(self, params=None, device="cpu", seed: int = 0):
        super().__init__(params, device, seed)
        self.unknown = None

    def parameters(self, model):
        return super().parameters(model) + list(self.unknown.parameters())

    def train_mode(self, model):
        model.train()
        if self.task is not None and self.task.index > 0:
            model.backbone.eval()  # frozen: normalisation layers, if any, keep their statistics

    def before_task(self, task, model, images, masks):
        super().before_task(task, model, images, masks)
        if self.unknown is None:
            self.unknown = nn.Conv2d(model.backbone.out_channels, 1, 1).to(self.device)
        if task.index > 0:
            set_requires_grad(model.backbone, False)
            for head in model.heads[:-1]:
                set_requires_grad(head, False)
            with torch.no_grad():  # weight transfer: new classes start as "unknown"
                model.heads[-1].weight.copy_(self.unknown.weight.expand_as(model.heads[-1].weight))
                model.heads[-1].bias.copy_(self.unknown.bias.expand_as(model.heads[-1].bias))

    def labels(self, images, masks):
        """Targets over 1 + n_seen + 1 channels, the last one *unknown*."""
        background = masks == BACKGROUND  # B, H, W
        if self.teacher is not None:
            with torch.no_grad():
                score, label = torch.sigmoid(self.teacher(images)).max(1)  # B, H, W
            sure = background & (label > BACKGROUND) & (score >= self.params.pseudo_threshold)
            masks = torch.where(sure, label, masks)
            background = background & ~sure
        unknown = background & (images[:, 0] >= self.params.ink)  # B, H, W
        return torch.where(unknown, 1 + self.task.n_seen, masks)

    def loss(self, model, images, masks):
        features, _ = model.backbone(images)
        logits = torch.cat([head(features) for head in model.heads] + [self.unknown(features)], 1)
        logits = F.interpolate(logits, size=images.shape[-2:], mode="bilinear", align_corners=False)
        target = self.labels(images, masks)
        return {"bce": bce_with_unknown(logits, target)}

    def state_dict(self):
        return super().state_dict() | {"unknown": self.unknown.state_dict()}

    def load_state_dict(self, state):
        if self.unknown is None:
            weight = state["unknown"]["weight"]
            self.unknown = nn.Conv2d(weight.shape[1], 1, 1).to(self.device)
        self.unknown.load_state_dict(state["unknown"])
        super().load_state_dict(state)
