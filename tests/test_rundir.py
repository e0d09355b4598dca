"""The run directory has one owner (csslab/store/rundir.py); its logs follow its results; nothing stale or
partial is left: a refused run leaves no directory, --overwrite removes old shared bases, a failed download
leaves no empty cache folder."""

import errno
import json
import re
from pathlib import Path

import pytest

from conftest import tiny_run
from csslab.cli.main import main
from csslab.core.config import Config
from csslab.store.rundir import BenchmarkDir, RunDir, kind_of

PACKAGE = Path(__file__).resolve().parents[1] / "csslab"


@pytest.mark.parametrize("pattern", [r'"results\.json"', r'"config\.yaml"', r'"frames\.npz"', r'task-\{',
                                     r'"benchmark\.md"', r'"benchmark\.json"', r'"steps\.csv"'])
def test_each_file_name_is_spelled_in_one_module(pattern):
    found = sorted(str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if re.search(pattern, p.read_text()))
    assert found == ["store/rundir.py"], found


def test_the_run_directory_layout_and_clear(tmp_path):
    out = tiny_run(tmp_path / "r", "finetune")
    d = RunDir(out)
    assert kind_of(out) == "run" and d.has_results()
    assert d.config.is_file() and d.results.is_file() and d.results_csv.is_file() and d.steps_csv.is_file()
    assert [d.checkpoint(k).is_file() for k in range(4)] == [True, True, True, False]  # 6-2-2: tasks 0..2
    frames = d.read_frames()
    assert frames is not None and len(frames["step"]) and set(frames["task"]) <= {0, 1, 2}
    (out / "notes.txt").write_text("mine")
    d.clear()
    assert [p.name for p in out.iterdir()] == ["notes.txt"] and kind_of(out) is None


def test_a_damaged_frames_file_is_one_line(tmp_path):
    d = RunDir(tmp_path)
    d.frames.write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(ValueError, match=r"corrupt frames file .*frames\.npz \(") as error:
        d.read_frames()
    assert "\n" not in str(error.value)


def as_interrupted(out: Path, n_tasks: int) -> None:
    """Make a finished run look killed after its first ``n_tasks`` tasks (results.json as it was then)."""
    results = json.loads(RunDir(out).results.read_text())
    for key in ("tasks", "iou_matrix", "acc_matrix"):
        results[key] = results[key][:n_tasks]
    results["complete"] = False
    RunDir(out).results.write_text(json.dumps(results))


def test_resume_rebuilds_the_logs_of_the_finished_tasks(tmp_path, capsys):
    out = tiny_run(tmp_path / "r", "finetune")
    whole = RunDir(out).steps_csv.read_text(), RunDir(out).metrics_csv.read_text()
    as_interrupted(out, 1)
    RunDir(out).metrics_csv.write_text("garbage, rebuilt from results.json\n")  # derived: rebuilt, not read
    assert main(["run", "--resume", str(out), "--quiet", "--no-report"]) == 0
    capsys.readouterr()
    assert (RunDir(out).steps_csv.read_text(), RunDir(out).metrics_csv.read_text()) == whole


def test_resume_after_a_crash_between_results_and_logs_takes_the_staged_log(tmp_path, capsys):
    out = tiny_run(tmp_path / "r", "finetune")
    steps = RunDir(out).steps_csv
    whole = steps.read_text()
    as_interrupted(out, 2)
    RunDir.staged(steps).write_text(whole)  # written before results.json saved task 1 ...
    steps.write_text("\n".join(whole.splitlines()[:4]) + "\n")  # ... not yet renamed: steps.csv ends at task 0
    assert main(["run", "--resume", str(out), "--quiet", "--no-report"]) == 0
    capsys.readouterr()
    assert steps.read_text() == whole and not RunDir.staged(steps).exists()


