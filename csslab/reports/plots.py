"""Static figures (PNG) of a run or a benchmark, drawn with matplotlib's Agg backend."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from csslab.files import atomic_open
from csslab.reports.benchmark_table import method_label
from csslab.reports.colors import CLASS_COLORS, SHIFT_PARTS, class_hex, legend_handles
from csslab.reports.tables import RunData

LINE_COLORS = {"all": "#1f77b4", "old": "#d62728", "new": "#2ca02c"}
UNSEEN = "#e6e6e6"
GHOST = 60  # brightest grey of digit ink predicted as background


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path, dpi: int = 100) -> Path:
    """Write ``fig`` (format from the suffix) atomically and close it."""
    with atomic_open(path) as file:
        fig.savefig(file, format=Path(path).suffix[1:], dpi=dpi, bbox_inches="tight", facecolor="white")
    pyplot().close(fig)
    return Path(path)


def last_frame_of_each_task(frames: dict, n_tasks: int) -> list[int | None]:
    """Index of the last animation frame of every task (None when a task has no frame)."""
    task = np.asarray(frames["task"])
    return [int(np.flatnonzero(task == k)[-1]) if (task == k).any() else None for k in range(n_tasks)]


def task_starts(frames: dict) -> list[tuple[int, int]]:
    """(global step where a task's training began, task index) from the frames' task column."""
    steps, task = np.asarray(frames["step"]), np.asarray(frames["task"])
    every = int(steps[1] - steps[0]) if len(steps) > 1 else int(steps[0])
    firsts = [0] + [i for i in range(1, len(task)) if task[i] != task[i - 1]]
    return [(max(0, int(steps[i]) - every), int(task[i])) for i in firsts]


def draw_iou_heatmap(ax, run: RunData, title: str, annotate: bool = True):
    """IoU[task, class] on ``ax``: grey for classes not yet seen, each task's new classes outlined."""
    from matplotlib.patches import Rectangle

    matrix = run.iou_matrix
    cmap = pyplot().get_cmap("viridis").with_extremes(bad=UNSEEN)
    image = ax.imshow(np.ma.masked_invalid(matrix), cmap=cmap, vmin=0, vmax=1, aspect="auto")
    n_tasks, n_classes = matrix.shape
    ax.set_xticks(range(n_classes), run.short_names)
    ax.set_yticks(range(n_tasks), [run.task_label(k) for k in range(n_tasks)])
    ax.set_xlabel("class")
    ax.set_ylabel("after training on")
    ax.set_title(title, fontsize=11)
    for k, entry in enumerate(run.tasks):
        for c in entry.get("classes", []):
            ax.add_patch(Rectangle((c + 0.5, k - 0.5), 1, 1, fill=False, edgecolor="#ff3b30", linewidth=2))
    if annotate:
        for (k, c), v in np.ndenumerate(matrix):
            text = "–" if np.isnan(v) else f"{v:.2f}"
            color = "#888888" if np.isnan(v) else ("black" if v > 0.6 else "white")
            ax.text(c, k, text, ha="center", va="center", fontsize=8, color=color)
    return image


def plot_iou_heatmap(run: RunData, path) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8.5, 1.2 + 0.55 * len(run.tasks)))
    image = draw_iou_heatmap(ax, run, f"Per-class IoU on the test set after each task\n{run.title}")
    fig.colorbar(image, ax=ax, label="IoU", fraction=0.04, pad=0.02)
    fig.text(0.01, -0.02, "red box: the classes a task learns;  grey –: class not seen yet", fontsize=8,
             color="#555555")
    return save_figure(fig, path)


def plot_miou_per_task(run: RunData, path) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    x = np.arange(1, len(run.tasks) + 1)
    for key, label in (("all", "all (bg + seen classes)"), ("old", "old classes"), ("new", "new classes")):
        values = [np.nan if t.get(f"miou_{key}") is None else t[f"miou_{key}"] for t in run.tasks]
        ax.plot(x, values, marker="o", color=LINE_COLORS[key], label=label, linewidth=2)
    if run.data.get("miou_avg") is not None:
        ax.axhline(run.data["miou_avg"], color=LINE_COLORS["all"], linestyle=":", linewidth=1.2,
                   label=f"avg of all over tasks ({run.data['miou_avg']:.3f})")
    ax.set_xticks(x, [run.task_label(k).replace(" (", "\n(") for k in range(len(run.tasks))])
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("after training on")
    ax.set_ylabel("mean IoU on the test set")
    ax.set_title(f"Mean IoU after each task\n{run.title}", fontsize=11)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return save_figure(fig, path)


