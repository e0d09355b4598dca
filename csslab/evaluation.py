"""Evaluation: confusion matrices on the test scenes and the per-task entries of results.json (DESIGN §6)."""

from __future__ import annotations

import numpy as np
import torch

from csslab.constants import CLASS_NAMES, IGNORE
from csslab.metrics import ConfusionMeter, background_shift, forgetting, task_metrics
from csslab.results import per_class


class Evaluator:
    """Confusion matrices in results' class space (0 = background, d+1 = digit d)."""

    def __init__(self, scenario, device, batch_size: int):
        self.device = device
        self.batch_size = batch_size
        index = torch.as_tensor(scenario.digit_index)
        self.pred_lut = index.to(device)
        lut = torch.full((256,), IGNORE, dtype=torch.int64)
        lut[: len(index)] = index
        self.target_lut = lut.to(device)

    @torch.no_grad()
    def predict(self, model, images):
        out = []
        for start in range(0, len(images), self.batch_size):
            x = images[start:start + self.batch_size].to(self.device)
            out.append(self.pred_lut[model(x).argmax(1)])
        return torch.cat(out)  # N, H, W in results' class space

    @torch.no_grad()
    def confusion(self, model, images, masks, return_pred: int = 0):
        meter = ConfusionMeter(len(CLASS_NAMES), self.device)
        preds = []
        for start in range(0, len(images), self.batch_size):
            x = images[start:start + self.batch_size].to(self.device)
            y = self.target_lut[masks[start:start + self.batch_size].to(self.device).long()]
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


def frame_lut(scenario, task):
    from csslab.scenarios.labels import eval_lut

    return eval_lut(task, scenario.setting, scenario.class_order)


def task_entry(task, cm, steps, sums, train_s, eval_s, data_s) -> dict:
    m = task_metrics(cm, task.classes, task.old_classes)
    return {
        "task": task.index,
        "classes": list(task.classes),
        "old_classes": list(task.old_classes),
        "miou_all": m["miou_all"],
        "miou_old": m["miou_old"],
        "miou_new": m["miou_new"],
        "overall_acc": m["overall_acc"],
        "mean_acc": m["mean_acc"],
        "iou": per_class(m["iou"]),
        "acc": per_class(m["acc"]),
        "confusion": cm.tolist(),
        "background_shift": background_shift(cm, task.classes, task.old_classes),
        "loss": {k: v / steps for k, v in sums.items()},
        "steps": steps,
        "train_s": train_s,
        "eval_s": eval_s,
        "data_s": data_s,
    }


def add_task(data, entry) -> None:
    """Append a task's entry to results data: its row of the task x class matrices, then the summary."""
    data["tasks"].append(entry)
    data["iou_matrix"].append(list(entry["iou"].values()))
    data["acc_matrix"].append(list(entry["acc"].values()))
    summarise(data)


def summarise(data) -> None:
    """Run-level figures from the per-task entries: miou_avg, forgetting, final mIoUs."""
    rows = np.array([[np.nan if v is None else v for v in row] for row in data["iou_matrix"]], dtype=float)
    data["miou_avg"] = float(np.mean([e["miou_all"] for e in data["tasks"]]))
    data["forgetting"] = per_class(forgetting(rows))
    final = data["tasks"][-1]
    for key in ("miou_all", "miou_old", "miou_new"):
        data[key] = final[key]
