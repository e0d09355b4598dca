"""results.csv: PLOP's per-task CSV layout, its numbers those of results.json, and the averages PLOP's
average_csv.py prints, checked against an independent reading of the file as that script reads it."""

import json

import pytest

from csslab.core.config import Config
from csslab.store.papers_csv import plop_averages, plop_csv
from csslab.store.results import Results
from csslab.training.train import run
from test_results import two_tasks


def average_csv(text: str) -> dict:
    """The four figures PLOP's average_csv.py prints, read from the CSV text as that script reads it: the
    first 'x' of the first line splits the columns into the first task's (with background) and the later
    tasks'; 'x' is skipped in a sum but counted; percent."""
    lines = [line.split(",") for line in text.splitlines()]
    miou = [float(cells[-1]) for cells in lines]
    split = next(i for i, cell in enumerate(lines[0]) if cell == "x")
    last = lines[-1]
    mean = lambda cells: sum(float(c) for c in cells if c != "x") / len(cells)  # noqa: E731
    return {"final": 100 * miou[-1], "average": 100 * sum(miou) / len(miou),
            "first": 100 * mean(last[1:split]), "last": 100 * mean(last[split:-1])}


def test_the_csv_has_plops_columns_with_x_for_classes_not_seen_yet():
    data = two_tasks().data
    first, second = [line.split(",") for line in plop_csv(data).splitlines()]
    iou0, iou1 = data["tasks"][0]["iou"], data["tasks"][1]["iou"]
    assert len(first) == len(second) == 1 + 11 + 1  # task, background and 10 digits, mIoU
    assert first == ["0", str(iou0["background"]), str(iou0["0"]), str(iou0["1"])] + ["x"] * 8 + [
        str(data["tasks"][0]["miou_all"])]
    assert second[:5] == ["1", str(iou1["background"]), "0.0", "1.0", "1.0"]  # digit 0 forgotten, 2 learnt
    assert second[5:12] == ["nan"] * 7  # seen, but absent from the test scenes: NaN, as PLOP's metric writes it
    assert float(second[-1]) == data["tasks"][1]["miou_all"]


def test_columns_follow_the_class_order_as_plops_remapped_labels():
    results = two_tasks()
    results.data["config"]["scenario"]["class_order"] = "1,0,2,3,4,5,6,7,8,9"
    first = plop_csv(results.data).splitlines()[0].split(",")
    assert first[2:4] == [str(results.tasks[0]["iou"]["1"]), str(results.tasks[0]["iou"]["0"])]


def test_averages_are_what_average_csv_reads_from_the_file():
    data = two_tasks().data
    averages = plop_averages(data)
    expected = average_csv(plop_csv(data))
    assert averages["final"] == pytest.approx(expected["final"]) and averages["average"] == pytest.approx(
        expected["average"])
    assert averages["first"] == pytest.approx(expected["first"])
    assert averages["last"] is None  # digits 3-9 are NaN after the last task, so PLOP's mean is NaN too


def test_a_run_writes_the_csv_of_its_results_json(tmp_path):
    config = Config(method="finetune")
    config.scenario.tasks, config.scenario.train_scenes, config.scenario.test_scenes = "4-3-3", 16, 20
    config.scenario.class_order = "random:1"
    config.train.steps, config.train.batch_size, config.train.threads, config.train.checkpoints = 2, 8, 1, False
    results = run(config, out=tmp_path, progress=False, log=None)
    data = json.loads((tmp_path / "results.json").read_text())
    text = (tmp_path / "results.csv").read_text()
    lines = [line.split(",") for line in text.splitlines()]
    order = [int(c) for c in data["config"]["scenario"]["class_order"].split(",")]  # the run's config records it
    assert len(lines) == len(data["tasks"]) == 3
    for cells, entry in zip(lines, data["tasks"]):
        seen = entry["old_classes"] + entry["classes"]
        assert int(cells[0]) == entry["task"] and float(cells[-1]) == entry["miou_all"]
        assert float(cells[1]) == entry["iou"]["background"]
        for cell, digit in zip(cells[2:-1], order):
            assert cell == "x" if digit not in seen else float(cell) == entry["iou"][str(digit)]
    assert [cells.count("x") for cells in lines] == [6, 3, 0]
    averages = Results.load(tmp_path).plop_averages()
    assert averages == pytest.approx(average_csv(text)) and averages == results.plop_averages()
    assert averages["final"] == pytest.approx(100 * data["miou_all"]) and averages["average"] == pytest.approx(
        100 * data["miou_avg"])
