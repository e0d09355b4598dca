"""Every table, CSV, JSON and page says the budget it was run with; ± only over two seeds or more; a
warning when a budget is below the one the README measured as needed."""

from __future__ import annotations

import csv
import io
import json

from csslab.cli.main import main
from csslab.core.config import Config
from csslab.reports.benchmark_table import benchmark_csv, benchmark_markdown
from csslab.reports.budget import (
    NEEDED_STEPS_PER_CLASS, benchmark_budget, budget_text, budget_warning, row_budgets, run_budget,
)


def _config(**train) -> dict:
    config = Config().to_dict()
    config["train"] |= train
    return config


def _tasks(steps: int, split=(2, 2, 2, 2, 2)) -> list[dict]:
    return [{"classes": list(range(n)), "steps": steps} for n in split]


def test_run_budget_reads_the_resolved_configuration_and_the_steps_each_task_recorded():
    budget = run_budget(_config(steps=20, batch_size=16, lr_incremental=0.0002), _tasks(20))
    assert budget["steps"] == 20 and budget["batch_size"] == 16 and budget["least_steps_per_class"] == 10
    assert budget["train_scenes"] == 2000 and budget["test_scenes"] == 500 and budget["data"] == "embedded"
    assert budget["lr"] == 0.002 and budget["lr_incremental"] == 0.0002 and budget["schedule"] == "poly"
    assert budget["backbone"] == "fast" and budget["optimizer"] == "adam" and budget["seeds"] == [0]
    text = budget_text(budget)
    for part in ("20 steps per task", "at least 10 per class", "batch 16", "2000 training scenes per task",
                 "500 test scenes", "data embedded", "Adam lr 0.002, 0.0002 after the first task", "poly schedule",
                 "backbone fast", "seed 0"):
        assert part in text, part
    # without task entries, from the split: a 6-class task at 250 steps gets 250 / 6 per class
    six = _config()
    six["scenario"]["tasks"] = "6-2-2"
    assert run_budget(six)["least_steps_per_class"] == 250 / 6
    six["train"]["steps_per_class"] = 125
    assert run_budget(six)["least_steps_per_class"] == 125 and "125 steps per class" in budget_text(run_budget(six))


def test_warning_below_the_needed_budget_only():
    assert NEEDED_STEPS_PER_CLASS == 125
    assert "rank methods in the wrong order" in budget_warning(run_budget(_config(steps=20), _tasks(20)))
    assert budget_warning(run_budget(_config(steps=250), _tasks(250))) is None
    # the default 250 steps are too few for a 6-class task, steps_per_class 125 is enough
    assert budget_warning(run_budget(_config(), _tasks(250, (6, 2, 2)))) is not None
    assert budget_warning(run_budget(_config(steps_per_class=125), [{"classes": list(range(6)), "steps": 750}])) is None
    assert budget_warning({}) is None  # nothing recorded: nothing to warn about


def _rows(steps_of: dict) -> list[dict]:
    rows = [{"method": m, "variant": "", "setting": "overlap", "tasks": "2-2-2-2-2", "n_seeds": 1, "all_mean": 0.5,
             "runs": [f"runs/{m}"]} for m in steps_of]
    return row_budgets(rows, {f"runs/{m}": run_budget(_config(steps=s) | {"seed": 3}, _tasks(s))
                              for m, s in steps_of.items()})


def test_benchmark_markdown_and_csv_carry_each_rows_budget_and_say_when_rows_differ():
    same = _rows({"finetune": 250, "mib": 250})
    text = benchmark_markdown(same)
    assert text.startswith("Budget: 250 steps per task") and "seed 3" in text and "Warning" not in text
    assert "differ" not in text
    (first, _) = csv.DictReader(io.StringIO(benchmark_csv(same)))
    assert first["steps"] == "250" and first["batch_size"] == "32" and first["seeds"] == "3"
    assert first["lr"] == "0.002" and first["train_scenes"] == "2000" and first["backbone"] == "fast"
    mixed = _rows({"finetune": 20, "mib": 250})
    assert benchmark_budget(mixed)["differs"]["steps"] == [20, 250]
    text = benchmark_markdown(mixed)
    assert "different budgets (steps 20, 250" in text and "Warning: a class got only 10 training steps" in text
    # runs of one row that differ (e.g. copied in from elsewhere): the row holds both, the benchmark says so
    (row,) = row_budgets([{"runs": ["a", "b"]}], {"a": run_budget(_config(steps=20)), "b": run_budget(_config())})
    assert row["budget"]["steps"] == [20, 250] and row["budget"]["least_steps_per_class"] == 10
    assert benchmark_budget([row, same[0]])["differs"]["steps"] == [20, 250]
    assert "20 / 250 steps per task" in benchmark_markdown([row])


