"""Issue 29's bad configurations: each is one line on stderr naming the bad value or file and what is valid,
exit code 2, no traceback, nothing written; ``csslab.run`` raises ValueError with the same line."""

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

# (what --config holds, or None for no --config; more arguments; a piece of the one line)
CASES = [
    ("[" * 5000, [], "c.yaml is not valid YAML for csslab: nested too deeply to read"),
    ("train: 5\n", [], "c.yaml: the train section is 5, expected a mapping of its keys (steps, "),
    ("params: 5\n", [], "c.yaml: the params section is 5, expected a mapping of the method's parameters"),
    ("params: [1, 2]\n", [], "c.yaml: the params section is [1, 2], expected a mapping of the method's parameters"),
    ('scenario: "abc"\n', [], "c.yaml: the scenario section is 'abc', expected a mapping of its keys (tasks, "),
    ("model: true\n", [], "c.yaml: the model section is True, expected a mapping of its keys (backbone, "),
    (b"\x89PNG\r\n\x1a\n\x00\x00", [], "c.yaml: not UTF-8 text (byte 0x89 at offset 0); expected a YAML file"),
    ("train:\n  lr: .inf\n", [], "c.yaml: invalid value inf for train.lr: expected a finite number"),
    ("scenario:\n  ink: .nan\n", [], "c.yaml: invalid value nan for scenario.ink: expected a finite number"),
    ("seed: 12345678901234567890123\n", [], f"invalid seed {BIG_SEED}: {SEED_RULE}"),
    (None, ["--set", "train.weight_decay=inf"], "invalid value 'inf' for train.weight_decay: expected a finite number"),
    (None, ["--set", "train.lr=1e309"], "invalid value '1e309' for train.lr: expected a finite number"),
    (None, ["--set", "train.lr=" + "[" * 5000], "' for train.lr: expected a number"),
    (None, ["--seed", BIG_SEED], f"invalid seed {BIG_SEED}: {SEED_RULE}"),
    (None, ["--seed", "-1"], f"invalid seed -1: {SEED_RULE}"),
    (None, ["--seed", str(2**32)], f"invalid seed {2**32}: {SEED_RULE}"),
    (None, ["--set", "scenario.train_scenes=100000000"], f"scenario.train_scenes=100000000, test_scenes=500 of 60x60 "
                                                         f"pixels need about 5.0 TB {MEMORY}"),
    (None, ["--set", "scenario.test_scenes=100000000"], f"scenario.train_scenes=2000, test_scenes=100000000 of 60x60 "
                                                        f"pixels need about 5.0 TB {MEMORY}"),
    (None, ["--method", "joint", "--set", "scenario.train_scenes=20000000"],
     f"scenario.train_scenes=20000000 (x 5 tasks), test_scenes=500 of 60x60 pixels need about 5.0 TB {MEMORY}"),
]


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


@pytest.mark.parametrize("content, args, line", CASES)
def test_a_bad_configuration_is_one_line_and_leaves_nothing(tmp_path, capsys, monkeypatch, content, args, line):
    monkeypatch.chdir(tmp_path)
    if content is not None:
        path = tmp_path / "c.yaml"
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        args = ["--config", str(path), *args]
    assert line in _refused(tmp_path, capsys, ["run", "--out", str(tmp_path / "r"), "--steps", "2", *args])


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
