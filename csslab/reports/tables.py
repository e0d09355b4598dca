"""Reading saved runs and benchmarks, and their markdown tables (report.md, benchmark.md).

Reports only read what training wrote; a key that an older results.json lacks is shown as
missing, never recomputed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from csslab.constants import CLASS_NAMES, SHORT_NAMES
from csslab.results import Results


def fmt(value, digits: int = 3) -> str:
    """A metric for a table: 'X' when absent (None or NaN), as in the original notebook."""
    if value is None or value != value:  # NaN of any float type
        return "X"
    return f"{value:.{digits}f}"


class RunData:
    """One run directory as the report sees it: its results (read by ``Results.load``) and, if present,
    frames.npz."""

    def __init__(self, path):
        self.path = Path(path)
        try:
            self.results = Results.load(self.path)
        except FileNotFoundError as error:
            raise ValueError(str(error)) from None
        self.data = self.results.data
        if not self.data.get("tasks"):
            raise ValueError(f"results file {self.path / 'results.json'} holds no completed task")
        self._frames = False

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
        from csslab.config import Config
        from csslab.runstore import setting_name

        try:
            return setting_name(Config.from_dict(self.config))
        except (ValueError, TypeError):  # a configuration of another version
            return str((self.config.get("scenario") or {}).get("setting", "?"))

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
    def iou_matrix(self) -> np.ndarray:
        """IoU[task, class], NaN for classes not yet seen."""
        return self.results.iou_matrix

    def task_label(self, k: int) -> str:
        entry = self.tasks[k] if k < len(self.tasks) else {}
        classes = entry.get("classes")
        return f"task {k + 1}" + (f" ({', '.join(map(str, classes))})" if classes else "")

    # -- frames ---------------------------------------------------------------------------
    @property
    def frames(self) -> dict | None:
        """frames.npz as a dict of arrays, or None when absent or unreadable (older runs)."""
        if self._frames is False:
            self._frames = None
            file = self.path / "frames.npz"
            if file.exists():
                try:
                    with np.load(file) as npz:
                        frames = {k: npz[k] for k in npz.files}
                    if len(frames.get("step", ())) and {"task", "confusion"} <= set(frames):
                        self._frames = frames
                except (OSError, ValueError):
                    pass
        return self._frames


def _row(cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _table(head, rows) -> list[str]:
    return [_row(head), "|" + "---|" * len(head)] + [_row(r) for r in rows]


def format_task(entry: dict, n_tasks: int) -> str:
    """The original notebook's per-task markdown tables (X marks classes not yet seen)."""
    seen = {"background"} | {str(c) for c in entry["old_classes"] + entry["classes"]}
    names = list(entry["iou"])
    head = "| " + " | ".join(n if n != "background" else "bg" for n in names) + " |"
    sep = "|" + "---|" * len(names)

    def row(values):
        return "| " + " | ".join(fmt(values[n]) if n in seen else "X" for n in names) + " |"

    return "\n".join([
        f"\n### Task {entry['task'] + 1}/{n_tasks}: classes {entry['classes']}"
        f" (old {entry['old_classes'] or '-'})  mIoU old {fmt(entry['miou_old'])} new {fmt(entry['miou_new'])}",
        "| Overall Acc | Mean Acc | Mean IoU |", "|---|---|---|",
        f"| {fmt(entry['overall_acc'])} | {fmt(entry['mean_acc'])} | {fmt(entry['miou_all'])} |",
        "", "Class IoU", head, sep, row(entry["iou"]), "", "Class Acc", head, sep, row(entry["acc"]),
    ])


def print_task(entry: dict, n_tasks: int) -> None:
    """What ``csslab run`` prints after each task (``train.run``'s ``on_task``): ``format_task``."""
    print(format_task(entry, n_tasks))


def task_markdown(entry: dict, n_tasks: int) -> str:
    """``format_task`` on a saved entry, tolerant of the keys an older results.json lacks."""
    names = list(entry.get("iou") or dict.fromkeys(CLASS_NAMES))
    defaults = {"classes": [], "old_classes": [], "iou": dict.fromkeys(names), "acc": dict.fromkeys(names)}
    defaults |= dict.fromkeys(("miou_all", "miou_old", "miou_new", "overall_acc", "mean_acc"))
    return format_task(defaults | {k: v for k, v in entry.items() if v is not None}, n_tasks)


def run_markdown(run: RunData, images=()) -> str:
    """report.md: final summary, forgetting, timings, the per-task tables, links to the images."""
    d = run.data
    done = f"{len(run.tasks)}/{run.n_tasks} tasks" + ("" if d.get("complete", True) else " (incomplete run)")
    lines = [f"# {run.title}", "", f"Run directory `{run.path}`, {done}.", "", "## Final summary", ""]
    lines += _table(["mIoU all", "mIoU old", "mIoU new", "mIoU avg"],
                    [[fmt(d.get(k, run.tasks[-1].get(k))) for k in ("miou_all", "miou_old", "miou_new")]
                     + [fmt(d.get("miou_avg"))]])
    lines += ["", "mIoU all: background and every class seen so far; old: classes of earlier tasks; "
              "new: classes of the last task; avg: mean of mIoU all over tasks."]
    if d.get("forgetting"):
        lines += ["", "## Forgetting per class", "",
                  "Best IoU before the last task minus the final IoU (positive: forgotten; X: not seen before "
                  "the last task).", ""]
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


def mean_std(row: dict, key: str) -> str:
    mean, std = row.get(f"{key}_mean"), row.get(f"{key}_std")
    if mean is None:
        return "X"
    return fmt(mean) + (f" ± {fmt(std)}" if std is not None and row.get("n_seeds", 1) > 1 else "")


BENCH_COLUMNS = (("old", "mIoU old"), ("new", "mIoU new"), ("all", "mIoU all"), ("avg", "mIoU avg"))


def benchmark_markdown(bench: dict, title: str) -> str:
    """benchmark.md: one row per method × setting × split, mean ± std over seeds."""
    head = ["method", "setting", "tasks", "seeds"] + [label for _, label in BENCH_COLUMNS] + ["seconds / run"]
    rows = [[r.get("method", "?"), r.get("setting", "?"), r.get("tasks", "?"), r.get("n_seeds", "?")]
            + [mean_std(r, key) for key, _ in BENCH_COLUMNS] + [fmt(r.get("seconds_mean"), 1)]
            for r in bench.get("rows", [])]
    lines = [f"# {title}", "", "Final mIoU after the last task, mean ± standard deviation over seeds.", ""]
    return "\n".join(lines + _table(head, rows)) + "\n"
