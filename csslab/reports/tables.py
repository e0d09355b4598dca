"""Reading saved runs, and their markdown tables (report.md); the benchmark's table is in benchmark_table.

Reports only read what training wrote; a key that an older results.json lacks is shown as
missing, never recomputed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from csslab.core.words import plural, task_of
from csslab.core.constants import CLASS_NAMES, SHORT_NAMES
from csslab.reports.budget import budget_text, budget_warning, run_budget
from csslab.store.validate import check_run
from csslab.store.cells import MISSING, fmt  # noqa: F401  (re-exported: every report spells cells so)
from csslab.store.results import Results
from csslab.store.rundir import RunDir
from csslab.scenarios.labels import SWITCHES, make_setting


class RunData:
    """One run directory as the report sees it: its results (read and checked by ``Results.load``) and, if
    present, frames.npz, read here, so a damaged run is refused before any report file is written."""

    def __init__(self, path):
        self.path = Path(path)
        try:
            self.results = Results.load(self.path)
        except FileNotFoundError as error:
            raise ValueError(str(error)) from None
        self.data = self.results.data
        if not self.data.get("tasks"):
            raise ValueError(f"results file {RunDir(self.path).results} holds no completed task")
        check_run(self.data, RunDir(self.path).results)
        self._frames = self._read_frames()

    # -- identity -------------------------------------------------------------------------
    @property
    def config(self) -> dict:
        return self.data.get("config") or {}

    @property
    def method(self) -> str:
        return str(self.config.get("method", "?"))

    @property
    def split(self) -> str:
        return str((self.config.get("scenario") or {}).get("tasks", "?"))

    @property
    def setting(self) -> str:
        """The preset name, or the switches when they match no preset (benchmark --settings all)."""
        scenario = self.config.get("scenario") or {}
        try:  # the preset with the switches the configuration sets (None: the preset's)
            return make_setting(scenario.get("setting", "overlap"), **{k: scenario.get(k) for k in SWITCHES}).name
        except (ValueError, TypeError):  # a configuration of another version
            return str(scenario.get("setting", "?"))

    @property
    def seed(self):
        return self.config.get("seed", "?")

    @property
    def title(self) -> str:
        return f"{self.method} on {self.split} ({self.setting}), seed {self.seed}"

    @property
    def frame_scenes(self) -> str:
        """How many test scenes each animation frame evaluates (as configured), for captions."""
        train, scenario = self.config.get("train") or {}, self.config.get("scenario") or {}
        sizes = [v for v in (train.get("frame_scenes"), scenario.get("test_scenes")) if isinstance(v, int)]
        return str(min(sizes)) if sizes else "a subset of"

    @property
    def budget(self) -> dict:
        """Steps, batch, scenes, data, optimiser, lr, schedule, backbone and seed (``reports.budget``)."""
        return run_budget(self.config, self.tasks) if self.config else {}

    # -- per-task data --------------------------------------------------------------------
    @property
    def tasks(self) -> list[dict]:
        return self.data["tasks"]

    @property
    def n_tasks(self) -> int:
        """Tasks of the run: the completed ones when it finished (the joint bound trains one), else
        the split's parts."""
        parts = self.split.split("-")
        if self.data.get("complete", True) or not all(p.isdigit() for p in parts):
            return len(self.tasks)
        return len(parts)

    @property
    def class_names(self) -> list[str]:
        return self.results.class_names

    @property
    def short_names(self) -> list[str]:
        return ["bg" if n == "background" else n for n in self.class_names] if self.data.get("class_names") \
            else list(SHORT_NAMES)

    @property
    def mean_forgetting(self) -> float | None:
        """Forgetting averaged over the classes seen before the last task (background excluded), or None."""
        forgetting = self.data.get("forgetting") or {}
        values = [v for name, v in forgetting.items() if name != "background" and v is not None]
        return float(np.mean(values)) if values else None

    @property
    def iou_matrix(self) -> np.ndarray:
        """IoU[task, class], NaN for classes not yet seen."""
        return self.results.iou_matrix

    def task_label(self, k: int) -> str:
        entry = self.tasks[k] if k < len(self.tasks) else {}
        classes = entry.get("classes")
        return f"task {k}" + (f" ({', '.join(map(str, classes))})" if classes else "")

    COMPACT_TICKS = 5  # more tasks than this: "task 9task 10" would overlap on a figure's x axis

    def task_ticks(self, indices=None) -> tuple[list[str], str]:
        """Labels of the tasks ``indices`` (default: all) on a figure's x axis, two lines each, and the axis's
        title: "task 3" over its classes, or with many tasks just "3" over "(5,6)" under the title "after
        training on task (its classes)", so ten labels fit side by side."""
        indices = range(len(self.tasks)) if indices is None else list(indices)
        if len(indices) <= self.COMPACT_TICKS:
            return [self.task_label(k).replace(" (", "\n(") for k in indices], "after training on"
        classes = [(self.tasks[k] if k < len(self.tasks) else {}).get("classes") for k in indices]
        return ([f"{k}" + (f"\n({','.join(map(str, c))})" if c else "") for k, c in zip(indices, classes)],
                "after training on task (its classes)")

    # -- frames ---------------------------------------------------------------------------
    @property
    def frames(self) -> dict | None:
        """frames.npz as a dict of arrays, or None when absent or without the arrays of a current run."""
        return self._frames

    def _read_frames(self) -> dict | None:
        try:
            frames = RunDir(self.path).read_frames()
        except ValueError as error:
            raise ValueError(f"{error}; delete it to report the run without its animations") from None
        if frames is not None and len(frames.get("step", ())) and {"task", "confusion"} <= set(frames):
            return frames
        return None


