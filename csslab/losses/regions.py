"""MicroSeg's proposals (connected regions of ink), region-level logits and unseen-class diversity."""

import torch
import torch.nn.functional as F


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
