"""Evaluation: confusion matrices on the test scenes, in results' class space (docs/architecture.md#metrics)."""

from __future__ import annotations

import numpy as np
import torch

from csslab.core.constants import CLASS_NAMES, IGNORE
from csslab.evaluation.metrics import ConfusionMeter
from csslab.core.precision import autocast


class Evaluator:
    """Confusion matrices in results' class space (0 = background, d+1 = digit d)."""

    def __init__(self, scenario, device, batch_size: int, precision: str = "fp32"):
        self.scenario, self.precision = scenario, precision
        self.device = device
        self.batch_size = batch_size
        index = torch.as_tensor(scenario.digit_index)
        self.pred_lut = index.to(device)
        lut = torch.full((256,), IGNORE, dtype=torch.int64)
        lut[: len(index)] = index
        self.target_lut = lut.to(device)

    def evaluate(self, model, task, split: str = "test") -> np.ndarray:
        """The confusion matrix of ``model`` (put in eval mode) on the test scenes (``split="val"``: the validation
        scenes) as labelled after ``task``."""
        model.eval()
        scenes = self.scenario.val_set if split == "val" else self.scenario.test_set
        images, masks = scenes(eval_task(self.scenario, task))
        return self.confusion(model, images, masks)

    def evaluate_task(self, model, task) -> tuple[np.ndarray, np.ndarray | None]:
        """The test confusion matrix after ``task``, and the validation scenes' (None without a validation set)."""
        return self.evaluate(model, task), self.evaluate(model, task, "val") if self.scenario.val_scenes else None

    @torch.no_grad()
    def predict(self, model, images):
        out = []
        for start in range(0, len(images), self.batch_size):
            x = images[start:start + self.batch_size].to(self.device)
            with autocast(self.device, self.precision):
                out.append(self.pred_lut[model(x).argmax(1)])
        return torch.cat(out)  # N, H, W in results' class space

    @torch.no_grad()
    def confusion(self, model, images, masks, return_pred: int = 0):
        meter = ConfusionMeter(len(CLASS_NAMES))
        preds = []
        for start in range(0, len(images), self.batch_size):
            x = images[start:start + self.batch_size].to(self.device)
            y = self.target_lut[masks[start:start + self.batch_size].to(self.device).long()]
            with autocast(self.device, self.precision):
                pred = self.pred_lut[model(x).argmax(1)]
            meter.update(pred, y)
            if start < return_pred:
                preds.append(pred[: return_pred - start])
        cm = meter.numpy()
        return (cm, torch.cat(preds).cpu().numpy().astype(np.uint8)) if return_pred else cm


def eval_task(scenario, task):
    """The task of the original scenario whose labels an evaluation after ``task`` uses."""
    seen = set(task.seen_classes)
    for original in scenario:
        if set(original.seen_classes) == seen:
            return original
    return task  # the joint bound: all classes

