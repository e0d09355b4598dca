"""Pure loss functions of continual semantic segmentation; methods compose them.

Conventions: `logits` [B, C, H, W] of the current model (channel 0 = background, then classes in
class order), `old_logits` [B, n_old, H, W] of the frozen previous model (n_old = background + old
classes), `target` [B, H, W] int64 where IGNORE pixels count nowhere. Pixel losses are means over
non-ignored pixels; with no such pixel they return a zero that still has a gradient. Everything that
comes from the old model is detached here, so the teacher never receives a gradient.
"""

from collections.abc import Mapping

import torch
import torch.nn.functional as F

from csslab.constants import BACKGROUND, IGNORE
# PLOP's pseudo-labelling lives in its own module; DESIGN §4 names these functions here
from csslab.pseudo_labels import (entropy_pseudo_labels, entropy_thresholds, normalised_entropy,  # noqa: F401
                                  pseudo_label_factor)


def _masked_mean(values, valid):
    """Mean of `values` [B, H, W] over `valid` pixels; 0 (with grad) when none is valid."""
    return (values * valid).sum() / valid.sum().clamp(min=1)


def _check_n_old(logits, n_old):
    if not 1 <= n_old <= logits.shape[1]:
        raise ValueError(f"n_old={n_old} must be in 1..{logits.shape[1]} (channels of logits)")


def _pairs(features, old_features):
    """(current, old) map pairs from two tensors, two equal-length sequences or two dicts."""
    if isinstance(features, torch.Tensor):
        features, old_features = [features], [old_features]
    elif isinstance(features, Mapping):
        old_features = [old_features[name] for name in features]
        features = list(features.values())
    features, old_features = list(features), list(old_features)
    if len(features) != len(old_features) or not features:
        raise ValueError(f"need as many maps as old maps (>0), got {len(features)} and {len(old_features)}")
    return [(f, o.detach()) for f, o in zip(features, old_features)]


def cross_entropy(logits, target, weight=None):
    """Cross-entropy over non-ignored pixels: mean of w_b,p · −log softmax(logits)_target.

    `weight` (optional) is a per-image [B] or per-pixel [B, H, W] factor, e.g. PLOP's
    `pseudo_label_factor`; the mean still divides by the number of non-ignored pixels.
    """
    nll = F.cross_entropy(logits, target, ignore_index=IGNORE, reduction="none")  # B, H, W
    if weight is not None:
        nll = nll * (weight.view(-1, 1, 1) if weight.dim() == 1 else weight)  # B, H, W
    return _masked_mean(nll, target != IGNORE)


def unbiased_ce(logits, target, n_old):
    """MiB's unbiased cross-entropy: old classes are folded into the background.

    Targets < n_old (background and old classes) score log p(bg) = logsumexp(logits[:n_old]) −
    logsumexp(logits); a new class c ≥ n_old scores logits[c] − logsumexp(logits). Mean NLL over
    non-ignored pixels (MiB averages over all pixels, ignored ones counting 0).
    References: Cermelli et al., Modeling the Background for Incremental Learning in Semantic
    Segmentation (MiB), CVPR 2020.
    """
    _check_n_old(logits, n_old)
    den = torch.logsumexp(logits, 1, keepdim=True)  # B, 1, H, W
    log_bg = torch.logsumexp(logits[:, :n_old], 1, keepdim=True) - den  # B, 1, H, W
    log_probs = torch.cat([log_bg, logits[:, 1:] - den], 1)  # B, C, H, W (channels 1..n_old-1 unused)
    labels = torch.where(target < n_old, BACKGROUND, target)  # B, H, W
    nll = F.nll_loss(log_probs, labels, ignore_index=IGNORE, reduction="none")  # B, H, W
    return _masked_mean(nll, labels != IGNORE)


def kd(logits, old_logits, alpha=1.0):
    """LwF's distillation on the old channels, mean over pixels of
    −Σ_{c<n_old} softmax(alpha·old_logits)_c · log_softmax(logits[:n_old])_c / n_old.

    References: Li & Hoiem, Learning without Forgetting, ECCV 2016 (as in MiB's KD loss).
    """
    n_old = old_logits.shape[1]
    _check_n_old(logits, n_old)
    log_probs = torch.log_softmax(logits[:, :n_old], 1)  # B, n_old, H, W
    old_probs = torch.softmax(alpha * old_logits.detach(), 1)  # B, n_old, H, W
    return -(old_probs * log_probs).sum(1).mean() / n_old


