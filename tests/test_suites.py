"""``csslab benchmark --suite papers`` and several splits in one benchmark."""

import json

import pytest

from csslab.cli.main import main
from csslab.core.config import Config
from csslab.scenarios import make_setting
from csslab.experiments.suites import SUITES, get_suite, parse_splits
from csslab.experiments.plan import run_configs


def test_several_splits_multiply_the_runs_and_each_keeps_its_split():
    settings = [make_setting("overlap"), make_setting("disjoint")]
    configs = run_configs(Config(), ["finetune", "mib"], [0, 1], settings, splits=["6-1", "2-2-2-2-2"])
    assert len(configs) == 2 * 2 * 2 * 2
    assert [c.scenario.tasks for c in configs[:8]] == ["6-1"] * 8
    assert {(c.scenario.tasks, c.scenario.setting, c.method, c.seed) for c in configs} == {
        (t, s, m, seed) for t in ("6-1", "2-2-2-2-2") for s in ("overlap", "disjoint") for m in ("finetune", "mib")
        for seed in (0, 1)}
    assert [c.scenario.tasks for c in run_configs(Config(), ["finetune"], [0], settings[:1])] == ["2-2-2-2-2"]


def test_bad_suites_and_splits_are_refused_with_the_valid_ones():
    with pytest.raises(ValueError, match="unknown --suite 'voc': valid suites are papers"):
        get_suite("voc")
    with pytest.raises(ValueError, match="invalid --tasks ','"):
        parse_splits(",")
    assert parse_splits("6-1, 6-4,6-1") == ["6-1", "6-4"]


def test_the_papers_suite_is_the_published_protocols_analogue():
    suite = SUITES["papers"]
    # a big base then one class per task (15-1), a big base then one big task (15-5), small bases (2-1, 5-3 style)
    assert suite.tasks == ("6-1", "6-4", "2-1", "2-2-2-2-2") and suite.settings == "overlap,disjoint"
    assert suite.seeds >= 3 and "train.steps_per_class=125" in suite.overrides
    methods = suite.methods.split(",")  # the canon and the newer methods (issue 16), between the two bounds
    assert {"lwf", "ilt", "mib", "plop", "ssul", "sdr", "dkd", "ewf", "microseg", "eir"} <= set(methods)
    assert methods[0] == "finetune" and methods[-1] == "joint"
    configs = run_configs(Config(), suite.methods.split(","), range(suite.seeds),
                          [make_setting(s) for s in suite.settings.split(",")], splits=list(suite.tasks))
    for config in configs[:: len(configs) // 7]:
        from csslab.training.spec import validate

        validate(config)  # every split is a valid one of 10 digits


def test_a_suite_runs_from_the_command_line_and_the_flags_given_win(tmp_path, capsys):
    out = tmp_path / "suite"
    code = main(["benchmark", "--suite", "papers", "--methods", "finetune", "--seeds", "1", "--tasks", "2-1",
                 "--setting", "disjoint", "--set", "train.steps_per_class=2", "--set", "scenario.train_scenes=40",
                 "--set", "scenario.test_scenes=20", "--set", "train.threads=1", "--no-report", "--out", str(out)])
    assert code == 0
    assert "csslab benchmark --suite papers: 1 run (finetune x 1 seed x 1 setting)" in capsys.readouterr().out
    bench = json.loads((out / "benchmark.json").read_text())
    (row,) = bench["rows"]
    assert (row["tasks"], row["setting"], row["method"]) == ("2-1", "disjoint", "finetune")
    config = Config.from_yaml((out / bench["runs"][0] / "config.yaml").read_text())
    assert config.train.steps_per_class == 2  # the command line's --set after the suite's
    data = json.loads((out / bench["runs"][0] / "results.json").read_text())
    assert [t["steps"] for t in data["tasks"]] == [4] + [2] * 8  # 2 steps per class, 9 tasks
