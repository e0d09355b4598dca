"""ILT: distillation of the previous model's outputs and of its encoder features."""

from dataclasses import dataclass

from csslab.losses import cross_entropy, feature_mse, kd
from csslab.methods.base import FEATURE_MAPS, Method, param


@dataclass
class ILTParams:
    # MiB's λ_D = λ_E = 100 left new classes unlearnt here; λ_D is LwF's λ and λ_E the largest weight that
    # keeps new classes learnable (measured: docs/methods.md#ilt)
    lam_d: float = param(30.0, low=0)  # weight of the output distillation (kd)
    lam_e: float = param(0.1, low=0)  # weight of the encoder-feature MSE
    feature: str = param("encoder", choices=FEATURE_MAPS)  # the backbone map distilled by the MSE
    alpha: float = param(1.0, low=0)  # teacher temperature factor: softmax(alpha · old_logits)


class ILT(Method):
    """CE + λ_D·``kd`` on outputs + λ_E·``feature_mse`` on the encoder's output features.

    References: Michieli & Zanuttigh, Incremental Learning Techniques for Semantic Segmentation,
    ICCV Workshops 2019 (with MiB's re-implementation and weights, CVPR 2020).
    """

    name = "ilt"
    base_task = "ce"
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
