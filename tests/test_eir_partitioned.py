"""The partitioned setting (each digit instance in one task's scenes), MiB-AugM's memory loss and EIR's
instance memory and pasting, on hand-made data."""

import math

import numpy as np
import pytest
import torch

import csslab.scenarios.scenario as scenario_module
from csslab.core.config import Config
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


# --- losses: hand-computed values and identities
def test_memory_ce_hand_value_and_identities():
    from csslab.losses import cross_entropy, memory_ce, unbiased_ce

    logits = torch.tensor([0.0, 1.0, 2.0]).view(1, 3, 1, 1).expand(1, 3, 1, 3).contiguous()  # bg, old 1, new 2
    den = math.log(1 + math.e + math.e ** 2)
    bg = -(math.log(1 + math.e ** 2) - den)  # background or the new class
    target = torch.tensor([[[0, 1, 2]]])  # a new-class label counts as background in a stored scene
    assert memory_ce(logits, target, n_old=2).item() == pytest.approx((bg + (den - 1) + bg) / 3, rel=1e-6)
    assert memory_ce(logits, torch.tensor([[[0, 255, 1]]]), 2).item() == pytest.approx((bg + den - 1) / 2, rel=1e-6)
    g = torch.Generator().manual_seed(0)
    logits, target = torch.randn(2, 4, 3, 3, generator=g), torch.randint(0, 4, (2, 3, 3), generator=g)
    assert torch.allclose(memory_ce(logits, target, 4), cross_entropy(logits, target))  # no new channel
    assert torch.allclose(memory_ce(logits, target.clamp(max=0), 1), unbiased_ce(logits, target.clamp(max=0), 4))


def test_region_kd_is_unbiased_kd_over_its_region():
    from csslab.losses import region_kd, unbiased_kd

    g = torch.Generator().manual_seed(1)
    logits, old = torch.randn(2, 5, 3, 4, generator=g), torch.randn(2, 3, 3, 4, generator=g)
    everywhere = torch.ones(2, 3, 4, dtype=torch.bool)
    assert torch.allclose(region_kd(logits, old, everywhere), unbiased_kd(logits, old))
    one = torch.zeros_like(everywhere)
    one[1, 2, 3] = True
    expected = unbiased_kd(logits[1:, :, 2:, 3:], old[1:, :, 2:, 3:])
    assert torch.allclose(region_kd(logits, old, one), expected)
    assert region_kd(logits, old, torch.zeros_like(everywhere)).item() == 0.0


# --- MiB-AugM: the stored scenes' labels count
def test_mib_augm_scores_stored_scenes_with_memory_ce():
    from csslab.losses import memory_ce, unbiased_ce
    from csslab.methods import get_method
    from csslab.scenarios.tasks import Task

    method = get_method("mib-augm")(seed=0)
    task = Task(1, (2,), (0, 1))  # channels: 0 bg, 1-2 old, 3 new
    logits = torch.randn(3, 4, 2, 2, generator=torch.Generator().manual_seed(2))
    masks = torch.tensor([[[3, 0], [0, 0]], [[1, 2], [0, 0]], [[2, 0], [3, 255]]])

    class Fixed(torch.nn.Module):
        def forward(self, x):
            return logits[: len(x)] if x.shape[1] == 1 else x

    method.task, method.teacher = task, lambda x: logits[: len(x), :3]
    method.n_current = 1  # the first scene is the task's, two are stored
    terms = method.loss(Fixed(), torch.zeros(3, 1, 2, 2), masks)
    assert set(terms) == {"ce", "memory_ce", "kd"}
    assert torch.allclose(terms["ce"], 0.5 * unbiased_ce(logits[:1], masks[:1], 3))
    assert torch.allclose(terms["memory_ce"], 0.5 * memory_ce(logits[1:], masks[1:], 3))
    assert terms["memory_ce"] != 0.5 * unbiased_ce(logits[1:], masks[1:], 3)  # MiB-M would drop labels 1, 2


# --- EIR: instances, pasting, memory
def test_find_instances_joins_broken_strokes_and_keeps_own_pixels():
    from csslab.methods.instances import find_instances

    mask = torch.zeros(12, 12, dtype=torch.uint8)
    mask[1, 1:3] = 2
    mask[1, 4] = 2  # one pixel apart: the same digit
    mask[9, 9] = 2  # far away: another instance
    mask[2, 2] = 1  # another class inside the first box: not its own
    found = find_instances(mask, 2)
    assert len(found) == 2
    rows, cols, own = found[0]
    assert own.sum() == 3 and (mask[rows, cols].numpy()[own] == 2).all()
    assert not own[(mask[rows, cols] == 1).numpy()].any()


