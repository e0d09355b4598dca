"""Segmentation metrics from one global confusion matrix (docs/architecture.md#metrics).

State is a confusion matrix (rows = truth, columns = prediction, index 0 = background,
d+1 = digit d); every figure is a pure function of it or of the IoU[task, class] matrix.
Absent classes are NaN. Never per-image averages.
"""

from __future__ import annotations

import numpy as np

from csslab.core.constants import IGNORE


class ConfusionMeter:
    """Accumulates ``bincount(target * n + pred)`` over non-ignored pixels, on the tensors' device (the
    tensors' own methods: this module, which reports import too, does not load torch)."""

    def __init__(self, n: int):
        self.n = n
        self.matrix = None  # n * n counts, made by the first update on its tensors' device

    def update(self, pred, target) -> None:
        valid = target != IGNORE  # B, H, W
        index = target[valid].long() * self.n + pred[valid].long()
        counts = index.bincount(minlength=self.n * self.n)
        self.matrix = counts if self.matrix is None else self.matrix + counts

    def numpy(self) -> np.ndarray:
        if self.matrix is None:
            return np.zeros((self.n, self.n), dtype=np.int64)
        return self.matrix.view(self.n, self.n).cpu().numpy()


def confusion_matrix(pred, target, n: int) -> np.ndarray:
    """One-shot confusion matrix of integer label arrays (numpy or torch)."""
    pred, target = np.asarray(pred).ravel(), np.asarray(target).ravel()
    valid = target != IGNORE
    index = target[valid].astype(np.int64) * n + pred[valid].astype(np.int64)
    return np.bincount(index, minlength=n * n).reshape(n, n)


def _divide(num, den):
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def iou(cm: np.ndarray) -> np.ndarray:
    """Per-class intersection over union; NaN for a class neither present nor predicted."""
    tp = np.diag(cm)
    return _divide(tp, cm.sum(0) + cm.sum(1) - tp)


def accuracy(cm: np.ndarray) -> np.ndarray:
    """Per-class recall (the notebook's "class accuracy"); NaN for a class absent from the truth."""
    return _divide(np.diag(cm), cm.sum(1))


def overall_accuracy(cm: np.ndarray) -> float:
    return float(_divide(np.trace(cm), cm.sum()))


def _nanmean(values) -> float:
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    return float(values.mean()) if values.size else float("nan")


def mean_over(values: np.ndarray, indices) -> float:
    """Mean of the non-NaN entries at ``indices`` (NaN when there are none)."""
    return _nanmean(np.asarray(values, dtype=np.float64)[list(indices)]) if len(indices) else float("nan")


def task_metrics(cm: np.ndarray, classes, old_classes) -> dict:
    """The per-task figures of results.json from its confusion matrix.

    ``miou_all`` averages background and the seen classes, ``miou_old`` the classes of earlier
    tasks, ``miou_new`` the classes of this task; ``mean_acc`` averages the same classes' recall.
    """
    class_iou, class_acc = iou(cm), accuracy(cm)
    seen = [0] + [c + 1 for c in list(old_classes) + list(classes)]
    return {
        "overall_acc": overall_accuracy(cm),
        "mean_acc": mean_over(class_acc, seen),
        "miou_all": mean_over(class_iou, seen),
        "miou_old": mean_over(class_iou, [c + 1 for c in old_classes]),
        "miou_new": mean_over(class_iou, [c + 1 for c in classes]),
        "iou": class_iou,
        "acc": class_acc,
    }


def forgetting(iou_matrix: np.ndarray) -> np.ndarray:
    """Per class: the best IoU before the last task minus the final IoU (NaN if not seen before it)."""
    iou_matrix = np.asarray(iou_matrix, dtype=np.float64)  # T, K
    if iou_matrix.shape[0] < 2:
        return np.full(iou_matrix.shape[1], np.nan)
    earlier = iou_matrix[:-1]
    seen = ~np.isnan(earlier).all(0)
    best = np.where(seen, np.nanmax(np.where(np.isnan(earlier), -np.inf, earlier), 0), np.nan)
    return best - iou_matrix[-1]


def background_shift(cm: np.ndarray, classes, old_classes) -> dict:
    """Where the pixels of old classes went: shares predicted as background, as a new class,
    as another old class, and correctly (rows of old classes of the confusion matrix)."""
    old = [c + 1 for c in old_classes]
    new = [c + 1 for c in classes]
    rows = cm[old].astype(np.float64)  # n_old_classes, K
    total = rows.sum()
    if not old or total == 0:
        return {"to_background": float("nan"), "to_new": float("nan"), "to_other_old": float("nan"), "correct": float("nan")}
    correct = sum(cm[c, c] for c in old)
    other_old = rows[:, old].sum() - correct
    return {
        "to_background": float(rows[:, 0].sum() / total),
        "to_new": float(rows[:, new].sum() / total) if new else 0.0,
        "to_other_old": float(other_old / total),
        "correct": float(correct / total),
    }
