"""``csslab scenario``: what each task's training scenes contain and how they are labelled, as a
table and two figures (plotting, so it lives with the other reports, not in the scenario package)."""

from __future__ import annotations

import numpy as np

from csslab.constants import BACKGROUND, IGNORE
from csslab.reports.colors import label_colormap
from csslab.reports.plots import pyplot, save_figure
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
        f"old_labels={s.old_labels}, test_future={s.test_future}), class order {list(scenario.class_order)}",
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
            allowed = set(allowed_digits(task, scenario.setting, scenario.class_order))
            usable = set(shown) <= allowed and bool(set(shown) & set(task.classes))
            ax.imshow(labels, cmap=cmap, norm=norm, interpolation="nearest", alpha=1.0 if usable else 0.25)
            if not usable:
                ax.text(0.5, 0.5, "not in this\ntask's scenes", transform=ax.transAxes, ha="center", va="center",
                        fontsize=7)
            if row == 0:
                ax.set_title(f"task {task.index}: learn {list(task.classes)}", fontsize=8)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("One scene, labelled as each task's training data would label it (black = background)", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path, dpi=90)
    return index
