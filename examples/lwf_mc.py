"""LwF-MC: sigmoid BCE on the task's labels plus BCE distillation of the old model's sigmoids.

A worked example of a method in one file (docs/getting-started.md walks through it): import this
module, then ``csslab.run("lwf-mc")`` trains it like any built-in method.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from csslab.losses import bce_with_unknown
from csslab.methods import Method, register


@dataclass
class LwFMCParams:
    lam: float = 10.0  # weight of the distillation (MiB's --method LWF-MC sets icarl_importance = 10)


@register
class LwFMC(Method):
    """Sigmoid BCE on the task's labels + λ·BCE from the old channels' sigmoids to the old model's.

    iCaRL's multi-class LwF: each channel is its own yes/no sigmoid, so keeping the old classes'
    answers does not compete with the new classes through a softmax. As in MiB's code, both terms
    sum over channels and average over pixels; unlike it, IGNORE pixels are left out of the label
    term (csslab's convention).
    References: Rebuffi et al., iCaRL: Incremental Classifier and Representation Learning, CVPR 2017;
    Cermelli et al., Modeling the Background for Incremental Learning in Semantic Segmentation
    (MiB), CVPR 2020.
    """

    name = "lwf-mc"
    Params = LwFMCParams
    head_init = "random"  # the base's default, written out: new heads start random ("mib": from background)

    def loss(self, model, images, masks):
        logits = model(images)  # B, C, H, W
        # bce_with_unknown is plain sigmoid BCE vs one-hot labels, mean over channels: × C = sum
        terms = {"bce": logits.shape[1] * bce_with_unknown(logits, masks)}
        if self.teacher is not None:  # from task 1 on: the frozen model of the previous task
            with torch.no_grad():  # the teacher only gives targets: it never receives a gradient
                old_probs = torch.sigmoid(self.teacher(images))  # B, n_old, H, W
            old_channels = logits[:, :self.task.n_old]  # B, n_old, H, W: background + old classes
            bce = F.binary_cross_entropy_with_logits(old_channels, old_probs, reduction="none")  # B, n_old, H, W
            terms["kd"] = self.params.lam * bce.sum(1).mean()
        return terms
