"""Resume: a run killed at any point continues from its last completed task to the numbers of an
uninterrupted run; Ctrl-C stops cleanly; nothing partial is left behind."""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import torch

from conftest import copy_run, saved_as_before
from csslab.cli.main import main
from csslab.methods import METHODS
from csslab.training.train import run

ARGS = ["--method", "finetune", "--tasks", "2-2-2-2-2", "--steps", "5", "--quiet", "--no-report",
        "--set", "scenario.train_scenes=32", "--set", "scenario.test_scenes=20", "--set", "train.batch_size=8",
        "--set", "train.threads=1", "--set", "train.frame_every=3", "--set", "train.frame_scenes=10"]
TIMING = ("train_s", "eval_s", "data_s")


def tasks_done(run_dir) -> int:
    try:
        return len(json.loads((run_dir / "results.json").read_text())["tasks"])
    except FileNotFoundError:
        return 0


def numbers(run_dir) -> list[dict]:
    """Everything per task except wall-clock times."""
    data = json.loads((run_dir / "results.json").read_text())
    return [{k: v for k, v in t.items() if k not in TIMING} for t in data["tasks"]]


def frames(run_dir) -> dict:
    with np.load(run_dir / "frames.npz") as f:
        return {k: f[k] for k in f.files}


def partial_files(run_dir) -> list:
    return [p.name for p in run_dir.rglob("*") if p.name.endswith((".tmp", ".part"))]


def start(args) -> subprocess.Popen:
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "csslab", *args], env=env, text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def stop_after_first_task(proc, run_dir, sig) -> None:
    deadline = time.monotonic() + 300  # a loaded machine takes a while to finish the first task
    while tasks_done(run_dir) < 1 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(sig)


