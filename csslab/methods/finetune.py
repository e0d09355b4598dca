"""Naive fine-tuning: cross-entropy on the current task's labels only (the lower bound)."""

from csslab.losses import cross_entropy
from csslab.methods.base import Method


class FineTune(Method):
    """Trains on each task's labels as given, so old classes labelled background are unlearnt."""

    name = "finetune"
    designed_for = "any backbone (a reference: the lower bound)"
    base_task = "ce"
    bound = "lower"

    def loss(self, model, images, masks):
        return {"ce": cross_entropy(model(images), masks)}