def unbiased_kd(logits, old_logits, alpha=1.0):
    """MiB's unbiased distillation: the old background may now be background or a new class.

    log p over all C channels; the background term is logsumexp(logits[0], logits[n_old:]) −
    logsumexp(logits), old class c in 1..n_old-1 uses logits[c] − logsumexp(logits); per pixel
    −Σ_{c<n_old} softmax(alpha·old_logits)_c · log p_c / n_old, mean over all pixels. Equals `kd`
    when there is no new channel.
    References: Cermelli et al., Modeling the Background for Incremental Learning in Semantic
    Segmentation (MiB), CVPR 2020.
    """
    n_old = old_logits.shape[1]
    _check_n_old(logits, n_old)
    den = torch.logsumexp(logits, 1, keepdim=True)  # B, 1, H, W
    bg_and_new = torch.cat([logits[:, :1], logits[:, n_old:]], 1)  # B, 1+C-n_old, H, W
    log_bg = torch.logsumexp(bg_and_new, 1, keepdim=True) - den  # B, 1, H, W
    log_probs = torch.cat([log_bg, logits[:, 1:n_old] - den], 1)  # B, n_old, H, W
    old_probs = torch.softmax(alpha * old_logits.detach(), 1)  # B, n_old, H, W
    return -(old_probs * log_probs).sum(1).mean() / n_old


def feature_mse(features, old_features):
    """ILT's feature distillation: mean squared error to the old features, averaged over maps.

    Takes two tensors, two equal-length sequences or two dicts of maps (matched by name).
    References: Michieli & Zanuttigh, Incremental Learning Techniques for Semantic Segmentation,
    ICCV-W 2019.
    """
    pairs = _pairs(features, old_features)
    return sum(F.mse_loss(f, old) for f, old in pairs) / len(pairs)


def _band_means(n, scales, like):
    """[n, Σs] matrix whose column (s, k) averages band k of n split into s bands, with the
    bands of adaptive_avg_pool: [floor(k·n/s), ceil((k+1)·n/s))."""
    columns = []
    for s in scales:
        for k in range(s):
            start, stop = (k * n) // s, -(-(k + 1) * n // s)
            column = torch.zeros(n, dtype=like.dtype, device=like.device)  # n
            column[start:stop] = 1.0 / (stop - start)
            columns.append(column)
    return torch.stack(columns, 1)  # n, Σs


def _pod_embedding(x, scales):
    """Local POD embedding [B, D] of one map [B, C, H, W]: per scale, L2-normalised pools."""
    x = x.pow(2)  # B, C, H, W
    h, w = x.shape[-2:]
    # Width pooling in region (i, j) gives one value per row of the region; the row bands
    # partition the rows, so all regions of a scale together pool the columns of band j for
    # every row. Matmuls with band-averaging matrices do every scale at once (and backpropagate
    # much faster on CPU than adaptive_avg_pool2d).
    along_h = x @ _band_means(w, scales, x)  # B, C, H, Σs
    along_w = _band_means(h, scales, x).T @ x  # B, C, Σs, W
    embedding, first = [], 0
    for s in scales:
        band_h = along_h[..., first:first + s].flatten(1)  # B, C*H*s
        band_w = along_w[..., first:first + s, :].flatten(1)  # B, C*s*W
        embedding.append(F.normalize(torch.cat([band_h, band_w], 1), dim=1))  # B, C*(H+W)*s
        first += s
    return torch.cat(embedding, 1)  # B, D


def local_pod(features, old_features, scales=(1, 2, 4)):
    """PLOP's Local POD: a distance between multi-scale width and height poolings of squared maps.

    Per map: x², for each scale s split into s×s regions, average each region over its width
    (one value per row) and over its height (one value per column), concatenate, L2-normalise per
    scale and sample, concatenate scales; the loss is the L2 (Frobenius) distance between current
    and old embeddings, mean over the batch, then over maps. Regions follow adaptive_avg_pool2d:
    when H or W is not divisible by s, band k spans [floor(k·W/s), ceil((k+1)·W/s)), so bands
    may share one row/column and no pixel is dropped (PLOP's code crops the remainder).
    PLOP's code does not L2-normalise (its loss weights assume raw embeddings); DESIGN does.
    `features`, `old_features`: two maps [B, C, H, W], two equal-length sequences or two dicts.
    Logits with new channels must first be brought to the old shape (`fold_new_channels`).
    References: Douillard et al., PLOP: Learning without Forgetting for Continual Semantic
    Segmentation, CVPR 2021 (Local POD; POD from PODNet, ECCV 2020).
    """
    total = 0.0
    pairs = _pairs(features, old_features)
    for f, old in pairs:
        if f.shape != old.shape:
            shapes = f"{tuple(f.shape)} and {tuple(old.shape)}"
            raise ValueError(f"local_pod needs maps of equal shape, got {shapes}")
        diff = _pod_embedding(f, scales) - _pod_embedding(old, scales)  # B, D
        total = total + torch.linalg.vector_norm(diff, dim=1).mean()
    return total / len(pairs)


