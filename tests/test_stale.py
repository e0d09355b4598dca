"""A run or benchmark directory holds the outputs of one configuration: a re-run into it with another budget
is refused (naming the difference) or, with --overwrite, leaves no file whose numbers differ from results.json."""

import html
import json

import numpy as np
import pytest
import yaml

from csslab.cli.main import main
from csslab.core.config import Config, apply_overrides
from csslab.store.frames import frame_interval
from csslab.reports import BENCHMARK_REPORT_FILES, RUN_REPORT_FILES
from csslab.reports.benchmark_table import benchmark_csv, benchmark_markdown, benchmark_table
from csslab.reports.tables import fmt, task_markdown
from csslab.store.results import Results
from csslab.store.runstore import difference_text, first_difference, same_config

TINY = ["--quiet", "--set", "scenario.train_scenes=32", "--set", "scenario.test_scenes=30",
        "--set", "train.batch_size=8", "--set", "train.threads=1"]
BENCH = ["benchmark", "--tasks", "2-2", "--set", "scenario.train_scenes=32", "--set", "scenario.test_scenes=30",
         "--set", "train.batch_size=8", "--set", "train.threads=1"]
SUMMARY = ("miou_all", "miou_old", "miou_new", "miou_avg")


def assert_run_agrees(run_dir):
    """Every output of the run in ``run_dir`` shows the numbers and configuration of its results.json."""
    data = json.loads((run_dir / "results.json").read_text())
    tasks = data["tasks"]
    assert same_config(yaml.safe_load((run_dir / "config.yaml").read_text()), data["config"])
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == [f"task-{i}.pt" for i in range(len(tasks))]
    total = sum(t["steps"] for t in tasks)
    every = frame_interval(data["config"]["train"]["frame_every"], total)
    with np.load(run_dir / "frames.npz") as frames:  # frames of this run only: its last frame is the run's last
        assert int(frames["step"].max()) == total // every * every
    stamp = (run_dir / "results.json").stat().st_mtime_ns
    if not (run_dir / "report.md").exists():
        assert [f for f in RUN_REPORT_FILES if (run_dir / f).exists()] == []
        return
    assert all((run_dir / f).stat().st_mtime_ns >= stamp for f in RUN_REPORT_FILES if (run_dir / f).exists())
    md, page = (run_dir / "report.md").read_text(), (run_dir / "report.html").read_text()
    summary = [fmt(data[k]) for k in SUMMARY]
    assert "| " + " | ".join(summary) + " |" in md
    assert all(task_markdown(entry, len(tasks)) in md for entry in tasks)
    assert f"{data['config']['train']['steps']} steps per task" in md
    for name, value in zip(("mIoU all", "mIoU old", "mIoU new", "mIoU avg"), summary):
        assert f"<span>{name}</span><b>{value}</b>" in page


def assert_benchmark_agrees(out, only_listed=True):
    """benchmark.json's rows are the means of its runs' results.json; .md, .csv and .html show those rows."""
    bench = json.loads((out / "benchmark.json").read_text())
    listed = set(bench["runs"])
    if only_listed:
        assert {f"runs/{p.name}" for p in (out / "runs").iterdir()} == listed
    for row in bench["rows"]:
        values = [Results.load(out / run).split_mious() for run in row["runs"]]
        for key in ("all", "new", "avg"):
            assert row[f"{key}_mean"] == pytest.approx(np.mean([v[key] for v in values]))
        steps = {Results.load(out / run)["config"]["train"]["steps"] for run in row["runs"]}
        assert steps == {row["budget"]["steps"]}
    rows = bench["rows"]
    assert benchmark_markdown(rows) in (out / "benchmark.md").read_text()
    assert (out / "benchmark.csv").read_text() == benchmark_csv(rows)
    for run in listed:
        assert_run_agrees(out / run)
    if not (out / "benchmark.html").exists():
        assert [f for f in BENCHMARK_REPORT_FILES if (out / f).exists()] == []
        return
    page = (out / "benchmark.html").read_text()
    assert all(html.escape(cell) in page for cells in benchmark_table(rows)[1] for cell in cells)
    stamp = (out / "benchmark.json").stat().st_mtime_ns
    assert all((out / f).stat().st_mtime_ns >= stamp for f in BENCHMARK_REPORT_FILES if (out / f).exists())


