"""Learning without Forgetting: cross-entropy plus distillation of the previous model's outputs."""

from dataclasses import dataclass

from csslab.losses import cross_entropy, kd
from csslab.methods.base import Method, param


@dataclass
class LwFParams:
    # weight of the distillation term: the notebook's 10 kept too little, 100 stopped new classes being
    # learnt (measured: docs/methods.md#lwf)
    lam: float = param(30.0, low=0)
    alpha: float = param(1.0, low=0)  # teacher temperature factor: softmax(alpha · old_logits)


class LwF(Method):
    """CE on the task's labels + λ·``kd``: the old channels keep the teacher's softmax.

    The labels still call old classes background (the background shift), so CE and KD pull the
    old channels in opposite directions; MiB's unbiased losses fix exactly that.
    References: Li & Hoiem, Learning without Forgetting, ECCV 2016 / TPAMI 2017.
    """

    name = "lwf"
    base_task = "ce"
    Params = LwFParams

    def loss(self, model, images, masks):
        logits = model(images)
        terms = {"ce": cross_entropy(logits, masks)}
        if self.teacher is not None:
            old_logits = self.teacher(images)
            terms["kd"] = self.params.lam * kd(logits, old_logits, self.params.alpha)
        return terms
