"""``csslab scenario``: what each task's training scenes contain and how they are labelled."""

from __future__ import annotations

import numpy as np

from csslab.constants import BACKGROUND, IGNORE
from csslab.scenarios.labels import train_lut


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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from csslab.reports.colors import label_colormap

    cmap, norm = label_colormap(scenario.class_order)
    n = len(scenario)
    fig, axes = plt.subplots(2 * n, samples, figsize=(1.3 * samples, 2.6 * n), squeeze=False)
    for task in scenario:
        images, masks = scenario.train_set(task)
        for j in range(samples):
            axes[2 * task.index, j].imshow(images[j, 0], cmap="gray", vmin=0, vmax=1)
            axes[2 * task.index + 1, j].imshow(masks[j].numpy(), cmap=cmap, norm=norm, interpolation="nearest")
        axes[2 * task.index, 0].set_ylabel(f"task {task.index}\nscene", fontsize=8)
        axes[2 * task.index + 1, 0].set_ylabel(f"classes {list(task.classes)}\nlabels", fontsize=8)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"{scenario.split} {scenario.setting.name}: training scenes and their labels", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