def test_paste_labels_exactly_the_instances_pixels_where_the_scene_is_empty():
    from csslab.methods.instances import paste

    image, mask = torch.zeros(1, 6, 8), torch.zeros(6, 8, dtype=torch.long)
    mask[:, :4] = 3  # the left half is labelled: the instance goes right
    image[:, :, :4] = 0.5
    crop = torch.tensor([[[0.9, 0.2], [0.0, 0.8]]])
    own = torch.tensor([[True, False], [False, True]])
    before_image, before_mask = image.clone(), mask.clone()
    row, col = paste(image, mask, crop, own, channel=2, noise=torch.zeros(5, 7))
    assert col >= 4
    changed = mask != before_mask
    assert changed.sum() == 2 and (mask[changed] == 2).all()
    assert mask[row, col] == 2 and mask[row + 1, col + 1] == 2 and mask[row, col + 1] == 0
    box = (slice(None), slice(row, row + 2), slice(col, col + 2))
    assert torch.equal(image[box], torch.maximum(before_image[box], crop))


def _scenes(channels, n=6, size=16, seed=0):
    """n scenes, each with one 3x3 square digit of every channel, in its own column."""
    g = torch.Generator().manual_seed(seed)
    images, masks = torch.zeros(n, 1, size, size), torch.zeros(n, size, size, dtype=torch.long)
    for i in range(n):
        for k, c in enumerate(channels):
            top = int(torch.randint(0, size - 3, (1,), generator=g))
            images[i, 0, top:top + 3, 5 * k:5 * k + 3] = 0.9
            masks[i, top:top + 3, 5 * k:5 * k + 3] = c
    return images, masks


def test_instance_memory_is_class_balanced_and_bounded():
    from csslab.methods.instances import InstanceMemory
    from csslab.scenarios.tasks import Task

    memory, g = InstanceMemory(5), torch.Generator().manual_seed(0)
    memory.update(Task(0, (0, 1), ()), *_scenes([1, 2]), g)  # channels 1, 2: quotas 3, 2
    assert sorted(memory.owner.tolist()) == [1, 1, 1, 2, 2]
    assert all(memory.owns[k].sum() == 9 for k in range(len(memory)))  # a whole 3x3 digit each
    memory.update(Task(1, (2, 3), (0, 1)), *_scenes([3, 4], seed=1), g)  # 4 classes in 5 slots
    assert sorted(memory.owner.tolist()) == [1, 1, 2, 3, 4] and len(memory) <= 5
    state = memory.state_dict()
    other = InstanceMemory(5)
    other.load_state_dict(state)
    assert torch.equal(other.owner, memory.owner) and torch.equal(other.crops, memory.crops)


def test_eir_batch_pastes_old_instances_with_their_labels_and_keeps_current_ones():
    from csslab.methods import get_method
    from csslab.scenarios.tasks import Task

    method = get_method("eir")(get_method("eir").make_params({"memory_size": 4, "n_paste": 2}), seed=0)
    method.memory.update(Task(0, (0, 1), ()), *_scenes([1, 2]), torch.Generator().manual_seed(0))

    class Unsure(torch.nn.Module):  # an old model sure of nothing: no pseudo-label, random classes pasted
        def forward(self, x):
            return torch.zeros(len(x), 3, *x.shape[2:])

    method.task, method.teacher = Task(1, (2,), (0, 1)), Unsure()
    images, masks = _scenes([3], n=4, size=20, seed=2)
    out_images, out_masks = method.batch(images, masks)
    assert torch.equal(masks, _scenes([3], n=4, size=20, seed=2)[1])  # the input is not changed in place
    assert torch.equal(out_masks[masks == 3], masks[masks == 3])  # current digits keep their labels
    pasted = out_masks != masks
    assert set(out_masks[pasted].tolist()) <= {1, 2}  # only stored classes, with their labels
    assert all(pasted[i].sum() == 2 * 9 for i in range(4))  # two whole 3x3 instances per scene
    assert (out_images[:, 0][pasted] == 0.9).all() and torch.equal(out_images[:, 0][~pasted], images[:, 0][~pasted])
