"""PLOP's per-task CSV of a run (results.csv) and the averages PLOP's ``average_csv.py`` prints from it,
so a csslab number can be put beside a published one without hand work.

The file has PLOP's layout: no header, one line per task (PLOP's "step")::

    task, IoU of background, IoU of each class in class order ('x' while not seen yet), mIoU

IoUs are fractions (as PLOP writes them); a class seen but absent from the test scenes is ``nan`` (PLOP
writes numpy's NaN the same way). Columns follow the class order, as PLOP's remapped labels do, so with
``class_order=random:K`` column 2 is the order's first class, not digit 0 (the order is in config.yaml).
``Results.save`` writes the file beside results.json; both come from the same task entries.
"""

from __future__ import annotations

import math

import numpy as np

from csslab.scenarios.tasks import make_tasks, parse_class_order

CSV_NAME = "results.csv"
UNSEEN = "x"  # PLOP's mark of a class not seen yet
PLOP_KEYS = ("final", "average", "first", "last")  # what average_csv.py prints, in its order


def _order_and_split(data: dict) -> tuple[tuple[int, ...], tuple]:

    s = data["config"]["scenario"]
    order = parse_class_order(None if s["class_order"] == "natural" else s["class_order"])
    return order, make_tasks(s["tasks"], order)


def _number(value) -> float:
    return float("nan") if value is None else float(value)


def plop_rows(data: dict) -> list[list]:
    """One row per task entry of results data: [task, IoU bg, IoU per class in class order or 'x', mIoU]."""
    order, _ = _order_and_split(data)
    rows = []
    for entry in data["tasks"]:
        seen = set(entry["old_classes"]) | set(entry["classes"])
        ious = [_number(entry["iou"]["background"])]
        ious += [_number(entry["iou"][str(c)]) if c in seen else UNSEEN for c in order]
        rows.append([entry["task"], *ious, _number(entry["miou_all"])])
    return rows


def plop_csv(data: dict) -> str:
    """results.csv: ``plop_rows`` as PLOP writes them (``str`` of each float: exact, and ``nan`` for NaN)."""
    return "".join(",".join(str(cell) for cell in row) + "\n" for row in plop_rows(data))


def plop_averages(data: dict) -> dict:
    """What PLOP's ``average_csv.py`` prints, in percent as it prints them: ``final`` (mIoU of the last
    task), ``average`` (mean of the per-task mIoUs), ``first`` (mean IoU after the last task over background
    and the first task's classes) and ``last`` (over every later task's classes).

    ``first`` and ``last`` follow the configured split, so the joint bound (trained as one task, one CSV
    line) gets them too, where ``average_csv.py`` would print 0; a split of one task has no ``last`` (None)."""
    _, tasks = _order_and_split(data)
    rows = plop_rows(data)
    final_ious = rows[-1][1:-1]  # background, then the classes in order: all seen after the last task
    n_first = 1 + len(tasks[0].classes)

    def pct(values):  # average_csv.py skips an 'x' in the sum but counts it (an interrupted run's last line)
        return 100 * float(np.mean([0.0 if v == UNSEEN else v for v in values])) if values else None

    averages = {"final": 100 * rows[-1][-1], "average": 100 * float(np.mean([row[-1] for row in rows])),
                "first": pct(final_ious[:n_first]), "last": pct(final_ious[n_first:])}
    return {k: None if v is None or math.isnan(v) else v for k, v in averages.items()}
