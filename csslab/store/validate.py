"""What a report (and ``--resume``) refuses before it writes anything: a results.json whose tasks do not fit its
split, whose matrices have the wrong size, or whose metrics are not numbers a run writes (NaN, 1e300, -3).

``Results.load`` checks the JSON's shape (types); this checks its values against the run's own split, so a
report can neither crash half-way (a 2x2 confusion matrix, an IoU of 1e300 in matplotlib) nor mislead (an
extra task reading "3/3 tasks" for a 5-5 split; a NaN shown as X, which means "not seen"), and a resumed run
does not average a NaN into "avg nan". A run writes null, never NaN or infinity (``core.files.json_safe``).
"""

from __future__ import annotations

import math

from csslab.core.constants import CLASS_NAMES
from csslab.scenarios.tasks import make_tasks

UNIT = ("in [0, 1]", lambda v: 0 <= v <= 1)  # IoU, accuracy, mIoU, a background-shift fraction
SIGNED = ("in [-1, 1]", lambda v: -1 <= v <= 1)  # forgetting: a difference of IoUs
FINITE = ("finite", lambda v: True)  # a loss term
DURATION = ("finite and >= 0", lambda v: v >= 0)  # seconds, a confusion matrix's counts
RUN_METRICS = ("miou_all", "miou_old", "miou_new", "miou_avg")
TASK_METRICS = ("miou_all", "miou_old", "miou_new", "overall_acc", "mean_acc")


def check_values(data: dict, file) -> None:
    """A one-line ValueError naming the first value of results.json (already of the right shape) that no run
    writes, and what is valid."""
    def bad(where: str, value, valid: str):
        raise ValueError(f"results file {file}: {where} is {value!r}, expected a number {valid} or null")

    def number(where, value, kind=UNIT):
        valid, ok = kind
        if value is not None and not (math.isfinite(value) and ok(value)):
            bad(where, value, valid)

    def numbers(where, values, kind=UNIT):
        for name, value in (values or {}).items():
            number(f"{where}[{name!r}]", value, kind)

    for key in RUN_METRICS:
        number(repr(key), data.get(key))
    numbers("'forgetting'", data.get("forgetting"), SIGNED)
    numbers("'timings'", data.get("timings"), DURATION)
    for key in ("iou_matrix", "acc_matrix"):
        for k, row in enumerate(data.get(key) or ()):
            numbers(f"{key!r}[{k}]", dict(enumerate(row)))
    for k, entry in enumerate(data.get("tasks") or ()):
        where = f"task {k}'s"
        for key in TASK_METRICS:
            number(f"{where} {key!r}", entry.get(key))
        for key in ("iou", "acc", "background_shift"):
            numbers(f"{where} {key!r}", entry.get(key))
        numbers(f"{where} 'loss'", entry.get("loss"), FINITE)
        numbers(where, {key: entry.get(key) for key in ("train_s", "eval_s", "data_s")}, DURATION)
        val = entry.get("val") or {}
        numbers(f"{where} 'val'", {key: val.get(key) for key in ("miou_all", "miou_old", "miou_new")})
        numbers(f"{where} 'val' 'iou'", val.get("iou") if isinstance(val.get("iou"), dict) else {})
        for i, row in enumerate(entry.get("confusion") or ()):
            numbers(f"{where} 'confusion'[{i}]", dict(enumerate(row)), DURATION)


def check_fit(data: dict, file) -> None:
    """A one-line ValueError when the tasks or matrices of results.json do not fit its own split: more tasks
    than the split has, a task whose index or classes are not the split's, a confusion matrix or an IoU matrix
    of another size. The joint bound trains one task of every class; it fits any split."""
    n_classes = len(data.get("class_names") or CLASS_NAMES)
    tasks = data.get("tasks") or []
    scenario = (data.get("config") or {}).get("scenario") or {}
    split, order = scenario.get("tasks"), scenario.get("class_order", "natural")
    try:
        expected = make_tasks(str(split), None if order in ("natural", None) else order, n_classes - 1)
    except (ValueError, TypeError):
        expected = None  # a configuration of another version: its split cannot be checked
    if expected is not None:
        every = sorted(c for t in expected for c in t.classes)
        joint = len(tasks) == 1 and sorted(tasks[0].get("classes") or ()) == every
        if not joint and len(tasks) > len(expected):
            raise ValueError(f"results file {file} does not fit its split {split}: it holds {len(tasks)} tasks, "
                             f"the split has {len(expected)}")
        for k, entry in enumerate(tasks if not joint else ()):
            if entry.get("task") != k or ("classes" in entry and list(entry["classes"]) != list(expected[k].classes)):
                raise ValueError(f"results file {file} does not fit its split {split}: entry {k} is task "
                                 f"{entry.get('task')!r} with classes {entry.get('classes')}, the split's task "
                                 f"{k} has classes {list(expected[k].classes)}")
    for k, entry in enumerate(tasks):
        cm = entry.get("confusion")
        if cm is not None and (len(cm) != n_classes or any(len(row) != n_classes for row in cm)):
            size = f"{len(cm)}x{len(cm[0]) if cm else 0}"
            raise ValueError(f"results file {file}: task {k}'s confusion matrix is {size}, expected "
                             f"{n_classes}x{n_classes} (background and {n_classes - 1} classes)")
    for key in ("iou_matrix", "acc_matrix"):
        rows = data.get(key)
        if rows is not None and len(rows) != len(tasks):
            raise ValueError(f"results file {file}: {key!r} has {len(rows)} rows, expected one per task "
                             f"({len(tasks)})")


def check_run(data: dict, file) -> None:
    """``check_fit`` then ``check_values``: everything a report refuses, in one line, before writing."""
    check_fit(data, file)
    check_values(data, file)
