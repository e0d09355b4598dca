"""Benchmarks on a Ray cluster: a local head on loopback gives the same table as the in-process run."""

import json

import pytest

from csslab.core.runtime import DEFAULT_THREADS
from csslab.cli.main import main
from conftest import SCRIPTS, load_module

ray = pytest.importorskip("ray", reason="the Ray test needs the ray extra: pip install 'csslab[ray]'")

ARGS = ["benchmark", "--methods", "finetune,mib,joint", "--seeds", "2", "--steps", "3", "--tasks", "5-5", "--no-report",
        "--set", "scenario.train_scenes=32", "--set", "scenario.test_scenes=30", "--set", "train.batch_size=8"]
STRIP = ("seconds_mean",)  # wall time is the only figure allowed to differ


def rows(out):
    data = json.loads((out / "benchmark.json").read_text())
    return [{k: v for k, v in r.items() if k not in STRIP} for r in data["rows"]], data["runs"]


def test_ray_sweep_equals_local_sweep_with_the_default_threads(tmp_path, capsys, monkeypatch):
    """The same benchmark in this process and on a local Ray instance gives the same table and the same numbers
    in every run. train.threads 0 (the default) is resolved where the benchmark starts, so a Ray worker (whose own
    default is the one CPU Ray gives it) trains with the same number of threads as this process."""
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")  # a throwaway loopback cluster: no token file in ~/.ray
    assert main(ARGS + ["--out", str(tmp_path / "local")]) == 0
    assert main(ARGS + ["--out", str(tmp_path / "ray"), "--ray", "local"]) == 0
    printed = capsys.readouterr().out
    assert "on Ray (local)" in printed and printed.count("(on Ray)") == 6
    assert not ray.is_initialized()  # the local instance it started is stopped again
    local, local_runs = rows(tmp_path / "local")
    remote, remote_runs = rows(tmp_path / "ray")
    assert [r["method"] for r in remote] == ["finetune", "mib", "joint"]
    assert remote == local and remote_runs == local_runs and len(remote_runs) == 6
    compare = load_module(SCRIPTS / "compare_runs.py").compare
    for run in remote_runs:  # every run's per-task numbers and frames, not only the table's means
        a, b = tmp_path / "local" / run, tmp_path / "ray" / run
        assert compare(a, b) is None
        results = [json.loads((d / "results.json").read_text()) for d in (a, b)]
        assert [t["confusion"] for t in results[0]["tasks"]] == [t["confusion"] for t in results[1]["tasks"]]
        assert [r["config"]["train"]["threads"] for r in results] == [DEFAULT_THREADS, DEFAULT_THREADS]
