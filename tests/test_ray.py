"""Benchmarks on a Ray cluster: a local head on loopback gives the same table as the in-process run."""

import json

import pytest

from csslab.cli import main

ray = pytest.importorskip("ray", reason="the Ray test needs the ray extra: pip install 'csslab[ray]'")

ARGS = ["benchmark", "--methods", "finetune,joint", "--seeds", "1", "--steps", "2", "--tasks", "5-5", "--no-report",
        "--set", "scenario.train_scenes=32", "--set", "scenario.test_scenes=30", "--set", "train.batch_size=8",
        "--set", "train.threads=1"]
STRIP = ("seconds_mean",)  # wall time is the only figure allowed to differ


def rows(out):
    data = json.loads((out / "benchmark.json").read_text())
    return [{k: v for k, v in r.items() if k not in STRIP} for r in data["rows"]], data["runs"]


@pytest.mark.slow
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
