"""Static figures (PNG) of a run or a benchmark, drawn with matplotlib's Agg backend."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from csslab.core.files import atomic_open
from csslab.core.colors import CLASS_COLORS, class_hex, legend_handles
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


def draw_iou_heatmap(ax, run: RunData, title: str, fontsize: float = 8):
    """IoU[task, class] on ``ax``, each cell's value written in it: grey for classes not yet seen, each
    task's new classes outlined."""
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
    for (k, c), v in np.ndenumerate(matrix):
        text = "–" if np.isnan(v) else f"{v:.2f}"
        color = "#888888" if np.isnan(v) else ("black" if v > 0.6 else "white")
        ax.text(c, k, text, ha="center", va="center", fontsize=fontsize, color=color)
    return image


def plot_iou_heatmap(run: RunData, path) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8.5, 1.2 + 0.55 * len(run.tasks)))
    image = draw_iou_heatmap(ax, run, f"Per-class IoU on the test set after each task\n{run.title}", fontsize=9)
    fig.colorbar(image, ax=ax, label="IoU", fraction=0.04, pad=0.02)
    fig.text(0.01, -0.02, "red box: the classes a task learns;  grey –: class not seen yet", fontsize=8,
             color="#555555")
    return save_figure(fig, path)


MIOU_LINES = (("all", "all (bg + seen classes)", "o"), ("new", "new classes", "^"), ("old", "old classes", "s"))
Y_FLOOR = -0.04  # below 0, so a line at 0 (old classes forgotten) is drawn above the axis, not hidden in it


def plot_miou_per_task(run: RunData, path) -> Path:
    """mIoU all / new / old after each task; old is drawn last, above the others, with the axis below 0."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.4, 3.9))
    x = np.arange(1, len(run.tasks) + 1)
    if run.data.get("miou_avg") is not None:
        ax.axhline(run.data["miou_avg"], color=LINE_COLORS["all"], linestyle=":", linewidth=1.2,
                   label=f"avg of all over tasks ({run.data['miou_avg']:.3f})")
    for z, (key, label, marker) in enumerate(MIOU_LINES):
        values = [np.nan if t.get(f"miou_{key}") is None else t[f"miou_{key}"] for t in run.tasks]
        ax.plot(x, values, marker=marker, markersize=7, color=LINE_COLORS[key], label=label, linewidth=2,
                zorder=3 + z, clip_on=False)
    labels, axis_title = run.task_ticks()
    ax.set_xticks(x, labels, fontsize=9)
    ax.set_ylim(Y_FLOOR, 1.04)
    ax.set_xlabel(axis_title)
    ax.set_ylabel("mean IoU on the test set")
    ax.set_title(f"Mean IoU after each task\n{run.title}", fontsize=10)
    ax.grid(alpha=0.3)
    # beside the axes, never over a line: "best" put it over the old-classes line at tasks 2-3 (issue 29)
    ax.legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.02, 1), frameon=False)
    return save_figure(fig, path)


def loss_terms(run: RunData) -> dict[str, list[float]]:
    """Each loss term's mean over each task's steps (NaN for a task without that term): what results.json
    records of training (no per-step losses)."""
    names = list(dict.fromkeys(name for t in run.tasks for name in t.get("loss") or {}))
    return {name: [np.nan if (t.get("loss") or {}).get(name) is None else t["loss"][name] for t in run.tasks]
            for name in names}


def plot_losses(run: RunData, path) -> Path | None:
    """Mean training loss per task, one line per loss term (log scale when terms differ by 30x or more);
    None when the results record no loss."""
    terms = loss_terms(run)
    values = np.array(list(terms.values()), dtype=float).ravel()
    finite = values[np.isfinite(values)]
    if not len(finite):
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.4, 3.9))
    x = np.arange(1, len(run.tasks) + 1)
    for (name, line), color in zip(terms.items(), plt.get_cmap("tab10").colors):
        ax.plot(x, line, marker="o", markersize=6, linewidth=2, color=color, label=name, clip_on=False)
    if finite.min() > 0 and finite.max() >= 30 * finite.min():
        ax.set_yscale("log")
    else:  # from 0 (or the lowest term), with room below so that a term near 0 is not hidden in the axis
        low, span = min(0.0, finite.min()), (finite.max() - min(0.0, finite.min())) or 1.0
        ax.set_ylim(low - 0.04 * span, finite.max() + 0.08 * span)
    labels, axis_title = run.task_ticks()
    ax.set_xticks(x, labels, fontsize=9)
    ax.set_xlabel(axis_title.replace("after training on", "task"))
    ax.set_ylabel("mean loss over the task's steps")
    ax.set_title(f"Training loss per task, by term\n{run.title}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(title="loss term", fontsize=9, title_fontsize=9, loc="upper left", bbox_to_anchor=(1.02, 1),
              frameon=False)
    return save_figure(fig, path)


def _task_lines(ax, frames, run: RunData):
    top = ax.get_ylim()[1]
    for step, k in task_starts(frames):
        if k > 0:
            ax.axvline(step, color="#555555", linestyle="--", linewidth=1)
        ax.text(step, top, f" task {k}", va="bottom", ha="left", fontsize=8, color="#555555")


def plot_iou_curves(run: RunData, path) -> Path:
    """Per-class IoU over training, from the confusion matrices of frames.npz."""
    from csslab.evaluation.metrics import iou

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


def overlay(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Class colours where ``mask`` has a digit; elsewhere the scene, faint grey (no class colour is a
    grey), so ink predicted as background shows as ghost strokes. image [H,W] in [0,1] -> RGB uint8."""
    grey = (np.clip(image, 0, 1) * GHOST).astype(np.uint8)
    rgb = np.repeat(grey[..., None], 3, axis=-1)
    digit = (mask > 0) & (mask < len(CLASS_COLORS))
    rgb[digit] = CLASS_COLORS[mask[digit]]
    return rgb


