"""Benchmarks on a Ray cluster: a local head on loopback gives the same table as the in-process run."""

import json

import pytest

from csslab.core.runtime import DEFAULT_THREADS
from csslab.cli.main import main
from conftest import SCRIPTS, load_module

ray = pytest.importorskip("ray", reason="the Ray test needs the ray extra: pip install 'csslab[ray]'")

ARGS = ["benchmark", "--methods", "finetune,joint", "--seeds", "1", "--steps", "2", "--tasks", "5-5", "--no-report",
        "--set", "scenario.train_scenes=32", "--set", "scenario.test_scenes=30", "--set", "train.batch_size=8",
        "--set", "train.threads=1"]
STRIP = ("seconds_mean",)  # wall time is the only figure allowed to differ


def rows(out):
    data = json.loads((out / "benchmark.json").read_text())
    return [{k: v for k, v in r.items() if k not in STRIP} for r in data["rows"]], data["runs"]


def test_ray_sweep_equals_local_sweep(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")  # a throwaway loopback cluster: no token file in ~/.ray
    assert main(ARGS + ["--out", str(tmp_path / "local")]) == 0
    assert main(ARGS + ["--out", str(tmp_path / "ray"), "--ray", "local"]) == 0
    printed = capsys.readouterr().out
    assert "on Ray (local)" in printed and printed.count("(on Ray)") == 2
    assert not ray.is_initialized()  # the local instance it started is stopped again
    local, local_runs = rows(tmp_path / "local")
    remote, remote_runs = rows(tmp_path / "ray")
    assert [r["method"] for r in remote] == ["finetune", "joint"]
    assert remote == local and remote_runs == local_runs
    for run in remote_runs:  # every run's per-task numbers, not only the table's means
        a = json.loads((tmp_path / "local" / run / "results.json").read_text())
        b = json.loads((tmp_path / "ray" / run / "results.json").read_text())
        assert [t["confusion"] for t in a["tasks"]] == [t["confusion"] for t in b["tasks"]]


def test_ray_and_local_agree_with_the_default_threads(tmp_path, capsys, monkeypatch):
    """train.threads 0 is resolved where the benchmark starts, so a Ray worker (whose own default is the
    one CPU Ray gives it) trains with the same number of threads as this process, to the same numbers."""
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    args = ["benchmark", "--methods", "finetune,mib", "--seeds", "2", "--steps", "3", "--tasks", "5-5",
            "--no-report", "--set", "scenario.train_scenes=32", "--set", "scenario.test_scenes=30",
            "--set", "train.batch_size=8"]
    assert main(args + ["--out", str(tmp_path / "local")]) == 0
    assert main(args + ["--out", str(tmp_path / "ray"), "--ray", "local"]) == 0
    compare = load_module(SCRIPTS / "compare_runs.py").compare
    _, runs = rows(tmp_path / "local")
    assert len(runs) == 4
    for run in runs:
        local, remote = tmp_path / "local" / run, tmp_path / "ray" / run
        assert compare(local, remote) is None
        threads = [json.loads((d / "results.json").read_text())["config"]["train"]["threads"] for d in (local, remote)]
        assert threads == [DEFAULT_THREADS, DEFAULT_THREADS]
