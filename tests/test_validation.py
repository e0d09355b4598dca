"""The validation scenes (held-out training digits), hIoU, and selecting a grid variant on validation."""

import json

import numpy as np
import pytest

from csslab.cli.main import main
from csslab.core.config import Config
from csslab.reports.benchmark_table import benchmark_markdown, benchmark_table, selections
from csslab.store.results import hiou, split_mious
from csslab.scenarios import make_scenario


def test_held_out_digits_are_per_class_fixed_across_seeds_and_leave_every_task():
    a = make_scenario("2-2-2-2-2", seed=0, val_scenes=20, val_fraction=0.1, train_scenes=10)
    b = make_scenario("2-2-2-2-2", seed=7, val_scenes=20, val_fraction=0.1, train_scenes=10)
    labels = a.digits().train_labels
    held = a.held_out()
    assert np.array_equal(held, b.held_out())  # the same digits for every run seed
    for digit in range(10):
        n = (labels == digit).sum()
        assert held[labels == digit].sum() == round(0.1 * n)
    held_bytes = {im.tobytes() for im in a.digits().train_images[held]}
    for task in a:
        images, task_labels = a.train_digits(task)
        assert len(task_labels) == len(labels) - held.sum()
        assert not held_bytes & {im.tobytes() for im in images}  # no held-out digit is a training digit
    assert make_scenario("2-2-2-2-2").held_out().sum() == 0  # no validation set: every digit trains


def test_without_a_validation_set_the_training_digits_are_the_arrays_themselves():
    scenario = make_scenario("2-2-2-2-2", train_scenes=10)
    images, labels = scenario.train_digits(scenario[0])
    assert images is scenario.digits().train_images and labels is scenario.digits().train_labels
    with pytest.raises(ValueError, match="no validation set"):
        scenario.val_raw()
    with pytest.raises(ValueError, match="val_fraction=1.5"):
        make_scenario(val_scenes=10, val_fraction=1.5)
    with pytest.raises(ValueError, match="val_scenes=-1"):
        make_scenario(val_scenes=-1)


def test_validation_scenes_use_only_held_out_digits_and_are_labelled_as_the_test_scenes(monkeypatch):
    import csslab.scenarios.scenario as module

    scenario = make_scenario("2-2-2-2-2", val_scenes=30, val_fraction=0.2, train_scenes=10, test_scenes=10)
    seen = []
    make_scenes = module.make_scenes
    monkeypatch.setattr(module, "make_scenes", lambda images, labels, *a, **k: seen.append(images) or make_scenes(
        images, labels, *a, **k))
    images, masks = scenario.val_raw()
    assert images.shape == (30, 60, 60) and masks.max() > 0
    held_images = scenario.digits().train_images[scenario.held_out()]
    assert np.array_equal(seen[0], held_images)  # built from the held-out digits only
    x, y = scenario.val_set(scenario[1])
    test_x, test_y = scenario.test_set(scenario[1])
    assert x.shape[1:] == test_x.shape[1:] and y.max() <= test_y.max()
    assert set(np.unique(y.numpy())) <= set(np.unique(test_y.numpy())) | {255}
    assert len(held_images) > 0


def test_hiou_is_the_harmonic_mean_of_old_and_new():
    assert hiou(0.6, 0.2) == pytest.approx(2 * 0.6 * 0.2 / 0.8)  # 0.3: pulled towards the weaker side
    assert hiou(0.0, 0.9) == 0.0 and hiou(0.0, 0.0) == 0.0
    assert np.isnan(hiou(float("nan"), 0.5))


def _row(variant, val, test):
    return {"method": "lwf", "variant": variant, "setting": "overlap", "tasks": "2-2", "n_runs": 1, "n_seeds": 1,
            "all_mean": test, "val_all_mean": val}


def test_selection_is_made_on_validation_and_says_when_the_test_scenes_would_differ():
    rows = [_row("lam=1", 0.30, 0.35), _row("lam=10", 0.40, 0.33)]
    (chosen,) = selections(rows)
    assert chosen["variant"] == "lam=10" and chosen["test_would_pick"] == "lam=1"
    text = benchmark_markdown(rows)
    assert "lwf (overlap, 2-2): lam=10, val 0.400, test 0.330; the test scenes would have picked lam=1" in text
    head, _ = benchmark_table(rows)
    assert "val all" in head and "hIoU" in head
    head, _ = benchmark_table([{k: v for k, v in row.items() if k != "val_all_mean"} for row in rows])
    assert "val all" not in head  # no validation set: no empty columns
    assert selections([_row("lam=1", 0.3, 0.3)]) == []  # one variant: nothing selected


def test_a_run_with_validation_scenes_records_them_and_a_grid_selects_on_them(tmp_path):
    out = tmp_path / "bench"
    code = main(["benchmark", "--methods", "lwf", "--grid", "params.lam=1,30", "--seeds", "1", "--tasks", "2-2",
                 "--steps", "3", "--set", "scenario.train_scenes=40", "--set", "scenario.test_scenes=20",
                 "--set", "scenario.val_scenes=20", "--set", "train.threads=1", "--set", "train.checkpoints=false",
                 "--no-report", "--out", str(out)])
    assert code == 0
    bench = json.loads((out / "benchmark.json").read_text())
    runs = [json.loads((out / run / "results.json").read_text()) for run in bench["runs"]]
    for data in runs:
        val = data["tasks"][-1]["val"]
        assert 0 <= val["miou_all"] <= 1 and set(val["iou"]) == set(data["tasks"][-1]["iou"])
        assert split_mious(data)["val_all"] == val["miou_all"]
    (chosen,) = bench["selected_on_validation"]
    best = max(runs, key=lambda d: d["tasks"][-1]["val"]["miou_all"])
    assert chosen["variant"] == f"lam={best['config']['params']['lam']:g}"
    assert "val all" in (out / "benchmark.md").read_text()
    assert Config.from_yaml((out / bench["runs"][0] / "config.yaml").read_text()).scenario.val_scenes == 20
