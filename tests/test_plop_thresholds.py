"""scripts/plop_thresholds.py: what each threshold rule keeps of the old model's pseudo-labels."""

import math

import pytest

from conftest import SCRIPTS, load_module, tiny_run


@pytest.fixture(scope="module")
def script():
    return load_module(SCRIPTS / "plop_thresholds.py")


@pytest.fixture(scope="module")
def plop_run(tmp_path_factory):
    return tiny_run(tmp_path_factory.mktemp("thresholds") / "plop", "plop")


def test_every_old_class_of_every_later_task_gets_both_rules(script, plop_run):
    rows = script.plop_thresholds(plop_run)
    assert [(r["task"], r["channel"]) for r in rows] == [(1, c) for c in range(1, 7)] + [(2, c) for c in range(1, 9)]
    assert [r["name"] for r in rows[:6]] == [f"digit {d}" for d in range(6)]
    assert sum(r["pixels"] for r in rows) > 0
    for r in rows:
        if r["pixels"] >= 20 and r["median_threshold"] > 1e-3:  # above the floor: the exact median keeps half
            assert 0.4 < r["median_kept"] <= 0.5
        if r["histogram_threshold"] == math.inf:  # the code's bug: every pseudo-label of the class kept
            assert r["histogram_kept"] in (None, 1.0)
        if r["pixels"] == 0:
            assert r["median_kept"] is None and r["histogram_kept"] is None


def test_the_table_prints_and_a_one_task_run_is_refused(script, plop_run, method_run, capsys):
    assert script.main([str(plop_run)]) == 0
    out = capsys.readouterr().out
    assert out.count("\n| 1 | digit ") == 6 and "histogram: " in out and "median: " in out
    one = method_run("joint")  # the session's shared joint run: one task
    assert script.main([str(one)]) == 2
    assert "run at least two tasks" in capsys.readouterr().err
