"""Sigmoid (one-vs-rest) losses: SSUL's BCE with an unknown channel and DKD's decomposed distillation."""

import torch
import torch.nn.functional as F

from csslab.core.constants import BACKGROUND, IGNORE
from csslab.losses._util import _check_n_old, _masked_mean


def bce_with_unknown(logits, target):
    """Sigmoid binary cross-entropy against one-hot(target, C), mean over non-ignored pixels and
    over channels. SSUL's unknown class is just one of the channels, chosen by the method. (SSUL's
    code sums over channels instead of averaging: C times this value.)
    References: Cha et al., SSUL: Semantic Segmentation with Unknown Label for Exemplar-based
    Class-Incremental Learning, NeurIPS 2021.
    """
    valid = target != IGNORE  # B, H, W
    labels = torch.where(valid, target, BACKGROUND)  # B, H, W
    one_hot = F.one_hot(labels, logits.shape[1]).permute(0, 3, 1, 2).to(logits.dtype)  # B, C, H, W
    bce = F.binary_cross_entropy_with_logits(logits, one_hot, reduction="none")  # B, C, H, W
    return _masked_mean(bce.mean(1), valid)


# --- DKD (Baek et al., NeurIPS 2022) ---


def _bce_per_channel(logits, targets, valid=None, pos_weight=1.0):
    """Sigmoid BCE of each channel against `targets` in [0, 1] (same shape), mean over (`valid`) pixels,
    summed over channels: DKD's reduction (``.mean(dim=[0, 2, 3]).sum()``). `pos_weight` scales the
    positive term, as BCEWithLogitsLoss's."""
    weight = torch.tensor(float(pos_weight), dtype=logits.dtype, device=logits.device)
    bce = F.binary_cross_entropy_with_logits(logits, targets, pos_weight=weight, reduction="none")  # B, C, H, W
    if valid is None:
        return bce.mean((0, 2, 3)).sum()
    valid = valid[:, None].to(bce.dtype)  # B, 1, H, W
    return ((bce * valid).sum((0, 2, 3)) / valid.sum().clamp(min=1)).sum()


def new_class_bce(logits, target, n_old, pos_weight=1.0):
    """DKD's mBCE on the current task's channels n_old..C-1: channel c's target is (target == c), so
    background, old classes (labelled background) and other new classes are its negatives; per channel
    the mean over non-ignored pixels, summed over channels. `pos_weight` scales the positives (DKD: 2 in
    the first task, 1 after). DKD's code counts ignored pixels as negatives; here they count nowhere.
    References: Baek et al., Decomposed Knowledge Distillation for Class-Incremental Semantic
    Segmentation (DKD), NeurIPS 2022.
    """
    _check_n_old(logits, n_old)
    new = torch.arange(n_old, logits.shape[1], device=logits.device)  # C - n_old
    one_hot = (target[:, None] == new[None, :, None, None]).to(logits.dtype)  # B, C - n_old, H, W
    return _bce_per_channel(logits[:, n_old:], one_hot, target != IGNORE, pos_weight)


def new_class_bce_all_pixels(logits, target, n_old, pos_weight=1.0):
    """``new_class_bce`` as DKD's code computes it (its WBCELoss): ignored pixels are negatives of every new
    channel and count in each channel's mean over all pixels. Equals ``new_class_bce`` where no pixel is ignored.
    References: Baek et al., DKD, NeurIPS 2022.
    """
    _check_n_old(logits, n_old)
    new = torch.arange(n_old, logits.shape[1], device=logits.device)  # C - n_old
    one_hot = (target[:, None] == new[None, :, None, None]).to(logits.dtype)  # B, C - n_old, H, W; IGNORE: 0
    return _bce_per_channel(logits[:, n_old:], one_hot, None, pos_weight)


def sigmoid_kd(logits, old_logits):
    """DKD's distillation: BCE of each channel against the old model's sigmoid, sigmoid(old_logits), mean
    over pixels, summed over channels; `logits` and `old_logits` have the same shape (the caller picks
    the channels). Minimal, at the binary entropy of sigmoid(old_logits), where logits == old_logits.
    References: Baek et al., DKD, NeurIPS 2022.
    """
    if logits.shape != old_logits.shape:
        raise ValueError(f"sigmoid_kd needs logits of equal shape, got {tuple(logits.shape)} and "
                         f"{tuple(old_logits.shape)}")
    return _bce_per_channel(logits, torch.sigmoid(old_logits.detach()))


def decompose_logits(features, weight):
    """DKD's decomposition of a 1x1 classifier's logits (without bias) into the evidence for and against
    each class: `positive` = features · max(w, 0), `negative` = features · min(w, 0), so
    positive + negative + bias = the classifier's logits. `features` [B, F, h, w], `weight` [K, F] (or
    [K, F, 1, 1]); returns two [B, K, h, w] maps.
    References: Baek et al., DKD, NeurIPS 2022 (its model's forward_class_prediction_positive/negative).
    """
    weight = weight.reshape(weight.shape[0], -1)  # K, F
    positive = torch.einsum("bfhw,kf->bkhw", features, weight.clamp(min=0))  # B, K, h, w
    negative = torch.einsum("bfhw,kf->bkhw", features, weight.clamp(max=0))  # B, K, h, w
    return positive, negative


def all_negative_bce(logits):
    """BCE of every pixel against 0, mean over pixels and channels: −log(1 − sigmoid(z)) = softplus(z).
    DKD's auxiliary classifier learns to score every pixel low, and new classifiers start from it.
    References: Baek et al., DKD, NeurIPS 2022 (its ACLoss).
    """
    return F.softplus(logits).mean()