def _row(cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _table(head, rows) -> list[str]:
    return [_row(head), "|" + "---|" * len(head)] + [_row(r) for r in rows]


def format_task(entry: dict, n_tasks: int) -> str:
    """The original notebook's per-task markdown tables (X marks classes not yet seen)."""
    seen = {"background"} | {str(c) for c in entry["old_classes"] + entry["classes"]}
    names = list(entry.get("iou") or entry.get("acc") or CLASS_NAMES)
    head = "| " + " | ".join(n if n != "background" else "bg" for n in names) + " |"
    sep = "|" + "---|" * len(names)

    def row(values):
        return "| " + " | ".join(fmt(values[n]) if n in seen else MISSING for n in names) + " |"

    def block(title, key):  # a table absent from an older results.json is said so, not drawn as a row of X
        return [title, head, sep, row(entry[key])] if entry.get(key) is not None else \
            [f"{title}: not in this results.json"]

    return "\n".join([
        f"\n### {task_of(entry['task'], n_tasks).capitalize()}: classes {entry['classes']}"
        f" (old {entry['old_classes'] or '-'})  mIoU old {fmt(entry['miou_old'])} new {fmt(entry['miou_new'])}"
        + (f"  base {fmt(entry['miou_base'])} added {fmt(entry.get('miou_added'))}" if "miou_base" in entry else ""),
        "| Overall Acc | Mean Acc | Mean IoU |", "|---|---|---|",
        f"| {fmt(entry['overall_acc'])} | {fmt(entry['mean_acc'])} | {fmt(entry['miou_all'])} |",
        "", *block("Class IoU", "iou"), "", *block("Class Acc", "acc"),
    ])


def print_task(entry: dict, n_tasks: int) -> None:
    """What ``csslab run`` prints after each task (``train.run``'s ``on_task``): ``format_task``."""
    print(format_task(entry, n_tasks))


def task_markdown(entry: dict, n_tasks: int) -> str:
    """``format_task`` on a saved entry, tolerant of the keys an older results.json lacks."""
    defaults = {"classes": [], "old_classes": [], "iou": None, "acc": None}
    defaults |= dict.fromkeys(("miou_all", "miou_old", "miou_new", "overall_acc", "mean_acc"))
    return format_task(defaults | {k: v for k, v in entry.items() if v is not None}, n_tasks)


def run_markdown(run: RunData, images=()) -> str:
    """report.md: final summary, forgetting, timings, the per-task tables, links to the images."""
    d = run.data
    done = f"{len(run.tasks)} of {plural(run.n_tasks, 'task')}" + ("" if d.get("complete", True) else " (incomplete run)")
    lines = [f"# {run.title}", "", f"Run directory `{run.path}`, {done}.", "", f"Budget: {budget_text(run.budget)}."]
    if warning := budget_warning(run.budget):
        lines += ["", f"**{warning}**"]
    lines += ["", "## Final summary", ""]
    paper = [k for k in ("miou_base", "miou_added") if k in run.tasks[-1]]  # absent from runs saved before them
    lines += _table(["mIoU all", "mIoU old", "mIoU new", "mIoU avg", "forgetting"]
                    + [f"mIoU {k[5:]}" for k in paper],
                    [[fmt(d.get(k, run.tasks[-1].get(k))) for k in ("miou_all", "miou_old", "miou_new")]
                     + [fmt(d.get("miou_avg")), fmt(run.mean_forgetting)] + [fmt(run.tasks[-1][k]) for k in paper]])
    lines += ["", "mIoU all: background and every class seen so far; old: classes of earlier tasks; "
              "new: classes of the last task; avg: mean of mIoU all over tasks; forgetting: best IoU before "
              "the last task minus the final IoU, averaged over the classes seen before it."
              + (" base / added: the papers' old and new, task 0's classes and every class added after it."
                 if paper else "")]
    if d.get("forgetting"):
        lines += ["", "## Forgetting per class", "",
                  f"Best IoU before the last task minus the final IoU (positive: forgotten; {MISSING}: not seen "
                  "before the last task).", ""]
        lines += _table(run.short_names, [[fmt(d["forgetting"].get(n)) for n in run.class_names]])
    if d.get("timings"):
        t = d["timings"]
        lines += ["", "## Timings (seconds)", ""]
        lines += _table(list(t), [[fmt(v, 1) for v in t.values()]])
    lines += ["", "## Per task"]
    lines += [task_markdown(entry, run.n_tasks) for entry in run.tasks]
    if images:
        lines += ["", "## Figures", ""] + [f"![{Path(p).stem}]({Path(p).name})" for p in images]
    return "\n".join(lines) + "\n"
