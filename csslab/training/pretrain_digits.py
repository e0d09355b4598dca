"""``model.pretrain=digits``: ImageNet's analogue. The backbone learns image-level labels only (which digits a
canvas shows, no mask) on all ten classes, from the digit instances every source holds out of its scenes
(``Digits.pretrain_*``), as an ImageNet backbone has seen Pascal VOC's classes on other images
(docs/methods.md#pretrained-backbone).

Each step draws a fresh seeded batch of canvases (2-4 pretraining digits, placed as the scenes place theirs); a 1×1
head gives per-pixel logits of the ten digits and log-sum-exp pooling (sharpness ``LSE_R``) turns them into one
logit per digit and canvas, trained with binary cross-entropy against the digits whose ink is on the canvas.
Pooling per-pixel logits (not features) makes the per-pixel features themselves separate the digits, which is
what a segmentation head on the frozen backbone needs.
"""

from __future__ import annotations

import hashlib
import math
import time

import numpy as np
import torch
import torch.nn.functional as F

from csslab.core.config import TrainConfig
from csslab.core.constants import N_DIGITS
from csslab.data.digits import load_digits
from csslab.data.scenes import SceneConfig, generate_scenes
from csslab.model.network import IncrementalSegmenter
from csslab.training.optim import pretrain_steps

RECIPE = TrainConfig(optimizer="adam", weight_decay=0.0, schedule="poly")  # as the shapes pretraining
LSE_R = 5.0  # log-sum-exp pooling's sharpness: max pooling as it grows, mean pooling as it shrinks
EVAL_SEED, EVAL_CANVASES = 2_000_003, 500  # canvases of the source's test digits: never a pretraining digit


def digits_digest(source: str) -> str:
    """A digest of ``source``'s pretraining digits (part of the cache key: other digits, other weights)."""
    digits = load_digits(source)
    digest = hashlib.blake2b(digest_size=8)
    for array in (digits.pretrain_images, digits.pretrain_labels):
        digest.update(f"{array.dtype}{array.shape}".encode() + np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def canvases(images, labels, n: int, seed) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` canvases [n, 1, S, S] of the given digits and their image-level labels [n, 10] (1: the digit's ink
    is on the canvas); the masks the canvases come with are used for nothing else."""
    scenes, masks = generate_scenes(images, labels, n, SceneConfig(), seed=seed)
    present = (masks[:, None] == np.arange(1, N_DIGITS + 1)[None, :, None, None]).any((2, 3))  # n, 10
    return torch.from_numpy(scenes[:, None]), torch.from_numpy(present.astype(np.float32))


def pooled_logits(net, x) -> torch.Tensor:
    """One logit per digit and canvas [B, 10]: log-sum-exp pooling of the per-pixel logits, normalised so that
    a constant map pools to itself."""
    pixels = net(x).flatten(2)  # B, 10, H*W
    return (torch.logsumexp(LSE_R * pixels, -1) - math.log(pixels.shape[-1])) / LSE_R


def train_digits_backbone(backbone: str, source: str, steps: int, batch: int, lr: float, seed: int, device,
                          progress: bool = False) -> dict:
    """Pretrain ``backbone`` on ``source``'s pretraining digits for ``steps`` steps of Adam (``lr``, poly
    decay); returns the backbone's state dict (CPU), the seconds, the mean loss of the last quarter of steps,
    and the exact-set and per-digit accuracy on canvases of the test digits. The caller seeds torch."""
    digits = load_digits(source)
    start = time.perf_counter()
    net = IncrementalSegmenter(backbone).to(device)
    net.add_head(N_DIGITS)
    def loss_at(step):
        x, y = canvases(digits.pretrain_images, digits.pretrain_labels, batch, (seed, step))
        return F.binary_cross_entropy_with_logits(pooled_logits(net, x.to(device)), y.to(device))

    label = f"pretrain digits ({backbone})" if progress else ""
    losses = pretrain_steps(net, loss_at, steps, RECIPE, lr, label, "digits")  # the tasks' optimiser and schedule
    seconds = time.perf_counter() - start
    backbone_state = {k: v.detach().cpu().clone() for k, v in net.backbone.state_dict().items()}
    return {"backbone": backbone_state, "seconds": seconds, "loss": float(np.mean(losses[-max(1, steps // 4):])),
            **held_out_accuracy(net, digits, device)}


@torch.no_grad()
def held_out_accuracy(net, digits, device) -> dict:
    """Exact-set accuracy (every digit's presence right) and per-digit accuracy on canvases of test digits."""
    x, y = canvases(digits.test_images, digits.test_labels, EVAL_CANVASES, EVAL_SEED)
    net.eval()
    predicted = torch.cat([pooled_logits(net, x[i:i + 100].to(device)).cpu() > 0 for i in range(0, len(x), 100)])
    right = predicted == y.bool()
    return {"accuracy": float(right.all(1).float().mean()), "digit_accuracy": float(right.float().mean())}
