"""A run's record, ``Results``: the one owner of results.json (created, filled task by task, saved, loaded).

The layout of a run directory is ``csslab.store.rundir``'s. Every file is written atomically by
``csslab.core.files`` (temporary file + rename), so a killed run leaves either the previous complete file or the
new complete file, never a partial one.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from csslab.core.constants import CLASS_NAMES
from csslab.core.files import atomic_write, json_safe, write_json
from csslab.evaluation.metrics import background_shift, forgetting, task_metrics
from csslab.store.papers_csv import plop_averages, plop_csv
from csslab.store.rundir import RunDir
from csslab.scenarios.tasks import make_tasks

RESULTS_VERSION = 1


def per_class(values) -> dict:
    """{class name: value or None} over background and the 10 digits."""
    return {name: v for name, v in zip(CLASS_NAMES, json_safe(list(values)))}


def nan_for_none(values) -> np.ndarray:
    """JSON numbers with None where absent (a list, or a list of rows) as a float array with NaN there."""
    return np.array(values, dtype=float)  # numpy reads None as NaN


def task_entry(task, cm, steps: int, loss: dict, train_s: float, eval_s: float, data_s: float,
               val_cm=None) -> dict:
    """A task's entry of results.json: its metrics from the test confusion matrix ``cm`` (results' class
    space), the mean ``loss`` terms of its ``steps`` and its times; with ``val_cm`` (the validation scenes'
    confusion matrix), ``val``: the same mIoUs and per-class IoU on the validation scenes."""
    m = task_metrics(cm, task.classes, task.old_classes)
    val = {}
    if val_cm is not None:
        v = task_metrics(val_cm, task.classes, task.old_classes)
        val = {"val": {"miou_all": v["miou_all"], "miou_old": v["miou_old"], "miou_new": v["miou_new"],
                       "iou": per_class(v["iou"])}}
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
        "loss": loss,
        "steps": steps,
        "train_s": train_s,
        "eval_s": eval_s,
        "data_s": data_s,
        **val,
    }


def base_added(entry: dict, base_classes) -> dict:
    """The papers' old and new after a task: ``miou_base``, the mean IoU of task 0's classes (MiB's, PLOP's,
    SSUL's, DKD's "old", e.g. VOC's 1-15), and ``miou_added``, of every seen class added after task 0 (their
    "new", 16-20; None after task 0), from the entry's per-class IoU."""
    def mean(classes):
        values = [entry["iou"][CLASS_NAMES[c + 1]] for c in classes]
        values = [v for v in values if v is not None]
        return float(np.mean(values)) if values else None

    base = [int(c) for c in base_classes]
    added = [int(c) for c in (*entry["old_classes"], *entry["classes"]) if int(c) not in base]
    return {"miou_base": mean(base), "miou_added": mean(added)}


def split_mious(data: dict) -> dict:
    """old / new / all mIoU after the last task and avg over tasks, from per-class IoU and the split,
    so the joint bound (trained as one task) gets the same columns as continual methods."""
    s = data["config"]["scenario"]
    tasks = make_tasks(s["tasks"], None if s["class_order"] == "natural" else s["class_order"])
    last = data["tasks"][-1]

    def mean(iou, classes):
        values = [iou[str(c)] for c in classes if iou[str(c)] is not None]
        return float(np.mean(values)) if values else float("nan")

    old_classes, new_classes = [c for t in tasks[:-1] for c in t.classes], tasks[-1].classes
    added_classes = [c for t in tasks[1:] for c in t.classes]
    old, new = mean(last["iou"], old_classes), mean(last["iou"], new_classes)
    split = {"old": old, "new": new, "hiou": hiou(old, new), "all": last["miou_all"], "avg": data["miou_avg"],
             "base": mean(last["iou"], tasks[0].classes), "added": mean(last["iou"], added_classes),
             "seconds": data["timings"]["total_s"]}
    val = last.get("val")  # the validation scenes' (runs with scenario.val_scenes > 0)
    if val is not None:
        split |= {"val_old": mean(val["iou"], old_classes), "val_new": mean(val["iou"], new_classes),
                  "val_all": val["miou_all"]}
    return split


def hiou(old: float, new: float) -> float:
    """The harmonic mean of old and new mIoU (DKD's hIoU): high only when both are; NaN if either is."""
    if np.isnan(old) or np.isnan(new):
        return float("nan")
    return 2 * old * new / (old + new) if old + new > 0 else 0.0


