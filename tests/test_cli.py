import json

import pytest

from csslab.cli.main import main

# one thread and batches of 8: the default (all cores, batches of 32) costs several times the CPU on a shared machine
TINY = ["--no-report", "--steps", "3", "--set", "scenario.train_scenes=40", "--set", "scenario.test_scenes=30", "--quiet",
        "--set", "train.batch_size=8", "--set", "train.threads=1"]


def run_cli(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_tiny_run_writes_complete_results(tmp_path, capsys):
    code, out, _ = run_cli(["run", "--out", str(tmp_path / "r"), *TINY], capsys)
    assert code == 0
    assert "Overall Acc" in out and "Class IoU" in out and "| X |" in out
    data = json.loads((tmp_path / "r" / "results.json").read_text())
    assert data["complete"] and len(data["tasks"]) == 5
    keys = {"task", "classes", "miou_all", "miou_old", "miou_new", "overall_acc", "mean_acc", "iou", "acc", "confusion"}
    for i, entry in enumerate(data["tasks"]):
        assert keys <= set(entry)
        assert list(entry["iou"]) == ["background"] + [str(d) for d in range(10)]
        assert len(entry["confusion"]) == 11 and all(len(r) == 11 for r in entry["confusion"])
        assert entry["classes"] == [2 * i, 2 * i + 1]
        unseen = [str(d) for d in range(2 * i + 2, 10)]
        assert all(entry["iou"][name] is None for name in unseen)
    assert data["tasks"][0]["miou_old"] is None
    assert {"torch", "numpy", "csslab"} <= set(data["versions"]) and data["timings"]["total_s"] > 0
    assert (tmp_path / "r" / "config.yaml").exists()
    assert sorted(p.name for p in (tmp_path / "r" / "checkpoints").iterdir()) == [f"task-{i}.pt" for i in range(5)]


def test_same_seed_same_numbers(tmp_path, capsys):
    runs = []
    for name in ("a", "b", "c"):
        seed = "1" if name == "c" else "0"
        assert run_cli(["run", "--out", str(tmp_path / name), "--seed", seed, *TINY], capsys)[0] == 0
        runs.append(json.loads((tmp_path / name / "results.json").read_text()))
    strip = lambda d: [{k: v for k, v in t.items() if not k.endswith("_s")} for t in d["tasks"]]  # noqa: E731
    assert strip(runs[0]) == strip(runs[1])
    assert strip(runs[0]) != strip(runs[2])


@pytest.mark.parametrize("method, steps", [("finetune", [12, 4, 4]), ("joint", [20])])
def test_steps_per_class_gives_each_task_steps_in_proportion_to_its_classes(tmp_path, capsys, method, steps):
    args = ["run", "--method", method, "--out", str(tmp_path / "r"), *TINY, "--tasks", "6-2-2",
            "--set", "train.steps_per_class=2", "--set", "train.batch_size=4"]
    code, out, _ = run_cli(args, capsys)
    assert code == 0 and "2 steps per class of each task" in out
    data = json.loads((tmp_path / "r" / "results.json").read_text())
    assert [entry["steps"] for entry in data["tasks"]] == steps  # joint: the budget of all tasks at once


def test_a_budget_below_the_measured_need_is_pointed_out(tmp_path, capsys):
    """The thresholds are tested in test_budget.py; here: `csslab run` prints the warning with its fix."""
    code, out, _ = run_cli(["run", "--out", str(tmp_path / "r"), *TINY, "--tasks", "6-2-2"], capsys)
    assert code == 0
    assert "Warning: a class got fewer than 1 training step," in out and "train.steps_per_class=125" in out


def test_refuses_to_overwrite_results(tmp_path, capsys):
    assert run_cli(["run", "--out", str(tmp_path / "r"), *TINY, "--tasks", "5-5"], capsys)[0] == 0
    code, _, err = run_cli(["run", "--out", str(tmp_path / "r"), *TINY], capsys)
    assert code == 2 and "already holds results" in err


def test_scenario_preview(tmp_path, capsys):
    png = tmp_path / "grid.png"
    code, out, _ = run_cli(["scenario", "--tasks", "5-5", "--setting", "disjoint", "--train-scenes", "50",
                            "--save", str(png)], capsys)
    assert code == 0 and png.stat().st_size > 1000
    assert "disjoint" in out and out.count("\n| ") >= 3


def test_shift_figure_shows_a_scene_with_digits_of_three_tasks(tmp_path, capsys):
    import numpy as np

    from csslab.scenarios import make_scenario
    from csslab.reports.preview import shift_scene

    png = tmp_path / "shift.png"
    code, out, _ = run_cli(["scenario", "--train-scenes", "20",
                            "--save-shift", str(png)], capsys)
    assert code == 0 and png.stat().st_size > 1000
    index = int(out.rsplit("test scene ", 1)[1].rstrip(")\n"))
    scenario = make_scenario("2-2-2-2-2")
    _, raw = scenario.test_raw()
    tasks = {(int(v) - 1) // 2 for v in np.unique(raw[index]) if v > 0}
    assert index == shift_scene(scenario) and len(tasks) >= 3
    code, _, err = run_cli(["scenario", "--train-scenes", "20", "--save-shift", str(png), "--scene", "5000"], capsys)
    assert code == 2 and "invalid --scene 5000" in err


def method_parts(out: str, name: str) -> list[str]:
    """The parts of NAME's entry in `csslab methods` (its doc, trains:, designed for:, params:, origin:), each
    unwrapped: a part starts at column 11, its wrapped lines at column 13."""
    lines = out.split(f"\n{name:10s} ", 1)[1].split("\n")
    parts = [lines[0]]
    for line in lines[1:]:
        if not line.startswith(" " * 11):
            break
        if line.startswith(" " * 13):
            parts[-1] += " " + line.strip()
        else:
            parts.append(line.strip())
    return parts


def test_methods_lists_every_method_with_its_protocol_and_base_task(capsys):
    from csslab.methods import METHODS

    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    assert "train.protocol=fast by default" in out and "--protocol paper" in out
    assert max(len(line) for line in out.splitlines()) <= 120  # wrapped, not a paragraph per line
    for name, cls in METHODS.items():
        trains = method_parts(out, name)[1]
        assert trains.startswith("trains: protocol fast"), name
        base_task = cls().base_task
        assert (f"shared ({base_task})" if base_task else "its own") in trains, name


def test_methods_says_which_regime_each_method_was_built_for(capsys):
    from csslab.methods import METHODS

    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    relies = set()
    for name in METHODS:
        parts = method_parts(out, name)
        assert parts[2].startswith("designed for: "), name
        if "relies on it: --set model.pretrain=digits" in parts[2]:
            relies.add(name)
    # the methods that freeze or barely move the backbone their papers pretrained on ImageNet
    assert relies == {"ssul", "microseg", "dkd", "dkd-m", "ewf"}
