"""Naive pseudo-labelling: background pixels take the previous model's prediction."""

from dataclasses import dataclass

import torch

from csslab.core.constants import BACKGROUND
from csslab.losses import cross_entropy
from csslab.methods.base import Method


@dataclass
class PseudoParams:
    pass  # no hyper-parameter: every background pixel is relabelled, however unsure the teacher


class Pseudo(Method):
    """CE on labels where each background pixel takes argmax of the old model (which may be the
    background again). Old digits come back with their old label, but so do the old model's
    mistakes; PLOP keeps only confident pseudo-labels, SSUL only scores >= 0.7.

    References: the original csslab notebook; pseudo-labelling in CSS as analysed by Douillard
    et al., PLOP, CVPR 2021 (its "naive pseudo-labelling" baseline).
    """

    name = "pseudo"
    designed_for = "any backbone (the notebook's baseline)"
    base_task = "ce"
    Params = PseudoParams

    def loss(self, model, images, masks):
        if self.teacher is not None:
            with torch.no_grad():
                old_prediction = self.teacher(images).argmax(1)  # B, H, W
            masks = torch.where(masks == BACKGROUND, old_prediction, masks)  # B, H, W
        return {"ce": cross_entropy(model(images), masks)}