def _number(value) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


# The JSON shape a report relies on, per key of results.json and of each task entry (absent keys are
# allowed: an older csslab did not write them; a task needs its index).
NUMBER = "a number or null"
KINDS = {
    "a list": lambda v: isinstance(v, list),
    "an object": lambda v: isinstance(v, dict),
    "an integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "a list of integers": lambda v: isinstance(v, list) and all(isinstance(x, int) for x in v),
    NUMBER: _number,
    "an object of numbers": lambda v: isinstance(v, dict) and all(_number(x) for x in v.values()),
    "a list of rows of numbers": lambda v: isinstance(v, list) and all(
        isinstance(row, list) and all(_number(x) for x in row) for row in v),
}
RUN_SHAPE = {"tasks": "a list", "config": "an object", "class_names": "a list", "timings": "an object of numbers",
             "forgetting": "an object of numbers", "iou_matrix": "a list of rows of numbers",
             "acc_matrix": "a list of rows of numbers"} | dict.fromkeys(("miou_all", "miou_old", "miou_new",
                                                                         "miou_avg", "miou_base", "miou_added"), NUMBER)
TASK_SHAPE = {"task": "an integer", "classes": "a list of integers", "old_classes": "a list of integers",
              "iou": "an object of numbers", "acc": "an object of numbers", "background_shift": "an object of numbers",
              "confusion": "a list of rows of numbers", "val": "an object"} | dict.fromkeys(
                  ("miou_all", "miou_old", "miou_new", "miou_base", "miou_added", "overall_acc", "mean_acc"), NUMBER)


def check_shape(data, file: Path) -> None:
    """A one-line ValueError when results.json is valid JSON of another shape (a report would stop
    half-way, leaving some of its files new and some old)."""
    def check(entry, shape, where=""):
        for key, kind in shape.items():
            if key in entry and entry[key] is not None and not KINDS[kind](entry[key]):
                raise ValueError(f"results file {file} is not a csslab run's: {key!r}{where} is "
                                 f"{type(entry[key]).__name__}, expected {kind}")

    if not isinstance(data, dict):
        raise ValueError(f"results file {file} is not a csslab run's: it holds a {type(data).__name__}, "
                         "expected a JSON object")
    check(data, RUN_SHAPE)
    check(data.get("config") or {}, dict.fromkeys(("scenario", "model", "train", "params"), "an object"), " of config")
    for k, entry in enumerate(data["tasks"]):
        if not isinstance(entry, dict) or "task" not in entry:
            found = "an object without 'task'" if isinstance(entry, dict) else type(entry).__name__
            raise ValueError(f"results file {file} is not a csslab run's: task {k} is {found}, expected an "
                             "object with its 'task' index")
        check(entry, TASK_SHAPE, f" of task {k}")
    n_classes = len(data.get("class_names") or CLASS_NAMES)
    for key in ("iou_matrix", "acc_matrix"):
        if any(len(row) != n_classes for row in data.get(key) or ()):
            raise ValueError(f"results file {file} is not a csslab run's: a row of {key!r} does not have "
                             f"{n_classes} values, one per class")


