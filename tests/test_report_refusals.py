"""`csslab report` on results that do not fit their run: each case is refused in one line naming the bad value,
exits 2 and writes nothing (issue 29: NaN shown as X, "3/3 tasks" for a 5-5 split, matplotlib crashing on 1e300
with a PNG left behind, a 2x2 confusion matrix). Also: two directories are checked before either is written, a
missing IoU table is said so, a benchmark's rows are its runs on disk, and --resume refuses a NaN."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from csslab.cli.main import main
from conftest import tiny_run

KEPT = {"results.json", "config.yaml", "frames.npz"}


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    return tiny_run(tmp_path_factory.mktemp("refusals") / "run", "finetune")  # 6-2-2, no report


def copy_run(base: Path, out: Path, change=None) -> Path:
    out.mkdir(parents=True)
    for name in KEPT & {p.name for p in base.iterdir()}:
        shutil.copy(base / name, out / name)
    if change is not None:
        data = json.loads((out / "results.json").read_text())
        change(data)
        (out / "results.json").write_text(json.dumps(data))  # json writes NaN and Infinity as Python reads them
    return out


def task(k, key, value):
    return lambda d: d["tasks"][k].__setitem__(key, value)


def iou(k, name, value):
    return lambda d: d["tasks"][k]["iou"].__setitem__(name, value)


def extra_task(d):
    d["tasks"].append(dict(d["tasks"][-1], task=len(d["tasks"])))


def wrong_classes(d):
    d["tasks"][1]["classes"] = [0, 1]


CASES = {  # name: (change to results.json, what the one line must say)
    "nan miou_all": (task(0, "miou_all", float("nan")), "task 0's 'miou_all' is nan, expected a number in [0, 1]"),
    "1e300 miou_all": (task(0, "miou_all", 1e300), "task 0's 'miou_all' is 1e+300"),
    "1e300 class iou": (iou(1, "7", 1e300), "task 1's 'iou'['7'] is 1e+300"),
    "negative iou": (iou(0, "background", -3.0), "'iou'['background'] is -3.0"),
    "1e300 background shift": (lambda d: d["tasks"][1]["background_shift"].__setitem__("to_new", 1e300),
                               "task 1's 'background_shift'['to_new'] is 1e+300"),
    "1e300 miou_avg": (lambda d: d.__setitem__("miou_avg", 1e300), "'miou_avg' is 1e+300"),
    "infinite loss": (lambda d: d["tasks"][0]["loss"].__setitem__("ce", float("inf")),
                      "task 0's 'loss'['ce'] is inf, expected a number finite"),
    "nan in the iou matrix": (lambda d: d["iou_matrix"][2].__setitem__(3, float("nan")), "'iou_matrix'[2][3] is nan"),
    "2x2 confusion matrix": (task(0, "confusion", [[1, 2], [3, 4]]),
                             "task 0's confusion matrix is 2x2, expected 11x11"),
    "negative confusion count": (lambda d: d["tasks"][2]["confusion"][0].__setitem__(0, -1),
                                 "task 2's 'confusion'[0][0] is -1"),
    "extra task": (extra_task, "does not fit its split 6-2-2: it holds 4 tasks, the split has 3"),
    "classes of another split": (wrong_classes, "entry 1 is task 1 with classes [0, 1], the split's task 1 has "
                                                "classes [6, 7]"),
    "iou matrix of another size": (lambda d: d["iou_matrix"].pop(), "'iou_matrix' has 2 rows, expected one per task"),
}


@pytest.mark.parametrize("name", CASES)
def test_a_result_that_does_not_fit_is_refused_in_one_line(base, tmp_path, capsys, name):
    change, line = CASES[name]
    run = copy_run(base, tmp_path / "run", change)
    before = {p.name: p.stat().st_mtime_ns for p in run.iterdir()}
    assert main(["report", str(run)]) == 2
    out, err = capsys.readouterr()
    assert len(err.strip().splitlines()) == 1 and line in err and "Traceback" not in err + out, err
    assert {p.name: p.stat().st_mtime_ns for p in run.iterdir()} == before  # nothing written, no PNG left


def test_the_unchanged_run_is_reported(base, tmp_path, capsys):
    """The cases above differ from this one only in their change."""
    run = copy_run(base, tmp_path / "run")
    assert main(["report", str(run)]) == 0
    assert {"report.md", "report.html", "miou_per_task.png"} <= {p.name for p in run.iterdir()}


def test_two_directories_are_checked_before_either_is_written(base, tmp_path, capsys):
    good = copy_run(base, tmp_path / "good")
    bad = copy_run(base, tmp_path / "bad", CASES["2x2 confusion matrix"][0])
    assert main(["report", str(good), str(bad)]) == 2
    assert "confusion matrix is 2x2" in capsys.readouterr().err
    assert {p.name for p in good.iterdir()} == KEPT & {p.name for p in base.iterdir()}


def test_a_missing_iou_table_is_said_so_not_a_row_of_x(base, tmp_path, capsys):
    run = copy_run(base, tmp_path / "run", lambda d: d["tasks"][1].pop("iou"))
    assert main(["report", str(run)]) == 0
    md = (run / "report.md").read_text()
    task2 = md.split("### Task 1 of 0..2")[1].split("### Task 2 of 0..2")[0]
    assert "Class IoU: not in this results.json" in task2 and "Class Acc\n| bg |" in task2
    assert "| X | X | X |" not in task2
    assert "Class IoU: not in this results.json" in (run / "report.html").read_text()


def _benchmark(base: Path, root: Path) -> Path:
    copy_run(base, root / "runs" / "a")
    copy_run(base, root / "runs" / "b")
    common = {"setting": "overlap", "tasks": "6-2-2", "n_runs": 1, "n_seeds": 1, "old_mean": 0.1, "new_mean": 0.2,
              "all_mean": 0.3}
    rows = [dict(common, method="finetune", runs=["runs/a"]), dict(common, method="lwf", runs=["runs/b"])]
    (root / "benchmark.json").write_text(json.dumps({"rows": rows, "runs": ["runs/a", "runs/b"]}))
    return root


def test_a_benchmark_row_is_its_runs_on_disk(base, tmp_path, capsys):
    bench = _benchmark(base, tmp_path / "bench")
    assert main(["report", str(bench)]) == 0
    assert "| lwf |" in (bench / "benchmark.md").read_text()
    shutil.rmtree(bench / "runs" / "b")  # a deleted run loses its row
    assert main(["report", str(bench)]) == 0
    md = (bench / "benchmark.md").read_text()
    assert "| lwf |" not in md and "| finetune |" in md
    assert "lwf on 6-2-2 (overlap) left out: its run runs/b not on disk" in md
    assert "left out" in (bench / "benchmark.html").read_text()


def test_resume_refuses_a_nan_in_a_completed_task(base, tmp_path, capsys):
    run = copy_run(base, tmp_path / "run")
    shutil.copytree(base / "checkpoints", run / "checkpoints")

    def first_task_only_with_a_nan(d):
        d["tasks"], d["complete"] = d["tasks"][:1], False
        d["iou_matrix"], d["acc_matrix"] = d["iou_matrix"][:1], d["acc_matrix"][:1]
        d["tasks"][0]["miou_all"] = float("nan")

    data = json.loads((run / "results.json").read_text())
    first_task_only_with_a_nan(data)
    (run / "results.json").write_text(json.dumps(data))
    before = (run / "results.json").read_text()
    assert main(["run", "--resume", str(run)]) == 2
    out, err = capsys.readouterr()
    assert "avg nan" not in out and len(err.strip().splitlines()) == 1
    assert f"cannot resume {run}: " in err and "task 0's 'miou_all' is nan" in err
    assert (run / "results.json").read_text() == before


def test_resume_refuses_a_completed_task_without_iou(base, tmp_path, capsys):
    run = copy_run(base, tmp_path / "run")
    shutil.copytree(base / "checkpoints", run / "checkpoints")
    data = json.loads((run / "results.json").read_text())
    data["tasks"], data["complete"] = data["tasks"][:1], False
    data["iou_matrix"], data["acc_matrix"] = data["iou_matrix"][:1], data["acc_matrix"][:1]
    del data["tasks"][0]["iou"]  # a report says "not in this results.json"; resuming needs it (was a KeyError)
    (run / "results.json").write_text(json.dumps(data))
    before = sorted(p.name for p in run.iterdir()), (run / "results.json").read_text()
    assert main(["run", "--resume", str(run), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert f"cannot resume {run}: task 0 of its results.json has no 'iou'" in err
    assert (sorted(p.name for p in run.iterdir()), (run / "results.json").read_text()) == before


def test_a_nan_in_a_benchmark_row_is_refused_not_shown_as_x(base, tmp_path, capsys):
    bench = _benchmark(base, tmp_path / "bench")
    data = json.loads((bench / "benchmark.json").read_text())
    data["rows"][1]["all_mean"] = float("nan")
    (bench / "benchmark.json").write_text(json.dumps(data))
    assert main(["report", str(bench)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "row 2's 'all_mean' is nan, expected a finite number" in err
    assert sorted(p.name for p in bench.iterdir()) == ["benchmark.json", "runs"]
    assert {p.name for p in (bench / "runs" / "a").iterdir()} == KEPT & {p.name for p in base.iterdir()}
