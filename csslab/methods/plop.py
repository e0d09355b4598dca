"""PLOP: multi-scale pooled distillation of features and logits, and confident pseudo-labels."""

import math
from dataclasses import dataclass

import torch
from torch import nn

from csslab.losses import (cross_entropy, cross_entropy_all_pixels, entropy_pseudo_labels, entropy_thresholds,
                           fold_new_channels, local_pod, pseudo_label_factor)
from csslab.methods.base import FEATURE_MAPS, Method, freeze_batchnorm, param


@dataclass
class PLOPParams:
    # weights on L2-normalised embeddings (PLOP's 0.01 / 0.0005 are on raw ones): docs/methods.md, PLOP
    # weight of Local POD on the backbone maps (PLOP: 0.01); chosen on validation scenes
    pod_factor: float = param(0.001, low=0)
    pod_logits_factor: float = param(0.01, low=0)  # weight of Local POD on the folded logits (PLOP: 0.0005)
    pod_maps: str = param("enc1,encoder,decoder", items=str, choices=FEATURE_MAPS)  # backbone maps distilled
    scales: str = param("1,2,4", items=int, low=1)  # Local POD's s×s regions
    adaptive_pod: bool = True  # × sqrt(n_classes / n_new), as PLOP's code, more classes to keep
    adaptive_background: bool = False  # count background in n_classes (PLOP's code does)
    pod_preactivation: bool = False  # maps before their last ReLU (PLOP's stages), but "decoder"
    # logits POD at the image's size or the heads' (PLOP: "head")
    pod_logits_at: str = param("image", choices=("image", "head"))
    # "histogram" (PLOP's code, bug included: what produced its published numbers) or "median" (the paper's text);
    # chosen on validation scenes: docs/methods.md, PLOP
    threshold_rule: str = param("histogram", choices=("median", "histogram"))
    min_factor: float = param(0.0, low=0, high=1)  # floor of the per-image classification factor (PLOP's code: 0)
    # floor of the per-class entropy thresholds (PLOP's 0.001), on entropies normalised to [0, 1]
    min_threshold: float = param(0.001, low=0, high=1)
    # from task 1 on, BatchNorm layers in eval mode, so student and teacher normalise alike (PLOP's --fix_bn;
    # without it POD sees an offset between identical weights: docs/methods.md#batchnorm)
    fix_bn: bool = False
    # from task 1, the cross-entropy averaged over all pixels, ignored (unsure) ones counting 0, as PLOP's train.py
    # (docs/methods.md#recipes); csslab's averages over the labelled pixels. Task 0 has no ignored pixel
    ce_all_pixels: bool = False


def _forward(model, images, preactivation: bool):
    """Logits, named maps and, with ``preactivation``, every ReLU's input keyed by its output's id."""
    if not preactivation:
        return (*model.forward_features(images), {})
    inputs, outputs = {}, {}
    relus = [m for m in model.backbone.modules() if isinstance(m, nn.ReLU)]
    handles = [m.register_forward_pre_hook(lambda m, i: inputs.__setitem__(m, i[0].clone())) for m in relus]
    handles += [m.register_forward_hook(lambda m, i, o: outputs.__setitem__(m, o)) for m in relus]
    try:
        logits, named = model.forward_features(images)
    finally:
        for handle in handles:
            handle.remove()
    return logits, named, {id(outputs[m]): inputs[m] for m in relus if m in outputs}


class PLOP(Method):
    """CE on pseudo-labels (background pixels take the old prediction where its normalised
    entropy is below the class's threshold, computed by the old model on the task's scenes before
    training: the paper's median, as PLOP's code computes it, whose bug puts it above the median,
    often at +inf; ``threshold_rule=median`` is the exact median; unsure pixels are ignored)
    weighted per image by the share of confident pixels,
    + Local POD between current and old backbone maps and between old and folded new logits.
    Heads start from the background (``mib`` init). Where csslab differs from PLOP's code, and
    the options that follow it: docs/methods.md, PLOP.

    References: Douillard et al., PLOP: Learning without Forgetting for Continual Semantic
    Segmentation, CVPR 2021.
    """

    name = "plop"
    base_task = "ce"
    Params = PLOPParams
    head_init = "mib"

    def setup(self):
        super().setup()
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
        n, batches = self.eval_batch_size, range(0, len(images), self.eval_batch_size)
        old_logits = (self.teacher(images[s:s + n].to(self.device)) for s in batches)
        targets = [masks[s:s + n].to(self.device) for s in batches]
        self.thresholds = entropy_thresholds(old_logits, task.n_old, targets, self.params.min_threshold,
                                             rule=self.params.threshold_rule, n_channels=1 + task.n_seen)

    def _pod_inputs(self, model, images):
        """Logits, the distilled maps and the logits that Local POD compares, for one model."""
        logits, named, preact = _forward(model, images, self.params.pod_preactivation)
        maps = {m: named[m] if m == "decoder" else preact.get(id(named[m]), named[m]) for m in self.maps}
        if self.params.pod_logits_at == "head":  # the heads' own resolution, before upsampling
            return logits, maps, torch.cat([head(named["decoder"]) for head in model.heads], 1)
        return logits, maps, logits

    def loss(self, model, images, masks):
        if self.teacher is None:
            return {"ce": cross_entropy(model(images), masks)}
        logits, maps, pod_logits = self._pod_inputs(model, images)
        with torch.no_grad():
            old_logits, old_maps, old_pod_logits = self._pod_inputs(self.teacher, images)
        n_old, task = self.task.n_old, self.task
        pseudo = entropy_pseudo_labels(old_logits, masks, n_old, self.thresholds)  # B, H, W
        factor = pseudo_label_factor(masks, pseudo, self.params.min_factor)  # B
        n_classes = task.n_seen + (1 if self.params.adaptive_background else 0)
        adaptive = math.sqrt(n_classes / len(task.classes)) if self.params.adaptive_pod else 1.0
        pod = local_pod(maps, old_maps, self.scales)
        pod_logits = local_pod(fold_new_channels(pod_logits, n_old), old_pod_logits, self.scales)
        return {
            "ce": (cross_entropy_all_pixels if self.params.ce_all_pixels else cross_entropy)(logits, pseudo, factor),
            "pod": adaptive * self.params.pod_factor * pod,
            "pod_logits": adaptive * self.params.pod_logits_factor * pod_logits,
        }
