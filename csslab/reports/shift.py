"""The background-shift figures: where the test pixels of old classes and of background went after each
task (a run's chart), and after the last task per setting and method (a benchmark's)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from csslab.core.constants import BACKGROUND
from csslab.core.colors import BACKGROUND_PARTS, SHIFT_PARTS
from csslab.reports.plots import pyplot, save_figure
from csslab.reports.tables import RunData

LABEL_MIN = 0.06  # a part of a bar at least this tall is labelled with its share


def background_fates(confusion, classes, old_classes) -> dict | None:
    """Shares of the true-background test pixels the model kept as background (``correct``) or took for an
    old class (``to_old``) or a class of this task (``to_new``), from the row of background of the task's
    confusion matrix (results' class space: 0 = background, d+1 = digit d). None without background pixels."""
    row = np.asarray(confusion, dtype=np.float64)[BACKGROUND]
    total = row.sum()
    if total == 0:
        return None
    return {"correct": float(row[BACKGROUND] / total),
            "to_old": float(row[[c + 1 for c in old_classes]].sum() / total),
            "to_new": float(row[[c + 1 for c in classes]].sum() / total)}


def shift_data(run: RunData) -> list[tuple[int, dict | None, dict | None]]:
    """Per task: (index, where its old classes' pixels went or None, where background pixels went or None)."""
    out = []
    for k, entry in enumerate(run.tasks):
        old = entry.get("background_shift") if entry.get("old_classes") else None
        old = old if old and old.get("correct") is not None else None
        background = (background_fates(entry["confusion"], entry.get("classes", []), entry.get("old_classes", []))
                      if entry.get("confusion") else None)
        out.append((k, old, background))
    return out


def _stack(ax, x, shares, parts, label_prefix: str = "predicted as "):
    """Stacked bars at ``x`` of each part of ``shares`` (None: no bar), every part of 6% or more labelled."""
    bottom = np.zeros(len(x))
    for key, label, color in parts:
        values = np.array([(s or {}).get(key) or 0.0 for s in shares])
        ax.bar(x, values, bottom=bottom, color=color, width=0.62,
               label=label if key == "correct" and label == "kept its class" else label_prefix + label)
        for i, v in enumerate(values):
            if v >= LABEL_MIN:
                ax.text(x[i], bottom[i] + v / 2, f"{v:.0%}", ha="center", va="center", fontsize=9, color="white")
        bottom += values


def plot_background_shift(run: RunData, path) -> Path | None:
    """Two panels of stacked bars per task: where old classes' test pixels went (docs/architecture.md#metrics),
    and where the background's went (a run that paints background as a digit shows it here). None when no
    task has either."""
    data = shift_data(run)
    if not any(old or background for _, old, background in data):
        return None
    plt = pyplot()
    n = len(data)
    fig, (ax_old, ax_bg) = plt.subplots(1, 2, figsize=(3.0 + 1.3 * n, 4.6), sharey=True)
    x = np.arange(n)
    labels = [run.task_label(k).replace(" (", "\n(") for k, _, _ in data]
    _stack(ax_old, x, [old for _, old, _ in data], SHIFT_PARTS)
    _stack(ax_bg, x, [bg for _, _, bg in data], BACKGROUND_PARTS)
    for i, (_, old, bg) in enumerate(data):
        if old is None:
            ax_old.text(x[i], 0.5, "no old\nclasses" if not run.tasks[i].get("old_classes") else "not\nrecorded",
                        ha="center", va="center", fontsize=9, color="#777777")
        if bg is not None:
            ax_bg.text(x[i], 1.01, f"{1 - bg['correct']:.0%}\nas a digit", ha="center", va="bottom", fontsize=9)
    for ax, title in ((ax_old, "old-class pixels"), (ax_bg, "background pixels")):
        ax.set_xticks(x, labels, fontsize=9)
        ax.set_xlim(-0.6, n - 0.4)
        ax.set_xlabel("after training on", fontsize=10)
        ax.set_title(title, fontsize=11, pad=30 if ax is ax_bg else 6)
    ax_old.set_ylim(0, 1)
    ax_old.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:.0%}"))
    ax_old.set_ylabel("share of the class's test pixels", fontsize=10)
    seen = {}  # one legend entry per colour: both panels share "predicted as background" and the rest
    for ax in (ax_old, ax_bg):
        for handle, name in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(name, handle)
    fig.suptitle(f"Background shift: what test pixels are predicted as after each task\n{run.title}", fontsize=11)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.legend(list(seen.values()), list(seen), loc="lower center", ncol=len(seen), fontsize=10, frameon=False,
               bbox_to_anchor=(0.5, 0.0))
    return save_figure(fig, path)


def plot_benchmark_shift(runs: list[tuple[str, RunData]], path) -> Path | None:
    """The background-shift diagnostic after the last task, one stacked bar per (label, run), labelled
    by its method and variant, grouped by setting: where the old classes' test pixels went. None when
    fewer than two settings or no diagnostic (e.g. only single-task runs)."""
    entries = [(r.setting, label, r.tasks[-1]["background_shift"]) for label, r in runs
               if r.tasks and (r.tasks[-1].get("background_shift") or {}).get("correct") is not None]
    settings = list(dict.fromkeys(setting for setting, _, _ in entries))
    if len(settings) < 2:
        return None
    plt = pyplot()
    methods = list(dict.fromkeys(method for _, method, _ in entries))
    fig, ax = plt.subplots(figsize=(2.0 + 0.42 * len(entries) + 0.3 * len(settings), 4.6))
    width, x, ticks, labels = 0.8, 0.0, [], []
    for setting in settings:
        group = [(m, shift) for s, m, shift in entries if s == setting]
        group.sort(key=lambda e: methods.index(e[0]))
        for m, shift in group:
            bottom = 0.0
            for key, label, color in SHIFT_PARTS:
                v = shift.get(key) or 0.0
                ax.bar(x, v, width, bottom=bottom, color=color,
                       label=(f"predicted as {label}" if key != "correct" else label) if x == 0 else None)
                bottom += v
            ax.text(x, -0.02, m, rotation=90, ha="center", va="top", fontsize=8)
            x += 1
        ticks.append(x - (len(group) + 1) / 2)
        labels.append(setting.replace(",", "\n"))
        x += 0.6
    ax.set_xticks(ticks, labels, fontsize=8)
    ax.tick_params(axis="x", pad=46, length=0)
    ax.set_ylim(0, 1)
    ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:.0%}"))
    ax.set_ylabel("share of old-class test pixels, after the last task")
    ax.set_title("Background shift per setting: where the old classes' pixels went", fontsize=11)
    ax.legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    return save_figure(fig, path)
