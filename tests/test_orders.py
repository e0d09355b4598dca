"""Class orders as an axis of a benchmark: `--orders K` runs K orders beside the seeds, each recorded in its
runs' configuration; rows are mean ± std over orders x seeds, and the methods are ranked per order."""

import json

import numpy as np
import pytest

from csslab.cli.main import main
from csslab.core.config import Config, apply_overrides
from csslab.store.papers_csv import PLOP_KEYS
from csslab.reports import write_benchmark_report
from csslab.store.results import Results
from csslab.scenarios import parse_class_order
from csslab.experiments.plan import class_orders, parse_settings, run_configs, run_name

# two tasks (5-5) of 2 steps: 12 runs whose numbers only the aggregation is checked against
ARGS = ["benchmark", "--methods", "finetune,mib", "--orders", "3", "--seeds", "2", "--tasks", "5-5", "--steps", "2",
        "--no-report", "--set", "scenario.train_scenes=16", "--set", "scenario.test_scenes=20",
        "--set", "train.batch_size=8", "--set", "train.threads=1"]


def test_order_zero_is_the_configured_order_and_order_k_random_k_with_unique_run_names():
    assert class_orders(Config(), 3) == ["natural", "random:1", "random:2"]
    assert class_orders(apply_overrides(Config(), ["scenario.class_order=9,8,7,6,5,4,3,2,1,0"]), 2)[0] == \
        "9,8,7,6,5,4,3,2,1,0"
    configs = run_configs(Config(), ["finetune", "mib"], [0, 1], parse_settings("overlap"), None, 3)
    names = [run_name(c) for c in configs]
    assert len(configs) == 12 and len(set(names)) == 12
    assert "finetune-overlap-2-2-2-2-2-seed0" in names  # order 0 keeps the name a benchmark without orders gives
    assert "mib-overlap-2-2-2-2-2-order2-seed1" in names
    with pytest.raises(ValueError, match="invalid --orders 0"):
        class_orders(Config(), 0)
    with pytest.raises(ValueError, match="random:1.*run twice"):
        class_orders(apply_overrides(Config(), ["scenario.class_order=random:1"]), 2)


def test_a_benchmark_over_orders_and_seeds_gives_rows_of_six_runs_and_the_ranking_per_order(tmp_path, capsys):
    out = tmp_path / "bench"
    assert main(ARGS + ["--out", str(out)]) == 0
    printed = capsys.readouterr().out
    data = json.loads((out / "benchmark.json").read_text())
    rows = {r["method"]: r for r in data["rows"]}
    assert list(rows) == ["finetune", "mib"] and data["orders"] == ["natural", "random:1", "random:2"]
    for row in rows.values():
        assert (row["n_runs"], row["n_orders"], row["n_seeds"], len(row["runs"])) == (6, 3, 2, 6)
        results = [Results.load(out / run) for run in row["runs"]]
        finals = [r.split_mious()["all"] for r in results]
        assert row["all_mean"] == pytest.approx(np.mean(finals)) and row["all_std"] == pytest.approx(np.std(finals))
        for key in PLOP_KEYS:  # PLOP's averages of each run's results.csv, averaged over the row's runs
            values = [r.plop_averages()[key] for r in results]
            assert row[f"plop_{key}_mean"] == pytest.approx(np.mean(values))
        recorded = {r["config"]["scenario"]["class_order"] for r in results}  # each run's config records its order
        assert recorded == {"natural"} | {",".join(map(str, parse_class_order(f"random:{k}"))) for k in (1, 2)}
    assert "| finetune | overlap | 5-5 | 3 | 2 |" in printed and " ± " in printed

    ranking = data["order_ranking"]
    assert [r["order"] for r in ranking] == ["natural", "random:1", "random:2"]
    for entry in ranking:
        means = [m["all_mean"] for m in entry["ranking"]]
        assert sorted(m["method"] for m in entry["ranking"]) == ["finetune", "mib"] and means == sorted(means)[::-1]
        for m in entry["ranking"]:  # the mean over the order's two seeds
            runs = [run for run in rows[m["method"]]["runs"] if Results.load(out / run)["config"]["scenario"][
                "class_order"] == entry["class_order"]]
            assert len(runs) == 2 and m["all_mean"] == pytest.approx(
                np.mean([Results.load(out / run).split_mious()["all"] for run in runs]))
    assert "Ranking per class order" in printed and "| overlap | 5-5 | random:2 |" in printed
    assert "Ranking per class order" in (out / "benchmark.md").read_text()
    assert "different budgets" not in printed  # orders are an axis of every row, not a difference between rows
    write_benchmark_report(out, run_reports="none")  # the report's page and markdown keep the ranking
    assert "Ranking per class order" in (out / "benchmark.html").read_text()
    text = (out / "benchmark.md").read_text()
    assert "Ranking per class order" in text and "over class orders x seeds" in text