def _task_lines(ax, frames, run: RunData):
    top = ax.get_ylim()[1]
    for step, k in task_starts(frames):
        if k > 0:
            ax.axvline(step, color="#555555", linestyle="--", linewidth=1)
        ax.text(step, top, f" task {k + 1}", va="bottom", ha="left", fontsize=8, color="#555555")


def plot_iou_curves(run: RunData, path) -> Path:
    """Per-class IoU over training, from the confusion matrices of frames.npz."""
    from csslab.metrics import iou

    plt = pyplot()
    frames = run.frames
    curves = np.stack([iou(cm) for cm in frames["confusion"]])  # F, K
    fig, ax = plt.subplots(figsize=(9, 4))
    for c, name in enumerate(run.short_names):
        ax.plot(frames["step"], curves[:, c], color=class_hex(c), linewidth=2 if c else 1.5,
                linestyle="-" if c else "--", label=name)
    ax.set_ylim(0, 1.02)
    ax.set_xlim(0, frames["step"][-1])
    _task_lines(ax, frames, run)
    ax.set_xlabel("training step (all tasks)")
    ax.set_ylabel("IoU")
    ax.set_title(f"Per-class IoU during training on {run.frame_scenes} fixed test scenes (dashed: a task starts)\n"
                 f"{run.title}", fontsize=11, pad=16)
    ax.grid(alpha=0.3)
    ax.legend(title="class", fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    return save_figure(fig, path)


def plot_background_shift(run: RunData, path) -> Path | None:
    """Stacked bars: where old classes' test pixels went after each task (None if no task has old classes)."""
    entries = [(k, t["background_shift"]) for k, t in enumerate(run.tasks)
               if t.get("old_classes") and t.get("background_shift")
               and t["background_shift"].get("correct") is not None]
    if not entries:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(1.6 + 1.2 * len(entries), 4.2))
    x = np.arange(len(entries))
    bottom = np.zeros(len(entries))
    for key, label, color in SHIFT_PARTS:
        values = np.array([s.get(key) or 0.0 for _, s in entries])
        ax.bar(x, values, bottom=bottom, color=color, label=f"predicted as {label}" if key != "correct" else label,
               width=0.6)
        for i, v in enumerate(values):
            if v >= 0.06:
                ax.text(x[i], bottom[i] + v / 2, f"{v:.0%}", ha="center", va="center", fontsize=8, color="white")
        bottom += values
    ax.set_xticks(x, [run.task_label(k).replace(" (", "\n(") for k, _ in entries])
    ax.set_ylim(0, 1)
    ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:.0%}"))
    ax.set_xlabel("after training on")
    ax.set_ylabel("share of old-class test pixels")
    ax.set_title(f"Background shift: what old classes' pixels are predicted as\n{run.title}", fontsize=11)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    return save_figure(fig, path)


