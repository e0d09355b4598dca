"""The data behind the report's figures: background painted as a digit, the old-classes line above the axis,
class colours apart from the greys, training labels, losses, forgetting, the bounds' lines, heat map numbers,
and no text too small to read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from csslab.reports import benchmark_plots, plots, preview, shift
from csslab.core.colors import CLASS_COLORS, IGNORE_COLOR
from csslab.reports.plots import GHOST, UNSEEN
from csslab.reports.tables import RunData
from csslab.scenarios import make_scenario
from conftest import changed_run
from test_reports import tiny_run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return tiny_run(tmp_path_factory)


def test_class_colours_are_no_grey_and_apart_from_each_other():
    digits = CLASS_COLORS[1:].astype(int)
    greys = [CLASS_COLORS[0], IGNORE_COLOR, [GHOST] * 3, [int(UNSEEN[1:3], 16)] * 3, [0x33] * 3]
    assert all(np.ptp(color) >= 60 for color in digits)  # no grey: background, ignore, ghost ink, unseen
    assert min(np.abs(digits[:, None] - np.array(greys)[None].astype(int)).sum(-1).ravel()) >= 100
    pairs = [np.abs(a - b).sum() for i, a in enumerate(digits) for b in digits[i + 1:]]
    assert min(pairs) >= 60  # every class tells from every other


def test_background_fates_count_background_painted_as_a_digit():
    cm = np.zeros((11, 11), dtype=np.int64)
    cm[0, 0], cm[0, 1], cm[0, 4] = 2, 98, 0  # background pixels: 98% predicted as digit 0 (an old class)
    cm[1, 1] = 50  # digit 0's own pixels stay right: the old-class chart alone looks fine
    fates = shift.background_fates(cm, classes=(2, 3), old_classes=(0, 1))
    assert fates == pytest.approx({"correct": 0.02, "to_old": 0.98, "to_new": 0.0})
    cm[0, 1], cm[0, 4] = 0, 98  # now to digit 3, a class of this task
    assert shift.background_fates(cm, (2, 3), (0, 1)) == pytest.approx({"correct": 0.02, "to_old": 0.0, "to_new": 0.98})
    assert shift.background_fates(np.zeros((11, 11)), (2, 3), (0, 1)) is None


def test_the_background_shift_chart_shows_background_painted_as_a_digit(run_dir, tmp_path):
    def paint(data):
        for entry in data["tasks"]:
            cm = np.array(entry["confusion"])
            total = cm[0].sum()
            cm[0] = 0
            cm[0, 0], cm[0, 1] = total // 50, total - total // 50  # 98% of background -> digit 0
            entry["confusion"] = cm.tolist()

    run = changed_run(run_dir, tmp_path, paint)
    assert [round(1 - bg["correct"], 2) for _, _, bg in shift.shift_data(run)] == [0.98] * 5
    with Image.open(shift.plot_background_shift(run, tmp_path / "shift.png")) as image:
        pixels = np.asarray(image.convert("RGB"))
    assert _bars(pixels, (0x94, 0x67, 0xbd)) == 4  # tasks 2-5: background almost all "another old class"
    assert _bars(pixels, (0xff, 0x7f, 0x0e)) >= 1  # task 1: digit 0 is a class of that task


def _bars(pixels: np.ndarray, color) -> int:
    """Bars in which ``color`` fills at least 90% of the stack (of the chart's four bar colours)."""
    parts = [(0x2c, 0xa0, 0x2c), (0x94, 0x67, 0xbd), (0xff, 0x7f, 0x0e), (0x33, 0x33, 0x33)]
    height = np.all(pixels == color, axis=-1).sum(0)
    stack = sum(np.all(pixels == c, axis=-1).sum(0) for c in parts)
    full = (height >= 100) & (height >= 0.9 * stack)
    return int(np.sum(np.diff(full.astype(int)) == 1) + full[0])


def test_the_old_classes_line_is_drawn_above_the_axis(run_dir, figures):
    plots.plot_miou_per_task(RunData(run_dir), "miou.png")
    (ax,) = figures[0].axes
    lines = {line.get_label(): line for line in ax.get_lines()}
    old = lines["old classes"]
    assert ax.get_ylim()[0] < -0.01 and not old.get_clip_on() and old.get_marker() not in ("", "None")
    assert old.get_zorder() > max(lines[name].get_zorder() for name in lines if name != "old classes")


def test_loss_terms_are_each_tasks_recorded_means(run_dir, tmp_path, figures):
    run = RunData(run_dir)
    assert plots.loss_terms(run) == {"ce": [t["loss"]["ce"] for t in run.tasks]}
    plots.plot_losses(run, "losses.png")
    (ax,) = figures[0].axes
    assert list(ax.get_lines()[0].get_ydata()) == [t["loss"]["ce"] for t in run.tasks]
    two = changed_run(run_dir, tmp_path, lambda d: [t["loss"].update(kd=t["loss"]["ce"] / 1000) for t in d["tasks"]])
    plots.plot_losses(two, "losses.png")
    assert figures[1].axes[0].get_yscale() == "log"  # terms 1000x apart: both readable
    assert plots.plot_losses(changed_run(run_dir, tmp_path, lambda d: [t.pop("loss") for t in d["tasks"]]), "x") is None


def test_training_masks_label_as_the_setting_says():
    raw = np.array([[0, 1, 3, 6]], dtype=np.uint8)  # background, digit 0 (old), digit 2 (new), digit 5 (future)
    for setting, expected in (("overlap", [0, 0, 3, 0]), ("sequential", [0, 1, 3, 0])):
        scenario = make_scenario(setting=setting)
        assert preview.training_masks(scenario, scenario[1], raw).tolist() == [expected]


def test_the_run_scenario_is_its_split_or_the_joint_bounds_one_task():
    config = {"scenario": {"tasks": "5-5", "train_scenes": 16, "test_scenes": 8}, "seed": 1}
    split = preview.run_scenario(config, [{"classes": [0, 1, 2, 3, 4]}])
    assert [t.classes for t in split] == [(0, 1, 2, 3, 4), (5, 6, 7, 8, 9)] and split.train_scenes == 16
    joint = preview.run_scenario(config, [{"classes": list(range(10))}])
    assert len(joint) == 1 and joint.train_scenes == 32
    with pytest.raises(ValueError, match="not those of its configuration's split"):
        preview.run_scenario(config, [{"classes": [0, 1]}])


def test_training_label_figure_has_a_column_per_task(run_dir, tmp_path, figures):
    path, note = preview.plot_training_labels(RunData(run_dir), "labels.png")
    assert note is None and path == Path("labels.png")
    texts = [t.get_text() for t in figures[0].axes[0].texts]
    titles = [f"task {k}\nlearns {2 * k}, {2 * k + 1}" for k in range(5)]
    assert [t for t in texts if t.startswith("task ")] == titles
    gone = changed_run(run_dir, tmp_path, lambda d: d["config"]["scenario"].update(data=f"mnist:{tmp_path / 'gone'}"))
    path, note = preview.plot_training_labels(gone, "x.png")
    assert path is None and "cannot be built here" in note and "gone" in note


def test_mean_forgetting_is_over_the_classes_seen_before_the_last_task(run_dir, tmp_path):
    forgetting = {"background": 0.5, "0": 0.2, "1": 0.4, "2": None}
    run = changed_run(run_dir, tmp_path, lambda d: d.update(forgetting=forgetting))
    assert run.mean_forgetting == pytest.approx(0.3)


def test_reference_lines_are_the_bounds_and_error_bars_need_two_seeds():
    group = [{"method": "finetune", "all_mean": 0.2, "n_seeds": 1}, {"method": "mib", "all_mean": 0.6},
             {"method": "joint", "variant": "lr=1", "all_mean": 0.1}, {"method": "joint", "all_mean": 0.85}]
    lines = benchmark_plots.reference_lines(group)
    assert [(value, style) for _, value, style, _ in lines] == [(0.85, "--"), (0.2, ":")]
    assert benchmark_plots.error_bars(group, "all") is None
    group[0] |= {"n_seeds": 3, "all_std": 0.05}
    assert benchmark_plots.error_bars(group, "all").tolist() == [0.05, 0.0, 0.0, 0.0]


def test_benchmark_heat_maps_write_every_seen_cells_iou(run_dir, figures):
    run = RunData(run_dir)
    benchmark_plots.plot_benchmark_heatmaps([("finetune", run), ("mib", run)], "iou.png")
    matrix = run.iou_matrix
    for ax in figures[0].axes[:2]:
        texts = [t.get_text() for t in ax.texts]
        assert texts == ["–" if np.isnan(v) else f"{v:.2f}" for v in matrix.ravel()]


def test_no_text_in_a_figure_is_smaller_than_8_points(run_dir, figures):
    run = RunData(run_dir)
    for draw in (plots.plot_iou_heatmap, plots.plot_miou_per_task, plots.plot_losses, shift.plot_background_shift,
                 plots.plot_iou_curves, plots.plot_predictions):
        draw(run, "x.png")
    preview.plot_training_labels(run, "x.png")
    benchmark_plots.plot_benchmark_heatmaps([("a", run)], "x.png")
    benchmark_plots.plot_benchmark_bars([{"method": "finetune", "all_mean": 0.2, "n_seeds": 1}], "x.png")
    from matplotlib.text import Text

    for fig in figures:
        sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_visible() and t.get_text()]
        assert min(sizes) >= 8, fig.texts[:1] or fig.axes[0].get_title()