def test_kill_9_then_resume_equals_uninterrupted_run(tmp_path, capsys):
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    proc = start(["run", "--out", str(killed), *ARGS])
    stop_after_first_task(proc, killed, signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    assert 1 <= tasks_done(killed) < 5, "the run must be killed between its first and last task"
    assert not json.loads((killed / "results.json").read_text())["complete"]

    # resumed from what is on disk only (run() rebuilds every object and RNG from the checkpoint)
    assert main(["run", "--resume", str(killed), "--quiet", "--no-report"]) == 0
    assert f"resuming {killed} after task" in capsys.readouterr().out

    assert main(["run", "--out", str(whole), *ARGS]) == 0
    capsys.readouterr()
    assert json.loads((killed / "results.json").read_text())["complete"]
    assert numbers(killed) == numbers(whole)  # per-task IoU, accuracy, confusion, losses: exactly equal
    a, b = frames(killed), frames(whole)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert partial_files(killed) == []


def test_ctrl_c_stops_cleanly_keeping_completed_tasks(tmp_path, capsys):
    out, finished = tmp_path / "r", threading.Event()

    def interrupt_after_first_task():  # Ctrl-C as the terminal sends it: SIGINT to this process
        deadline = time.monotonic() + 300  # a loaded machine takes a while to finish the first task
        while tasks_done(out) < 1 and not finished.is_set() and time.monotonic() < deadline:
            time.sleep(0.01)
        if not finished.is_set():
            os.kill(os.getpid(), signal.SIGINT)

    # a process started in the background by a non-interactive shell inherits SIGINT as ignored,
    # and Python then never raises KeyboardInterrupt: install the handler a terminal user has
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    watcher = threading.Thread(target=interrupt_after_first_task, daemon=True)
    watcher.start()
    try:
        # a short first task (2 classes, 50 steps), then a long one (8 classes, 200 steps), so the interrupt lands
        # inside the run even on a fast, idle machine
        code = main(["run", "--out", str(out), *ARGS, "--tasks", "2-8", "--set", "train.steps_per_class=25"])
    finally:
        finished.set()
        watcher.join()
        signal.signal(signal.SIGINT, previous)
    err = capsys.readouterr().err
    assert code == 130
    assert err.strip().count("\n") == 0 and f"--resume {out}" in err  # one line, saying how to continue
    assert tasks_done(out) == 1 and partial_files(out) == []
    assert (out / "checkpoints" / "task-0.pt").is_file() and not (out / "checkpoints" / "task-1.pt").exists()


class StopAfter:
    """An ``on_task`` callback that interrupts the run once ``n`` tasks are saved (as Ctrl-C would)."""

    def __init__(self, n):
        self.n, self.seen = n, 0

    def __call__(self, entry, n_tasks):
        self.seen += 1
        if self.seen == self.n:
            raise KeyboardInterrupt


def without_last_task(run_dir, dest):
    """A copy of the finished run ``run_dir`` at ``dest`` as a process killed during its last task leaves it:
    results.json holds the tasks before, the last task's checkpoint is gone; the per-step logs (steps.csv,
    metrics.csv) and frames.npz keep the last task's rows, as written while it trained (resuming drops them)."""
    cut = copy_run(run_dir, dest)
    data = json.loads((cut / "results.json").read_text())
    n = len(data["tasks"]) - 1
    data.update(tasks=data["tasks"][:n], iou_matrix=data["iou_matrix"][:n], acc_matrix=data["acc_matrix"][:n],
                complete=False)
    (cut / "results.json").write_text(json.dumps(data))
    (cut / "checkpoints" / f"task-{n}.pt").unlink()
    return cut


def csv_rows(path) -> list[str]:
    return path.read_text().splitlines()


@pytest.mark.parametrize("method", [m for m in METHODS if m != "joint"])  # joint trains one task: nothing to resume
def test_every_method_resumes_to_the_same_numbers(method, method_run, tmp_path):
    """The session's shared run of the method, cut before its last task and resumed: the numbers, logs, frames
    and last checkpoint of the uninterrupted run, bit for bit."""
    whole = method_run(method)
    cut = without_last_task(whole, tmp_path / "cut")
    assert tasks_done(cut) == 4
    resumed = run(out=cut, progress=False, log=None, resume=True)
    assert resumed.complete and numbers(cut) == numbers(whole)
    assert resumed["miou_avg"] == json.loads((whole / "results.json").read_text())["miou_avg"]
    for log in ("steps.csv", "metrics.csv"):
        assert csv_rows(cut / log) == csv_rows(whole / log), log
    a, b = frames(cut), frames(whole)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    last = [torch.load(d / "checkpoints" / "task-4.pt", weights_only=True)["model"] for d in (cut, whole)]
    assert last[0].keys() == last[1].keys() and all(torch.equal(last[0][k], last[1][k]) for k in last[0])
    assert partial_files(cut) == []


def test_resume_cli_guards(method_run, tmp_path, capsys):
    out = copy_run(method_run("finetune"), tmp_path / "r")  # a finished run
    stamp = (out / "results.json").stat().st_mtime_ns
    assert main(["run", "--resume", str(out), "--quiet", "--no-report"]) == 0  # complete: nothing to do, nothing rewritten
    assert "nothing to resume" in capsys.readouterr().out and (out / "results.json").stat().st_mtime_ns == stamp
    assert main(["run", "--resume", str(out), "--method", "joint"]) == 2
    assert "drop --method" in capsys.readouterr().err
    assert main(["run", "--resume", str(tmp_path / "nowhere")]) == 2
    assert "no config.yaml" in capsys.readouterr().err


def test_benchmark_rerun_resumes_an_interrupted_run(tmp_path, capsys):
    out = tmp_path / "bench"
    args = ["benchmark", "--methods", "finetune", "--seeds", "1", "--steps", "2", "--tasks", "5-5", "--no-report",
            "--out", str(out), "--set", "scenario.train_scenes=16", "--set", "scenario.test_scenes=20",
            "--set", "train.batch_size=8", "--set", "train.threads=1"]
    assert main(args) == 0
    run_dir = out / "runs" / "finetune-overlap-5-5-seed0"
    full = json.loads((run_dir / "results.json").read_text())
    cut = dict(full, tasks=full["tasks"][:1], iou_matrix=full["iou_matrix"][:1], acc_matrix=full["acc_matrix"][:1],
               complete=False)  # as if killed during task 2
    (run_dir / "results.json").write_text(json.dumps(cut))
    (run_dir / "checkpoints" / "task-1.pt").unlink()
    assert main(args) == 0
    capsys.readouterr()
    again = json.loads((run_dir / "results.json").read_text())
    assert again["complete"] and numbers(run_dir) == [
        {k: v for k, v in t.items() if k not in TIMING} for t in full["tasks"]]
    assert again["tasks"][0]["train_s"] == full["tasks"][0]["train_s"]  # task 1 was kept, not trained again


def saved_config(run_dir) -> dict:
    return json.loads((run_dir / "results.json").read_text())["config"]


def test_run_directories_saved_before_settings_were_resolved_resume_and_rerun(tmp_path, capsys):
    """A run directory of an older csslab (switches null in config.yaml and results.json) resumes to
    the numbers of an uninterrupted run, and its config.yaml starts the same run again."""
    small = ["--tasks", "5-5", "--steps", "2", "--quiet", "--no-report", "--set", "scenario.train_scenes=16",
             "--set", "scenario.test_scenes=20", "--set", "train.batch_size=8", "--set", "train.threads=1"]
    whole, old = tmp_path / "whole", tmp_path / "old"
    assert main(["run", "--out", str(whole), *small]) == 0
    s = saved_config(whole)["scenario"]
    assert (s["setting"], s["old_in_images"], s["future_in_images"], s["old_labels"], s["test_future"]) == (
        "overlap", True, True, "background", "ignore")  # saved resolved
    shutil.copytree(whole, old)
    saved_as_before(old)
    data = json.loads((old / "results.json").read_text())
    cut = dict(data, tasks=data["tasks"][:1], iou_matrix=data["iou_matrix"][:1], acc_matrix=data["acc_matrix"][:1],
               complete=False)
    (old / "results.json").write_text(json.dumps(cut))
    (old / "checkpoints" / "task-1.pt").unlink()

    assert main(["run", "--resume", str(old), "--quiet", "--no-report"]) == 0
    assert f"resuming {old} after task 0 of 0..1: 1 task left" in capsys.readouterr().out
    assert numbers(old) == numbers(whole)
    assert saved_config(old)["scenario"]["old_in_images"] is None  # a resumed run keeps the form it was saved in

    again = tmp_path / "again"
    assert main(["run", "--config", str(old / "config.yaml"), "--out", str(again), "--quiet", "--no-report"]) == 0
    assert numbers(again) == numbers(whole) and saved_config(again) == saved_config(whole)

    # a setting given on top of a saved (resolved) config.yaml is that setting, not the saved switches
    other = tmp_path / "disjoint"
    assert main(["run", "--config", str(whole / "config.yaml"), "--setting", "disjoint", "--out", str(other),
                 "--set", "train.steps=1", "--quiet", "--no-report"]) == 0
    assert "(disjoint)" in capsys.readouterr().out
    s = saved_config(other)["scenario"]
    assert (s["setting"], s["future_in_images"]) == ("disjoint", False)
