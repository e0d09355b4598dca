import numpy as np
import pytest
import torch

import csslab
from csslab.core.constants import BACKGROUND, IGNORE


def small(**kw):
    kw.setdefault("train_scenes", 80)
    kw.setdefault("test_scenes", 40)
    return csslab.make_scenario(**kw)


def test_iterable_sliceable_and_shapes():
    s = small()
    assert len(s) == 5 and [t.index for t in s] == [0, 1, 2, 3, 4]
    assert [t.classes for t in s[1:3]] == [(2, 3), (4, 5)]
    images, masks = s.train_set(s[0])
    assert images.shape == (80, 1, 60, 60) and images.dtype == torch.float32
    assert masks.shape == (80, 60, 60) and masks.dtype == torch.uint8
    assert 0 <= images.min() and images.max() <= 1


@pytest.mark.parametrize("setting, may_contain, labels", [
    ("overlap", set(range(10)), {0, 5, 6}),
    ("disjoint", {0, 1, 2, 3, 4, 5}, {0, 5, 6}),
    ("sequential", {0, 1, 2, 3, 4, 5}, {0, 1, 2, 3, 4, 5, 6}),
    ("clean", {4, 5}, {0, 5, 6}),
])
def test_train_scenes_follow_the_setting(setting, may_contain, labels):
    s = small(setting=setting)
    task = s[2]  # digits 4, 5
    _, raw = s.train_raw(task)
    digits = set(np.unique(raw).tolist()) - {BACKGROUND}
    assert {d - 1 for d in digits} <= may_contain
    assert all(((raw == 5) | (raw == 6)).any((1, 2)))  # every scene has a current digit
    _, masks = s.train_set(task)
    assert set(torch.unique(masks).tolist()) <= labels
    assert labels - {0} <= set(torch.unique(masks).tolist())  # and those labels do occur


def test_test_set_is_fixed_and_labelled_per_task():
    s = small()
    x0, m0 = s.test_set(s[0])
    x4, m4 = s.test_set(s[4])
    assert torch.equal(x0, x4)
    assert set(torch.unique(m0).tolist()) == {BACKGROUND, 1, 2, IGNORE}
    assert set(torch.unique(m4).tolist()) == set(range(11))
    # the test set does not depend on the run seed
    assert torch.equal(small(seed=3).test_set(s[0])[0], x0)


def test_seed_changes_training_scenes_deterministically():
    a, b, c = small(seed=0), small(seed=0), small(seed=1)
    assert torch.equal(a.train_set(a[1])[0], b.train_set(b[1])[0])
    assert not torch.equal(a.train_set(a[1])[0], c.train_set(c[1])[0])


def test_joint_view_has_one_task_with_all_scenes():
    s = small()
    j = s.joint()
    assert len(j) == 1 and j[0].classes == tuple(range(10))
    images, masks = j.train_set(j[0])
    assert len(images) == 5 * 80
    assert set(torch.unique(masks).tolist()) == set(range(11))


def test_invalid_arguments_are_refused():
    with pytest.raises(ValueError, match="3-3"):
        csslab.make_scenario(tasks="3-3")
    with pytest.raises(ValueError, match="weird"):
        csslab.make_scenario(setting="weird")
    with pytest.raises(ValueError, match="train_scenes=0"):
        csslab.make_scenario(train_scenes=0)


@pytest.mark.parametrize("kwargs", [
    {},
    {"tasks": "6-1", "setting": "sequential", "class_order": "random:4", "seed": 7},
    {"tasks": "5-5", "class_order": "9,8,7,6,5,4,3,2,1,0", "old_in_images": "no", "test_future": "background"},
    {"data": "embedded", "train_scenes": 10, "test_scenes": 5, "old_labels": "keep"},
])
def test_a_scenario_and_its_configuration_are_inverse(kwargs):
    """``Scenario.config()`` is the saved form of a scenario: the setting resolved (four switches, the
    name derived from them) and ``Scenario.from_config`` builds the same scenario back from it."""
    from csslab.data.scenes import SceneConfig

    scenario = csslab.make_scenario(scene=SceneConfig(size=40, min_digits=1, ink=0.3, max_tries=3), **kwargs)
    config = scenario.config()
    assert csslab.Scenario.from_config(config, scenario.seed) == scenario
    assert None not in (config.old_in_images, config.future_in_images, config.old_labels, config.test_future)
    assert config.setting == scenario.setting.name
    assert (config.class_order == "natural") == (scenario.class_order == tuple(range(10)))