def test_first_difference_names_the_key_and_both_values():
    base = Config()
    assert first_difference(base, base.to_dict()) is None
    other = apply_overrides(base, ["train.steps=20", "train.lr=0.01"])
    assert first_difference(base, other) == ("train.steps", 250, 20)  # the first in the order it is saved
    assert difference_text(other, base) == "train.steps is 20 there, 250 here"
    assert first_difference(base, other, ignore=("train.steps",))[0] == "train.lr"
    assert first_difference(base, apply_overrides(base, ["method=mib"]), ignore=("method", "params")) is None
    assert difference_text(base, apply_overrides(base, ["method=mib"])) == "method is finetune there, mib here"


def test_run_rerun_refused_or_overwritten_leaves_nothing_stale(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["run", "--out", str(out), "--steps", "2", "--tasks", "2-2-2-2-2", *TINY]) == 0
    assert_run_agrees(out)
    stamp = (out / "results.json").stat().st_mtime_ns
    capsys.readouterr()
    assert main(["run", "--out", str(out), "--steps", "3", "--tasks", "2-2-2-2-2", *TINY]) == 2
    err = capsys.readouterr().err
    assert "train.steps is 2 there, 3 here" in err and "--overwrite" in err and len(err.splitlines()) == 1
    assert (out / "results.json").stat().st_mtime_ns == stamp  # refused: nothing touched
    assert main(["run", "--out", str(out), "--steps", "2", "--tasks", "2-2-2-2-2", *TINY]) == 2
    assert "of this configuration" in capsys.readouterr().err

    # fewer tasks, another budget, no report: no checkpoint of tasks 2..4 and no report of the old numbers remain
    assert main(["run", "--out", str(out), "--steps", "3", "--tasks", "5-5", "--overwrite", "--no-report", *TINY]) == 0
    assert_run_agrees(out)
    assert not (out / "report.html").exists() and not (out / "checkpoints" / "task-2.pt").exists()
    assert main(["run", "--out", str(out), "--steps", "4", "--tasks", "5-5", "--overwrite", *TINY]) == 0
    assert_run_agrees(out)
    assert (out / "report.html").exists()


def test_benchmark_rerun_refused_or_overwritten_leaves_nothing_stale(tmp_path, capsys):
    out = tmp_path / "bench"
    args = BENCH + ["--out", str(out)]
    assert main(args + ["--methods", "finetune,mib", "--seeds", "1", "--steps", "2"]) == 0
    assert_benchmark_agrees(out)
    assert (out / "benchmark.html").exists()
    stamp = (out / "benchmark.json").stat().st_mtime_ns
    capsys.readouterr()

    assert main(args + ["--methods", "finetune", "--seeds", "1", "--steps", "3"]) == 2
    err = capsys.readouterr().err
    assert "train.steps is 2 there, 3 here" in err and "--overwrite" in err and "--out" in err
    assert (out / "benchmark.json").stat().st_mtime_ns == stamp

    # the same budget with another seed: the finished run is reused, mib's run of the same budget is kept
    assert main(args + ["--methods", "finetune", "--seeds", "2", "--steps", "2", "--no-report"]) == 0
    assert capsys.readouterr().out.count("(reused)") == 1
    assert_benchmark_agrees(out, only_listed=False)
    assert (out / "runs" / "mib-overlap-2-2-seed0" / "results.json").exists()

    # another budget with --overwrite and --no-report: no page, chart or run report of the old numbers remains
    assert main(args + ["--methods", "finetune", "--seeds", "1", "--steps", "3", "--overwrite", "--no-report"]) == 0
    assert_benchmark_agrees(out)
    assert not (out / "runs" / "mib-overlap-2-2-seed0").exists() and not (out / "benchmark.html").exists()
    assert main(args + ["--methods", "finetune", "--seeds", "1", "--steps", "4", "--overwrite"]) == 0
    assert_benchmark_agrees(out)
    assert (out / "benchmark.html").exists() and (out / "runs" / "finetune-overlap-2-2-seed0" / "report.html").exists()
