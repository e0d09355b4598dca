"""A class-balanced memory of digit *instances* (a crop and the mask of the digit's own pixels), pasted into
new scenes with their labels: EIR's instance replay (csslab.methods.eir)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from csslab.core.constants import BACKGROUND
from csslab.methods.memory import Memory

REACH = 2  # pixels a stroke may be broken by and still be one digit (ink below the threshold between parts)


def find_instances(mask: torch.Tensor, channel: int) -> list[tuple[slice, slice, np.ndarray]]:
    """The instances of ``channel`` in one mask [H, W]: connected groups of its pixels, strokes broken by
    up to REACH pixels joined. Each is (rows, cols, own): its box (grown by REACH, so the digit's faint
    edge comes along) and which pixels of the box are its own, bool [h, w]."""
    own = mask.numpy() == channel  # H, W
    groups, _ = ndimage.label(ndimage.binary_dilation(own, iterations=REACH), structure=np.ones((3, 3)))
    return [(rows, cols, own[rows, cols] & (groups[rows, cols] == k))
            for k, (rows, cols) in enumerate(ndimage.find_objects(groups), start=1)]


def paste(image, mask, crop, own, channel: int, noise: torch.Tensor) -> tuple[int, int]:
    """Paste ``crop`` [1, h, w] into ``image`` [1, H, W] (pixel-wise max, as scenes are painted) and label
    its own pixels ``own`` [h, w] ``channel`` in ``mask`` [H, W], in place, where the box covers the fewest
    labelled pixels (EIR places instances in the background); ``noise`` [H-h+1, W-w+1] in [0, 1) breaks
    ties. Returns the box's top-left corner."""
    h, w = own.shape
    labelled = F.pad((mask != BACKGROUND).float().cumsum(0).cumsum(1), (1, 0, 1, 0))  # H+1, W+1
    covered = labelled[h:, w:] - labelled[:-h, w:] - labelled[h:, :-w] + labelled[:-h, :-w]  # H-h+1, W-w+1
    row, col = divmod(int(torch.argmin(covered + noise)), covered.shape[1])
    box = image[:, row:row + h, col:col + w]
    box.copy_(torch.maximum(box, crop))
    mask[row:row + h, col:col + w][own] = channel
    return row, col


class InstanceMemory:
    """At most ``size`` instances, split between the seen classes as ``Memory`` splits scenes (the first
    ones kept for old classes, new classes' drawn at random, one per scene). An instance is kept at the
    top-left of a scene-sized array: ``crops`` [M, 1, H, W], ``owns`` [M, H, W] bool, ``sizes`` [M, 2]."""

    def __init__(self, size: int):
        if size < 0:
            raise ValueError(f"invalid memory size {size}: must be >= 0")
        self.size = size
        self.crops = torch.zeros(0, 1, 0, 0)
        self.owns = torch.zeros(0, 0, 0, dtype=torch.bool)
        self.sizes = torch.zeros(0, 2, dtype=torch.int64)
        self.owner = torch.zeros(0, dtype=torch.int64)  # M: the channel of each instance

    def __len__(self) -> int:
        return len(self.owner)

    def classes(self) -> list[int]:
        return sorted(set(self.owner.tolist()))

    def update(self, task, images, masks, generator: torch.Generator) -> None:
        if self.size == 0:
            return
        quota = Memory.quotas(self.size, task.n_seen)  # quota[c - 1] for channel c
        keep = [torch.nonzero(self.owner == c).flatten()[:quota[c - 1]] for c in range(1, task.n_old)]
        keep = torch.cat(keep) if keep else torch.zeros(0, dtype=torch.int64)
        crops, owns, sizes, owner = list(self.crops[keep]), list(self.owns[keep]), list(self.sizes[keep]), \
            self.owner[keep].tolist()
        for c in range(task.n_old, task.n_old + len(task.classes)):
            shows = torch.nonzero((masks == c).flatten(1).any(1)).flatten()
            for i in shows[torch.randperm(len(shows), generator=generator)][:quota[c - 1]].tolist():
                rows, cols, own = find_instances(masks[i], c)[0]
                crop = torch.zeros_like(images[i])
                crop[:, :own.shape[0], :own.shape[1]] = images[i][:, rows, cols]
                full = torch.zeros(masks.shape[1:], dtype=torch.bool)
                full[:own.shape[0], :own.shape[1]] = torch.from_numpy(own)
                crops.append(crop), owns.append(full), sizes.append(torch.tensor(own.shape)), owner.append(c)
        if owner:  # else the memory stays as it was: empty
            self.crops, self.owns, self.sizes = torch.stack(crops), torch.stack(owns), torch.stack(sizes)
            self.owner = torch.tensor(owner, dtype=torch.int64)
        assert len(self) <= self.size

    def paste_class(self, image, mask, channel: int, generator: torch.Generator) -> None:
        """Paste a stored instance of ``channel``, drawn uniformly, into one scene (``paste``)."""
        choices = torch.nonzero(self.owner == channel).flatten()
        k = int(choices[torch.randint(len(choices), (1,), generator=generator)])
        h, w = self.sizes[k].tolist()
        noise = torch.rand(mask.shape[0] - h + 1, mask.shape[1] - w + 1, generator=generator)
        paste(image, mask, self.crops[k, :, :h, :w], self.owns[k, :h, :w], channel, noise)

    def state_dict(self) -> dict:
        return {"crops": self.crops, "owns": self.owns, "sizes": self.sizes, "owner": self.owner}

    def load_state_dict(self, state: dict) -> None:
        self.crops, self.owns, self.sizes, self.owner = (state[k] for k in ("crops", "owns", "sizes", "owner"))
