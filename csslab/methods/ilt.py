"""ILT: distillation of the previous model's outputs and of its encoder features."""

from dataclasses import dataclass

from csslab.losses import cross_entropy, feature_mse, kd
from csslab.methods.base import Method


@dataclass
class ILTParams:
    # MiB's ILT used λ_D = λ_E = 100. Measured on the default run (2-2-2-2-2, overlap, seed 0), final
    # mIoU all: λ_D = λ_E = 100 -> 0.231 (new classes barely learnt: 0.14; weighted kd 5.81 and feature
    # 0.56 against ce 0.18 at task 1); λ_D = λ_E = 10 -> old classes gone by task 2 (0.2);
    # λ_D = λ_E = 30 -> task 1's classes gone by task 2; λ_D = 30 with λ_E = 1 -> 0.275, 0.1 -> 0.355,
    # 0 (= LwF, λ = 30) -> 0.390. At this scale the encoder-feature term only costs new classes, so
    # λ_D is LwF's and λ_E the largest measured weight that keeps new classes learnable.
    lam_d: float = 30.0  # weight of the output distillation (kd)
    lam_e: float = 0.1  # weight of the encoder-feature MSE
    feature: str = "encoder"  # the backbone map distilled by the MSE
    alpha: float = 1.0


class ILT(Method):
    """CE + λ_D·``kd`` on outputs + λ_E·``feature_mse`` on the encoder's output features.

    References: Michieli & Zanuttigh, Incremental Learning Techniques for Semantic Segmentation,
    ICCV Workshops 2019 (with MiB's re-implementation and weights, CVPR 2020).
    """

    name = "ilt"
    Params = ILTParams

    def loss(self, model, images, masks):
        logits, features = model.forward_features(images)
        terms = {"ce": cross_entropy(logits, masks)}
        if self.teacher is not None:
            old_logits, old_features = self.teacher.forward_features(images)
            name = self.params.feature
            terms["kd"] = self.params.lam_d * kd(logits, old_logits, self.params.alpha)
            terms["feature"] = self.params.lam_e * feature_mse(features[name], old_features[name])
        return terms
