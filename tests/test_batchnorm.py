"""BatchNorm options: PLOP's fix_bn makes a model's distillation against its own frozen copy exactly zero
(train-mode BatchNorm does not); SSUL's freeze_all_bn keeps every BatchNorm's statistics, the new and
unknown heads' too."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from csslab.losses import feature_mse, local_pod
from csslab.methods import get_method
from csslab.model.network import IncrementalSegmenter
from csslab.scenarios.tasks import Task
from csslab.core.config import TrainConfig
from csslab.training.callbacks import OnStep
from csslab.training.train import TaskData, fit_task

TASKS = [Task(0, (0, 1), ()), Task(1, (2, 3), (0, 1))]


def _data(n=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(n, 1, 24, 24, generator=g)
    masks = torch.randint(0, 3, (n, 24, 24), generator=g, dtype=torch.uint8)
    return images, masks


def _after_task0(name, **params):
    """A method and a model whose task 0 ran 3 steps (BatchNorm statistics away from their init)."""
    torch.manual_seed(0)
    method = get_method(name)(get_method(name).make_params(params), seed=0)
    model = IncrementalSegmenter()
    images, masks = _data()
    fit_task(model, method, TASKS[0], TaskData(images, masks, 3, torch.Generator().manual_seed(0)),
             TrainConfig(batch_size=4, schedule="constant"))
    return method, model


def _distillation(fix_bn: bool) -> dict:
    """POD of the backbone maps and of the old classes' logits, and feature MSE, of the model (in PLOP's train
    mode for task 1, weights untouched) against PLOP's teacher: the same weights, frozen. (The background
    logit is left out: MiB's init lowers its bias in the model by design, the teacher's is restored.)"""
    method, model = _after_task0("plop", fix_bn=fix_bn)
    images, masks = _data(seed=1)
    method.add_head(model, TASKS[1])
    method.before_task(TASKS[1], model, images, masks)
    method.train_mode(model)
    with torch.no_grad():
        logits, features = model.forward_features(images, model.heads[:-1])
        old_logits, old_features = method.teacher.forward_features(images)
    maps = {m: features[m] for m in method.maps}
    return {"pod": float(local_pod(maps, old_features, method.scales)),
            "pod_logits": float(local_pod(logits[:, 1:], old_logits[:, 1:], method.scales)),
            "mse": float(feature_mse(maps, {m: old_features[m] for m in method.maps}))}


def test_fix_bn_gives_zero_distillation_between_identical_weights():
    fixed = _distillation(fix_bn=True)
    assert all(value < 1e-6 for value in fixed.values()), fixed
    moving = _distillation(fix_bn=False)  # the offset fix_bn removes: train-mode batch statistics
    assert min(moving.values()) > 1e-3, moving


def _statistics(*modules: nn.Module) -> list[torch.Tensor]:
    return [layer.running_mean.clone() for module in modules for layer in module.modules()
            if isinstance(layer, nn.BatchNorm2d)]


@pytest.mark.parametrize("freeze", [True, False])
def test_ssul_freeze_all_bn_keeps_every_batchnorm_statistic_from_task_1(freeze):
    method, model = _after_task0("ssul", freeze_all_bn=freeze)
    images, masks = _data(seed=1)
    before = {}

    def record(step):
        if step.index == 0:  # the new head starts as the unknown head: its statistics are the unknown's
            before["all"] = _statistics(model, method.unknown)

    fit_task(model, method, TASKS[1], TaskData(images, masks, 3, torch.Generator().manual_seed(0)),
             TrainConfig(batch_size=4, schedule="constant"), [OnStep(record)])
    after = _statistics(model, method.unknown)
    same = [torch.equal(a, b) for a, b in zip(before["all"], after)]
    new = len(_statistics(model.heads[-1], method.unknown))  # the trained heads' layers, listed last
    assert all(same[:-new])  # the backbone and old heads: frozen either way
    assert all(same[-new:]) if freeze else not any(same[-new:])
