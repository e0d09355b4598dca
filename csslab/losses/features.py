"""Feature distillation: ILT's MSE and PLOP's Local POD, on one map or several."""

import torch
import torch.nn.functional as F

from csslab.losses._util import _pairs


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
    PLOP's code does not L2-normalise (its loss weights assume raw embeddings); csslab does: docs/architecture.md#losses
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