def ghost_patch(label: str):
    """The legend entry of the faint grey that marks digit ink labelled or predicted as background."""
    from matplotlib.patches import Patch

    return Patch(facecolor="#%02x%02x%02x" % ((GHOST,) * 3), edgecolor="#888888", label=label)


def mosaic_figure(tiles, titles, suptitle: str, handles, row_titles=()):
    """Equal RGB tiles (a list of rows; None: a blank tile) as one picture, with column titles above, row
    titles on the left and a legend of ``handles`` below. One axes: 50 small axes take seconds to draw."""
    plt = pyplot()
    size, gap = next(t for row in tiles for t in row if t is not None).shape[0], 4
    n_rows, n_cols = len(tiles), max(len(row) for row in tiles)
    mosaic = np.full((n_rows * (size + gap) - gap, n_cols * (size + gap) - gap, 3), 255, dtype=np.uint8)
    for r, row in enumerate(tiles):
        for c, tile in enumerate(row):
            y, x = r * (size + gap), c * (size + gap)
            mosaic[y:y + size, x:x + size] = tile if tile is not None else 235
    left = 1.1 if row_titles else 0.0  # inches for the row titles
    width = 1.3 * n_cols  # inches of tiles; the figure is at least 6.5 wide, for the legend
    height = width * mosaic.shape[0] / mosaic.shape[1] + 1.7
    total = max(width + left, 6.5)
    fig = plt.figure(figsize=(total, height))
    x0 = left + (total - left - width) / 2
    ax = fig.add_axes((x0 / total, 0.7 / height, width / total, 1 - 1.7 / height))
    ax.imshow(mosaic, interpolation="nearest")
    ax.axis("off")
    for c, title in enumerate(titles):
        ax.text(c * (size + gap) + size / 2, -4, title, ha="center", va="bottom", fontsize=9)
    for r, title in enumerate(row_titles):
        ax.text(-6, r * (size + gap) + size / 2, title, ha="right", va="center", fontsize=9)
    ncol = -(-len(handles) // 2)
    by_rows = [handles[i + ncol * j] for i in range(ncol) for j in range(2) if i + ncol * j < len(handles)]
    fig.legend(handles=by_rows, loc="lower center", ncol=ncol, fontsize=9, frameon=False, bbox_to_anchor=(0.5, 0.0))
    fig.suptitle(suptitle, fontsize=11, y=1 - 0.1 / height)
    return fig


def plot_predictions(run: RunData, path) -> Path:
    """Grid: rows = fixed test scenes; columns = scene, ground truth, prediction after each task."""
    frames = run.frames
    lasts = last_frame_of_each_task(frames, len(run.tasks))
    images, truth = frames["images"], frames["truth"]
    tiles = []
    for r in range(len(images)):
        grey = (np.clip(images[r], 0, 1) * 255).astype(np.uint8)
        tiles.append([np.repeat(grey[..., None], 3, axis=-1), overlay(images[r], truth[r])]
                     + [overlay(images[r], frames["pred"][i, r]) if i is not None else None for i in lasts])
    titles = ["scene", "ground truth"] + [f"after task {k}\n(learns {', '.join(map(str, t.get('classes', [])))})"
                                          for k, t in enumerate(run.tasks)]
    handles = legend_handles(run.short_names) + [ghost_patch("faint: digit predicted as bg")]
    fig = mosaic_figure(tiles, titles, f"Predictions on fixed test scenes at the end of each task\n{run.title}",
                        handles)
    return save_figure(fig, path)
