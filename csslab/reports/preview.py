"""``csslab scenario``: what each task's training scenes contain and how they are labelled, as a
table and two figures, and a run report's figure of its tasks' training labels (plotting, so it lives
with the other reports, not in the scenario package)."""

from __future__ import annotations

import numpy as np

from csslab.core.config import Config
from csslab.core.constants import BACKGROUND, IGNORE
from csslab.core.colors import label_colormap, legend_handles
from csslab.reports.plots import ghost_patch, mosaic_figure, overlay, pyplot, save_figure
from csslab.reports.tables import RunData
from csslab.scenarios import Scenario
from csslab.scenarios.labels import allowed_digits, train_lut


def task_statistics(scenario, task) -> dict:
    """Scene count, scenes containing each digit, and the pixel share of each training label."""
    _, raw = scenario.train_raw(task)
    labels = train_lut(task, scenario.setting, scenario.class_order)[raw]
    present = np.stack([(raw == d + 1).any((1, 2)) for d in range(scenario.n_classes)], 1)  # N, 10
    ink = raw != BACKGROUND
    relabelled = ink & (labels == BACKGROUND)
    counts = np.bincount(labels[labels != IGNORE].ravel(), minlength=1 + scenario.n_classes)
    return {
        "scenes": len(raw),
        "scenes_with_digit": {d: int(present[:, d].sum()) for d in range(scenario.n_classes)},
        "label_share": counts / max(1, counts.sum()),
        "ink_as_background": float(relabelled.sum() / max(1, ink.sum())),
    }


def describe(scenario) -> str:
    s = scenario.setting
    lines = [
        f"scenario {scenario.split} on {scenario.data}, setting {s.name} "
        f"(old_in_images={s.old_in_images}, future_in_images={s.future_in_images}, "
        f"old_labels={s.old_labels}, test_future={s.test_future}, instances={s.instances}), "
        f"class order {list(scenario.class_order)}",
        "",
        "| task | classes | old | scenes | scenes containing digit 0..9 | digit ink labelled background |",
        "|---|---|---|---|---|---|",
    ]
    for task in scenario:
        st = task_statistics(scenario, task)
        digits = " ".join(str(st["scenes_with_digit"][d]) for d in range(scenario.n_classes))
        lines.append(f"| {task.index} | {list(task.classes)} | {list(task.old_classes) or '-'} | {st['scenes']} "
                     f"| {digits} | {st['ink_as_background']:.1%} |")
    return "\n".join(lines)


def save_grid(scenario, path, samples: int = 6) -> None:
    """A PNG: per task, sample scenes (top) and their training masks (bottom)."""
    plt = pyplot()
    cmap, norm = label_colormap(scenario.class_order)
    n = len(scenario)
    fig, axes = plt.subplots(2 * n, samples, figsize=(1.3 * samples, 2.6 * n), squeeze=False)
    for task in scenario:
        images, masks = scenario.train_set(task)
        for j in range(samples):
            axes[2 * task.index, j].imshow(images[j, 0].numpy(), cmap="gray", vmin=0, vmax=1)
            axes[2 * task.index + 1, j].imshow(masks[j].numpy(), cmap=cmap, norm=norm, interpolation="nearest")
        axes[2 * task.index, 0].set_ylabel(f"task {task.index}\nscene", fontsize=8)
        axes[2 * task.index + 1, 0].set_ylabel(f"classes {list(task.classes)}\nlabels", fontsize=8)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"{scenario.split} {scenario.setting.name}: training scenes and their labels", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path, dpi=90)


def shift_scene(scenario, min_tasks: int = 3) -> int:
    """Index of the test scene that shows background shift best: digits of at least ``min_tasks``
    different tasks (or as many as any scene has), the latest of them as early as possible, so
    the scene is labelled differently by several tasks of every setting."""
    _, raw = scenario.test_raw()
    task_of = {digit: task.index for task in scenario for digit in task.classes}
    best, best_key = 0, None
    for i, mask in enumerate(raw):
        tasks = {task_of[int(v) - 1] for v in np.unique(mask) if 0 < v <= scenario.n_classes}
        key = (min(len(tasks), min_tasks), -max(tasks, default=0))
        if best_key is None or key > best_key:
            best, best_key = i, key
    return best


def in_task_scenes(scenario, task, digits) -> bool:
    """Whether a scene showing ``digits`` could be one of ``task``'s training scenes in this setting."""
    return set(digits) <= set(allowed_digits(task, scenario.setting, scenario.class_order)) \
        and bool(set(digits) & set(task.classes))