def test_the_budget_names_how_the_backbone_started_and_regimes_differ_unless_they_are_a_grids_axis():
    def pretrained(kind, steps=0):
        config = _config()
        config["model"] |= {"pretrain": kind, "pretrain_steps": steps}
        return run_budget(config)

    assert "backbone fast from scratch," in budget_text(pretrained("none"))
    digits = pretrained("digits")  # the kind's own budget, resolved
    assert (digits["pretrain"], digits["pretrain_steps"]) == ("digits", 3000)
    assert "backbone fast pretrained on digits (3000 steps)," in budget_text(digits)
    assert "pretrained on shapes (2 steps)" in budget_text(pretrained("shapes", 2))
    assert "backbone fast from a joint run," in budget_text(pretrained("joint"))
    old = _config()
    del old["model"]["pretrain"], old["model"]["pretrain_steps"]  # saved before model.pretrain existed
    assert "backbone fast, seed 0" in budget_text(run_budget(old))

    rows = row_budgets([{"runs": ["a"]}, {"runs": ["b"]}], {"a": pretrained("none"), "b": digits})
    assert benchmark_budget(rows)["differs"] == {"pretrain": ["none", "digits"], "pretrain_steps": [0, 3000]}
    text = benchmark_markdown(rows)
    assert "backbone fast (model.pretrain none / digits)" in text
    assert "different budgets (pretrain none, digits; pretrain_steps 0, 3000)" in text
    first, second = csv.DictReader(io.StringIO(benchmark_csv(rows)))
    assert (first["pretrain"], second["pretrain"], second["pretrain_steps"]) == ("none", "digits", "3000")
    # the same rows as a grid's points (--grid model.pretrain=none,digits): the regimes are its axis, named in
    # every row, so the budget lists them and nothing warns; rows of one point that differ are still said to differ
    for row, kind in zip(rows, ("none", "digits")):
        row["variant"] = f"model.pretrain={kind}"
    assert benchmark_budget(rows)["differs"] == {} and "different budgets" not in benchmark_markdown(rows)
    assert "backbone fast (model.pretrain none / digits)" in benchmark_markdown(rows)
    digits_model = {"backbone": "fast", "pretrain": "digits", "pretrain_steps": 0}
    (other,) = row_budgets([{"runs": ["c"], "variant": "model.pretrain=digits"}],
                           {"c": run_budget(_config(steps=20) | {"model": digits_model})})
    assert benchmark_budget(rows + [other])["differs"] == {"steps": [250, 20], "least_steps_per_class": [125.0, 10.0]}


def test_class_orders_are_an_axis_of_every_row_not_a_difference_between_rows():
    def order(name):
        config = _config()
        config["scenario"]["class_order"] = name
        return run_budget(config)

    budgets = {f"{m}{k}": order(name) for m in "ab" for k, name in enumerate(("natural", "3,1,2,0,4,5,6,7,8,9"))}
    rows = row_budgets([{"runs": ["a0", "a1"]}, {"runs": ["b0", "b1"]}], budgets)
    assert rows[0]["budget"]["class_order"] == ["natural", "3,1,2,0,4,5,6,7,8,9"]
    assert "class_order" not in benchmark_budget(rows)["differs"] and "differ" not in benchmark_markdown(rows)
    assert "class orders natural / 3,1,2,0" in benchmark_markdown(rows)
    assert "class order natural," in budget_text(order("natural"))


def test_a_benchmark_states_its_budget_on_screen_and_in_md_csv_json_and_html(tmp_path, capsys):
    out = tmp_path / "bench"
    assert main(["benchmark", "--methods", "finetune", "--seeds", "1", "--steps", "2", "--out", str(out),
                 "--no-run-reports", "--set", "scenario.train_scenes=32", "--set", "scenario.test_scenes=30",
                 "--set", "train.batch_size=8", "--set", "train.threads=1"]) == 0
    screen = capsys.readouterr().out
    bench = json.loads((out / "benchmark.json").read_text())
    assert bench["budget"]["steps"] == 2 and bench["budget"]["batch_size"] == 8 and bench["budget"]["seeds"] == [0]
    assert bench["budget"]["train_scenes"] == 32 and bench["budget"]["differs"] == {}
    assert bench["rows"][0]["budget"]["least_steps_per_class"] == 1
    (row,) = csv.DictReader(io.StringIO((out / "benchmark.csv").read_text()))
    assert row["steps"] == "2" and row["batch_size"] == "8" and row["test_scenes"] == "30"
    md, page = (out / "benchmark.md").read_text(), (out / "benchmark.html").read_text()
    for text in (screen, md, page):
        assert "2 steps per task" in text and "batch 8" in text and "32 training scenes per task" in text
        assert "Warning: a class got only 1 training step," in text
        assert text.count("Warning") == 1 and len(next(l for l in text.splitlines() if "Warning" in l)) < 250
        assert "±" not in text.split("| method |")[-1]  # one seed: no std in the table
    for text in (md, page):
        assert "one seed per row" in text and "mean ± standard deviation" not in text


def test_a_run_warns_on_screen_below_the_needed_budget(tmp_path, capsys):
    args = ["run", "--steps", "3", "--no-report", "--quiet", "--set", "scenario.train_scenes=40",
            "--set", "scenario.test_scenes=30", "--set", "train.batch_size=8"]
    assert main(args + ["--out", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "Warning: a class got fewer than 2 training steps" in out and out.count("Warning") == 1
    assert "3 steps per task (fewer than 2 per class)" in out and "1.5" not in out  # whole steps


def test_run_reports_state_the_budget_and_warn_at_20_steps_not_at_250(tmp_path_factory, tmp_path):
    from test_reports import tiny_run

    from csslab.reports.html import run_html
    from csslab.reports.tables import RunData, run_markdown

    results = json.loads((tiny_run(tmp_path_factory) / "results.json").read_text())
    for steps, warned in ((20, True), (250, False)):
        results["config"]["train"]["steps"] = steps
        for entry in results["tasks"]:
            entry["steps"] = steps
        (tmp_path / "results.json").write_text(json.dumps(results))
        run = RunData(tmp_path)
        for text in (run_markdown(run), run_html(run, {}, [], None)):
            assert f"{steps} steps per task (at least {steps // 2} per class), batch 8" in text
            assert ("Warning: a class got only" in text) == warned
