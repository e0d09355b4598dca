"""``csslab benchmark --grid``: hyper-parameter grids expand into runs and rows told apart by ``variant``."""

import json
from dataclasses import dataclass

import pytest

from conftest import finetune_with_params

from csslab.cli import main
from csslab.config import Config
from csslab.methods import METHODS
from csslab.scenarios import make_setting
from csslab.sweep import parse_grid, run_configs, variant


@dataclass
class LamParams:
    lam: float = 1.0


@pytest.fixture
def weighted(monkeypatch):
    """Fine-tuning with a (here unused) weight: enough to sweep a method parameter."""
    monkeypatch.setitem(METHODS, "weighted", finetune_with_params("weighted", LamParams))


def test_grid_expands_only_for_methods_with_the_parameter(weighted):
    grid = parse_grid(["method.lam=1,10", "train.lr=0.001,0.002"], ["finetune", "weighted"])
    assert grid == {"params.lam": ["1", "10"], "train.lr": ["0.001", "0.002"]}
    configs = run_configs(Config(), ["finetune", "weighted"], [0], [make_setting("overlap")], grid)
    labels = [(c.method, variant(c, grid)) for c in configs]
    assert labels == [("finetune", "train.lr=0.001"), ("finetune", "train.lr=0.002"),
                      ("weighted", "lam=1,train.lr=0.001"), ("weighted", "lam=1,train.lr=0.002"),
                      ("weighted", "lam=10,train.lr=0.001"), ("weighted", "lam=10,train.lr=0.002")]
    assert configs[-1].params == {"lam": 10} and configs[-1].train.lr == 0.002
    with pytest.raises(ValueError, match="expected section.key=v1,v2"):
        parse_grid(["lam"], ["weighted"])
    with pytest.raises(ValueError, match="already a grid axis"):
        parse_grid(["params.lam=1", "method.lam=2"], ["weighted"])


def test_benchmark_rows_and_runs_per_grid_value(tmp_path, capsys, weighted):
    out = tmp_path / "b"
    args = ["benchmark", "--methods", "finetune,weighted", "--seeds", "1", "--steps", "1", "--tasks", "5-5",
            "--no-report", "--grid", "params.lam=1,10", "--out", str(out), "--set", "scenario.train_scenes=16",
            "--set", "scenario.test_scenes=20", "--set", "train.batch_size=8", "--set", "train.threads=1"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    data = json.loads((out / "benchmark.json").read_text())
    assert {"rows", "runs", "seconds"} <= set(data) and data["grid"] == {"params.lam": ["1", "10"]}
    assert [(r["method"], r["variant"]) for r in data["rows"]] == [("finetune", ""), ("weighted", "lam=1"),
                                                                   ("weighted", "lam=10")]
    assert data["runs"] == ["runs/finetune-overlap-5-5-seed0", "runs/weighted-overlap-5-5-lam-1-seed0",
                            "runs/weighted-overlap-5-5-lam-10-seed0"]
    saved = json.loads((out / data["runs"][2] / "results.json").read_text())
    assert saved["config"]["params"] == {"lam": 10.0}
    assert "| weighted (lam=10) | overlap | 5-5 | 1 |" in printed
