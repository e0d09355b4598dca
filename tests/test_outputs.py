"""Where outputs go: unique run directories, and every unusable output path or unreadable run refused
with one line (exit 2 for bad input, 1 for a file-system fault), no traceback, nothing left behind."""

import json
import os
from datetime import datetime

import numpy as np
import pytest

import csslab.core.files
from csslab.cli.main import main
from csslab.core.files import check_output, new_run_dir

TINY = ["--tasks", "5-5", "--steps", "1", "--quiet", "--no-report", "--set", "scenario.train_scenes=16",
        "--set", "scenario.test_scenes=20", "--set", "train.batch_size=8", "--set", "train.threads=1",
        "--set", "train.frame_scenes=8"]
NOON = datetime(2030, 1, 2, 12, 0, 0)


def one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err, err
    return err


def test_run_names_carry_the_seed_and_never_collide(tmp_path):
    names = [new_run_dir(tmp_path / "runs", "mib-seed3", now=NOON) for _ in range(3)]
    assert [p.name for p in names] == ["mib-seed3-20300102-120000", "mib-seed3-20300102-120000-2",
                                       "mib-seed3-20300102-120000-3"]
    assert all(p.is_dir() and not any(p.iterdir()) for p in names)
    assert new_run_dir(tmp_path / "runs", "mib-seed4", now=NOON).name == "mib-seed4-20300102-120000"


def test_two_runs_started_in_the_same_second_get_two_directories(tmp_path, monkeypatch, capsys):
    class Frozen(datetime):
        @classmethod
        def now(cls, tz=None):
            return NOON

    monkeypatch.setattr(csslab.core.files, "datetime", Frozen)
    monkeypatch.chdir(tmp_path)
    for _ in range(2):
        assert main(["run", *TINY]) == 0
    runs = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert runs == ["finetune-seed0-20300102-120000", "finetune-seed0-20300102-120000-2"]
    assert all((tmp_path / "runs" / r / "results.json").is_file() for r in runs)
    out = capsys.readouterr().out
    assert all(f"-> {os.path.join('runs', r)}" in out for r in runs)


def test_unwritable_output_directory_is_one_line_before_any_work(tmp_path, monkeypatch, capsys):
    target = tmp_path / "shared"
    target.mkdir()
    # root ignores permissions: a read-only directory is simulated where csslab asks for it
    monkeypatch.setattr(csslab.core.files.os, "access", lambda path, mode, **kw: os.path.realpath(path) != str(target))
    for args in (["run", *TINY, "--out", str(target / "r")], ["benchmark", "--out", str(target)],
                 ["scenario", "--train-scenes", "8", "--save", str(target / "g.png")],
                 ["data", "download", "mnist", "--dir", str(target)]):
        assert main(args) == 1, args
        assert one_line(capsys) == f"csslab: error: not writable (permission denied or a read-only file system): {target}"
    assert list(target.iterdir()) == []


def test_a_write_refused_by_the_file_system_is_one_line(tmp_path, monkeypatch, capsys):
    create_temp = csslab.core.files._create_temp

    def refuse(path, tmp):
        if path.suffix == ".png":
            raise PermissionError(13, "Permission denied", str(path))
        return create_temp(path, tmp)

    monkeypatch.setattr(csslab.core.files, "_create_temp", refuse)  # the atomic writer, at the figure
    png = tmp_path / "grid.png"
    assert main(["scenario", "--train-scenes", "8", "--save", str(png)]) == 1
    assert one_line(capsys) == f"csslab: error: Permission denied: {png}"
    assert list(tmp_path.iterdir()) == []


def test_check_output_accepts_what_can_be_written(tmp_path):
    assert check_output(tmp_path / "new" / "deeper", "--out") == tmp_path / "new" / "deeper"
    (tmp_path / "old.png").write_bytes(b"")
    assert check_output(tmp_path / "old.png", "--save", kind="file") == tmp_path / "old.png"
    assert check_output(tmp_path, "--out") == tmp_path
    assert list(tmp_path.iterdir()) == [tmp_path / "old.png"]  # nothing created


@pytest.mark.parametrize("argv, needle", [
    (["benchmark", "--out", "B"], "completed runs are kept in B (the same command again continues)"),
    (["data", "download", "mnist", "--dir", "B"], "only complete files with the right checksum were kept"),
    (["scenario"], "every file written so far is complete"),
    (["report", "B"], "every file written so far is complete"),
])
def test_interrupt_message_fits_the_command(monkeypatch, capsys, argv, needle):
    import csslab.cli.main as cli

    def interrupt(args):
        raise KeyboardInterrupt

    monkeypatch.setitem(cli.COMMANDS, argv[0], interrupt)
    assert main(argv) == 130
    err = one_line(capsys)
    assert needle in err and "tasks" not in err


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "r"
    assert main(["run", *TINY, "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize("damage, needle", [
    (lambda r: (r / "results.json").write_text('{"tasks": 5}'), "'tasks' is int, expected a list"),
    (lambda r: (r / "results.json").write_text("[1, 2, 3]"), "holds a list, expected a JSON object"),
    (lambda r: (r / "results.json").write_text('{"tasks": [1]}'), "task 0 is int, expected an object"),
    (lambda r: (r / "results.json").write_text('{"tasks": [{"task": 0}], "config": []}'), "'config' is list"),
    (lambda r: (r / "results.json").write_text('{"tasks": [{"task": 0, "iou": 3}]}'), "'iou' of task 0 is int"),
    (lambda r: (r / "results.json").write_text('{"tasks": [{}]}'), "task 0 is an object without 'task'"),
    (lambda r: (r / "results.json").write_text('{"tasks": [{"task": 0, "miou_all": "x"}]}'),
     "'miou_all' of task 0 is str, expected a number or null"),
    (lambda r: (r / "results.json").write_text('{"tasks": [{"task": 0}], "config": {"scenario": [1]}}'),
     "'scenario' of config is list"),
    (lambda r: (r / "results.json").write_text('{"tasks": [{"task": 0}], "iou_matrix": [[1, 2]]}'),
     "a row of 'iou_matrix' does not have 11 values"),
    (lambda r: (r / "results.json").write_text('{"tasks": '), "unreadable results file"),
    (lambda r: (r / "frames.npz").write_bytes((r / "frames.npz").read_bytes()[:3000]), "corrupt frames file"),
    (lambda r: (r / "frames.npz").write_bytes(b""), "corrupt frames file"),
])
def test_report_on_a_damaged_run_is_one_line_and_writes_nothing(finished_run, tmp_path, capsys, damage, needle):
    import shutil

    run = tmp_path / "r"
    shutil.copytree(finished_run, run)
    damage(run)
    before = sorted(run.rglob("*"))
    assert main(["report", str(run)]) == 2
    err = one_line(capsys)
    assert needle in err and str(run) in err, err
    assert sorted(run.rglob("*")) == before


def test_report_still_reads_a_run_without_frames(finished_run, tmp_path, capsys):
    import shutil

    run = tmp_path / "r"
    shutil.copytree(finished_run, run)
    (run / "frames.npz").unlink()
    assert main(["report", str(run)]) == 0
    assert "no readable frames.npz" in (run / "report.md").read_text() + (run / "report.html").read_text()


def test_frames_with_missing_arrays_are_treated_as_absent(finished_run, tmp_path):
    import shutil

    from csslab.reports.tables import RunData

    run = tmp_path / "r"
    shutil.copytree(finished_run, run)
    np.savez(run / "frames.npz", step=np.arange(3))  # an older run's frames: no task, no confusion
    assert RunData(run).frames is None
    assert json.loads((run / "results.json").read_text())["tasks"]
