"""Reports of a real tiny run and of a synthetic benchmark: the files, their contents, old formats."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from csslab.core.config import Config
from csslab.reports import write_benchmark_report, write_reports, write_run_report
from csslab.reports.animate import TASK_START_MS, frame_indices
from csslab.reports.plots import GHOST, last_frame_of_each_task, overlay, task_starts
from csslab.reports.tables import fmt
from csslab.training.train import run

RUN_FILES = {"iou_heatmap.png", "miou_per_task.png", "losses.png", "background_shift.png", "training_labels.png",
             "iou_curves.png", "predictions.png", "confusion.gif", "predictions.gif", "report.md", "report.html"}


def tiny_run(tmp_path_factory) -> Path:
    """5 tasks × 5 steps with a frame every step (25 frames), and its report; shared by the test files."""
    out = tmp_path_factory.getbasetemp() / "tiny_report_run"
    if not (out / "report.html").exists():
        config = Config()
        config.scenario.train_scenes, config.scenario.test_scenes = 64, 60
        config.train.steps, config.train.frame_every, config.train.frame_scenes = 5, 1, 16
        config.train.batch_size, config.train.threads = 8, 1
        run(config, out=out, progress=False, log=None)
        write_run_report(out)
    return out


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory) -> Path:
    return tiny_run(tmp_path_factory)


def _attributes(page: str, name: str) -> list[str]:
    return re.findall(rf'\b{name}\s*=\s*["\']([^"\']*)["\']', page, flags=re.IGNORECASE)


def test_run_report_writes_every_file_and_images_decode(run_dir):
    assert RUN_FILES <= {p.name for p in run_dir.iterdir()}
    for name in RUN_FILES - {"report.md", "report.html"}:
        with Image.open(run_dir / name) as image:
            image.load()
            assert image.width >= 300 and image.height >= 200, name


def test_gifs_show_every_frame_and_mark_the_task_starts(run_dir):
    with np.load(run_dir / "frames.npz") as frames:
        n_frames, task = len(frames["step"]), frames["task"]
    assert n_frames == 25
    starts = [0] + [i for i in range(1, n_frames) if task[i] != task[i - 1]]
    for name in ("confusion.gif", "predictions.gif"):
        with Image.open(run_dir / name) as gif:
            assert gif.n_frames == n_frames >= 20
            durations = []
            for i in range(gif.n_frames):
                gif.seek(i)
                durations.append(gif.info["duration"])
        assert [i for i, d in enumerate(durations[:-1]) if d == TASK_START_MS] == starts, name


def test_report_html_is_self_contained(run_dir):
    page = (run_dir / "report.html").read_text()
    sources = _attributes(page, "src")
    assert len(sources) == 9  # 7 PNG figures and 2 GIFs
    assert all(s.startswith(("data:image/png;base64,", "data:image/gif;base64,")) for s in sources)
    assert not [a for a in sources + _attributes(page, "href") if re.match(r"\s*(https?:)?//", a)]
    assert "<script" not in page.lower()
    assert page.count("<table>") >= 2 * 5  # the notebook's tables for each of the 5 tasks


def test_report_md_holds_the_notebook_tables_and_the_final_summary(run_dir):
    results = json.loads((run_dir / "results.json").read_text())
    text = (run_dir / "report.md").read_text()
    for k in range(5):
        assert f"### Task {k} of 0..4" in text
    assert text.count("Class IoU") == 5 and text.count("Class Acc") == 5
    final = [fmt(results[k]) for k in ("miou_all", "miou_old", "miou_new", "miou_avg")]
    assert "| " + " | ".join(final) + " |" in text
    assert "## Forgetting per class" in text and "![confusion](confusion.gif)" in text


def test_older_results_without_optional_keys_still_report(run_dir, tmp_path):
    results = json.loads((run_dir / "results.json").read_text())
    for key in ("iou_matrix", "acc_matrix", "forgetting", "miou_avg", "timings", "versions", "class_names"):
        results.pop(key)
    for entry in results["tasks"]:
        for key in ("background_shift", "acc", "loss", "mean_acc", "confusion"):
            entry.pop(key)
    (tmp_path / "results.json").write_text(json.dumps(results))  # no frames.npz, no config.yaml
    files = write_reports([tmp_path])
    names = {p.name for p in files}
    assert names == {"iou_heatmap.png", "miou_per_task.png", "training_labels.png", "report.md", "report.html"}
    page = (tmp_path / "report.html").read_text()
    assert "no readable frames.npz" in page and "no background-shift data" in page
    assert "Class Acc" in (tmp_path / "report.md").read_text()


def test_write_reports_rejects_a_directory_without_results(tmp_path):
    with pytest.raises(ValueError, match=re.escape(str(tmp_path))):
        write_reports([tmp_path])
    (tmp_path / "results.json").write_text("{not json")
    with pytest.raises(ValueError, match="unreadable results file"):
        write_reports([tmp_path])


def _bench_rows():
    row = {"setting": "overlap", "tasks": "2-2-2-2-2", "n_seeds": 2, "seconds_mean": 12.5}
    return [row | {"method": "finetune", "old_mean": 0.1, "old_std": 0.02, "new_mean": 0.5, "new_std": 0.05,
                   "all_mean": 0.3, "all_std": 0.01, "avg_mean": 0.4, "avg_std": 0.03},
            row | {"method": "joint", "old_mean": 0.8, "old_std": 0.01, "new_mean": 0.7, "new_std": 0.04,
                   "all_mean": 0.75, "all_std": 0.02, "avg_mean": 0.8, "avg_std": 0.01}]


def fake_benchmark(run_dir: Path, out: Path) -> Path:
    """A benchmark directory of copies of the tiny run: finetune (seeds 0, 1, with reports), joint (seed 0, no
    report), a run that is lost, and _bench_rows as its table (2 seeds each)."""
    runs = []
    for method, seed, with_report in (("finetune", 1, True), ("finetune", 0, True), ("joint", 0, False)):
        rel = f"runs/{method}-seed{seed}"
        (out / rel).mkdir(parents=True)
        results = json.loads((run_dir / "results.json").read_text())
        results["config"] |= {"method": method, "seed": seed}
        (out / rel / "results.json").write_text(json.dumps(results))
        if with_report:
            shutil.copy(run_dir / "report.html", out / rel / "report.html")
        runs.append(rel)
    runs.append("runs/lost")
    (out / "benchmark.json").write_text(json.dumps({"rows": _bench_rows(), "runs": runs}))
    return out


def test_benchmark_report_from_benchmark_json(run_dir, tmp_path):
    fake_benchmark(run_dir, tmp_path)
    files = write_benchmark_report(tmp_path, run_reports="none")
    assert {p.name for p in files} == {"benchmark_miou.png", "benchmark_iou.png", "benchmark.md", "benchmark.html"}
    for name in ("benchmark_miou.png", "benchmark_iou.png"):
        with Image.open(tmp_path / name) as image:
            image.load()
    text = (tmp_path / "benchmark.md").read_text()
    assert "| finetune | overlap | 2-2-2-2-2 | 1 | 2 | 0.100 ± 0.020 | 0.500 ± 0.050 | X | 0.300 ± 0.010 | " \
           "0.400 ± 0.030 | 12 |" in text  # hIoU: X, the rows predate it
    page = (tmp_path / "benchmark.html").read_text()
    links = _attributes(page, "href")
    assert "runs/finetune-seed0/report.html" in links and "runs/finetune-seed1/report.html" in links
    assert not any("joint" in link for link in links) and "(no report)" in page and "runs/lost" in page
    assert all(s.startswith("data:image/png;base64,") for s in _attributes(page, "src"))


def test_benchmark_report_rejects_bad_arguments(tmp_path):
    (tmp_path / "benchmark.json").write_text(json.dumps({"rows": {}}))
    with pytest.raises(ValueError, match="list of 'rows'"):
        write_reports([tmp_path])
    with pytest.raises(ValueError, match="run_reports"):
        write_benchmark_report(tmp_path, run_reports="some")


def test_frame_helpers_on_hand_made_frames():
    frames = {"step": np.array([2, 4, 6, 8, 10, 12]), "task": np.array([0, 0, 0, 2, 2, 2])}
    assert task_starts(frames) == [(0, 0), (6, 2)]
    assert last_frame_of_each_task(frames, 3) == [2, None, 5]


def test_long_runs_animate_a_selection_keeping_task_boundaries():
    task = np.repeat(np.arange(5), 100)  # 500 frames
    chosen = frame_indices(task, limit=50)
    assert 50 <= len(chosen) <= 60 and chosen == sorted(set(chosen))
    assert {0, 99, 100, 199, 200, 499} <= set(chosen)
    assert frame_indices(task[:30], limit=50) == list(range(30))


def test_overlay_colours_digits_and_dims_the_rest():
    image = np.array([[1.0, 1.0], [0.0, 0.5]])
    mask = np.array([[0, 3], [0, 255]], dtype=np.uint8)
    rgb = overlay(image, mask)
    assert rgb[0, 0].tolist() == [GHOST] * 3  # ink predicted as background: faint grey
    assert rgb[0, 1].tolist() == [44, 160, 44]  # digit 2's colour
    assert rgb[1, 0].tolist() == [0, 0, 0] and rgb[1, 1].tolist() == [int(0.5 * GHOST)] * 3


def test_benchmark_over_settings_draws_the_background_shift_per_setting(run_dir, tmp_path):
    from csslab.reports.shift import plot_benchmark_shift
    from csslab.reports.tables import RunData

    runs = []
    for setting, to_background in (("overlap", 0.7), ("sequential", 0.1)):
        rel = tmp_path / f"runs/finetune-{setting}"
        rel.mkdir(parents=True)
        results = json.loads((run_dir / "results.json").read_text())
        results["config"]["scenario"]["setting"] = setting
        results["tasks"][-1]["background_shift"] = {"correct": 0.9 - to_background, "to_other_old": 0.05,
                                                    "to_new": 0.05, "to_background": to_background}
        (rel / "results.json").write_text(json.dumps(results))
        runs.append(("finetune", RunData(rel)))
    assert plot_benchmark_shift(runs[:1], tmp_path / "one.png") is None  # one setting: nothing to compare
    results["config"]["scenario"] |= {"setting": "overlap", "old_labels": "keep"}  # no preset: named by switches
    (tmp_path / "runs/finetune-sequential/results.json").write_text(json.dumps(results))
    assert RunData(tmp_path / "runs/finetune-sequential").setting == "old=yes,future=yes,labels=keep,test=ignore"
    runs[1] = ("finetune", RunData(tmp_path / "runs/finetune-sequential"))
    path = plot_benchmark_shift(runs, tmp_path / "shift.png")
    with Image.open(path) as image:
        pixels = np.asarray(image.convert("RGB"))
    background = np.all(pixels == (0x33, 0x33, 0x33), axis=-1)  # the "predicted as background" colour
    columns = np.nonzero(background.sum(0) >= 10)[0]  # bar columns, not the few dark pixels of text
    bars = [b for b in np.split(columns, np.nonzero(np.diff(columns) > 1)[0] + 1) if len(b) >= 20]  # not the legend
    heights = [background[:, bar].sum(0).max() for bar in bars]
    assert len(bars) == 2 and heights[0] > 5 * heights[1]  # 70% of old pixels vs 10%
