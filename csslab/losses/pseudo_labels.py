"""PLOP's pseudo-labels: the old model's confident predictions replace the background label.

`entropy_thresholds` computes per-class thresholds before a task (the paper's median, or PLOP's
code's histogram rule), `entropy_pseudo_labels` applies them per batch and `pseudo_label_factor`
weights each image's cross-entropy by the share of its background that got a confident label.
Conventions as in `csslab.losses`.
"""

import itertools
import math

import torch

from csslab.core.constants import BACKGROUND, IGNORE


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
def entropy_thresholds(old_logits, n_old, target=None, min_threshold=1e-3, missing=None, rule="median",
                       n_channels=None, n_bins=100):
    """Per-class thresholds for `entropy_pseudo_labels`, computed from the old model's predictions
    on a task's scenes before training it (PLOP).

    `old_logits`: a tensor [B, n_old, H, W] or an iterable of such batches; `target` (same form,
    optional) restricts the count to BACKGROUND pixels, the ones that get pseudo-labelled, as
    PLOP does. `rule="median"` (the paper): the exact median normalised entropy of the pixels
    predicted as each class; a class never predicted gets `missing`, by default the median over
    all counted pixels (1.0 if none); every threshold is at least `min_threshold` (PLOP's 0.001).
    `rule="histogram"`: PLOP's code, `histogram_thresholds` (needs `n_channels`).
    Returns float32 [n_old] on the normalised-entropy scale of `entropy_pseudo_labels`.
    References: Douillard et al., PLOP: Learning without Forgetting for Continual Semantic
    Segmentation, CVPR 2021.
    """
    if rule not in ("median", "histogram"):
        raise ValueError(f"unknown threshold rule {rule!r}: valid rules are median, histogram")
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
    if rule == "histogram":
        return histogram_thresholds(entropy, prediction, n_old, n_channels, min_threshold, n_bins)
    if missing is None:
        missing = _median(entropy).item() if len(entropy) else 1.0
    thresholds = torch.full((n_old,), float(missing), device=entropy.device)  # n_old
    for c in range(n_old):
        values = entropy[prediction == c]
        if len(values):
            thresholds[c] = _median(values)
    return thresholds.clamp(min=min_threshold)


def histogram_median(counts, n_bins):
    """The median of a histogram as PLOP's code computes it (`find_median`), bug included: its
    running sum adds each bin's index (b/n_bins·n_bins, a float) instead of the bin's count, so
    unless a single bin holds half of the values the loop runs off the end and divides by the
    count of the last bin, usually 0: +inf when half the total exceeds the sum of the indices,
    -inf when below. 0.0 for an empty histogram (PLOP's initial value). `counts`: ints [n_bins].
    """
    total = sum(int(c) for c in counts)
    if total <= 0:
        return 0.0
    half, running = total / 2, 0.0
    for b in range(n_bins):
        lower = b / n_bins
        index = int(lower * n_bins)  # PLOP's round trip: int(29/100*100) == 28
        if running <= half <= running + int(counts[index]):
            break
        running += lower * n_bins  # a correct histogram median adds counts[index]
    count = int(counts[index])
    if count == 0:
        return math.nan if half == running else math.copysign(math.inf, half - running)
    return lower + ((half - running) / count) * (1 / n_bins)


def histogram_thresholds(entropy, prediction, n_old, n_channels, min_threshold=1e-3, n_bins=100):
    """PLOP's code's thresholds from flat normalised entropies [N] and old predictions [N].

    PLOP's entropy is −mean_c p_c·log p_c / log(n_old), i.e. ours / n_old, and it is divided once
    more by log(n_channels) (the new model's channels, background included) before going into
    `n_bins` bins on [0, 1]. Per class, `histogram_median` of its bins, 0 for a class never
    predicted, then max(·, min_threshold) with Python's max (NaN and +inf stay). Returned on our
    scale (× n_old·log(n_channels)): comparing ours with it is PLOP's comparison on its scale.
    """
    if n_channels is None or n_channels < 2:
        raise ValueError(f"the histogram rule needs n_channels >= 2 (the new model's channels), got {n_channels}")
    scale = n_old * math.log(n_channels)
    bins = (entropy.float() / scale * n_bins).long().clamp(max=n_bins - 1)  # N
    counts = torch.zeros(n_old, n_bins, dtype=torch.int64)  # n_old, n_bins
    counts.index_put_((prediction.cpu(), bins.cpu()), torch.ones_like(bins.cpu()), accumulate=True)
    thresholds = []
    for c in range(n_old):
        median = histogram_median(counts[c].tolist(), n_bins)
        thresholds.append(median if not min_threshold > median else min_threshold)
    return torch.tensor(thresholds, dtype=torch.float32, device=entropy.device) * scale


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
