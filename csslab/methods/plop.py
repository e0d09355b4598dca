"""PLOP: multi-scale pooled distillation of features and logits, and confident pseudo-labels."""

import math
from dataclasses import dataclass

import torch

from csslab.losses import (cross_entropy, entropy_pseudo_labels, entropy_thresholds, fold_new_channels,
                           local_pod, pseudo_label_factor)
from csslab.methods.base import Method, freeze_batchnorm


@dataclass
class PLOPParams:
    # PLOP's code weights POD by 0.01 (features) and 0.0005 (logits) on raw embeddings; ours are
    # L2-normalised per scale (a distance <= 2 per scale and map), so those weights make POD ~1e-4
    # of the CE. Measured on the default run (2-2-2-2-2, overlap, 250 steps, seed 0), final mIoU
    # all / old / new: 1.0 and 0.1 -> 0.201 / 0.15 / 0.10 (new classes barely learnt);
    # 0.1 and 0.01 -> 0.478 / 0.488 / 0.234; 0.01 and 0.001 -> background and class 0 collapse
    # by task 3 (IoU 0.73 and 0.04, run stopped there).
    pod_factor: float = 0.1  # weight of Local POD on the backbone maps (PLOP: 0.01, unnormalised)
    pod_logits_factor: float = 0.01  # weight of Local POD on the folded logits (PLOP: 0.0005)
    pod_maps: str = "enc1,encoder,decoder"  # backbone maps distilled
    scales: str = "1,2,4"  # Local POD's s×s regions
    adaptive_pod: bool = True  # × sqrt(n_seen / n_new), as PLOP's code, more classes to keep
    min_factor: float = 0.0  # floor of the per-image classification factor (PLOP's code: 0)
    min_threshold: float = 0.001  # floor of the per-class entropy thresholds (PLOP's 0.001)
    # from task 1 on, BatchNorm layers in eval mode, so student and teacher normalise alike (PLOP's --fix_bn;
    # without it POD sees an offset between identical weights: docs/methods.md#batchnorm)
    fix_bn: bool = False


class PLOP(Method):
    """CE on pseudo-labels (background pixels take the old prediction where its normalised
    entropy is below the class's median, computed by the old model on the task's scenes before
    training; unsure ones are ignored) weighted per image by the share of confident pixels,
    + Local POD between current and old backbone maps and between old and folded new logits.
    Heads start from the background (``mib`` init).

    References: Douillard et al., PLOP: Learning without Forgetting for Continual Semantic
    Segmentation, CVPR 2021.
    """

    name = "plop"
    base_task = "ce"
    Params = PLOPParams
    head_init = "mib"

    def __init__(self, params=None, device="cpu", seed: int = 0):
        super().__init__(params, device, seed)
        self.maps = [m.strip() for m in self.params.pod_maps.split(",") if m.strip()]
        self.scales = tuple(int(s) for s in self.params.scales.split(","))
        self.thresholds = None

    def train_mode(self, model):
        super().train_mode(model)
        if self.params.fix_bn and self.task is not None and self.task.index > 0:
            freeze_batchnorm(model)

    @torch.no_grad()
    def before_task(self, task, model, images, masks):
        super().before_task(task, model, images, masks)
        self.thresholds = None
        if self.teacher is None:
            return
        batches = range(0, len(images), 250)
        old_logits = (self.teacher(images[s:s + 250].to(self.device)) for s in batches)
        targets = [masks[s:s + 250].to(self.device) for s in batches]
        self.thresholds = entropy_thresholds(old_logits, task.n_old, targets, self.params.min_threshold)

    def loss(self, model, images, masks):
        logits, features = model.forward_features(images)
        if self.teacher is None:
            return {"ce": cross_entropy(logits, masks)}
        with torch.no_grad():
            old_logits, old_features = self.teacher.forward_features(images)
        n_old = self.task.n_old
        pseudo = entropy_pseudo_labels(old_logits, masks, n_old, self.thresholds)  # B, H, W
        factor = pseudo_label_factor(masks, pseudo, self.params.min_factor)  # B
        adaptive = math.sqrt(self.task.n_seen / len(self.task.classes)) if self.params.adaptive_pod else 1.0
        pod = local_pod({m: features[m] for m in self.maps}, old_features, self.scales)
        pod_logits = local_pod(fold_new_channels(logits, n_old), old_logits, self.scales)
        return {
            "ce": cross_entropy(logits, pseudo, weight=factor),
            "pod": adaptive * self.params.pod_factor * pod,
            "pod_logits": adaptive * self.params.pod_logits_factor * pod_logits,
        }
