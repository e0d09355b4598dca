"""Where the report's figures put things (issue 29, "Report:"): the legend beside the axes, not over the
old-classes line; ten tasks' x labels apart; "not in this task's scenes" under the tile, not over its faded
digits; a 0.000 bar visible; and a run whose frame_every is above its steps told why it has no frames."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from matplotlib.colors import to_rgb

from csslab.reports import benchmark_plots, plots, preview, write_run_report
from csslab.reports.plots import LINE_COLORS
from csslab.reports.tables import RunData
from csslab.scenarios import make_scenario
from conftest import changed_run, tiny_run
from test_reports import tiny_run as tiny_report_run

NOT_IN = "not in this\ntask's scenes"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return tiny_report_run(tmp_path_factory)  # 2-2-2-2-2, 5 steps a task


def _old_line_top_middle(data):
    """The old-classes line high at tasks 2-3, where matplotlib's "best" legend went."""
    for entry, (old, new, every) in zip(data["tasks"], [(None, .95, .96), (.9, .2, .7), (.85, .1, .6), (.3, .3, .3),
                                                        (.1, .2, .2)]):
        entry["miou_old"], entry["miou_new"], entry["miou_all"] = old, new, every


def _ten_tasks(data):
    """The same run as ten one-class tasks (the per-task tables of task 1 repeated)."""
    data["config"]["scenario"]["tasks"] = "-".join(["1"] * 10)
    first = data["tasks"][0]
    data["tasks"] = [dict(first, task=k, classes=[k], old_classes=list(range(k))) for k in range(10)]
    data["iou_matrix"] = [data["iou_matrix"][0]] * 10
    data["acc_matrix"] = [data["acc_matrix"][0]] * 10


def test_the_legend_is_beside_the_axes_not_over_the_old_classes_line(run_dir, tmp_path, figures):
    run = changed_run(run_dir, tmp_path, _old_line_top_middle)
    plots.plot_miou_per_task(run, tmp_path / "m.png")
    plots.plot_losses(run, tmp_path / "l.png")
    for fig in figures:
        (ax,) = fig.axes
        legend, box = ax.get_legend().get_window_extent(), ax.get_window_extent()
        assert legend.x0 >= box.x1  # right of the axes: over no line
    ax = figures[0].axes[0]
    old = next(line for line in ax.get_lines() if line.get_label() == "old classes")
    points = ax.transData.transform(np.column_stack(old.get_data())[1:3])  # tasks 2-3
    assert not any(ax.get_legend().get_window_extent().contains(*p) for p in points)


def test_ten_tasks_labels_do_not_overlap(run_dir, tmp_path, figures):
    run = changed_run(run_dir, tmp_path, _ten_tasks)
    plots.plot_miou_per_task(run, tmp_path / "m.png")
    plots.plot_losses(run, tmp_path / "l.png")
    for fig in figures:
        (ax,) = fig.axes
        boxes = sorted((t.get_window_extent() for t in ax.get_xticklabels() if t.get_text()), key=lambda b: b.x0)
        assert len(boxes) == 10
        assert all(a.x1 < b.x0 for a, b in zip(boxes, boxes[1:])), [(b.x0, b.x1) for b in boxes]
        assert [t.get_text().split("\n")[0] for t in ax.get_xticklabels()] == [str(k) for k in range(10)]
    assert figures[0].axes[0].get_xlabel() == "after training on task (its classes)"


def test_few_tasks_keep_their_task_labels(run_dir, tmp_path, figures):
    plots.plot_miou_per_task(RunData(run_dir), tmp_path / "m.png")
    ax = figures[0].axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()][:2] == ["task 0\n(0, 1)", "task 1\n(2, 3)"]
    boxes = [t.get_window_extent() for t in ax.get_xticklabels()]
    assert all(a.x1 < b.x0 for a, b in zip(boxes, boxes[1:]))


def test_not_in_this_tasks_scenes_is_under_the_tile(figures, tmp_path):
    scenarios = [make_scenario("2-2-2-2-2", setting, train_scenes=8, test_scenes=60) for setting in
                 ("overlap", "disjoint")]
    preview.save_shift_figure(scenarios, tmp_path / "shift.png")
    (fig,) = figures
    assert not any(NOT_IN in t.get_text() for ax in fig.axes for t in ax.texts)  # nothing over the digits
    greyed = [ax for ax in fig.axes if ax.get_xlabel() == NOT_IN]
    assert greyed  # disjoint keeps later tasks' digits out of earlier scenes
    for ax in greyed:
        assert ax.xaxis.label.get_window_extent().y1 <= ax.get_window_extent().y0  # below the image


def test_a_bar_of_zero_is_visible(figures, tmp_path):
    row = {"setting": "overlap", "tasks": "5-5", "n_runs": 1, "n_seeds": 1}
    rows = [dict(row, method="finetune", old_mean=0.0, new_mean=0.3, all_mean=0.2),
            dict(row, method="mib", old_mean=0.4, new_mean=0.0, all_mean=0.35)]
    benchmark_plots.plot_benchmark_bars(rows, tmp_path / "bars.png")
    (fig,) = figures
    ax = fig.axes[0]
    pixels = np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(int)
    height = pixels.shape[0]
    for x, key in ((0 - 0.26, "old"), (1, "new")):  # the old bar of finetune, the new bar of mib: both 0.000
        px, py = ax.transData.transform((x, 0))
        window = pixels[int(height - py) - 4:int(height - py) + 1, int(px) - 3:int(px) + 4]  # just above y=0
        color = np.array(to_rgb(LINE_COLORS[key])) * 255
        assert (np.abs(window - color).sum(-1) < 30).any(), key
    assert ax.get_ylim()[0] < 0  # the mark is above the axis line


def test_frame_every_above_the_steps_is_named_as_the_reason(tmp_path):
    run = tiny_run(tmp_path / "run", "finetune", "--set", "train.frame_every=1000")
    assert not (run / "frames.npz").exists()
    write_run_report(run)
    page = (run / "report.html").read_text()
    assert "train.frame_every (1000) is above the run&#x27;s 9 training steps" in page
    assert "older csslab" not in page
    shutil.rmtree(run)
