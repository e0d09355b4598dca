"""The optimiser and the learning rate schedule of a task's training, made from the training options; the
runs' tasks and the backbone's pretraining use the same factories."""

from __future__ import annotations

import torch

from csslab.core.config import OPTIMIZERS, TrainConfig
from csslab.core.progress import Progress


def make_optimizer(parameters, train: TrainConfig, lr: float) -> torch.optim.Optimizer:
    """``train.optimizer`` over ``parameters``: Adam, or SGD with ``train.momentum`` and ``train.nesterov``. A param
    group with an ``lr_scale`` (``Method.parameters``) trains at ``lr_scale`` times ``lr``."""
    parameters = [{k: v for k, v in p.items() if k != "lr_scale"} | {"lr": lr * p["lr_scale"]}
                  if isinstance(p, dict) and "lr_scale" in p else p for p in parameters]
    if train.optimizer == "adam":
        return torch.optim.Adam(parameters, lr=lr, weight_decay=train.weight_decay)
    if train.optimizer == "sgd":
        return torch.optim.SGD(parameters, lr=lr, momentum=train.momentum, weight_decay=train.weight_decay,
                               nesterov=train.nesterov and train.momentum > 0)
    raise ValueError(f"unknown train.optimizer {train.optimizer!r}: valid optimizers are {', '.join(OPTIMIZERS)}")


def make_scheduler(optimizer, schedule: str, steps: int) -> torch.optim.lr_scheduler.LRScheduler:
    """Learning rate per step within a task of ``steps`` steps: constant, or MiB/PLOP's poly decay (power 0.9)."""
    if schedule == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    if schedule == "poly":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: (1 - min(step, steps - 1) / steps) ** 0.9)
    raise ValueError(f"unknown train.schedule {schedule!r}: valid values are poly, constant")


def pretrain_steps(net, loss_at, steps: int, recipe: TrainConfig, lr: float, label: str, what: str) -> list[float]:
    """``steps`` steps of ``recipe``'s optimiser and schedule on ``net`` (put in training mode), step ``s``
    minimising ``loss_at(s)``; the losses. A progress bar when ``label`` is given; a non-finite loss stops the
    pretraining with a RuntimeError naming the step and ``what`` is pretrained."""
    optimizer = make_optimizer(net.parameters(), recipe, lr)
    scheduler = make_scheduler(optimizer, recipe.schedule, steps)
    bar = Progress(steps, label)
    losses = []
    net.train()
    for step in range(steps):
        loss = loss_at(step)
        if not torch.isfinite(loss):
            raise RuntimeError(f"non-finite loss {float(loss):g} at step {step} of pretraining {what}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(float(loss.detach()))
        bar.update(step, losses[-1])
    bar.close()
    return losses
