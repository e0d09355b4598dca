"""The benchmark's figures (PNG): final mIoU per method with the bounds as reference lines, and the IoU
heat maps of one run per row. The background shift per setting is in ``reports.shift``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from csslab.reports.benchmark_table import method_label, n_runs
from csslab.reports.plots import LINE_COLORS, draw_iou_heatmap, pyplot, save_figure
from csslab.reports.tables import RunData

# the rows every other row is read against: joint training (the ceiling) and fine-tuning (the floor), as
# (method, role, line style, colour: none of the bars')
REFERENCES = (("joint", "upper bound", "--", "#6a3d9a"), ("finetune", "lower bound", ":", "#b15928"))


def reference_lines(group: list[dict]) -> list[tuple[str, float, str, str]]:
    """(label, final mIoU all, line style, colour) of the group's joint and finetune rows (without a grid
    variant)."""
    lines = []
    for method, role, style, color in REFERENCES:
        row = next((r for r in group if r.get("method") == method and not r.get("variant")), None)
        if row is not None and row.get("all_mean") is not None:
            lines.append((f"{method} ({role}): mIoU all {row['all_mean']:.2f}", row["all_mean"], style, color))
    return lines


def error_bars(group: list[dict], key: str) -> np.ndarray | None:
    """Standard deviations over seeds for ``key``'s bars, or None when no row has two seeds (a std of one
    run is not a spread: no ±0 bars)."""
    if all(n_runs(r) < 2 for r in group):
        return None
    return np.array([(r.get(f"{key}_std") or 0.0) if n_runs(r) >= 2 else 0.0 for r in group])


def runs_label(row: dict) -> str:
    """What a bar averages: "3 seeds", or "6 runs: 3 orders x 2 seeds"."""
    seeds = f"{row.get('n_seeds', '?')} seed{'s' if row.get('n_seeds') != 1 else ''}"
    return f"{n_runs(row)} runs: {row['n_orders']} orders x {seeds}" if row.get("n_orders", 1) > 1 else seeds


def plot_benchmark_bars(rows: list[dict], path) -> Path:
    """Grouped bars of final mIoU old / new / all per method (± std over seeds where a row has several),
    one panel per scenario, the bounds' mIoU all as reference lines."""
    plt = pyplot()
    groups = {}
    for row in rows:
        groups.setdefault((row.get("setting", "?"), row.get("tasks", "?")), []).append(row)
    sizes = [len(g) for g in groups.values()]
    fig, axes = plt.subplots(1, len(groups), figsize=(1.6 + 1.3 * sum(sizes) + 0.9 * len(groups), 4.6),
                             squeeze=False, gridspec_kw={"width_ratios": sizes})
    several = any(n_runs(r) >= 2 for r in rows)
    spread = "class orders x seeds" if any(r.get("n_orders", 1) > 1 for r in rows) else "seeds"
    for ax, ((setting, tasks), group) in zip(axes[0], groups.items()):
        x = np.arange(len(group))
        for i, key in enumerate(("old", "new", "all")):
            means = np.array([np.nan if r.get(f"{key}_mean") is None else r[f"{key}_mean"] for r in group])
            ax.bar(x + (i - 1) * 0.26, means, 0.26, yerr=error_bars(group, key), capsize=3, color=LINE_COLORS[key],
                   label=f"mIoU {key}")
            for left in (x + (i - 1) * 0.26 - 0.13)[means < 0.005]:  # a bar of 0.000 has no height: a mark shows it
                ax.hlines(0, left + 0.02, left + 0.24, color=LINE_COLORS[key], linewidth=3, clip_on=False, zorder=4)
        for label, value, style, color in reference_lines(group):
            ax.axhline(value, color=color, linestyle=style, linewidth=2, label=label, zorder=3)
        ax.set_xticks(x, [f"{method_label(r)}\n({runs_label(r)})" for r in group], fontsize=9)
        ax.set_ylim(-0.02, 1)  # the marks of 0.000 bars sit above the axis line, not in it
        ax.set_ylabel((f"final mIoU (mean ± std over {spread})" if several else "final mIoU (one seed)")
                      if ax is axes[0, 0] else "")
        ax.set_xlim(-0.6, len(group) - 0.4)
        ax.set_title(f"{tasks} ({setting})", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle("Final mIoU per method after the last task", fontsize=11)
    fig.tight_layout()
    seen = {}
    for ax in axes[0]:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(label, handle)
    fig.legend(list(seen.values()), list(seen), fontsize=9, loc="upper left", bbox_to_anchor=(1.0, 0.9),
               frameon=False)
    return save_figure(fig, path)


def plot_benchmark_heatmaps(runs: list[tuple[str, RunData]], path) -> Path:
    """The IoU[task, class] heatmaps of (label, run) pairs, two side by side, every cell's IoU written in it
    (one run per benchmark row)."""
    plt = pyplot()
    n = len(runs)
    cols = min(n, 2)
    n_rows = -(-n // cols)
    height = 1.0 + 0.42 * max(len(r.tasks) for _, r in runs)
    fig, axes = plt.subplots(n_rows, cols, figsize=(5.4 * cols, (height + 0.9) * n_rows), squeeze=False)
    image = None
    for ax, (label, run) in zip(axes.flat, runs):
        image = draw_iou_heatmap(ax, run, f"{label}: {run.split} ({run.setting}), seed {run.seed}", fontsize=8)
        ax.set_yticks(range(len(run.tasks)), [f"task {k}" for k in range(len(run.tasks))], fontsize=9)
        ax.tick_params(axis="x", labelsize=9)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.suptitle("Per-class IoU after each task, per method (grey: not seen yet; red box: classes learnt)",
                 fontsize=11)
    fig.tight_layout()
    if image is not None:
        fig.colorbar(image, ax=axes.ravel().tolist(), label="IoU", fraction=0.03, pad=0.02)
    return save_figure(fig, path)
