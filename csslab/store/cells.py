"""How a table's cells are spelt and an HTML table is drawn: a leaf (it imports nothing of csslab) that
results, the reports and the Jupyter displays share, so a ``Results`` can render itself without an
import circle (``tables`` and ``html`` re-export what they always offered)."""

from __future__ import annotations

import html

MISSING = "X"  # a value absent from a human table: a class not seen yet, a column a run does not have


def fmt(value, digits: int = 3) -> str:
    """A metric for a table: ``MISSING`` when absent (None or NaN).

    One spelling everywhere people read numbers (screen, markdown, HTML): the original notebook's
    "X", which its per-task tables use for classes not seen yet (as PLOP's CSV writes 'x'). ASCII,
    so it survives any terminal or spreadsheet, and not a dash, which reads as a minus beside numbers.
    Data files (JSON, CSV) keep null / an empty cell instead."""
    if value is None or value != value:  # NaN of any float type
        return MISSING
    return f"{value:.{digits}f}"


def table(head, rows, left: int = 0) -> str:
    """rows: lists of cells, a cell being text or (text, css class)."""
    def cell(tag, value, i):
        text, cls = value if isinstance(value, tuple) else (value, "")
        cls = " ".join(c for c in (cls, "left" if i < left else "") if c)
        return f"<{tag}{f' class={chr(34)}{cls}{chr(34)}' if cls else ''}>{html.escape(str(text))}</{tag}>"

    out = ["<table><tr>" + "".join(cell("th", h, i) for i, h in enumerate(head)) + "</tr>"]
    out += ["<tr>" + "".join(cell("td", v, i) for i, v in enumerate(r)) + "</tr>" for r in rows]
    return "\n".join(out) + "</table>"


def results_html(results) -> str:
    """A run's Results as Jupyter shows them: the final mIoUs, then one row per task with its mIoUs and
    the IoU of every class (``MISSING`` for a class not seen yet, as the report's tables)."""
    d, config = results.data, results.data.get("config") or {}
    scenario = config.get("scenario") or {}
    done = f"{len(results.tasks)} task{'s' if len(results.tasks) != 1 else ''}" + ("" if results.complete else
                                                                                  ", incomplete")
    summary = (f"{config.get('method', '?')} on {scenario.get('tasks', '?')} ({scenario.get('setting', '?')}), "
               f"seed {config.get('seed', '?')}, {done}: " + ", ".join(
                   f"mIoU {key} {fmt(d.get(f'miou_{key}'))}" for key in ("all", "old", "new", "avg", "base", "added")
                   if key in ("all", "old", "new", "avg") or f"miou_{key}" in d))  # base, added: absent before them
    names = results.class_names
    keys = ("all", "old", "new") + tuple(k for k in ("base", "added") if f"miou_{k}" in d)
    head = ["task", "classes", *(f"mIoU {k}" for k in keys)] + ["bg" if n == "background" else n for n in names]
    rows = []
    for entry in results.tasks:
        seen = {"background"} | {str(c) for c in entry.get("old_classes", []) + entry.get("classes", [])}
        rows.append([str(entry["task"]), " ".join(map(str, entry.get("classes", [])))]
                    + [fmt(entry.get(f"miou_{key}")) for key in keys]
                    + [fmt((entry.get("iou") or {}).get(n)) if n in seen else MISSING for n in names])
    return f"<p>{html.escape(summary)}</p>\n" + table(head, rows, left=2)
