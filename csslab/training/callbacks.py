"""The training loop's extras as callbacks: whatever watches a run (progress bars, animation frames, the tracked
logs) gets ``on_step`` after every optimiser step (``fit_task``) and ``on_task_end`` after each task was
evaluated (``train.run``), and changes no number (docs/architecture.md#a-runs-life)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch

from csslab.core.progress import Progress


@dataclass(frozen=True)
class TaskData:
    """What a task trains on: ``steps`` batches of ``train.batch_size`` scenes of ``images`` and ``masks``, drawn
    in shuffled epochs from ``generator``."""

    images: torch.Tensor
    masks: torch.Tensor
    steps: int
    generator: torch.Generator


@dataclass(frozen=True)
class Step:
    """One optimiser step of a task: ``index`` 0..``steps``-1 within the task."""

    task: Any
    index: int
    steps: int
    model: torch.nn.Module
    method: Any
    terms: dict[str, torch.Tensor]  # the loss terms, as the method returned them
    loss: torch.Tensor  # their sum, which the step minimised
    values: dict[str, float]  # the same as numbers
    lr: float  # the learning rate the step used


@dataclass(frozen=True)
class TaskEnd:
    """A task trained and evaluated: ``entry`` its results.json entry, ``step`` the run's steps so far."""

    task: Any
    entry: dict
    step: int
    model: torch.nn.Module  # the model the method evaluates (in eval mode)


class Callback:
    """The protocol: override either hook (both do nothing here)."""

    def on_step(self, step: Step) -> None:
        pass

    def on_task_end(self, end: TaskEnd) -> None:
        pass


class OnStep(Callback):
    """A function of every step as a callback (``fit_task(..., callbacks=[OnStep(print)])``)."""

    def __init__(self, function: Callable[[Step], None]):
        self.function = function

    def on_step(self, step: Step) -> None:
        self.function(step)


class ProgressBar(Callback):
    """The progress of each task's training on stderr, labelled ``label(task)``: a bar on a terminal, a few
    lines elsewhere (``csslab.core.progress``)."""

    def __init__(self, label: Callable[[Any], str]):
        self.label, self.bar = label, None

    def on_step(self, step: Step) -> None:
        if step.index == 0:
            self.bar = Progress(step.steps, self.label(step.task))
        self.bar.update(step.index, float(step.loss.detach()))
        if step.index == step.steps - 1:
            self.bar.close()


class RunSteps(Callback):
    """A callback that counts the run's steps: ``done`` before the current task (``run_step``: the run's
    1-based number of a step)."""

    def __init__(self, done: int = 0):
        self.done = done

    def run_step(self, step: Step) -> int:
        return self.done + step.index + 1

    def on_task_end(self, end: TaskEnd) -> None:
        self.done = end.step


class RecordFrames(RunSteps):
    """The animation frames (``csslab.store.frames.Frames``): recorded during training, saved into ``out``
    (if any) after each task."""

    def __init__(self, frames, out, done: int = 0):
        super().__init__(done)
        self.frames, self.out = frames, out

    def on_step(self, step: Step) -> None:
        self.frames.record(step.model, step.method, step.task, self.run_step(step))

    def on_task_end(self, end: TaskEnd) -> None:
        super().on_task_end(end)
        if self.out is not None:
            self.frames.save(self.out)


class LogSteps(RunSteps):
    """The tracked logs (``csslab.training.tracking.Tracker``): every step's loss terms and learning rate, each
    task's metrics."""

    def __init__(self, tracker, done: int = 0):
        super().__init__(done)
        self.tracker = tracker

    def on_step(self, step: Step) -> None:
        self.tracker.step(step.task, self.run_step(step), step.values, step.lr)

    def on_task_end(self, end: TaskEnd) -> None:
        super().on_task_end(end)
        self.tracker.end_task(end.task, end.entry, end.step, end.model)