class Results:
    """One run's record, the data of its results.json: created for a configuration, a task entry added
    after each task, saved atomically into the run directory, loaded back (the one reader of the file)."""

    def __init__(self, data: dict, path: Path | None = None):
        self.data = data
        self.path = path

    @classmethod
    def new(cls, config: dict, versions: dict) -> "Results":
        """An empty record of a run of ``config`` (resolved, as JSON data) with the software ``versions``."""
        data = {"version": RESULTS_VERSION, "config": json.loads(json.dumps(json_safe(config))),
                "class_names": list(CLASS_NAMES), "tasks": [], "iou_matrix": [], "acc_matrix": [],
                "complete": False, "versions": dict(versions),
                "timings": {"train_s": 0.0, "eval_s": 0.0, "data_s": 0.0, "frames_s": 0.0, "total_s": 0.0}}
        return cls(data)

    @classmethod
    def load(cls, run_dir) -> "Results":
        """The record saved in ``run_dir`` (or the results.json file itself)."""
        path = Path(run_dir)
        file = RunDir(path).results if path.is_dir() else path
        if not file.exists():
            raise FileNotFoundError(f"no results.json in {run_dir}")
        try:
            data = json.loads(file.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise ValueError(f"unreadable results file {file}: {error}") from None
        check_shape(data, file)
        return cls(data, file.parent)

    def add_task(self, entry: dict, complete: bool) -> None:
        """Append a task's entry (see ``task_entry``; stored as JSON data: NaN as None), its row of the
        task x class matrices, and update the run's summary; ``complete``: it was the run's last task."""
        entry = json_safe(entry)
        entry |= base_added(entry, self.tasks[0]["classes"] if self.tasks else entry["classes"])
        self.data["tasks"].append(entry)
        self.data["iou_matrix"].append(list(entry["iou"].values()))
        self.data["acc_matrix"].append(list(entry["acc"].values()))
        self.data["complete"] = complete
        self._summarise()

    def _summarise(self) -> None:
        """Run-level figures from the per-task entries: miou_avg, forgetting, final mIoUs."""
        self.data["miou_avg"] = float(np.mean(nan_for_none([e["miou_all"] for e in self.tasks])))
        self.data["forgetting"] = per_class(forgetting(nan_for_none(self.data["iou_matrix"])))
        for key in ("miou_all", "miou_old", "miou_new", "miou_base", "miou_added"):
            if key in self.final:  # miou_base and miou_added: absent from entries written before them
                self.data[key] = self.final[key]

    def add_timings(self, train_s: float, eval_s: float, data_s: float, total_s: float,
                    frames_s: float = 0.0) -> None:
        """Add a task's training, evaluation, data and animation-frame seconds (each apart from the others);
        ``total_s``: the run's wall-clock time so far."""
        timings = self.data["timings"]
        timings["train_s"] += train_s
        timings["eval_s"] += eval_s
        timings["data_s"] += data_s
        timings["frames_s"] = timings.get("frames_s", 0.0) + frames_s  # absent from runs saved before it
        timings["total_s"] = total_s

    def save(self, run_dir=None) -> None:
        """Write results.json and PLOP's per-task results.csv (``papers_csv``) into ``run_dir`` (default:
        where it was loaded or last saved), each atomically; the CSV first, so a results.json is never
        newer than the CSV beside it."""
        if run_dir is None and self.path is None:
            raise ValueError("Results.save needs a run directory: these results were never loaded or saved")
        self.path = Path(run_dir) if run_dir is not None else self.path
        files = RunDir(self.path)
        if self.tasks:
            atomic_write(files.results_csv, plop_csv(self.data))
        write_json(files.results, self.data)

    def plop_averages(self) -> dict:
        """final / average / first / last mIoU in percent, as PLOP's average_csv.py prints them from results.csv."""
        return plop_averages(self.data)

    @property
    def tasks(self) -> list[dict]:
        return self.data["tasks"]

    @property
    def final(self) -> dict:
        return self.tasks[-1]

    @property
    def complete(self) -> bool:
        return bool(self.data.get("complete"))

    @property
    def class_names(self) -> list[str]:
        return list(self.data.get("class_names") or CLASS_NAMES)

    @property
    def iou_matrix(self) -> np.ndarray:
        """IoU[task, class] with NaN for classes not yet seen (columns: ``class_names``); from each task's
        IoU when an older results.json has no matrix."""
        rows = self.data.get("iou_matrix") or [[t.get("iou", {}).get(n) for n in self.class_names] for t in self.tasks]
        return nan_for_none(rows)

    def split_mious(self) -> dict:
        """old / new / all / avg mIoU and seconds of the run (see ``split_mious``)."""
        return split_mious(self.data)

    def __getitem__(self, key):
        return self.data[key]

    def get(self, key, default=None):
        return self.data.get(key, default)

    def summary(self) -> dict:
        final = self.final
        return {k: self.data.get(k, final.get(k)) for k in ("miou_all", "miou_old", "miou_new", "miou_avg")} | {
            k: final[k] for k in ("miou_all", "miou_old", "miou_new")
        }

    def _repr_html_(self) -> str:
        """Jupyter shows a run as a table: final mIoUs, and each task's mIoUs and per-class IoU."""
        from csslab.store.cells import results_html  # a leaf: reports import results, not the reverse

        return results_html(self)

    def __repr__(self):
        s = self.summary()
        fmt = lambda v: "nan" if v is None else f"{v:.3f}"  # noqa: E731
        return (
            f"Results(method={self.data['config']['method']!r}, tasks={len(self.tasks)}, "
            + ", ".join(f"{k}={fmt(v)}" for k, v in s.items())
            + ")"
        )
