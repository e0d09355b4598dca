"""SDR's latent-space losses: prototype matching, attraction, repulsion and sparsity."""

import torch
import torch.nn.functional as F

from csslab.core.constants import BACKGROUND, IGNORE
from csslab.losses._util import _masked_mean


# --- SDR (Michieli & Zanuttigh, CVPR 2021) ---
# Latent-space losses on a feature map `features` [B, D, h, w] with `labels` [B, h, w] at its resolution
# (`labels_at`). `prototypes` [n, D] holds one feature vector per class channel; rows that were never set
# are ignored through `known` [n] (bool). References for all: Michieli & Zanuttigh, Continual Semantic
# Segmentation via Repulsion-Attraction of Sparse and Disentangled Latent Representations, CVPR 2021.

def labels_at(target, size):
    """`target` [B, H, W] resized to `size` (h, w) by nearest neighbour, as SDR's code does for its losses."""
    return F.interpolate(target[:, None].float(), size=tuple(size), mode="nearest")[:, 0].long()  # B, h, w


def class_means(features, labels, classes):
    """Mean feature vector [len(classes), D] of the pixels of each class in `labels` (classes absent: 0)."""
    flat = features.permute(0, 2, 3, 1).reshape(-1, features.shape[1])  # B*h*w, D
    onehot = (labels.reshape(-1, 1) == torch.as_tensor(classes, device=labels.device)).to(flat.dtype)  # N, K
    return (onehot.T @ flat) / onehot.sum(0).clamp(min=1)[:, None]  # K, D


def _present(labels, known):
    """Classes in `labels` that have a prototype (IGNORE excluded)."""
    classes = labels.unique()
    classes = classes[(classes != IGNORE) & (classes < len(known))]
    return classes[known[classes]]


def prototype_matching(features, labels, prototypes, known):
    """SDR's prototype matching: for each class c in `labels` with a prototype, the squared distance
    (mean over the D channels) between the mean feature of its pixels and p_c; mean over those classes.
    `labels` are the old classes' pseudo-labels (old model's argmax on background pixels, 0 elsewhere)."""
    classes = _present(labels, known)
    classes = classes[classes != BACKGROUND]
    if len(classes) == 0:
        return features.sum() * 0.0
    means = class_means(features, labels, classes)  # K, D
    return (means - prototypes[classes].detach()).pow(2).mean(1).mean()


def feature_attraction(features, labels, prototypes, known):
    """SDR's attraction (its features clustering): mean over the pixels of class c and the D channels of
    (f − p_c)², then mean over the classes in `labels` that have a prototype (SDR's code divides inside its
    loop instead, so that later classes weigh more: csslab takes the plain mean)."""
    classes = _present(labels, known)
    if len(classes) == 0:
        return features.sum() * 0.0
    flat = features.permute(0, 2, 3, 1).reshape(-1, features.shape[1])  # N, D
    flat_labels = labels.reshape(-1)  # N
    total = 0.0
    for c in classes:
        total = total + (flat[flat_labels == c] - prototypes[c].detach()).pow(2).mean()
    return total / len(classes)


def feature_repulsion(features, labels):
    """SDR's repulsion (separation of clusters): the mean over ordered pairs of different classes in
    `labels` of 1 / ‖μ_i − μ_j‖₂ between their mean features; 0 with fewer than two classes."""
    classes = labels.unique()
    classes = classes[classes != IGNORE]
    if len(classes) < 2:
        return features.sum() * 0.0
    means = class_means(features, labels, classes)  # K, D
    distance = torch.cdist(means[None], means[None])[0]  # K, K
    off = ~torch.eye(len(classes), dtype=torch.bool, device=features.device)  # K, K
    return (1.0 / distance[off]).mean()


def feature_sparsity(features, labels, eps=1e-15):
    """SDR's features sparsification with its code's defaults (normalisation `max_maskedforclass`, shrinking
    `exponential`, loss `ratio`): each pixel's features are divided by the largest feature of its class in
    the batch, f̃ = f / max_class f, and the loss is Σ_d exp(f̃_d) / Σ_d f̃_d, mean over non-ignored pixels
    whose Σ_d f̃_d > 0 (SDR's code keeps those too, where its eps makes the ratio ~1e15)."""
    scale = torch.ones_like(labels, dtype=features.dtype)  # B, h, w
    for c in labels.unique():
        if c != IGNORE:
            scale = torch.where(labels == c, features.permute(0, 2, 3, 1)[labels == c].max() + eps, scale)
    normed = features / scale[:, None]  # B, D, h, w
    total = normed.sum(1)  # B, h, w
    valid = (labels != IGNORE) & (total > 0)  # B, h, w
    ratio = torch.exp(normed).sum(1) / torch.where(valid, total, torch.ones_like(total))  # B, h, w
    return _masked_mean(ratio, valid)
