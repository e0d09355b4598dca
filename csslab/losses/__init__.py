"""Pure loss functions of continual semantic segmentation; methods compose them.

Conventions: `logits` [B, C, H, W] of the current model (channel 0 = background, then classes in
class order), `old_logits` [B, n_old, H, W] of the frozen previous model (n_old = background + old
classes), `target` [B, H, W] int64 where IGNORE pixels count nowhere. Pixel losses are means over
non-ignored pixels; with no such pixel they return a zero that still has a gradient. Everything that
comes from the old model is detached here, so the teacher never receives a gradient.

One module per family: `softmax` (CE, KD and their background-aware forms), `features` (ILT, PLOP's
POD), `sigmoid` (SSUL, DKD), `ewc`, `latent` (SDR), `regions` (MicroSeg); import them from here.
"""

# PLOP's pseudo-labelling lives in its own module; docs/architecture.md#losses lists them here
from csslab.losses.pseudo_labels import (entropy_pseudo_labels, entropy_thresholds, normalised_entropy,
                                  pseudo_label_factor)
from csslab.losses.softmax import (cross_entropy, unbiased_ce, kd, unbiased_kd, fold_new_channels,
                                   memory_ce, region_kd)
from csslab.losses.features import feature_mse, local_pod
from csslab.losses.sigmoid import (bce_with_unknown, new_class_bce, sigmoid_kd, decompose_logits,
                                   all_negative_bce)
from csslab.losses.ewc import ewc_penalty, fisher_step, normalise_fisher
from csslab.losses.latent import (labels_at, class_means, prototype_matching, feature_attraction,
                                  feature_repulsion, feature_sparsity)
from csslab.losses.regions import ink_regions, region_mean, unseen_diversity
# the official codes' normalisations (docs/methods.md#recipes)
from csslab.losses.softmax import cross_entropy_all_pixels
from csslab.losses.sigmoid import new_class_bce_all_pixels

__all__ = ["entropy_pseudo_labels", "entropy_thresholds", "normalised_entropy", "pseudo_label_factor",
    "cross_entropy", "unbiased_ce", "kd", "unbiased_kd", "fold_new_channels", "memory_ce", "region_kd",
    "feature_mse", "local_pod", "bce_with_unknown", "new_class_bce", "sigmoid_kd", "decompose_logits",
    "all_negative_bce", "ewc_penalty", "fisher_step", "normalise_fisher", "labels_at", "class_means",
    "prototype_matching", "feature_attraction", "feature_repulsion", "feature_sparsity", "ink_regions",
    "region_mean", "unseen_diversity", "cross_entropy_all_pixels", "new_class_bce_all_pixels"]
