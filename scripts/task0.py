"""Train only the first task of a configuration and print its test mIoU: the check that a protocol's
learning rate learns the base task (docs/methods.md#protocols) without paying for the later tasks.

    python scripts/task0.py --method finetune --set train.protocol=paper --set train.lr=0.05

Prints one line: the overrides, mIoU over the task's classes (background included), seconds.
"""

from __future__ import annotations

import argparse
import time

import torch

from csslab.training.spec import validate
from csslab.core.config import Config, apply_overrides
from csslab.evaluation.metrics import task_metrics
from csslab.training.train import TaskData, fit_task, setup, task_steps


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--method", default="finetune")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    args = parser.parse_args(argv)
    config = apply_overrides(Config(), [f"method={args.method}", *args.overrides])
    spec = validate(config)
    start = time.perf_counter()
    s = setup(spec)
    task = s.train_scenario[0]
    images, masks = s.train_scenario.train_set(task)
    steps = task_steps(config.train, task, s.steps)
    fit_task(s.model, s.method, task, TaskData(images, masks, steps, torch.Generator().manual_seed(config.seed)),
             config.train)
    m = task_metrics(s.evaluator.evaluate(s.model, task), task.classes, task.old_classes)
    print(f"{args.method} {' '.join(args.overrides)}: task 0 mIoU {m['miou_all']:.3f} "
          f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
