"""scripts/memory_recall.py: the replay diagnostic counts the right pixels and refuses runs it cannot read."""

import numpy as np
import pytest
import torch

from conftest import SCRIPTS, load_module, tiny_run
from csslab.scenarios import Scenario
from csslab.training.train import load_run_config

@pytest.fixture(scope="module")
def recall_script():
    return load_module(SCRIPTS / "memory_recall.py")


@pytest.fixture(scope="module")
def replay_run(tmp_path_factory):
    return tiny_run(tmp_path_factory.mktemp("recall") / "replay", "replay", "--set", "params.memory_size=20")


def test_recall_is_measured_on_task_zeros_pixels_of_each_set(recall_script, replay_run):
    recalls = recall_script.memory_recall(replay_run, task=2)
    assert set(recalls) == set(recall_script.SETS)
    config = load_run_config(replay_run)
    scenario = Scenario.from_config(config.scenario, config.seed)
    first = list(scenario[0].classes)  # task 0's digits: raw mask values d + 1
    state = torch.load(replay_run / "checkpoints" / "task-2.pt", map_location="cpu", weights_only=True)
    stored = state["method"]["memory"]["masks"]
    assert 0 < len(stored) <= 20
    _, raw_current = scenario.train_raw(scenario[2])
    _, raw_first = scenario.train_raw(scenario[0])
    _, raw_test = scenario.test_raw()
    expected = {
        "stored": int(((stored >= 1) & (stored <= len(first))).sum()),
        "seen": int(np.isin(raw_first, [d + 1 for d in first]).sum()),
        "current": int(np.isin(raw_current, [d + 1 for d in first]).sum()),
        "test": int(np.isin(raw_test, [d + 1 for d in first]).sum()),
    }
    assert {name: pixels for name, (_, pixels) in recalls.items()} == expected
    assert expected["current"] > 0  # overlap: task 2's scenes show task 0's digits, labelled background
    assert all(0.0 <= share <= 1.0 for share, _ in recalls.values())


def test_cli_prints_the_four_sets(recall_script, replay_run, capsys):
    assert recall_script.main([str(replay_run), "--task", "1"]) == 0
    out = capsys.readouterr().out
    assert "after task 1" in out
    for name in recall_script.SETS:
        assert f"| {name} |" in out


def test_refuses_a_task_without_a_checkpoint_and_a_run_without_memory(recall_script, replay_run, method_run, capsys):
    assert recall_script.main([str(replay_run), "--task", "3"]) == 2
    err = capsys.readouterr().err
    assert "invalid task 3" in err and "choose one of 1..2" in err
    with pytest.raises(ValueError, match=r"invalid task 0: .* choose one of 1\.\.2"):
        recall_script.memory_recall(replay_run, task=0)
    finetune = method_run("finetune")  # the session's shared finetune run
    with pytest.raises(ValueError, match="has no memory \\(method 'finetune'\\)"):
        recall_script.memory_recall(finetune, task=1)
