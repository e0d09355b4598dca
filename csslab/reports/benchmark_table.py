"""The benchmark table, rendered in one place: the screen, benchmark.md, benchmark.csv, benchmark.html and
the labels of the benchmark's plots all take their columns and cells from ``benchmark_table``.

A row (``benchmark.json``'s ``rows``) holds method, variant, setting, tasks, n_seeds, ``{old,new,all,avg}_mean``
and ``_std`` over seeds, seconds_mean, the runs it averages and their ``budget`` (``reports.budget``). Human
tables spell a missing value ``MISSING`` (see ``tables.fmt``); the CSV leaves its cell empty.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Callable

from csslab.reports.budget import KEYS as BUDGET_KEYS, benchmark_lines
from csslab.reports.tables import MISSING, fmt

METRICS = (("old", "mIoU old"), ("new", "mIoU new"), ("all", "mIoU all"), ("avg", "mIoU avg"))


def method_label(row: dict) -> str:
    """The method with its grid variant, e.g. ``lwf (lam=10)``: what tells a benchmark's rows apart."""
    method = str(row.get("method", MISSING))
    return f"{method} ({row['variant']})" if row.get("variant") else method


def mean_std(row: dict, key: str) -> str:
    """``0.512 ± 0.010`` over seeds; the mean alone for one seed (a std of one value means nothing)."""
    mean, std = row.get(f"{key}_mean"), row.get(f"{key}_std")
    if mean is None:
        return MISSING
    return fmt(mean) + (f" ± {fmt(std)}" if std is not None and row.get("n_seeds", 1) > 1 else "")


def _text(key: str) -> Callable[[dict], str]:
    return lambda row: MISSING if row.get(key) is None else str(row[key])


@dataclass(frozen=True)
class Column:
    head: str  # the heading of human tables
    keys: tuple[str, ...]  # the row's data it shows: the CSV's columns
    cell: Callable[[dict], str]  # the human cell


COLUMNS = (
    Column("method", ("method", "variant"), method_label),
    Column("setting", ("setting",), _text("setting")),
    Column("tasks", ("tasks",), _text("tasks")),
    Column("seeds", ("n_seeds",), _text("n_seeds")),
    *(Column(head, (f"{key}_mean", f"{key}_std"), lambda row, key=key: mean_std(row, key)) for key, head in METRICS),
    Column("s / run", ("seconds_mean",), lambda row: fmt(row.get("seconds_mean"), 0)),
)


def benchmark_table(rows: list[dict], data: bool = False) -> tuple[list[str], list[list]]:
    """(header, cells) of the benchmark table: text for people (``data=False``: one column per idea,
    mean ± std in one cell), or the values behind them for a spreadsheet (``data=True``: each
    column's keys, numbers as numbers, None where missing, then the row's budget, a key per column)."""
    if data:
        head = [key for column in COLUMNS for key in column.keys]
        cells = [[row.get(key) for key in head]
                 + [_budget_cell((row.get("budget") or {}).get(key)) for key in BUDGET_KEYS] for row in rows]
        return head + list(BUDGET_KEYS), cells
    return [c.head for c in COLUMNS], [[c.cell(row) for c in COLUMNS] for row in rows]


def _budget_cell(value):
    """A budget value in one CSV cell: a list (seeds, or values runs disagree on) joined by spaces."""
    return " ".join(map(str, value)) if isinstance(value, list) else value


def benchmark_markdown(rows: list[dict]) -> str:
    """The table in markdown, after its budget (and any warning about it), as printed by ``csslab benchmark``
    and written to benchmark.md."""
    head, cells = benchmark_table(rows)
    lines = benchmark_lines(rows)  # paragraphs of their own, before the table
    table = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + ["| " + " | ".join(c) + " |" for c in cells]
    return "\n".join((["\n\n".join(lines), ""] if lines else []) + table)


def benchmark_csv(rows: list[dict]) -> str:
    """benchmark.csv: the table's data columns (empty where missing)."""
    head, cells = benchmark_table(rows, data=True)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(head)
    writer.writerows(cells)
    return buffer.getvalue()