def fold_new_channels(logits, n_old):
    """Logits [B, C, H, W] → [B, n_old, H, W] with the new channels summed into the background,
    so the current model's logits can be compared with the old model's (PLOP's POD on logits)."""
    _check_n_old(logits, n_old)
    bg = logits[:, :1] + logits[:, n_old:].sum(1, keepdim=True)  # B, 1, H, W
    return torch.cat([bg, logits[:, 1:n_old]], 1)  # B, n_old, H, W


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


def ewc_penalty(params, old_params, fisher):
    """EWC's quadratic penalty Σ F·(θ − θ*)², summed over all parameters.

    Takes three aligned sequences of tensors or three dicts keyed by parameter name.
    References: Kirkpatrick et al., Overcoming catastrophic forgetting in neural networks, PNAS 2017.
    """
    if isinstance(params, Mapping):
        names = list(params)
        params, old_params, fisher = ([d[n] for n in names] for d in (params, old_params, fisher))
    total = 0.0
    for p, old, f in zip(params, old_params, fisher, strict=True):
        total = total + (f.detach() * (p - old.detach()).pow(2)).sum()
    return total


@torch.no_grad()
def fisher_step(fisher, grads, decay=0.9):
    """MiB's online Fisher, after every training step: F ← decay·g² + (1 − decay)·F per parameter.
    `fisher`, `grads`: dicts by parameter name; a name whose gradient is None keeps its F. Updates
    `fisher` in place and returns it.
    References: Chaudhry et al., Riemannian Walk for Incremental Learning (EWC++), ECCV 2018; MiB's code.
    """
    for name, grad in grads.items():
        if grad is not None:
            fisher[name] = decay * grad.detach().pow(2) + (1 - decay) * fisher[name]
    return fisher


@torch.no_grad()
def normalise_fisher(fisher, mode="tensor", eps=1e-8):
    """Fisher values in [0, 1]: `tensor` maps each tensor to (F − min F) / (max F − min F + eps)
    (MiB's code, so every tensor has weights of importance 1 and 0); `global` divides every tensor
    by the largest entry over all of them (max at least 1e-12). Returns a new dict.
    """
    if mode == "tensor":
        return {n: (f - f.min()) / (f.max() - f.min() + eps) for n, f in fisher.items()}
    if mode == "global":
        top = max((float(f.max()) for f in fisher.values()), default=0.0)
        return {n: f / max(top, 1e-12) for n, f in fisher.items()}
    raise ValueError(f"unknown Fisher normalisation {mode!r}: valid values are tensor, global")


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


# --- MicroSeg (Zhang et al., NeurIPS 2022) ---
# Proposals and region-level logits, and the loss that spreads the unseen class over K channels.
# References for all: Zhang et al., Mining Unseen Classes via Regional Objectness: A Simple Baseline for
# Incremental Segmentation, NeurIPS 2022.

def _max3x3(x):
    """3×3 maximum filter of x [B, H, W] (zero padding), separably: far faster than max_pool2d on one channel."""
    rows = F.pad(x, (1, 1))  # B, H, W+2
    x = torch.maximum(torch.maximum(rows[..., :-2], rows[..., 1:-1]), rows[..., 2:])
    cols = F.pad(x, (0, 0, 1, 1))  # B, H+2, W
    return torch.maximum(torch.maximum(cols[:, :-2], cols[:, 1:-1]), cols[:, 2:])


@torch.no_grad()
def ink_regions(images, ink=0.5):
    """Class-agnostic proposals [B, H, W] int64 of images [B, 1, H, W]: the 8-connected components of ink
    (intensity ≥ `ink`), each with its own id > 0 (the largest pixel index + 1 in it), and 0 for the rest of
    the image, one more region. A label is the index of a pixel of the component: each round every pixel takes
    its neighbours' largest label and hands it to the pixel its own label points to (hooking), then labels
    jump to their pixel's label; a long stroke takes a few rounds, not one per pixel."""
    ink_mask = images[:, 0] >= ink  # B, H, W
    b, h, w = ink_mask.shape
    index = torch.arange(1, h * w + 1, device=images.device).view(1, h, w)
    ids = torch.where(ink_mask, index, 0).reshape(b, -1)  # B, HW
    flat_ink = ink_mask.reshape(b, -1)  # B, HW
    while True:
        neighbours = torch.where(flat_ink, _max3x3(ids.view(b, h, w)).reshape(b, -1), 0)  # B, HW
        spread = torch.maximum(ids, neighbours).scatter_reduce(1, (ids - 1).clamp(min=0), neighbours, "amax")
        for _ in range(2):
            spread = torch.maximum(spread, spread.gather(1, (spread - 1).clamp(min=0)) * flat_ink)
        if torch.equal(spread, ids):
            return ids.view(b, h, w)
        ids = spread


