"""SSUL: frozen backbone after the first task, sigmoid heads, an unknown class, weight transfer."""

from dataclasses import dataclass

import torch
from torch import nn

from csslab.core.constants import BACKGROUND
from csslab.losses import bce_with_unknown
from csslab.methods.base import Method, freeze_batchnorm, head_channels, param, set_requires_grad
from csslab.methods.memory import Replaying
from csslab.methods.recipes import layer_lr_groups


@dataclass
class SSULParams:
    pseudo_threshold: float = param(0.7, low=0, high=1)  # sigmoid score an old-class pseudo-label needs (SSUL's 0.7)
    ink: float = param(0.5, low=0, high=1)  # image value from which a pixel is "salient" (the scenes' ink threshold)
    memory_size: int = param(0, low=0)  # SSUL-M keeps scenes in a class-balanced memory (0 = plain SSUL)
    replay_fraction: float = param(0.5, low=0, high=4)  # replayed scenes added to each batch (memory_size > 0)
    # SSUL's DeepLab gives every task (and the unknown) its own head: 3x3 conv + BN + ReLU + 1x1 classifier
    # (width 256 there); 0 = 1x1 heads. Measured on the default run (seed 0): docs/decisions/ssul-heads.md
    head_hidden: int = param(24, low=0)
    freeze_all_bn: bool = False  # from task 1 every BatchNorm frozen, new heads' too (SSUL): docs/methods.md
    unknown_to_background: bool = False  # evaluation adds unknown's score to background's (SSUL's main.py)
    # SSUL's per-layer learning rates (its main.py's param groups): task 0 the backbone at 0.1x, heads at 1x; later
    # tasks the new and unknown heads at 1x, background's classifier at 1e-4x. Off from scratch, on (SSUL's
    # pretrained_params) on a backbone pretrained on the classes, as validation chose: docs/methods.md#recipes
    layer_lrs: bool = False


class SSUL(Replaying, Method):
    """BCE over background, seen classes and an *unknown* channel, with frozen old knowledge.

    Labels per batch: the task's classes keep their label; background pixels where the old model
    gives an old class a sigmoid score >= ``pseudo_threshold`` take that class; remaining
    background pixels that are ink (a free saliency map on MNIST) become *unknown*: digits of
    past or future classes. The unknown head, owned by the method, is applied beside the model's heads
    (the model's channels stay 1 + n_seen; evaluation drops it, or adds its score to background's
    with ``unknown_to_background``). From task 1 on the backbone and old heads are frozen,
    new heads start as copies of the unknown head (weight transfer), and only they and the
    unknown head train.
    References: Cha et al., SSUL: Semantic Segmentation with Unknown Label for Exemplar-based
    Class-Incremental Learning, NeurIPS 2021.
    """

    name = "ssul"
    designed_for = "an ImageNet-pretrained backbone it freezes after the first task"
    relies_on_pretraining = True
    pretrained_params = {"layer_lrs": True}  # its code's recipe for the backbone it was built for
    Params = SSULParams

    def setup(self):
        super().setup()
        self.unknown = None

    def add_head(self, model, task):
        """Every task's head is SSUL's own: an ``MLPHead`` (a 1x1 conv with ``head_hidden`` = 0), random;
        from task 1 on ``before_task`` starts it as ``init_new_head`` says (a copy of the unknown head)."""
        head = make_head(model.backbone.out_channels, head_channels(task), self.params.head_hidden)
        return model.append_head(head)

    def parameters(self, model):
        if self.params.layer_lrs:
            return layer_lr_groups(model, self.unknown, self.task)
        return super().parameters(model) + list(self.unknown.parameters())

    def train_mode(self, model):
        model.train()
        if self.unknown is not None:
            self.unknown.train()  # evaluation through eval_model put it in eval mode
        if self.task is not None and self.task.index > 0:
            model.backbone.eval()  # frozen: normalisation layers, if any, keep their statistics
            for head in model.heads[:-1]:
                head.eval()
            if self.params.freeze_all_bn:
                freeze_batchnorm(model, self.unknown)

    def eval_model(self, model):
        return UnknownAsBackground(model, self.unknown) if self.params.unknown_to_background else model

    def before_task(self, task, model, images, masks):
        super().before_task(task, model, images, masks)
        if self.unknown is None:
            self.unknown = self.unknown_head(model.backbone.out_channels)
        if task.index > 0:
            set_requires_grad(model.backbone, False)
            for head in model.heads[:-1]:
                set_requires_grad(head, False)
            self.init_new_head(model.heads[-1])

    def unknown_head(self, c_in: int) -> nn.Module:
        """The method's own head beside the model's, on ``c_in`` features: SSUL's unknown class, one channel."""
        return make_head(c_in, 1, self.params.head_hidden).to(self.device)

    def init_new_head(self, head: nn.Module) -> None:
        """Start the task's new head (from task 1 on): SSUL's weight transfer from the unknown head."""
        transfer_weights(self.unknown, head)

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
        logits, _ = model.forward_features(images, [*model.heads, self.unknown])  # B, 1 + n_seen + 1, H, W
        target = self.labels(images, masks)
        return {"bce": bce_with_unknown(logits, target)}

    def state_dict(self):
        return super().state_dict() | {"unknown": self.unknown.state_dict()}

    def load_state_dict(self, state):
        if self.unknown is None:
            weight = state["unknown"]["weight" if "weight" in state["unknown"] else "0.weight"]
            self.unknown = self.unknown_head(weight.shape[1])
        self.unknown.load_state_dict(state["unknown"])
        super().load_state_dict(state)


class UnknownAsBackground(nn.Module):
    """SSUL's evaluation: sigmoid scores of background + unknown, then of the seen classes (1 + n_seen)."""

    def __init__(self, model, unknown):
        super().__init__()
        self.model, self.unknown = model, unknown

    def forward(self, x):
        scores = torch.sigmoid(self.model.forward_features(x, [*self.model.heads, self.unknown])[0])
        return torch.cat([scores[:, :1] + scores[:, -1:], scores[:, 1:-1]], 1)


class MLPHead(nn.Sequential):
    """A head with its own features (SSUL's DeepLab heads): 3x3 conv + BN + ReLU, then the 1x1 classifier."""

    def __init__(self, c_in: int, hidden: int, n: int):
        super().__init__(nn.Conv2d(c_in, hidden, 3, padding=1, bias=False), nn.BatchNorm2d(hidden),
                         nn.ReLU(inplace=True), nn.Conv2d(hidden, n, 1))

    @property
    def out_channels(self) -> int:
        return self[-1].out_channels


def make_head(c_in: int, n: int, hidden: int) -> nn.Module:
    """A 1x1 conv classifier (``hidden`` = 0), or an ``MLPHead`` with ``hidden`` channels."""
    return MLPHead(c_in, hidden, n) if hidden else nn.Conv2d(c_in, n, 1)


@torch.no_grad()
def transfer_weights(unknown: nn.Module, head: nn.Module) -> None:
    """SSUL's weight transfer: ``head`` (n new classes) starts as a copy of the unknown head, its
    classifier's single output repeated n times."""
    if isinstance(head, nn.Conv2d):
        head.weight.copy_(unknown.weight.expand_as(head.weight))
        head.bias.copy_(unknown.bias.expand_as(head.bias))
        return
    for i in range(len(head) - 1):  # the hidden layers: conv, batch norm (weights and statistics)
        head[i].load_state_dict(unknown[i].state_dict())
    transfer_weights(unknown[-1], head[-1])
