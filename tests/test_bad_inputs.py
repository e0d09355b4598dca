"""Issue 29's bad configurations: each is one line on stderr naming the bad value or file and what is valid,
exit code 2, no traceback, nothing written; ``csslab.run`` raises ValueError with the same line. The command
lines themselves are rows of tests/test_refusals.py's table; here: what a row cannot hold (a FIFO, the checks'
own functions, the API)."""

import os
from dataclasses import fields
from typing import get_type_hints

import numpy as np
import pytest

import csslab
from csslab.cli.main import main
from csslab.core.config import Config, ModelConfig, ScenarioConfig, TrainConfig, apply_overrides
from csslab.experiments.plan import parse_grid, run_configs
from csslab.scenarios import make_setting
from csslab.training import checks

BIG_SEED = "12345678901234567890123"
SEED_RULE = "must be an integer in 0..4294967295 (2**32 - 1)"
MEMORY = "of memory, more than this machine's"



def _files(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _refused(tmp_path, capsys, argv) -> str:
    """``csslab ARGV`` from ``tmp_path``: exit code 2, one line on stderr and nothing on stdout, no file made."""
    before = _files(tmp_path)
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1 and err.startswith("csslab: error: ")
    assert "Traceback" not in err and len(err) < 600
    assert _files(tmp_path) == before  # no run directory, no runs/, no partial file
    return err.strip()


@pytest.mark.parametrize("make, kind", [(os.mkfifo, "a FIFO"), (None, "a character device")])
def test_a_config_that_is_not_a_regular_file_is_refused_unread(tmp_path, capsys, monkeypatch, make, kind):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "fifo" if make else "/dev/null"  # a FIFO opened for reading would wait for a writer
    if make:
        make(path)
    line = _refused(tmp_path, capsys, ["run", "--config", str(path), "--out", str(tmp_path / "r")])
    assert f"invalid --config {path}: {kind}, not a regular file; expected a YAML file" in line


def test_a_missing_config_is_still_no_such_file(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = _refused(tmp_path, capsys, ["run", "--config", str(tmp_path / "none.yaml"), "--out", str(tmp_path / "r")])
    assert f"invalid --config {tmp_path / 'none.yaml'}: no such file" in line


def test_the_scenario_command_refuses_scenes_beyond_memory(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = _refused(tmp_path, capsys, ["scenario", "--train-scenes", "100000000", "--save", str(tmp_path / "g.png")])
    assert f"scenario.train_scenes=100000000, test_scenes=500 of 60x60 pixels need about 5.0 TB {MEMORY}" in line


FLOAT_FIELDS = [f"{section}.{f.name}" for section, cls in (("scenario", ScenarioConfig), ("model", ModelConfig),
                                                          ("train", TrainConfig))
                for f in fields(cls) if get_type_hints(cls)[f.name] in (float, float | None)]


def test_the_float_settings_are_found():
    assert {"train.lr", "train.weight_decay", "scenario.ink", "scenario.val_fraction"} <= set(FLOAT_FIELDS)


@pytest.mark.parametrize("key", FLOAT_FIELDS)
@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "1e309", ".inf", "-.inf", ".nan"])
def test_every_float_setting_refuses_a_non_finite_number(key, text):
    with pytest.raises(ValueError, match=rf"^invalid value .* for {key}: expected a finite number$"):
        apply_overrides(Config(), [f"{key}={text}"])
    assert getattr(getattr(apply_overrides(Config(), [f"{key}=0.5"]), key.split(".")[0]), key.split(".")[1]) == 0.5


@pytest.mark.parametrize("seed, ok", [(0, True), (2**32 - 1, True), (np.int64(7), True), (2**32, False), (-1, False),
                                      (1.5, False), (True, False), (10**22, False)])
def test_the_seed_range_is_what_every_generator_takes(seed, ok):
    if ok:
        checks.check_seed(seed)
    else:
        with pytest.raises(ValueError) as error:
            checks.check_seed(seed)
        assert str(error.value) == f"invalid seed {seed!r}: {SEED_RULE}"


def test_the_memory_estimate_refuses_what_the_machine_cannot_hold(monkeypatch):
    monkeypatch.setattr(checks, "physical_memory", lambda: 10**9)  # 1 GB: ~19,800 scenes of 60x60 pixels
    per_scene = checks.SCENE_BYTES_PER_PIXEL * 60 * 60
    checks.check_memory(ScenarioConfig(train_scenes=10**9 // per_scene - 500, test_scenes=500))
    with pytest.raises(ValueError, match=r"^scenario.train_scenes=19342, test_scenes=500 of 60x60 pixels need about "
                                         r"1.0 GB of memory, more than this machine's 1.0 GB: use fewer scenes "
                                         r"\(at most about 19,841 in all at this size\)$"):
        checks.check_memory(ScenarioConfig(train_scenes=10**9 // per_scene - 499, test_scenes=500))
    checks.check_memory(ScenarioConfig(train_scenes=3000, test_scenes=500))  # 5 tasks, trained one at a time
    with pytest.raises(ValueError, match=r"x 5 tasks"):  # the upper bound trains them at once
        checks.check_memory(ScenarioConfig(train_scenes=4000, test_scenes=500), tasks_at_once=5)
    with pytest.raises(ValueError, match=r"val_scenes=20000 of 60x60"):
        checks.check_memory(ScenarioConfig(train_scenes=3000, test_scenes=500, val_scenes=20000, size=60))
    monkeypatch.setattr(checks, "physical_memory", lambda: None)  # an OS that does not say: no refusal
    checks.check_memory(ScenarioConfig(train_scenes=10**12))


def test_the_defaults_fit_this_machine():
    checks.check_memory(Config().scenario, tasks_at_once=5)


@pytest.mark.parametrize("text, kept", [("10,10.0,1e1", ["10"]), ("0.001,1e-3,0.001", ["0.001"]),
                                        ("1,2,1.0,2e0,3", ["1", "2", "3"]), ("nan,nan", ["nan"]),
                                        ("abc,abc,ab", ["abc", "ab"])])
def test_grid_values_equal_as_numbers_are_one_run(text, kept):
    grid = parse_grid([f"params.lam={text}"], ["lwf"])
    assert grid == {"params.lam": kept}
    configs = run_configs(Config(), ["lwf"], range(1), [make_setting("overlap")], grid)
    assert [c.params["lam"] for c in configs] == [apply_overrides(Config(), [f"params.lam={v}"]).params["lam"]
                                                 for v in kept]


def test_grid_values_keep_the_order_given():
    assert parse_grid(["scenario.tasks=5-5,2-2-2-2-2,5-5"], ["lwf"]) == {"scenario.tasks": ["5-5", "2-2-2-2-2"]}


@pytest.mark.parametrize("kwargs, line", [
    ({"seed": int(BIG_SEED)}, f"invalid seed {BIG_SEED}: {SEED_RULE}"),
    ({"seed": 1.5}, "invalid value 1.5 for seed: expected an integer"),  # the flag table types it first
    ({"overrides": ["train.weight_decay=inf"]}, "invalid value 'inf' for train.weight_decay: expected a finite number"),
    ({"overrides": ["scenario.train_scenes=100000000"]}, f"need about 5.0 TB {MEMORY}"),
    ({"overrides": "train.lr=0.1"}, "invalid overrides 'train.lr=0.1': expected a list of section.key=value strings"),
    ({"overrides": {"train.lr": 0.1}}, "invalid overrides {'train.lr': 0.1}: expected a list of section.key=value"),
    ({"overrides": [1, 2]}, "invalid override 1: expected a section.key=value string"),
    ({"overrides": 5}, "invalid overrides 5: expected a list"),
])
def test_the_api_raises_the_same_line(tmp_path, kwargs, line):
    with pytest.raises(ValueError) as error:
        csslab.run(out=tmp_path / "r", steps=2, **kwargs)
    assert line in str(error.value) and len(str(error.value).splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kwargs, line", [
    ({"steps": "abc"}, "invalid value 'abc' for train.steps: expected an integer"),
    ({"scenario": "2-2-2-2-2"}, "invalid scenario '2-2-2-2-2': expected a Scenario, e.g. csslab.make_scenario("),
    ({"out": 123}, "invalid out 123: expected a run directory's path (str or pathlib.Path)"),
])
def test_the_api_names_a_bad_argument_in_one_line(tmp_path, monkeypatch, kwargs, line):
    monkeypatch.chdir(tmp_path)  # a default run directory would appear here
    with pytest.raises(ValueError) as error:
        csslab.run(**kwargs)
    assert line in str(error.value) and len(str(error.value).splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_make_scenario_takes_scene_keys_and_refuses_scenes_with_no_room_for_min_digits():
    from csslab.data.scenes import SceneConfig, capacity

    assert csslab.make_scenario(min_digits=4).scene.min_digits == 4  # a scene key, not a setting switch
    assert csslab.make_scenario(min_digits=4, max_box_iou=0).scene.max_box_iou == 0  # 2 x 2 fit in 60x60
    with pytest.raises(ValueError, match=r"^invalid scenario.min_digits=4: a 28x28 scene holds 1 digit of 28x28 "
                                         r"pixels at scenario.max_box_iou=0 \(placed row by row\); use a larger"):
        csslab.make_scenario(min_digits=4, size=28, max_box_iou=0)
    assert [capacity(SceneConfig(size=size, max_box_iou=iou)) for size, iou in ((28, 0.2), (40, 0.2), (56, 0.0),
                                                                               (60, 0.0))] == [1, 2, 4, 4]