@pytest.mark.parametrize("damage", ["cut", "garbled"])
def test_resume_refuses_a_damaged_steps_log_in_one_line(tmp_path, capsys, damage):
    out = tiny_run(tmp_path / "r", "finetune")
    as_interrupted(out, 2)
    lines = RunDir(out).steps_csv.read_text().splitlines()
    cut = [*lines[:4], *lines[6:]] if damage == "cut" else [*lines[:3], "1,x,y", *lines[3:]]
    RunDir(out).steps_csv.write_text("\n".join(cut) + "\n")  # task 1's first steps lost, or a garbled row
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert main(["run", "--resume", str(out), "--quiet", "--no-report"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"cannot resume {out}" in err[0] and "steps.csv" in err[0], err
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before  # nothing rewritten, nothing cut


def test_logs_never_hold_a_task_results_json_does_not(tmp_path, monkeypatch, capsys):
    from csslab.store.results import Results

    save, calls = Results.save, []

    def disk_full_at_task_1(self, run_dir=None):
        calls.append(1)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        save(self, run_dir)

    monkeypatch.setattr(Results, "save", disk_full_at_task_1)
    out = tmp_path / "r"
    assert main(["run", "--method", "finetune", "--out", str(out), "--tasks", "6-2-2", "--steps", "3", "--quiet",
                 "--no-report", "--set", "scenario.train_scenes=32", "--set", "scenario.test_scenes=30",
                 "--set", "train.batch_size=8", "--set", "train.threads=1"]) == 1
    assert "No space left on device" in capsys.readouterr().err
    done = {t["task"] for t in json.loads(RunDir(out).results.read_text())["tasks"]}
    logged = [{line.split(",")[0] for line in f.read_text().splitlines()[1:]}
              for f in (RunDir(out).steps_csv, RunDir(out).metrics_csv)]
    assert done == {0} and logged == [{"0"}, {"0"}]


def test_a_refusal_after_the_directory_was_made_leaves_no_directory(tmp_path, monkeypatch):
    from csslab.training import train

    class Unavailable:  # as a tensorboard that fails to import once config.yaml is written
        def __init__(self, *args, **kwargs):
            assert RunDir(out).config.is_file()
            raise ValueError("--log tensorboard: the tensorboard package fails to import")

    monkeypatch.setattr(train, "Tracker", Unavailable)
    config = Config.from_dict({"method": "finetune", "train": {"steps": 2, "threads": 1, "batch_size": 8},
                               "scenario": {"tasks": "5-5", "train_scenes": 20, "test_scenes": 20}})
    out = tmp_path / "new"
    with pytest.raises(ValueError, match="fails to import"):
        train.run(config, out=out, progress=False, log=None)
    assert not out.exists()
    out = tmp_path / "kept"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="fails to import"):
        train.run(config, out=out, progress=False, log=None)
    assert [p.name for p in out.iterdir()] == ["notes.txt"]  # its own file only: no config.yaml


def test_overwrite_removes_the_old_shared_bases(tmp_path):
    from csslab.experiments.sweep import claim

    bench = BenchmarkDir(tmp_path / "b")
    bench.base.mkdir(parents=True)
    (bench.base / "ce-seed0-0123456789abcdef.pt").write_bytes(b"a base of another budget")
    claim(bench.path, [], [], None, overwrite=False)
    assert bench.base.is_dir()
    claim(bench.path, [], [], None, overwrite=True)
    assert not bench.base.exists()


def test_a_failed_download_leaves_no_empty_folder_for_cache_list(tmp_path, monkeypatch, capsys):
    from csslab.data import cache, download as dl

    monkeypatch.setenv("CSSLAB_CACHE", str(tmp_path / "cache"))
    dead = (tmp_path / "nowhere").as_uri() + "/"  # a mirror with none of the files: fails offline, at once
    assert main(["data", "download", "mnist", "--mirror", dead]) == 2
    assert "could not download mnist" in capsys.readouterr().err
    assert not dl.cache_dir("mnist").exists()
    assert [e.name for e in cache.entries() if e.download] == []
    dl.cache_dir("mnist").mkdir(parents=True)  # an empty folder left by an older csslab is no entry either
    assert [e.name for e in cache.entries() if e.download] == []
