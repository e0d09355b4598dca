"""Experiment tracking (issue 17 item 2): --log csv / tensorboard write every loss term and the learning rate
per step and the per-task metrics; TensorBoard's own event reader loads them back with results.json's values."""

import csv
import json

import pytest

from csslab.cli.main import main
from csslab.core.config import Config
from csslab.store.runstore import same_config
from csslab.training.tracking import parse_log

TINY = ["--no-report", "--quiet", "--steps", "4", "--tasks", "5-5", "--method", "lwf",
        "--set", "scenario.train_scenes=40", "--set", "scenario.test_scenes=30", "--set", "train.threads=1"]


def rows(path):
    with path.open(newline="") as file:
        return list(csv.DictReader(file))


def poly(lr, step, steps):  # optim.make_scheduler's poly decay at a task's step
    return lr * (1 - min(step, steps - 1) / steps) ** 0.9


def test_csv_sink_holds_every_step_and_the_results(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["run", "--out", str(out), *TINY]) == 0  # csv is the default sink
    data = json.loads((out / "results.json").read_text())
    steps = rows(out / "steps.csv")
    assert [int(r["step"]) for r in steps] == list(range(1, 9)) and [r["task"] for r in steps] == ["0"] * 4 + ["1"] * 4
    assert steps[0]["kd"] == "" and float(steps[-1]["kd"]) > 0  # LwF's distillation from the second task on
    for task, entry in enumerate(data["tasks"]):
        mine = steps[4 * task:4 * task + 4]
        for term, mean in entry["loss"].items():  # results.json keeps each term's mean over the task
            assert sum(float(r[term]) for r in mine) / 4 == pytest.approx(mean, rel=1e-6)
        totals = [sum(float(r[term]) for term in entry["loss"]) for r in mine]
        assert [float(r["loss"]) for r in mine] == pytest.approx(totals)
        assert [float(r["lr"]) for r in mine] == pytest.approx([poly(2e-3, k, 4) for k in range(4)])
    metrics = rows(out / "metrics.csv")
    assert [int(r["step"]) for r in metrics] == [4, 8]
    for row, entry in zip(metrics, data["tasks"]):
        for key in ("miou_all", "miou_new"):
            assert float(row[key]) == entry[key]
        assert all((row[f"iou_{name}"] == "") == (value is None) for name, value in entry["iou"].items())
        assert all(float(row[f"iou_{name}"]) == value for name, value in entry["iou"].items() if value is not None)
    assert metrics[0]["miou_old"] == "" and float(metrics[1]["miou_old"]) == data["tasks"][1]["miou_old"]
    assert "log: csv" in (out / "config.yaml").read_text()


def test_tensorboard_events_read_back_by_tensorboard(tmp_path, capsys):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "r"
    assert main(["run", "--out", str(out), *TINY, "--log", "tensorboard"]) == 0
    assert not (out / "steps.csv").exists()  # only the sink asked for
    data = json.loads((out / "results.json").read_text())
    events = EventAccumulator(str(out / "tensorboard"), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    tags = events.Tags()
    assert {"loss/ce", "loss/kd", "loss/total", "lr", "miou/all", "miou/old", "miou/new", "iou/background"} <= set(
        tags["scalars"])
    assert [e.step for e in events.Scalars("loss/ce")] == list(range(1, 9))
    assert [e.step for e in events.Scalars("loss/kd")] == list(range(5, 9))
    assert [e.value for e in events.Scalars("lr")][:4] == pytest.approx([poly(2e-3, k, 4) for k in range(4)])
    ce = [e.value for e in events.Scalars("loss/ce")]
    for task, entry in enumerate(data["tasks"]):
        assert sum(ce[4 * task:4 * task + 4]) / 4 == pytest.approx(entry["loss"]["ce"], rel=1e-5)
    for key in ("all", "new"):
        assert [(e.step, e.value) for e in events.Scalars(f"miou/{key}")] == [
            (4 * (k + 1), pytest.approx(entry[f"miou_{key}"], rel=1e-6)) for k, entry in enumerate(data["tasks"])]
    assert [e.value for e in events.Scalars("iou/7")] == pytest.approx([data["tasks"][1]["iou"]["7"]], rel=1e-6)
    images = events.Images("predictions")
    assert [(e.step, e.width, e.height) for e in images] == [(4, 8 * 60, 3 * 60), (8, 8 * 60, 3 * 60)]
    assert "log: tensorboard" in (out / "config.yaml").read_text()


def test_resume_keeps_the_completed_tasks_logs_only(tmp_path, capsys):
    from csslab.training.train import run

    config = Config.from_dict({"method": "finetune", "train": {"steps": 3, "threads": 1},
                               "scenario": {"tasks": "5-5", "train_scenes": 40, "test_scenes": 30}})
    out = tmp_path / "r"
    run(config, out=out, progress=False, log=None)
    whole = (out / "steps.csv").read_text(), (out / "metrics.csv").read_text()
    # as a run killed in task 1: results and logs of task 0 on disk, a partial task 1 in steps.csv
    results = json.loads((out / "results.json").read_text())
    results["tasks"], results["iou_matrix"], results["acc_matrix"], results["complete"] = (
        results["tasks"][:1], results["iou_matrix"][:1], results["acc_matrix"][:1], False)
    (out / "results.json").write_text(json.dumps(results))
    (out / "checkpoints" / "task-1.pt").unlink()
    run(config, out=out, progress=False, log=None, resume=True)
    assert ((out / "steps.csv").read_text(), (out / "metrics.csv").read_text()) == whole


def test_log_changes_no_number_so_not_the_run():
    a, b = Config(), Config()
    b.train.log = "tensorboard"
    c = Config()
    c.train.precision = "bf16"
    assert same_config(a, b) and not same_config(a, c)


def test_log_sinks_are_parsed():  # a bad one is a row of test_refusals.py
    assert parse_log("csv, tensorboard") == ("csv", "tensorboard") and parse_log("none") == ()
    with pytest.raises(ValueError, match="'wandb'"):
        parse_log("wandb")


def test_missing_tensorboard_is_one_line(tmp_path, capsys, monkeypatch):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "tensorboard" else find_spec(name, *a))
    assert main(["run", "--out", str(tmp_path / "r"), *TINY, "--log", "tensorboard"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and 'pip install -e ".[tensorboard]"' in err


def test_benchmark_and_run_take_the_flags_into_the_configuration():
    from csslab.cli.main import config_from_args
    from csslab.cli.parser import build_parser

    for command in ("run", "benchmark"):
        config = config_from_args(build_parser().parse_args([command, "--log", "tensorboard", "--precision", "bf16"]))
        assert (config.train.log, config.train.precision) == ("tensorboard", "bf16")
    assert config_from_args(build_parser().parse_args(["benchmark"])).train.log == "csv"
