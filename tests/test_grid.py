"""``csslab benchmark --grid``: hyper-parameter grids expand into runs and rows told apart by ``variant``."""

import csv
import json
from dataclasses import dataclass

import pytest

from conftest import finetune_with_params

from csslab.cli.main import main
from csslab.core.config import Config
from csslab.methods import METHODS
from csslab.scenarios import make_setting
from csslab.experiments.plan import parse_grid, run_configs, variant


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


def _table_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("|")]


def test_grid_variants_tell_rows_apart_in_every_output(tmp_path, capsys, monkeypatch):
    """The screen, benchmark.md (as the report rewrites it), .csv, .html and the plots' labels all
    carry the variant: two lwf rows are never shown as two identical "lwf" rows."""
    from csslab.reports import benchmark_plots

    texts, save = [], benchmark_plots.save_figure

    def record(fig, path, dpi=100):  # the text of every tick label and title of the benchmark's figures
        texts.extend(t.get_text() for ax in fig.axes for t in [*ax.get_xticklabels(), ax.title])
        return save(fig, path, dpi)

    monkeypatch.setattr(benchmark_plots, "save_figure", record)
    out = tmp_path / "b"
    assert main(["benchmark", "--methods", "lwf", "--grid", "params.lam=1,10", "--seeds", "1", "--steps", "20",
                 "--tasks", "5-5", "--no-run-reports", "--out", str(out), "--set", "scenario.train_scenes=64",
                 "--set", "scenario.test_scenes=50", "--set", "train.batch_size=8", "--set", "train.threads=1"]) == 0
    labels = ["lwf (lam=1)", "lwf (lam=10)"]
    screen = _table_lines(capsys.readouterr().out)
    markdown = _table_lines((out / "benchmark.md").read_text())
    assert screen == markdown and [line.split(" | ")[0] for line in markdown[2:]] == [f"| {x}" for x in labels]
    with open(out / "benchmark.csv") as f:
        assert [(r["method"], r["variant"]) for r in csv.DictReader(f)] == [("lwf", "lam=1"), ("lwf", "lam=10")]
    page = (out / "benchmark.html").read_text()
    for label in labels:
        assert f'<td class="left">{label}</td>' in page and f"{label} on 5-5 (overlap), seed 0" in page
        assert f"{label}\n(1 seed)" in texts  # bars
        assert f"{label}: 5-5 (overlap), seed 0" in texts  # one heatmap per row
