"""The partitioned setting (each digit instance in one task's scenes), MiB-AugM's memory loss and EIR's
instance memory and pasting, on hand-made data."""

import numpy as np
import pytest
import torch

import csslab.scenarios.scenario as scenario_module
from csslab.config import Config
from csslab.data.scenes import generate_scenes
from csslab.scenarios import Scenario, make_scenario
from csslab.scenarios.scenario import partition


def test_partition_is_disjoint_complete_and_class_stratified():
    labels = np.array([0] * 7 + [1] * 3 + [2] * 5)
    parts = partition(labels, 3, seed=0)
    joined = np.concatenate(parts)
    assert sorted(joined) == list(range(len(labels)))  # every instance in exactly one part
    for digit, total in [(0, 7), (1, 3), (2, 5)]:
        counts = [int((labels[p] == digit).sum()) for p in parts]
        assert sum(counts) == total and max(counts) - min(counts) <= 1, (digit, counts)
    assert [p.tolist() for p in partition(labels, 3, seed=0)] == [p.tolist() for p in parts]  # seeded
    assert [p.tolist() for p in partition(labels, 3, seed=1)] != [p.tolist() for p in parts]


def _instances_per_task(setting, monkeypatch):
    """The digit instances (as their pixel bytes) each task's training scenes were painted from."""
    used = []

    def recording(images, labels, n, config, **kwargs):
        kwargs.pop("cache_dir"), kwargs.pop("source_key")
        scenes, masks, meta = generate_scenes(images, labels, n, config, return_meta=True, **kwargs)
        used.append({images[i].tobytes() for i in meta.digits[meta.digits >= 0]})
        return scenes, masks

    monkeypatch.setattr(scenario_module, "make_scenes", recording)
    scenario = make_scenario("4-2-2-2", setting=setting, train_scenes=300, test_scenes=10, cache_dir=False)
    for task in scenario:
        scenario.train_raw(task)
    return used


def test_no_digit_instance_is_in_the_training_scenes_of_two_tasks(monkeypatch):
    used = _instances_per_task("partitioned", monkeypatch)
    assert len(used) == 4 and all(used)
    for a in range(4):
        for b in range(a + 1, 4):
            assert not used[a] & used[b], (a, b)
    shared = _instances_per_task("overlap", monkeypatch)  # the check can fail: overlap reuses instances
    assert shared[0] & shared[1]


def test_partitioned_keeps_overlap_labels_and_joint_gets_every_digit():
    scenario = make_scenario("6-1", setting="partitioned", train_scenes=20, test_scenes=10, cache_dir=False)
    n_digits = len(scenario.digits().train_labels)
    parts = [scenario._train_digits(task) for task in scenario]
    assert sum(len(p) for p in parts) == n_digits == len(np.unique(np.concatenate(parts)))
    joint = scenario.joint()
    assert joint.setting == scenario.setting and len(joint._train_digits(joint[0])) == n_digits
    overlap = make_scenario("6-1", setting="overlap", train_scenes=20, test_scenes=10, cache_dir=False)
    assert overlap._train_digits(overlap[1]).tolist() == list(range(n_digits))
    for task in scenario:  # the same label table as overlap: only the digit instances differ
        assert torch.equal(scenario.test_set(task)[1], overlap.test_set(task)[1])


def test_partitioned_round_trips_through_the_config():
    scenario = make_scenario("6-1", setting="partitioned", train_scenes=20, test_scenes=10)
    saved = Config.from_yaml(Config(scenario=scenario.config()).to_yaml()).scenario
    assert saved.instances == "partitioned" and saved.setting == "partitioned"
    assert Scenario.from_config(saved).setting == scenario.setting
    old = Config.from_dict({"scenario": {"setting": "overlap"}}).scenario  # saved before the switch existed
    assert Scenario.from_config(old).setting.instances == "shared"
    with pytest.raises(ValueError, match="instances='some'"):
        Scenario.from_config(Config.from_dict({"scenario": {"instances": "some"}}).scenario)
