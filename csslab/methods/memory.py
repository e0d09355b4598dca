"""A class-balanced memory of training scenes (with their masks), shared by replay and SSUL-M."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from csslab.core.config import TrainConfig
from csslab.core.constants import BACKGROUND


class Memory:
    """At most ``size`` scenes, split as evenly as possible between the seen classes.

    ``update`` runs at the end of a task: every stored scene belongs to the class it was chosen
    for; each seen class gets a quota of ``size // n_seen`` scenes (the first ``size % n_seen``
    classes in class order one more), old classes keep the first scenes of their share and the
    task's new classes draw theirs at random among the task's scenes that show them. A scene is
    chosen at most once, so a class with too few scenes leaves its slots empty. Masks are the
    channel labels the scene had when it was stored, unless ``refresh`` relabels them.
    """

    def __init__(self, size: int):
        if size < 0:
            raise ValueError(f"invalid memory size {size}: must be >= 0")
        self.size = size
        self.images = torch.zeros(0, 1, 0, 0)  # M, 1, H, W
        self.masks = torch.zeros(0, 0, 0, dtype=torch.uint8)  # M, H, W
        self.owner = torch.zeros(0, dtype=torch.int64)  # M: the channel label each scene stands for

    def __len__(self) -> int:
        return len(self.owner)

    @staticmethod
    def quotas(size: int, n_classes: int) -> list[int]:
        return [size // n_classes + (1 if c < size % n_classes else 0) for c in range(n_classes)]

    def update(self, task, images, masks, generator: torch.Generator) -> None:
        """Re-balance between old classes (channels 1..n_old-1) and store scenes of the new ones."""
        if self.size == 0:
            return
        quota = self.quotas(self.size, task.n_seen)  # quota[c - 1] for channel c
        keep = []
        for c in range(1, task.n_old):
            keep.append(torch.nonzero(self.owner == c).flatten()[: quota[c - 1]])
        keep = torch.cat(keep) if keep else torch.zeros(0, dtype=torch.int64)
        new_images, new_masks, new_owner = [self.images[keep]], [self.masks[keep]], [self.owner[keep]]
        taken = torch.zeros(len(masks), dtype=torch.bool)
        for c in range(task.n_old, task.n_old + len(task.classes)):
            shows = (masks == c).flatten(1).any(1) & ~taken  # N
            candidates = torch.nonzero(shows).flatten()
            chosen = candidates[torch.randperm(len(candidates), generator=generator)[: quota[c - 1]]]
            taken[chosen] = True
            new_images.append(images[chosen])
            new_masks.append(masks[chosen].to(torch.uint8))
            new_owner.append(torch.full((len(chosen),), c, dtype=torch.int64))
        if len(self) == 0:  # the empty placeholders have no image size yet
            new_images, new_masks = new_images[1:], new_masks[1:]
        self.images = torch.cat(new_images)
        self.masks = torch.cat(new_masks)
        self.owner = torch.cat(new_owner)
        assert len(self) <= self.size

    def sample(self, n: int, generator: torch.Generator, augment: bool = False):
        """``n`` stored scenes drawn uniformly with replacement: images, masks (int64); with
        ``augment``, each under its own random affine warp (``random_affine``)."""
        idx = torch.randint(len(self), (n,), generator=generator)
        images, masks = self.images[idx], self.masks[idx].long()
        return random_affine(images, masks, generator) if augment else (images, masks)

    def mix(self, images, masks, fraction: float, generator: torch.Generator, augment: bool = False):
        """The batch with ``round(fraction * len(images))`` stored scenes appended (unchanged if empty)."""
        n = round(fraction * len(images))
        if len(self) == 0 or n == 0:
            return images, masks
        old_images, old_masks = self.sample(n, generator, augment)
        old_images, old_masks = old_images.to(images.device), old_masks.to(masks.device)
        return torch.cat([images, old_images]), torch.cat([masks, old_masks])

    @torch.no_grad()
    def refresh(self, model, threshold: float, batch_size: int = TrainConfig.eval_batch_size) -> None:
        """Relabel background pixels with the model's prediction where its probability is at least
        ``threshold`` (classes learnt after a scene was stored, old classes hidden as background), scoring
        ``batch_size`` scenes at a time."""
        device = next(model.parameters()).device
        was_training = model.training
        model.eval()
        for start in range(0, len(self), batch_size):
            x = self.images[start:start + batch_size].to(device)
            probs = torch.softmax(model(x), 1)  # B, C, H, W
            score, label = probs.max(1)  # B, H, W
            mask = self.masks[start:start + batch_size].to(device)
            sure = (mask == BACKGROUND) & (score >= threshold)  # B, H, W
            self.masks[start:start + batch_size] = torch.where(sure, label, mask.long()).to(torch.uint8).cpu()
        model.train(was_training)

    def state_dict(self) -> dict:
        return {"images": self.images, "masks": self.masks, "owner": self.owner}

    def load_state_dict(self, state: dict) -> None:
        self.images, self.masks, self.owner = state["images"], state["masks"], state["owner"]


def random_affine(images, masks, generator: torch.Generator, degrees: float = 15.0, scale: float = 0.1,
                  shift: float = 0.1):
    """Each scene under its own random rotation (± ``degrees``), zoom (1 ± ``scale``) and translation
    (± ``shift`` of the side): images [B, 1, H, W] bilinear, masks [B, H, W] nearest; what moves in
    from outside is background. A few stored scenes seen hundreds of times are otherwise learnt by
    heart: the network recalls the memory's digits and still calls other digits of their classes
    background (measured: see the replay method's docstring)."""
    b = len(images)
    u = torch.rand(b, 4, generator=generator) * 2 - 1  # B, 4 in [-1, 1)
    angle = u[:, 0] * math.radians(degrees)
    zoom = 1 + u[:, 1] * scale
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack([torch.stack([cos, -sin, u[:, 2] * 2 * shift], 1),
                         torch.stack([sin, cos, u[:, 3] * 2 * shift], 1)], 1)  # B, 2, 3
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    warped = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    labels = F.grid_sample(masks[:, None].float() + 1, grid, mode="nearest", padding_mode="zeros",
                           align_corners=False)[:, 0].long() - 1  # B, H, W; -1 = moved in from outside
    return warped, torch.where(labels < 0, BACKGROUND, labels)


class Replaying:
    """Mixin for a ``Method`` whose params have ``memory_size`` and ``replay_fraction`` (and optionally
    ``augment``; declared ``param(0.5, low=0, high=4)``): a class-balanced ``Memory`` filled at the end of each
    task, ``replay_fraction``·B stored scenes appended to every batch, and the memory saved with the method's
    state. Put it before ``Method`` in the bases."""

    memory_param = "memory_size"

    def setup(self):
        super().setup()
        self.memory = Memory(self.params.memory_size)

    def batch(self, images, masks):
        augment = getattr(self.params, "augment", False)
        return self.memory.mix(images, masks, self.params.replay_fraction, self.generator, augment)

    def after_task(self, task, model, images, masks):
        super().after_task(task, model, images, masks)
        self.memory.update(task, images, masks, self.generator)

    def state_dict(self):
        return super().state_dict() | {"memory": self.memory.state_dict()}

    def load_state_dict(self, state):
        super().load_state_dict(state)
        self.memory.load_state_dict(state["memory"])
