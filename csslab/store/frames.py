"""Animation frames: a fixed subset of the test scenes evaluated every few training steps (frames.npz).

Each frame holds the confusion matrix of the subset and the predictions of its first ``N_PREVIEW``
scenes; reports draw the IoU curves over training and the animations from them.
"""

from __future__ import annotations

import io
import time

import numpy as np
import torch

from csslab.core.files import atomic_write
from csslab.scenarios.labels import eval_lut
from csslab.store.rundir import RunDir

N_PREVIEW = 8  # fixed test scenes whose predictions are stored for the report
KEYS = ("step", "task", "confusion", "pred")
FRAMES_PER_RUN = 50  # train.frame_every=0: evenly spaced over the run's steps...
MIN_STEPS_APART = 10  # ...but no closer, so a short run is not spent on frames (docs/decisions/animation-frames.md)


def frame_interval(frame_every: int, total_steps: int) -> int:
    """Training steps between two frames: ``frame_every``, or for 0 up to ``FRAMES_PER_RUN`` frames at
    least ``MIN_STEPS_APART`` steps apart over the run's ``total_steps`` (a shorter run: its last step)."""
    return frame_every or max(1, min(total_steps, max(MIN_STEPS_APART, total_steps // FRAMES_PER_RUN)))


class Frames:
    """The frames of one run: ``record`` during training, ``save`` after each task, ``load`` on resume."""

    def __init__(self, scenario, evaluator, every: int, n_scenes: int):
        images, raw = scenario.test_raw()
        self.images = torch.from_numpy(images[:n_scenes, None])  # N, 1, H, W
        self.raw = raw[:n_scenes]  # N, H, W: digit labels before a task's relabelling
        self.scenario, self.evaluator, self.every = scenario, evaluator, every
        self.data: dict[str, list] = {key: [] for key in KEYS}
        self.seconds = 0.0  # spent recording frames (results' timings.frames_s)

    def record(self, model, method, task, step: int) -> None:
        """At every ``every``-th step of the run: evaluate ``model`` on the subset as labelled after
        ``task``, then give it back to ``method.train_mode``."""
        if step % self.every:
            return
        start = time.perf_counter()
        evaluated = method.eval_model(model).eval()
        labels = torch.from_numpy(eval_lut(task, self.scenario.setting, self.scenario.class_order)[self.raw])
        cm, pred = self.evaluator.confusion(evaluated, self.images, labels, return_pred=N_PREVIEW)
        method.train_mode(model)
        for key, value in zip(KEYS, (step, task.index, cm, pred)):
            self.data[key].append(value)
        self.seconds += time.perf_counter() - start

    def save(self, out) -> None:
        """Write frames.npz into ``out`` (atomically), with the preview scenes' images and true labels."""
        if not self.data["step"]:
            return
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer, step=np.array(self.data["step"]), task=np.array(self.data["task"]),
            confusion=np.stack(self.data["confusion"]), pred=np.stack(self.data["pred"]),
            truth=self.raw[:N_PREVIEW].astype(np.uint8), images=self.images[:N_PREVIEW, 0].numpy(),
        )
        atomic_write(RunDir(out).frames, buffer.getvalue())

    def load(self, out, n_done: int) -> None:
        """On resume: the frames of the ``n_done`` completed tasks saved in ``out`` (a frames.npz may also
        hold a later, unfinished task's)."""
        try:
            saved = RunDir(out).read_frames()
        except ValueError as error:
            raise ValueError(f"cannot resume {out}: {error}") from None
        if saved is not None:
            if missing := [key for key in KEYS if key not in saved]:
                raise ValueError(f"cannot resume {out}: its frames.npz has no {missing[0]!r}")
            keep = saved["task"] < n_done
            self.data = {key: list(saved[key][keep]) for key in KEYS}