def overlay(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Class colours where ``mask`` has a digit; elsewhere the scene, faint (far darker than digit 7's
    grey), so ink predicted as background shows as ghost strokes. image [H,W] in [0,1] -> RGB uint8."""
    grey = (np.clip(image, 0, 1) * GHOST).astype(np.uint8)
    rgb = np.repeat(grey[..., None], 3, axis=-1)
    digit = (mask > 0) & (mask < len(CLASS_COLORS))
    rgb[digit] = CLASS_COLORS[mask[digit]]
    return rgb


def plot_predictions(run: RunData, path) -> Path:
    """Grid: rows = fixed test scenes; columns = scene, ground truth, prediction after each task.

    The tiles are put together as one picture (one axes): 50 small axes take seconds to draw."""
    plt = pyplot()
    frames = run.frames
    lasts = last_frame_of_each_task(frames, len(run.tasks))
    images, truth = frames["images"], frames["truth"]
    n_rows, n_cols, size, gap = len(images), 2 + len(lasts), images.shape[-1], 4
    mosaic = np.full((n_rows * (size + gap) - gap, n_cols * (size + gap) - gap, 3), 255, dtype=np.uint8)
    for r in range(n_rows):
        grey = (np.clip(images[r], 0, 1) * 255).astype(np.uint8)
        panels = [np.repeat(grey[..., None], 3, axis=-1), overlay(images[r], truth[r])]
        panels += [overlay(images[r], frames["pred"][i, r]) if i is not None else None for i in lasts]
        for c, panel in enumerate(panels):
            y, x = r * (size + gap), c * (size + gap)
            mosaic[y:y + size, x:x + size] = panel if panel is not None else 235
    width = max(1.2 * n_cols, 6.5)
    height = width * mosaic.shape[0] / mosaic.shape[1] + 1.5
    fig = plt.figure(figsize=(width, height))
    ax = fig.add_axes((0.01, 0.6 / height, 0.98, 1 - 1.5 / height))
    ax.imshow(mosaic, interpolation="nearest")
    ax.axis("off")
    titles = ["scene", "ground truth"] + [f"after task {k + 1}\n(learns {', '.join(map(str, t.get('classes', [])))})"
                                          for k, t in enumerate(run.tasks)]
    for c, title in enumerate(titles):
        ax.text(c * (size + gap) + size / 2, -4, title, ha="center", va="bottom", fontsize=8)
    from matplotlib.patches import Patch

    handles = legend_handles(run.short_names)
    handles.append(Patch(facecolor="#%02x%02x%02x" % ((GHOST,) * 3), edgecolor="#888888",
                         label="faint: digit predicted as bg"))
    ncol = -(-len(handles) // 2)
    by_rows = [handles[i + ncol * j] for i in range(ncol) for j in range(2) if i + ncol * j < len(handles)]
    fig.legend(handles=by_rows, loc="lower center", ncol=ncol, fontsize=8, frameon=False, bbox_to_anchor=(0.5, 0.0))
    fig.suptitle(f"Predictions on fixed test scenes at the end of each task\n{run.title}", fontsize=11,
                 y=1 - 0.1 / height)
    return save_figure(fig, path)


# -- benchmark ------------------------------------------------------------------------------

def plot_benchmark_bars(rows: list[dict], path) -> Path:
    """Grouped bars of final mIoU old / new / all per method (± std over seeds), one panel per scenario."""
    plt = pyplot()
    groups = {}
    for row in rows:
        groups.setdefault((row.get("setting", "?"), row.get("tasks", "?")), []).append(row)
    sizes = [len(g) for g in groups.values()]
    fig, axes = plt.subplots(1, len(groups), figsize=(1.6 + 1.3 * sum(sizes) + 0.9 * len(groups), 4.4),
                             squeeze=False, gridspec_kw={"width_ratios": sizes})
    for ax, ((setting, tasks), group) in zip(axes[0], groups.items()):
        x = np.arange(len(group))
        for i, key in enumerate(("old", "new", "all")):
            means = np.array([np.nan if r.get(f"{key}_mean") is None else r[f"{key}_mean"] for r in group])
            stds = np.array([r.get(f"{key}_std") or 0.0 for r in group])
            ax.bar(x + (i - 1) * 0.26, means, 0.26, yerr=stds, capsize=3, color=LINE_COLORS[key],
                   label=f"mIoU {key}")
        ax.set_xticks(x, [f"{method_label(r)}\n({r.get('n_seeds', '?')} seeds)" for r in group], fontsize=8)
        ax.set_ylim(0, 1)
        ax.set_ylabel("final mIoU (mean ± std over seeds)" if ax is axes[0, 0] else "")
        ax.set_xlim(-0.6, len(group) - 0.4)
        ax.set_title(f"{tasks} ({setting})", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle("Final mIoU per method after the last task", fontsize=11)
    fig.tight_layout()
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 0.9), frameon=False)
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
            ax.text(x, -0.02, m, rotation=90, ha="center", va="top", fontsize=7)
            x += 1
        ticks.append(x - (len(group) + 1) / 2)
        labels.append(setting.replace(",", "\n"))
        x += 0.6
    ax.set_xticks(ticks, labels, fontsize=7)
    ax.tick_params(axis="x", pad=42, length=0)
    ax.set_ylim(0, 1)
    ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:.0%}"))
    ax.set_ylabel("share of old-class test pixels, after the last task")
    ax.set_title("Background shift per setting: where the old classes' pixels went", fontsize=11)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    return save_figure(fig, path)


def plot_benchmark_heatmaps(runs: list[tuple[str, RunData]], path) -> Path:
    """The IoU[task, class] heatmaps of (label, run) pairs side by side (one run per benchmark row)."""
    plt = pyplot()
    n = len(runs)
    cols = min(n, 3)
    n_rows = -(-n // cols)
    height = 1.0 + 0.35 * max(len(r.tasks) for _, r in runs)
    fig, axes = plt.subplots(n_rows, cols, figsize=(4.6 * cols, (height + 0.9) * n_rows), squeeze=False)
    image = None
    for ax, (label, run) in zip(axes.flat, runs):
        image = draw_iou_heatmap(ax, run, f"{label}: {run.split} ({run.setting}), seed {run.seed}",
                                 annotate=False)
        ax.set_yticks(range(len(run.tasks)), [f"task {k + 1}" for k in range(len(run.tasks))], fontsize=8)
        ax.tick_params(axis="x", labelsize=8)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.suptitle("Per-class IoU after each task, per method (grey: not seen yet; red box: classes learnt)",
                 fontsize=11)
    fig.tight_layout()
    if image is not None:
        fig.colorbar(image, ax=axes.ravel().tolist(), label="IoU", fraction=0.03, pad=0.02)
    return save_figure(fig, path)
