"""Experiment tracking (``train.log``, ``--log``): every loss term and the learning rate per step, each task's
mIoU all/old/new and per-class IoU, and (TensorBoard) the predictions on a few test scenes, into a run directory:

    steps.csv     task, step (of the run), task_step, lr, loss (the sum), then one column per loss term
    metrics.csv   task, step, miou_all, miou_old, miou_new, then iou_<class> (empty: a class not seen yet)
    tensorboard/  events: loss/<term>, loss/total and lr per step; miou/all|old|new and iou/<class> per task
                  (at the task's last step); predictions per task (rows: scene, every digit, prediction)

The CSV files are rewritten atomically after every task, after results.json (``Tracker.save``), so they never
hold a task results.json does not; TensorBoard's events are flushed then too. On resume they are checked
against results.json (``finished_rows``): metrics.csv is rebuilt from it, and a steps.csv that lacks steps of
a finished task is refused in one line rather than silently cut. Nothing here changes a number, so the sinks are
not part of what makes two runs the same (``runstore.same_config``). tensorboard is an optional dependency,
imported only when a run logs to it.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import os
from pathlib import Path

import numpy as np

from csslab.core.constants import CLASS_NAMES
from csslab.core.files import atomic_write
from csslab.core.colors import colorize

SINKS = ("csv", "tensorboard")
from csslab.store.rundir import LOG_FILES, RunDir  # noqa: F401
N_IMAGES = 8  # test scenes (the frames' first) whose predictions TensorBoard shows after each task
INSTALL = 'pip install -e ".[tensorboard]"'


def parse_log(text: str) -> tuple[str, ...]:
    """The sinks of ``train.log``: ``csv``, ``tensorboard``, both comma-separated, or ``none``."""
    names = [name.strip() for name in str(text).split(",") if name.strip()]
    if names == ["none"]:
        return ()
    if not names or any(name not in SINKS for name in names):
        raise ValueError(f"invalid log {text!r} (train.log, --log): valid values are csv, tensorboard, "
                         "csv,tensorboard, none")
    return tuple(dict.fromkeys(names))


def check_log(text: str) -> None:
    """``train.log`` names known sinks, and tensorboard is installed if it names it (before any training)."""
    if "tensorboard" in parse_log(text) and importlib.util.find_spec("tensorboard") is None:
        raise ValueError(f"--log tensorboard needs the tensorboard package, not installed here: {INSTALL}")


def _cell(value) -> str:
    return "" if value is None else repr(float(value)) if isinstance(value, float) else str(value)


def _csv_text(rows: list[dict], first: tuple[str, ...]) -> str:
    """Rows as CSV under a header of ``first`` and then every other key in the order it appeared."""
    columns = list(first) + [k for k in dict.fromkeys(k for row in rows for k in row) if k not in first]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([_cell(row.get(column)) for column in columns] for row in rows)
    return buffer.getvalue()


def _read_rows(path: Path) -> list[dict]:
    """The rows of a CSV this module wrote (none when there is no file); ValueError when it cannot be read."""
    if not path.is_file():
        return []
    try:
        with path.open(newline="") as file:
            rows = [{k: (None if v in ("", None) else int(v) if k in ("task", "step", "task_step") else float(v))
                     for k, v in row.items()} for row in csv.DictReader(file)]
        if any(None in row or row.get("task") is None or row.get("step") is None for row in rows):
            raise ValueError("a row without its task or step, or with more cells than columns")
    except (OSError, UnicodeDecodeError, csv.Error, ValueError, TypeError) as error:
        raise ValueError(f"cannot be read ({' '.join(str(error).split())})") from None
    return [{k: v for k, v in row.items() if v is not None} for row in rows]


def _metrics_row(entry: dict, step: int) -> dict:
    """metrics.csv's row of a task from its results.json ``entry``, evaluated at the run's ``step``."""
    return ({"task": entry["task"], "step": step} | {f"miou_{k}": entry[f"miou_{k}"] for k in ("all", "old", "new")}
            | {f"iou_{name}": entry["iou"].get(name) for name in CLASS_NAMES})


def finished_rows(out, tasks: list[dict]) -> tuple[list[dict], list[dict]]:
    """The steps.csv and metrics.csv rows of a resumed run's finished ``tasks`` (results.json's entries).
    metrics.csv's are rebuilt from results.json; steps.csv's are read (rows of a later, unfinished task are
    dropped) and must hold every step of every finished task (the first task may have none: a shared base
    loaded logs no steps), else ValueError: a damaged log is refused, never silently cut."""
    metrics, step = [], 0
    for entry in tasks:
        step += entry["steps"]
        metrics.append(_metrics_row(entry, step))
    path = RunDir(out).steps_csv
    staged = RunDir.staged(path)  # a crash after results.json, before the logs were renamed: the staged one
    first = None
    for file in (path, staged) if staged.is_file() else (path,):
        try:
            rows = [row for row in _read_rows(file) if row["step"] <= step]
            _check_steps(rows, tasks)
            return rows, metrics
        except ValueError as error:
            first = first or error
    raise ValueError(f"cannot resume {out}: its {path.name} {first}; train it again with --overwrite")


def _check_steps(rows: list[dict], tasks: list[dict]) -> None:
    start = 0
    for k, entry in enumerate(tasks):
        have = [row["step"] for row in rows if row["task"] == entry["task"]]
        if have != list(range(start + 1, start + entry["steps"] + 1)) and not (k == 0 and not have):
            raise ValueError(f"holds {len(have)} of the {entry['steps']} steps of finished task {entry['task']} "
                             "(damaged, edited or deleted): the resumed log would lack them")
        start += entry["steps"]


def prediction_grid(images: np.ndarray, truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """One picture [3, 3H, N*W] uint8: the scenes (grey), every digit in its class colour, the prediction
    (masks in results' class space)."""
    grey = np.repeat((np.clip(images, 0, 1) * 255).astype(np.uint8)[..., None], 3, axis=-1)  # N, H, W, 3
    rows = [np.concatenate(list(picture), axis=1) for picture in (grey, colorize(truth), colorize(pred))]
    return np.concatenate(rows, axis=0).transpose(2, 0, 1)


class Tracker:
    """The sinks of one run: ``step`` after every optimiser step, ``end_task`` after each task's evaluation.
    ``done``: the results.json entries of the tasks completed before (a resumed run keeps their logs, checked by
    ``finished_rows``, and drops those of the interrupted task). ``save`` writes the CSV files. Without ``out``
    (``csslab.run`` without a directory) it records nothing."""

    def __init__(self, log: str, out, frames, evaluator, done: list[dict] = ()):
        sinks = parse_log(log) if out is not None else ()
        self.out, self.frames, self.evaluator = (Path(out) if out is not None else None), frames, evaluator
        self.csv = "csv" in sinks
        self.steps, self.metrics = finished_rows(self.out, list(done)) if self.csv and done else ([], [])
        done_steps = sum(entry["steps"] for entry in done)
        self.writer = None
        if "tensorboard" in sinks:
            from torch.utils.tensorboard import SummaryWriter  # only here: the package is optional

            self.writer = SummaryWriter(str(RunDir(self.out).tensorboard), purge_step=done_steps + 1 if done_steps
                                        else None)

    def step(self, task, step: int, values: dict[str, float], lr: float) -> None:
        """After the run's ``step``-th optimiser step (1-based): its loss terms and the learning rate it used."""
        total = sum(values.values())
        if self.csv:
            self.steps.append({"task": task.index, "step": step, "lr": lr, "loss": total} | values)
        if self.writer is not None:
            for name, value in values.items():
                self.writer.add_scalar(f"loss/{name}", value, step)
            self.writer.add_scalar("loss/total", total, step)
            self.writer.add_scalar("lr", lr, step)

    def end_task(self, task, entry: dict, step: int, model) -> None:
        """After ``task`` was evaluated (``entry``: its results.json entry), at the run's ``step``; ``model``
        (in eval mode) predicts the TensorBoard images."""
        mious = {key: entry[f"miou_{key}"] for key in ("all", "old", "new")}
        ious = {name: entry["iou"].get(name) for name in CLASS_NAMES}
        if self.csv:
            self.metrics.append({"task": task.index, "step": step} | {f"miou_{k}": v for k, v in mious.items()}
                                | {f"iou_{name}": v for name, v in ious.items()})
            self.stage()
        if self.writer is not None:
            for tag, values in (("miou", mious), ("iou", ious)):
                for name, value in values.items():
                    if value is not None:
                        self.writer.add_scalar(f"{tag}/{name}", value, step)
            images = self.frames.images[:N_IMAGES]
            pred = self.evaluator.predict(model, images).cpu().numpy()
            grid = prediction_grid(images[:, 0].numpy(), self.frames.raw[:N_IMAGES], pred)
            self.writer.add_image("predictions", grid, step)
            self.writer.flush()

    def _files(self) -> tuple[Path, Path]:
        return RunDir(self.out).steps_csv, RunDir(self.out).metrics_csv

    def stage(self) -> None:
        """Write steps.csv and metrics.csv, atomically, under their staged names (``RunDir.staged``): before
        results.json is saved. ``save`` puts them in place after it."""
        if self.csv:
            steps, metrics = self._files()
            atomic_write(RunDir.staged(steps), _csv_text(self.steps, ("task", "step", "lr", "loss")))
            atomic_write(RunDir.staged(metrics), _csv_text(
                self.metrics, ("task", "step", "miou_all", "miou_old", "miou_new",
                               *(f"iou_{name}" for name in CLASS_NAMES))))

    def save(self) -> None:
        """Rename the staged logs into place: after results.json, so they never hold a task it does not."""
        if self.csv:
            for path in self._files():
                os.replace(RunDir.staged(path), path)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()

    def __enter__(self) -> "Tracker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
