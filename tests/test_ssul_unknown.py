"""SSUL's evaluation with params.unknown_to_background: the unknown head's sigmoid score joins background's
(SSUL's main.py); without it evaluation sees the model's channels alone, unknown dropped."""

from __future__ import annotations

import torch

from csslab.core.config import TrainConfig
from csslab.methods import get_method
from csslab.model.network import IncrementalSegmenter
from csslab.scenarios.tasks import Task
from csslab.training.train import TaskData, fit_task

TASKS = [Task(0, (0, 1), ()), Task(1, (2, 3), (0, 1))]


def _trained(**params):
    torch.manual_seed(0)
    method = get_method("ssul")(get_method("ssul").make_params(params), seed=0)
    model = IncrementalSegmenter()
    g = torch.Generator().manual_seed(0)
    images, masks = torch.rand(8, 1, 24, 24, generator=g), torch.randint(0, 3, (8, 24, 24), generator=g)
    for task in TASKS:
        fit_task(model, method, task, TaskData(images, masks, 2, torch.Generator().manual_seed(0)),
                 TrainConfig(batch_size=4, schedule="constant"))
    return method, model, images


def test_unknown_joins_background_at_evaluation_only_when_asked():
    method, model, images = _trained()
    assert method.eval_model(model) is model
    method.params.unknown_to_background = True
    evaluated = method.eval_model(model).eval()
    with torch.no_grad():
        scores = evaluated(images)
        logits, _ = model.forward_features(images, [*model.heads, method.unknown])
    assert scores.shape[1] == 1 + TASKS[-1].n_seen == model.n_channels
    sig = torch.sigmoid(logits)
    assert torch.allclose(scores[:, 0], sig[:, 0] + sig[:, -1])
    assert torch.allclose(scores[:, 1:], sig[:, 1:-1])
    # the prediction changes exactly where background + unknown beats every class and background alone did not
    joined = scores.argmax(1) == 0
    alone = sig[:, :-1].argmax(1) == 0
    assert torch.equal(joined & ~alone, (sig[:, 0] + sig[:, -1] >= sig[:, 1:-1].max(1).values) & ~alone)
    assert joined.sum() >= alone.sum()


def test_evaluation_leaves_the_unknown_head_training_in_train_mode():
    method, model, _ = _trained(unknown_to_background=True)
    method.eval_model(model).eval()
    method.train_mode(model)
    assert method.unknown.training
