"""The benchmark table, rendered in one place: the screen, benchmark.md, benchmark.csv, benchmark.html and
the labels of the benchmark's plots all take their columns and cells from ``benchmark_table``.

A row (``benchmark.json``'s ``rows``) holds method, variant, setting, tasks, n_runs = n_orders x n_seeds,
``{old,new,all,avg}_mean`` and ``_std`` over its runs (old: the classes before the last task, new: its classes),
``{base,added}_mean`` and ``_std`` (the papers' old and new: task 0's classes, every class added after it), PLOP's averages ``plop_{final,average,first,last}_mean``
and ``_std`` (percent, as its average_csv.py prints them; CSV only), seconds_mean, the runs it averages and
their ``budget`` (``reports.budget``). Human tables spell a missing value ``MISSING`` (see ``tables.fmt``);
the CSV leaves its cell empty. ``BenchmarkRows`` shows the table in Jupyter; ``ranking_markdown`` renders
the methods' ranking per class order (``benchmark.json``'s ``order_ranking``).
"""

from __future__ import annotations

import csv
import html
import io
from dataclasses import dataclass
from typing import Callable

from csslab.store.papers_csv import PLOP_KEYS
from csslab.reports.budget import KEYS as BUDGET_KEYS, benchmark_lines
from csslab.store.cells import MISSING, fmt, table

METRICS = (("old", "mIoU old"), ("new", "mIoU new"), ("hiou", "hIoU"), ("all", "mIoU all"), ("avg", "mIoU avg"))
VAL_METRICS = (("val_old", "val old"), ("val_new", "val new"), ("val_all", "val all"))  # runs with val_scenes > 0
# the papers' old/new: task 0's classes, and every class added after it (rows written before them lack them)
PAPER_METRICS = (("base", "mIoU base"), ("added", "mIoU added"))


def n_runs(row: dict) -> int:
    """The runs a row averages (class orders x seeds); ``n_seeds`` in rows written before the orders axis."""
    return row.get("n_runs", row.get("n_seeds", 1))


def method_label(row: dict) -> str:
    """The method with its grid variant, e.g. ``lwf (lam=10)``: what tells a benchmark's rows apart."""
    method = str(row.get("method", MISSING))
    return f"{method} ({row['variant']})" if row.get("variant") else method


def mean_std(row: dict, key: str) -> str:
    """``0.512 ± 0.010`` over the row's runs (seeds x orders); the mean alone for one run (a std of one
    value means nothing)."""
    mean, std = row.get(f"{key}_mean"), row.get(f"{key}_std")
    if mean is None:
        return MISSING
    return fmt(mean) + (f" ± {fmt(std)}" if std is not None and n_runs(row) > 1 else "")


def _text(key: str) -> Callable[[dict], str]:
    return lambda row: MISSING if row.get(key) is None else str(row[key])


@dataclass(frozen=True)
class Column:
    head: str | None  # the heading of human tables; None: a column of the CSV only
    keys: tuple[str, ...]  # the row's data it shows: the CSV's columns
    cell: Callable[[dict], str] | None = None  # the human cell
    optional: bool = False  # shown to people only when a row has it (the validation columns)


COLUMNS = (
    Column("method", ("method", "variant"), method_label),
    Column("setting", ("setting",), _text("setting")),
    Column("tasks", ("tasks",), _text("tasks")),
    Column("orders", ("n_orders",), lambda row: str(row.get("n_orders", 1))),  # rows before the axis had one
    Column("seeds", ("n_seeds",), _text("n_seeds")),
    Column(None, ("n_runs",)),
    *(Column(head, (f"{key}_mean", f"{key}_std"), lambda row, key=key: mean_std(row, key)) for key, head in METRICS),
    *(Column(head, (f"{key}_mean", f"{key}_std"), lambda row, key=key: mean_std(row, key), optional=True)
      for key, head in PAPER_METRICS + VAL_METRICS),
    Column("s / run", ("seconds_mean",), lambda row: fmt(row.get("seconds_mean"), 0)),
    *(Column(None, (f"plop_{key}_mean", f"plop_{key}_std")) for key in PLOP_KEYS),
)
HUMAN = tuple(c for c in COLUMNS if c.head is not None)


def benchmark_table(rows: list[dict], data: bool = False) -> tuple[list[str], list[list]]:
    """(header, cells) of the benchmark table: text for people (``data=False``: one column per idea,
    mean ± std in one cell), or the values behind them for a spreadsheet (``data=True``: each
    column's keys, numbers as numbers, None where missing, then the row's budget, a key per column)."""
    if data:
        head = [key for column in COLUMNS for key in column.keys]
        cells = [[row.get(key) for key in head]
                 + [_budget_cell((row.get("budget") or {}).get(key)) for key in BUDGET_KEYS] for row in rows]
        return head + list(BUDGET_KEYS), cells
    shown = [c for c in HUMAN if not c.optional or any(row.get(c.keys[0]) is not None for row in rows)]
    return [c.head for c in shown], [[c.cell(row) for c in shown] for row in rows]


def _budget_cell(value):
    """A budget value in one CSV cell: a list (seeds, or values runs disagree on) joined by spaces."""
    return " ".join(map(str, value)) if isinstance(value, list) else value