def save_shift_figure(scenarios, path, index: int | None = None) -> int:
    """A PNG of one scene through every task: per setting (rows), the label each task's training
    masks would give it (columns); tasks whose training data may not contain this scene (it
    shows a digit the setting keeps out of that task's scenes) are greyed. Returns the scene index."""
    plt = pyplot()
    first = scenarios[0]
    index = shift_scene(first) if index is None else index
    images, raw = first.test_raw()
    image, digits = images[index], raw[index]
    cmap, norm = label_colormap(first.class_order)
    shown = [int(v) - 1 for v in np.unique(digits) if 0 < v <= first.n_classes]
    n_tasks = len(first)
    fig, axes = plt.subplots(len(scenarios), n_tasks + 1, figsize=(1.55 * (n_tasks + 1), 1.75 * len(scenarios) + 0.6),
                             squeeze=False)
    for row, scenario in enumerate(scenarios):
        axes[row, 0].imshow(image, cmap="gray", vmin=0, vmax=1)
        axes[row, 0].set_ylabel(scenario.setting.name, fontsize=9)
        if row == 0:
            axes[row, 0].set_title(f"test scene {index}\ndigits {sorted(shown)}", fontsize=8)
        for task in scenario:
            ax = axes[row, task.index + 1]
            labels = train_lut(task, scenario.setting, scenario.class_order)[digits]
            usable = in_task_scenes(scenario, task, shown)
            ax.imshow(labels, cmap=cmap, norm=norm, interpolation="nearest", alpha=1.0 if usable else 0.25)
            if not usable:  # under the tile, not over its faded digits
                ax.set_xlabel("not in this\ntask's scenes", fontsize=7, color="#555555", labelpad=2)
            if row == 0:
                ax.set_title(f"task {task.index}: learn {list(task.classes)}", fontsize=8)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("One scene, labelled as each task's training data would label it (black = background)", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path, dpi=90)
    return index


def training_masks(scenario, task, raw: np.ndarray) -> np.ndarray:
    """Digit masks [..., H, W] as ``task``'s training labels them, in results' class space (0 = background,
    d+1 = digit d): a digit the task labels background becomes 0."""
    labels = train_lut(task, scenario.setting, scenario.class_order)[raw]
    return np.where(labels == BACKGROUND, BACKGROUND, raw)


def run_scenario(config: dict, tasks: list[dict]):
    """The scenario a run trained on, built (cheaply: its scenes paint in well under a second) from its resolved
    configuration: its split, or the joint bound's one task when that is what its results record."""
    c = Config.from_dict(config)
    s = c.scenario
    scenario = Scenario.from_config(s, c.seed)
    recorded = [tuple(t.get("classes", ())) for t in tasks]
    for candidate in (scenario, scenario.joint()):
        if [t.classes for t in candidate][:len(recorded)] == recorded:
            return candidate
    raise ValueError(f"its tasks {recorded} are not those of its configuration's split {s.tasks!r}")


def save_training_labels(scenario, path, title: str, samples: int = 3):
    """A PNG: per task (columns), one test scene as that task's training labels would label it (faded
    where the setting keeps the scene out of the task), then ``samples`` of the task's own training
    scenes with their labels. Digit ink labelled background shows as faint grey strokes."""
    images, raw = scenario.test_raw()
    index = shift_scene(scenario)
    shown = [int(v) - 1 for v in np.unique(raw[index]) if 0 < v <= scenario.n_classes]
    columns = []
    for task in scenario:
        tile = overlay(images[index], training_masks(scenario, task, raw[index]))
        if not in_task_scenes(scenario, task, shown):
            tile = (255 - (255 - tile.astype(np.int32)) // 4).astype(np.uint8)  # faded toward white
        train_images, train_raw = scenario.train_raw(task)
        columns.append([tile] + [overlay(train_images[j], training_masks(scenario, task, train_raw[j]))
                                 for j in range(min(samples, len(train_images)))])
    tiles = [list(row) for row in zip(*columns)]
    titles = [f"task {task.index}\nlearns {', '.join(map(str, task.classes))}" for task in scenario]
    rows = [f"test scene {index}\nas the task\nwould label it"]
    rows += [f"training\nscene {j + 1}" for j in range(len(tiles) - 1)]
    handles = legend_handles(["bg"] + [str(d) for d in range(scenario.n_classes)])
    handles.append(ghost_patch("faint: ink labelled bg"))
    fig = mosaic_figure(tiles, titles, f"What each task's training labels say ({scenario.setting.name})\n{title}",
                        handles, row_titles=rows)
    return save_figure(fig, path)


def plot_training_labels(run: RunData, path):
    """``save_training_labels`` for a run, from its configuration: (the PNG, None), or (None, why not) when
    its scenario cannot be built here (e.g. its data directory is gone)."""
    try:
        scenario = run_scenario(run.config, run.tasks)
        return save_training_labels(scenario, path, run.title), None
    except (ValueError, OSError) as error:
        return None, f"The training-label figure is skipped: its scenario cannot be built here ({error})."
