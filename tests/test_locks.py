"""One writer per directory (an OS lock that dies with its holder), run and benchmark directories never
mixed, and benchmark workers that die with the process that started them."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import TINY_RUN, tiny_run
from csslab.cli.main import main
from csslab.store.lock import LOCK_NAME, DirectoryLock, holder

HOLD = ("import sys, time\nfrom csslab.store.lock import DirectoryLock\n"
        "DirectoryLock(sys.argv[1], sys.argv[2]).acquire()\nprint('held', flush=True)\ntime.sleep(120)\n")


def hold(path, kind="run") -> subprocess.Popen:
    """Another process holding ``path``'s lock until it is killed."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path), kind], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("csslab: error: "), err
    return err[0]


def test_a_second_writer_is_refused_naming_the_holder_and_the_lock_dies_with_it(tmp_path, capsys):
    out = tmp_path / "r"
    proc = hold(out)
    try:
        assert holder(out) == proc.pid
        assert main(["run", "--method", "finetune", "--out", str(out), *TINY_RUN]) == 2
        assert f"run directory {out} is being written by another csslab process (pid {proc.pid})" in \
            one_error_line(capsys)
        assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]  # the refused run wrote nothing
        with pytest.raises(ValueError, match=f"pid {proc.pid}"):  # the API too, whoever checks first
            DirectoryLock(out).acquire()
    finally:
        proc.kill()  # kill -9: the kernel releases the lock with the process
        proc.wait()
    assert holder(out) is None
    tiny_run(out, "finetune")
    capsys.readouterr()
    assert (out / "results.json").is_file() and not (out / LOCK_NAME).exists()  # released when the run ended


def test_a_second_benchmark_into_one_directory_is_refused(tmp_path, capsys):
    out = tmp_path / "b"
    proc = hold(out, "benchmark")
    try:
        assert main(["benchmark", "--methods", "finetune", "--seeds", "1", "--out", str(out), *TINY_RUN[:-2]]) == 2
        assert f"benchmark directory {out} is being written by another csslab process (pid {proc.pid})" in \
            one_error_line(capsys)
    finally:
        proc.kill()
        proc.wait()
    assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]  # a kill -9'd holder cannot remove its file


def test_the_lock_is_reentrant_in_one_process_and_leaves_nothing(tmp_path):
    out = tmp_path / "new"
    with DirectoryLock(out) as lock:
        with DirectoryLock(out):  # a benchmark's run_one and the run it calls
            assert lock.held and holder(out) == os.getpid()
        assert lock.held
    assert not lock.held and not out.exists()  # it held nothing before: no empty directory is left
    (tmp_path / "kept").mkdir()
    (tmp_path / "kept" / "notes.txt").write_text("mine")
    with DirectoryLock(tmp_path / "kept"):
        pass
    assert [p.name for p in (tmp_path / "kept").iterdir()] == ["notes.txt"]


def test_run_and_benchmark_directories_are_never_mixed(tmp_path, capsys):
    bench, run_dir = tmp_path / "bench", tmp_path / "run"
    (bench / "runs").mkdir(parents=True)
    run_dir.mkdir()
    (run_dir / "config.yaml").write_text("method: finetune\n")
    assert main(["run", "--method", "finetune", "--out", str(bench), *TINY_RUN]) == 2
    assert f"invalid --out {bench}: it is a benchmark directory" in one_error_line(capsys)
    assert main(["benchmark", "--methods", "finetune", "--seeds", "1", "--out", str(run_dir), *TINY_RUN[:-2]]) == 2
    assert f"invalid --out {run_dir}: it is a run directory" in one_error_line(capsys)
    assert sorted(p.name for p in bench.iterdir()) == ["runs"] and not any((bench / "runs").iterdir())
    assert sorted(p.name for p in run_dir.iterdir()) == ["config.yaml"]


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, killed but not yet reaped by a container's init, is dead)."""
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def test_kill_9_of_a_benchmark_parent_leaves_no_worker_alive(tmp_path):
    out = tmp_path / "b"
    args = ["benchmark", "--methods", "finetune,mib", "--seeds", "1", "--workers", "2", "--out", str(out),
            "--tasks", "6-2-2", "--steps", "100000", "--no-report", "--no-shared-base",
            "--set", "scenario.train_scenes=32", "--set", "scenario.test_scenes=20", "--set", "train.batch_size=8"]
    parent = subprocess.Popen([sys.executable, "-m", "csslab", *args], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, env=os.environ | {"OMP_NUM_THREADS": "1"})
    try:
        deadline = time.monotonic() + 300  # a loaded machine takes a while to start two workers
        workers: set[int] = set()
        while len(workers) < 2 and parent.poll() is None and time.monotonic() < deadline:
            workers = {pid for run in out.glob("runs/*") if (pid := holder(run)) is not None}  # training now
            time.sleep(0.2)
        assert len(workers) == 2, "both workers must be training before the parent is killed"
        children = Path(f"/proc/{parent.pid}/task/{parent.pid}/children").read_text().split()
        everyone = workers | {int(pid) for pid in children}  # the pool's workers, multiprocessing's helpers
        assert workers <= everyone
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    deadline = time.monotonic() + 10
    while any(map(_alive, everyone)) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = sorted(pid for pid in everyone if _alive(pid))
    for pid in left:  # do not leave them to the next test
        os.kill(pid, signal.SIGKILL)
    assert left == [], "orphaned csslab workers still ran 10 s after their parent was killed"
    assert all(holder(run) is None for run in out.glob("runs/*"))  # their locks died with them