def benchmark_markdown(rows: list[dict], rankings: list[dict] | None = None, said=()) -> str:
    """The table in markdown, after its budget (and any warning about it), then the ranking per class
    order when ``rankings`` has several orders: as printed by ``csslab benchmark`` and written to benchmark.md.
    ``said``: lines (a warning) the screen showed already, left out."""
    lines = [line for line in benchmark_lines(rows) if line not in said]  # paragraphs of their own, before the table
    ranking = ranking_markdown(rankings or [])
    chosen = [f"- {line}" for line in selection_lines(rows)]
    return "\n".join((["\n\n".join(lines), ""] if lines else []) + _markdown(*benchmark_table(rows))
                     + (["", "Selected on the validation scenes (mIoU all):", *chosen] if chosen else [])
                     + (["", ranking] if ranking else []))


def selections(rows: list[dict]) -> list[dict]:
    """Per method, setting and split with several grid variants measured on validation scenes: the variant with
    the best validation mIoU all (what a sweep may select on), and the one the test scenes would have picked."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        if row.get("val_all_mean") is not None:
            groups.setdefault((row.get("method"), row.get("setting"), row.get("tasks")), []).append(row)
    chosen = []
    for (method, setting, tasks), group in groups.items():
        if len(group) > 1:
            best = max(group, key=lambda row: row["val_all_mean"])
            by_test = max(group, key=lambda row: -1.0 if row.get("all_mean") is None else row["all_mean"])
            chosen.append({"method": method, "setting": setting, "tasks": tasks, "variant": best.get("variant"),
                           "val_all": best["val_all_mean"], "test_all": best.get("all_mean"),
                           "test_would_pick": by_test.get("variant")})
    return chosen


def selection_lines(rows: list[dict]) -> list[str]:
    """One line per ``selections`` entry, e.g. ``lwf (overlap, 2-2-2-2-2): lam=30, val 0.41, test 0.39``."""
    return [f"{c['method']} ({c['setting']}, {c['tasks']}): {c['variant']}, val {fmt(c['val_all'])}, test "
            f"{fmt(c['test_all'])}" + ("" if c["test_would_pick"] == c["variant"] else
                                      f"; the test scenes would have picked {c['test_would_pick']}")
            for c in selections(rows)]


def _markdown(head, cells) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + ["| " + " | ".join(c) + " |" for c in cells]


def benchmark_csv(rows: list[dict]) -> str:
    """benchmark.csv: the table's data columns (empty where missing)."""
    head, cells = benchmark_table(rows, data=True)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(head)
    writer.writerows(cells)
    return buffer.getvalue()


def several_orders(rankings: list[dict]) -> bool:
    return len({r.get("order") for r in rankings or ()}) > 1


def ranking_table(rankings: list[dict]) -> tuple[list[str], list[list[str]]]:
    """(header, cells) of the methods' ranking per class order, best first by final mIoU all (mean over
    seeds), e.g. ``mib 0.612 > finetune 0.305``."""
    cells = [[str(r.get("setting", MISSING)), str(r.get("tasks", MISSING)), str(r.get("order", MISSING)),
              str(r.get("class_order", MISSING)),
              " > ".join(f"{method_label(m)} {fmt(m.get('all_mean'))}" for m in r.get("ranking", ()))]
             for r in rankings]
    return ["setting", "tasks", "order", "class order", "methods by final mIoU all (mean over seeds)"], cells


def ranking_summary(rankings: list[dict]) -> str:
    """Whether the methods' ranking is the same in every class order (per setting and split)."""
    groups: dict[tuple, set] = {}
    for r in rankings:
        groups.setdefault((r.get("setting"), r.get("tasks")), set()).add(
            tuple(method_label(m) for m in r.get("ranking", ())))
    changes = [f"{tasks} ({setting})" for (setting, tasks), orders in groups.items() if len(orders) > 1]
    return (f"The ranking changes with the class order in {', '.join(changes)}." if changes
            else "The ranking is the same in every class order.")


def ranking_markdown(rankings: list[dict]) -> str:
    """The ranking per class order in markdown, with its summary line; empty for a benchmark of one order."""
    if not several_orders(rankings):
        return ""
    lines = [f"Ranking per class order. {ranking_summary(rankings)}", ""]
    return "\n".join(lines + _markdown(*ranking_table(rankings)))


class BenchmarkRows(list):
    """A benchmark's rows (plain dicts: benchmark.json's ``rows``) that show themselves: ``str`` is the
    markdown table, Jupyter shows the HTML table, each with the ranking per class order when there are several."""

    def __init__(self, rows=(), rankings: list[dict] | None = None):
        super().__init__(rows)
        self.rankings = list(rankings or [])

    def __str__(self) -> str:
        return benchmark_markdown(self, self.rankings)

    def _repr_html_(self) -> str:
        parts = [f"<p>{html.escape(line)}</p>" for line in benchmark_lines(self)]
        parts.append(table(*benchmark_table(self), left=3))
        chosen = selection_lines(self)
        if chosen:
            parts.append("<p>Selected on the validation scenes (mIoU all):</p><ul>"
                         + "".join(f"<li>{html.escape(line)}</li>" for line in chosen) + "</ul>")
        if several_orders(self.rankings):
            parts += [f"<p>Ranking per class order. {html.escape(ranking_summary(self.rankings))}</p>",
                      table(*ranking_table(self.rankings), left=5)]
        return "\n".join(parts)
