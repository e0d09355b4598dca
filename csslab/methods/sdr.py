"""SDR: MiB's losses plus prototype matching, sparsity and attraction-repulsion in the latent space."""

from dataclasses import dataclass

import torch

from csslab.core.constants import BACKGROUND
from csslab.losses import (class_means, cross_entropy, feature_attraction, feature_repulsion, feature_sparsity,
                           labels_at, prototype_matching, unbiased_ce, unbiased_kd)
from csslab.methods.base import FEATURE_MAPS, Method, param


@dataclass
class SDRParams:
    # SDR's code (--method SDR): loss_kd 100, loss_de_prototypes 0.01, loss_featspars 1e-3, loss_fc and
    # lfc_sep_clust 1e-3; MiB's unbiased CE and KD, random init of new heads (no init_balanced)
    # λ_kd: SDR's README kick-start (and MiB's); its code's 100 left new classes unlearnt (docs/methods.md#sdr)
    lam_kd: float = param(10.0, low=0)  # unbiased distillation of the outputs
    lam_pm: float = param(0.01, low=0)  # prototype matching of the old classes
    lam_fs: float = param(1e-3, low=0)  # feature sparsification
    lam_fc: float = param(1e-3, low=0)  # attraction of the current classes' features to their prototypes
    lam_sep: float = param(1e-3, low=0)  # repulsion between the classes' mean features
    alpha: float = param(1.0, low=0)  # teacher temperature factor of the distillation
    # the latent space: SDR's body output (the encoder's, before the decoder)
    feature: str = param("encoder", choices=FEATURE_MAPS)


class SDR(Method):
    """Task 0: plain cross-entropy; its classes' prototypes (mean latent features) are taken after it.
    Later tasks: ``unbiased_ce`` + λ_kd·``unbiased_kd`` (MiB) + λ_pm·``prototype_matching`` of old classes
    (pixels the old model calls an old class, in the background) + λ_fs·``feature_sparsity`` +
    λ_fc·``feature_attraction`` of the new classes to their running prototypes + λ_sep·``feature_repulsion``
    between the classes of the batch. Where csslab differs from SDR's code: docs/methods.md#sdr.

    References: Michieli & Zanuttigh, Continual Semantic Segmentation via Repulsion-Attraction of Sparse and
    Disentangled Latent Representations, CVPR 2021.
    """

    name = "sdr"
    base_task = "ce"  # SDR's step 0 is its fine-tuning run: plain CE (the prototypes are taken after it)
    Params = SDRParams

    def setup(self):
        super().setup()
        self.prototypes = self.counts = None  # [n, D] and [n] by class channel: mean features, pixels counted

    def _grow(self, n: int, dim: int) -> None:
        if self.prototypes is None:
            self.prototypes = torch.zeros(0, dim, device=self.device)
            self.counts = torch.zeros(0, device=self.device)
        extra = n - len(self.prototypes)
        self.prototypes = torch.cat([self.prototypes, self.prototypes.new_zeros(extra, dim)])
        self.counts = torch.cat([self.counts, self.counts.new_zeros(extra)])

    def loss(self, model, images, masks):
        logits, named = model.forward_features(images)
        if self.teacher is None:
            return {"ce": cross_entropy(logits, masks)}
        task, p = self.task, self.params
        features = self._latent(named)  # B, D, h, w
        labels = labels_at(masks, features.shape[-2:])  # B, h, w
        self._grow(1 + task.n_seen, features.shape[1])
        new = torch.arange(task.n_old, 1 + task.n_seen, device=features.device)
        self._running_mean(features.detach(), labels, new)
        with torch.no_grad():
            old_logits, _ = self.teacher.forward_features(images)
        old_labels = labels_at(old_logits.argmax(1), features.shape[-2:])  # B, h, w
        old_labels = torch.where(labels == BACKGROUND, old_labels, BACKGROUND)  # old classes inside the background
        known = self.counts > 0
        return {
            "ce": unbiased_ce(logits, masks, task.n_old),
            "kd": p.lam_kd * unbiased_kd(logits, old_logits, p.alpha),
            "pm": p.lam_pm * prototype_matching(features, old_labels, self.prototypes, known),
            "fs": p.lam_fs * feature_sparsity(features, labels),
            "fc": p.lam_fc * feature_attraction(features, labels, self.prototypes, known),
            "sep": p.lam_sep * feature_repulsion(features, labels),
        }

    def _latent(self, named):
        if self.params.feature not in named:
            raise ValueError(f"invalid params.feature={self.params.feature!r}: valid maps are {', '.join(named)}")
        return named[self.params.feature]

    def _running_mean(self, features, labels, classes):
        """SDR's running prototypes of the task's classes: the mean of every feature of the class seen so far
        in the task (this batch included)."""
        present = classes[(labels.reshape(-1, 1) == classes).any(0)]
        if len(present) == 0:
            return
        n = torch.stack([(labels == c).sum() for c in present]).to(self.counts.dtype)  # K
        means = class_means(features, labels, present)  # K, D
        self.prototypes[present] = (self.prototypes[present] * self.counts[present, None] + means * n[:, None]) / (
            self.counts[present] + n)[:, None]
        self.counts[present] += n

    @torch.no_grad()
    def after_task(self, task, model, images, masks):
        """The prototypes of the task's classes: mean features of the final model (eval mode) over the task's
        scenes, replacing the running means (SDR's code keeps those, from the changing model in training)."""
        was_training = model.training
        model.eval()
        sums, counts, classes = 0.0, 0.0, torch.arange(task.n_old, 1 + task.n_seen, device=self.device)
        step = self.eval_batch_size
        for start in range(0, len(images), step):
            features = self._latent(model.features(images[start:start + step].to(self.device)))
            labels = labels_at(masks[start:start + step].to(self.device).long(), features.shape[-2:])
            n = (labels.reshape(-1, 1) == classes).sum(0).to(features.dtype)  # K
            sums, counts = sums + class_means(features, labels, classes) * n[:, None], counts + n
        model.train(was_training)
        self._grow(1 + task.n_seen, features.shape[1])
        self.prototypes[classes] = sums / counts.clamp(min=1)[:, None]
        self.counts[classes] = counts

    def state_dict(self):
        return {} if self.prototypes is None else {"prototypes": self.prototypes, "counts": self.counts}

    def load_state_dict(self, state):
        if "prototypes" in state:
            self.prototypes = state["prototypes"].to(self.device)
            self.counts = state["counts"].to(self.device)
