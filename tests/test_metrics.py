import numpy as np
import pytest
from sklearn.metrics import confusion_matrix as sk_confusion

from csslab.core.constants import IGNORE
from csslab.evaluation.metrics import (
    accuracy, background_shift, confusion_matrix, forgetting, iou, overall_accuracy, task_metrics,
)


def test_confusion_matches_scikit_learn():
    rng = np.random.default_rng(0)
    target = rng.integers(0, 11, size=(4, 9, 9))
    target[rng.random(target.shape) < 0.2] = IGNORE
    pred = rng.integers(0, 11, size=(4, 9, 9))
    cm = confusion_matrix(pred, target, 11)
    valid = target != IGNORE
    assert (cm == sk_confusion(target[valid], pred[valid], labels=range(11))).all()


def test_iou_accuracy_on_a_hand_made_matrix():
    cm = np.array([[5, 1, 0], [2, 3, 0], [0, 0, 0]])
    assert iou(cm)[:2] == pytest.approx([5 / 8, 3 / 6])
    assert np.isnan(iou(cm)[2]) and np.isnan(accuracy(cm)[2])
    assert accuracy(cm)[:2] == pytest.approx([5 / 6, 3 / 5])
    assert overall_accuracy(cm) == pytest.approx(8 / 11)


def test_task_metrics_old_new_all():
    cm = np.zeros((11, 11), dtype=int)
    cm[0, 0], cm[1, 1], cm[2, 2], cm[3, 3], cm[3, 0] = 10, 4, 2, 3, 1  # digit 2 -> bg once
    m = task_metrics(cm, classes=(1, 2), old_classes=(0,))
    iou_bg, iou_0, iou_1, iou_2 = 10 / 11, 1.0, 1.0, 3 / 4
    assert m["miou_all"] == pytest.approx(np.mean([iou_bg, iou_0, iou_1, iou_2]))
    assert m["miou_old"] == pytest.approx(iou_0)
    assert m["miou_new"] == pytest.approx(np.mean([iou_1, iou_2]))
    assert np.isnan(m["iou"][5])


def test_forgetting_on_a_hand_computed_table():
    nan = np.nan
    table = np.array([[0.9, 0.8, nan], [0.7, 0.6, 0.5], [0.8, 0.1, 0.4]])
    assert forgetting(table)[:2] == pytest.approx([0.9 - 0.8, 0.8 - 0.1])
    assert forgetting(table)[2] == pytest.approx(0.5 - 0.4)
    table[:2, 2] = nan
    assert np.isnan(forgetting(table)[2])


def test_background_shift_shares():
    cm = np.zeros((11, 11), dtype=int)
    cm[1] = [6, 2, 0, 1, 0, 0, 0, 0, 0, 0, 0]  # digit 0 (old): 6 -> bg, 2 right, 1 -> digit 2 (new)
    cm[2] = [0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]  # digit 1 (old) -> digit 0 (other old)
    shares = background_shift(cm, classes=(2,), old_classes=(0, 1))
    assert shares == pytest.approx({"to_background": 0.6, "to_new": 0.1, "to_other_old": 0.1, "correct": 0.2})
