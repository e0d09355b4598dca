"""PLOP's pseudo-labels: the old model's confident predictions replace the background label.

`entropy_thresholds` computes per-class thresholds before a task, `entropy_pseudo_labels` applies them per batch and `pseudo_label_factor`
weights each image's cross-entropy by the share of its background that got a confident label.
Conventions as in `csslab.losses`.
"""

import itertools
import math

import torch

from csslab.constants import BACKGROUND, IGNORE


def normalised_entropy(logits):
    """Entropy of softmax(logits) over channels divided by log(C), in [0, 1]: [B, H, W]."""
    n = logits.shape[1]
    log_probs = torch.log_softmax(logits.float(), 1)  # B, C, H, W
    entropy = -(log_probs.exp() * log_probs).sum(1)  # B, H, W
    return entropy / math.log(n) if n > 1 else torch.zeros_like(entropy)


@torch.no_grad()
def entropy_pseudo_labels(old_logits, target, n_old, thresholds):
    """PLOP's pseudo-labels: background pixels take the old model's prediction where it is sure.

    A pixel with target == BACKGROUND gets argmax(old_logits) if its normalised entropy
    (entropy / log n_old) < thresholds[argmax] (the argmax may be 0: it stays background), else
    IGNORE; other pixels keep their label. `thresholds` [n_old], see `entropy_thresholds`.
    Returns a new int64 target [B, H, W]. (PLOP's code relabels every target < n_old, which only
    differs when old classes keep their labels.)
    References: Douillard et al., PLOP: Learning without Forgetting for Continual Semantic
    Segmentation, CVPR 2021.
    """
    if old_logits.shape[1] != n_old:
        raise ValueError(f"old_logits has {old_logits.shape[1]} channels, expected n_old={n_old}")
    prediction = old_logits.argmax(1)  # B, H, W
    entropy = normalised_entropy(old_logits)  # B, H, W
    confident = entropy < thresholds.to(entropy)[prediction]  # B, H, W
    pseudo = torch.where(confident, prediction, IGNORE)  # B, H, W
    return torch.where(target == BACKGROUND, pseudo, target)  # B, H, W


def _median(values):
    ordered = values.sort().values
    n = len(ordered)
    return (ordered[(n - 1) // 2] + ordered[n // 2]) / 2


@torch.no_grad()
def entropy_thresholds(old_logits, n_old, target=None, min_threshold=1e-3, missing=None):
    """Per-class thresholds for `entropy_pseudo_labels`: the median normalised entropy of the
    old model's predictions of each class, computed before training a task (PLOP).

    `old_logits`: a tensor [B, n_old, H, W] or an iterable of such batches; `target` (same form,
    optional) restricts the count to BACKGROUND pixels, the ones that get pseudo-labelled, as
    PLOP does. The median is exact (PLOP approximates it with a 100-bin histogram). A class never
    predicted gets `missing`, by default the median over all counted pixels (1.0 if none); every
    threshold is at least `min_threshold` (PLOP's 0.001) so saturated classes stay usable.
    Returns float32 [n_old].
    References: Douillard et al., PLOP: Learning without Forgetting for Continual Semantic
    Segmentation, CVPR 2021.
    """
    if isinstance(old_logits, torch.Tensor):
        old_logits, target = [old_logits], None if target is None else [target]
    if target is None:
        batches = zip(old_logits, itertools.repeat(None))
    else:
        batches = zip(old_logits, target, strict=True)
    entropies, predictions = [], []
    for i, (batch, batch_target) in enumerate(batches):
        if batch.shape[1] != n_old:
            raise ValueError(f"old_logits batch {i} has {batch.shape[1]} channels, expected n_old={n_old}")
        keep = slice(None) if batch_target is None else (batch_target == BACKGROUND).flatten()
        entropies.append(normalised_entropy(batch).flatten()[keep])  # N
        predictions.append(batch.argmax(1).flatten()[keep])  # N
    entropy, prediction = torch.cat(entropies), torch.cat(predictions)  # N, N
    if missing is None:
        missing = _median(entropy).item() if len(entropy) else 1.0
    thresholds = torch.full((n_old,), float(missing), device=entropy.device)  # n_old
    for c in range(n_old):
        values = entropy[prediction == c]
        if len(values):
            thresholds[c] = _median(values)
    return thresholds.clamp(min=min_threshold)


def pseudo_label_factor(target, pseudo_target, min_factor=0.0):
    """PLOP's adaptive classification factor per image [B]: the share of background pixels that
    received a confident pseudo-label (not IGNORE), clamped below by `min_factor`; 1.0 for an image
    without background. Multiply the image's CE by it — `cross_entropy(logits, pseudo_target,
    weight=factor)` — so images whose old knowledge is uncertain weigh less.
    References: Douillard et al., PLOP: Learning without Forgetting for Continual Semantic
    Segmentation, CVPR 2021 (`classif_adaptive_factor` in the authors' code).
    """
    background = target == BACKGROUND  # B, H, W
    n_sure = (background & (pseudo_target != IGNORE)).sum((1, 2)).float()  # B
    n_background = background.sum((1, 2)).float()  # B
    factor = torch.where(n_background > 0, n_sure / n_background.clamp(min=1), 1.0)  # B
    return factor.clamp(min=min_factor)
