"""MicroSeg: SSUL with proposals, region-level classification and an unseen class spread over K channels."""

from dataclasses import dataclass

import torch
from torch import nn

from csslab.core.constants import BACKGROUND
from csslab.losses import bce_with_unknown, ink_regions, region_mean, unseen_diversity
from csslab.methods.base import param
from csslab.methods.ssul import SSUL, SSULParams, make_head


@dataclass
class MicroSegParams(SSULParams):
    unseen_clusters: int = param(5, low=1)  # K channels of the unseen class (MicroSeg's --unseen_cluster 5)
    lam_unseen: float = param(1.0, low=0)  # weight of unseen_diversity (MicroSeg's code adds it unweighted)
    region_level: bool = True  # classify proposals (ink components and the rest), not pixels
    # MicroSeg's code freezes every BatchNorm from task 1 (--bn_freeze) and adds the unseen score to background's
    # at evaluation; both lost here, as SSUL's (measured: docs/methods.md#microseg), so both are off
    freeze_all_bn: bool = False
    unknown_to_background: bool = False
    # MicroSeg's code (its datasets/voc.py, main.py's validate): every background pixel of a training scene labelled
    # unseen, not only background ink, and at evaluation unseen's score added to background's (docs/methods.md#recipes)
    unseen_background: bool = False


class MicroSeg(SSUL):
    """SSUL with proposals: region-level logits over the ink components, and background digits taught as an
    unseen class of K channels instead of background.

    From SSUL: sigmoid heads and BCE, frozen backbone and old heads after task 0, old-class pseudo-labels with
    score ≥ 0.7, optional memory. MicroSeg's parts:

    - proposals: class-agnostic regions, here the connected components of ink plus the rest of the image
      (``ink_regions``; MicroSeg takes 100 Mask2Former proposals);
    - region-level classification: each proposal's logits are the mean of its pixels' (``region_mean``), in
      training and evaluation; in task 0 the pixel-level BCE is added (MicroSeg's ``--loss_tred``);
    - the unseen class (background ink that is no current or pseudo-labelled class: future and past digits)
      is K channels whose logits sum to its logit, kept apart by λ·``unseen_diversity``, so that background
      digits form clusters of their own instead of being taught as background.

    Simplifications (docs/methods.md#microseg): the proposal branch shares the pixel heads, no weight
    transfer (MicroSeg has none), connected components instead of Mask2Former.
    References: Zhang et al., Mining Unseen Classes via Regional Objectness: A Simple Baseline for
    Incremental Segmentation, NeurIPS 2022.
    """

    name = "microseg"
    Params = MicroSegParams

    def unknown_head(self, c_in: int) -> nn.Module:
        """The unseen class's K channels."""
        return make_head(c_in, self.params.unseen_clusters, self.params.head_hidden).to(self.device)

    def init_new_head(self, head):
        """No weight transfer (MicroSeg has none): the new head keeps its random init."""

    def logits(self, model, images):
        """Pixel and region logits [B, 1 + n_seen + 1, H, W] (the unseen channels summed, last) and the region
        logits of the K unseen channels [B, K, H, W]."""
        k = self.params.unseen_clusters
        logits, _ = model.forward_features(images, [*model.heads, self.unknown])  # B, 1 + n_seen + K, H, W
        regions = region_mean(logits, ink_regions(images, self.params.ink)) if self.params.region_level else logits
        join = lambda z: torch.cat([z[:, :-k], z[:, -k:].sum(1, keepdim=True)], 1)  # noqa: E731
        return join(logits), join(regions), regions[:, -k:]

    def loss(self, model, images, masks):
        pixels, regions, unseen = self.logits(model, images)
        target = self.labels(images, masks)  # B, H, W; unseen = 1 + n_seen
        terms = {"bce": bce_with_unknown(regions, target),
                 "unseen": self.params.lam_unseen * unseen_diversity(unseen)}
        if self.task.index == 0 and self.params.region_level:
            terms["bce_pixel"] = bce_with_unknown(pixels, target)
        return terms

    def labels(self, images, masks):
        """SSUL's labels; with ``unseen_background``, every pixel still background after pseudo-labelling is unseen."""
        if not self.params.unseen_background:
            return super().labels(images, masks)
        return unseen_background_labels(super().labels(images, masks), 1 + self.task.n_seen)

    def eval_model(self, model):
        return RegionScores(self, model)


class RegionScores(nn.Module):
    """MicroSeg's evaluation: sigmoid scores of the region logits over background and the seen classes, the
    unseen score added to background's (``unknown_to_background``) or dropped."""

    def __init__(self, method: MicroSeg, model):
        super().__init__()
        self.method, self.model, self.unknown = method, model, method.unknown  # modules: eval() reaches both

    def forward(self, x):
        scores = torch.sigmoid(self.method.logits(self.model, x)[1])  # B, 1 + n_seen + 1, H, W
        if self.method.params.unknown_to_background or self.method.params.unseen_background:
            return torch.cat([scores[:, :1] + scores[:, -1:], scores[:, 1:-1]], 1)
        return scores[:, :-1]


def unseen_background_labels(labels, unseen: int):
    """MicroSeg's training labels: every background pixel of ``labels`` [B, H, W] becomes ``unseen``."""
    return torch.where(labels == BACKGROUND, unseen, labels)