def region_mean(logits, regions):
    """Region-level classification: every pixel of `logits` [B, C, H, W] gets the mean over its region of
    `regions` [B, H, W] (ids per image). For a linear head this equals classifying the region's mean-pooled
    features (MicroSeg's proposal branch): W·mean(f) + b = mean(W·f + b)."""
    b, c, h, w = logits.shape
    keys = regions + torch.arange(b, device=regions.device).view(b, 1, 1) * (h * w + 1)  # B, H, W
    _, inverse = torch.unique(keys.reshape(-1), return_inverse=True)  # B*H*W
    flat = logits.permute(0, 2, 3, 1).reshape(-1, c)  # B*H*W, C
    n = int(inverse.max()) + 1
    sums = flat.new_zeros(n, c).index_add(0, inverse, flat)  # n, C
    counts = torch.bincount(inverse, minlength=n).to(flat.dtype)  # n
    return (sums / counts[:, None])[inverse].view(b, h, w, c).permute(0, 3, 1, 2)  # B, C, H, W


def unseen_diversity(unseen):
    """MicroSeg's loss on the K unseen channels `unseen` [B, K, H, W]: each channel's map, L2-normalised over
    the pixels, should match itself rather than the others: −log softmax_j(⟨x_i, sg(x_j)⟩)_i, mean over i
    and images (sg: no gradient, as MicroSeg's code). Minimal when the K maps are disjoint."""
    x = F.normalize(unseen.flatten(2), dim=2)  # B, K, HW
    similarity = torch.einsum("bin,bjn->bij", x, x.detach())  # B, K, K
    return -torch.log_softmax(similarity, 2).diagonal(dim1=1, dim2=2).mean()
# --- MiB-AugM (Kwak, Cha & Moon, 2024) and EIR (Yin et al., 2025) ---
def _bg_or_new_log_probs(logits, n_old):
    """log p [B, n_old, H, W] over all C channels: background = logsumexp(logits[0], logits[n_old:]) −
    logsumexp(logits) (background or a class new since), old class c in 1..n_old-1 its own channel."""
    _check_n_old(logits, n_old)
    den = torch.logsumexp(logits, 1, keepdim=True)  # B, 1, H, W
    bg_and_new = torch.cat([logits[:, :1], logits[:, n_old:]], 1)  # B, 1+C-n_old, H, W
    log_bg = torch.logsumexp(bg_and_new, 1, keepdim=True) - den  # B, 1, H, W
    return torch.cat([log_bg, logits[:, 1:n_old] - den], 1)  # B, n_old, H, W


def memory_ce(logits, target, n_old):
    """MiB-AugM's cross-entropy on replayed scenes: a stored scene keeps its old-class labels, and its
    background may hide a class of the current task, so background scores log p(bg) = logsumexp(logits[0],
    logits[n_old:]) − logsumexp(logits) and old class c < n_old scores logits[c] − logsumexp(logits);
    targets ≥ n_old count as background. Mean over non-ignored pixels. Equals `cross_entropy` when there is
    no new channel (n_old = C), and is `unbiased_ce` with the roles of old and new classes swapped.
    References: Kwak, Cha & Moon, Towards Realistic Incremental Scenario in Class Incremental Semantic
    Segmentation, 2024 (UnbiasedCrossEntropyMem in their code).
    """
    log_probs = _bg_or_new_log_probs(logits, n_old)  # B, n_old, H, W
    labels = torch.where((target >= n_old) & (target != IGNORE), BACKGROUND, target)  # B, H, W
    nll = F.nll_loss(log_probs, labels, ignore_index=IGNORE, reduction="none")  # B, H, W
    return _masked_mean(nll, labels != IGNORE)


def region_kd(logits, old_logits, region, alpha=1.0):
    """EIR's region-specific distillation: MiB's `unbiased_kd` per pixel, averaged over the pixels of
    `region` [B, H, W] bool only (EIR: outside the current classes' ground truth, where the old model
    has knowledge to keep). Equals `unbiased_kd` when `region` is everywhere True; 0 where it is empty.
    References: Yin et al., Beyond Background Shift: Rethinking Instance Replay in Continual Semantic
    Segmentation, CVPR 2025 (RSKD).
    """
    n_old = old_logits.shape[1]
    log_probs = _bg_or_new_log_probs(logits, n_old)  # B, n_old, H, W
    old_probs = torch.softmax(alpha * old_logits.detach(), 1)  # B, n_old, H, W
    per_pixel = -(old_probs * log_probs).sum(1) / n_old  # B, H, W
    return _masked_mean(per_pixel, region)
