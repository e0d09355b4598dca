"""MiB: unbiased cross-entropy and distillation that model the background shift, MiB head init."""

from dataclasses import dataclass

from csslab.losses import unbiased_ce, unbiased_kd
from csslab.methods.base import Method, param
from csslab.methods.memory import Replaying


@dataclass
class MiBParams:
    lam: float = param(10.0, low=0)  # weight of the unbiased distillation (MiB's loss_kd=10 on Pascal-VOC)
    alpha: float = param(1.0, low=0)  # teacher temperature factor: softmax(alpha · old_logits)
    memory_size: int = param(0, low=0)  # MiB with a class-balanced memory of scenes, as replay's (0 = plain MiB)
    replay_fraction: float = param(0.5, low=0, high=4)  # replayed scenes added to each batch (memory_size > 0)


class MiB(Replaying, Method):
    """``unbiased_ce`` (old classes may hide in the background label) + λ·``unbiased_kd`` (the
    old background may now be a new class), new heads initialised from the background (``mib``).
    With ``memory_size`` > 0, stored scenes are replayed in every batch (replay + distillation).

    References: Cermelli et al., Modeling the Background for Incremental Learning in Semantic
    Segmentation, CVPR 2020.
    """

    name = "mib"
    base_task = "unbiased_ce"  # its own: unbiased CE is not bit-identical to plain CE
    Params = MiBParams
    head_init = "mib"

    def loss(self, model, images, masks):
        logits = model(images)
        n_old = self.task.n_old if self.task is not None else 1
        terms = {"ce": unbiased_ce(logits, masks, n_old)}
        if self.teacher is not None:
            old_logits = self.teacher(images)
            terms["kd"] = self.params.lam * unbiased_kd(logits, old_logits, self.params.alpha)
        return terms
