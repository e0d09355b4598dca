"""Exactly which digits each task's scenes may contain and which labels its masks carry, per setting."""

import numpy as np
import pytest

from csslab.core.constants import BACKGROUND, IGNORE
from csslab.scenarios.labels import (
    PRESETS, Setting, all_settings, allowed_digits, make_setting, eval_lut, train_lut,
)
from csslab.scenarios.tasks import make_tasks

# a hand-made 2x3 digit mask: background, digits 0, 2, 5, 9 and an ignored pixel
MASK = np.array([[BACKGROUND, 0 + 1, 2 + 1], [5 + 1, 9 + 1, IGNORE]], dtype=np.uint8)
TASKS = make_tasks("2-2-2-2-2")  # task 1 = digits {2,3}, old {0,1}, future {4..9}


def labels(lut):
    return lut[MASK].tolist()


@pytest.mark.parametrize("preset, allowed", [
    ("overlap", (0, 1, 2, 3, 4, 5, 6, 7, 8, 9)),
    ("disjoint", (0, 1, 2, 3)),
    ("sequential", (0, 1, 2, 3)),
    ("clean", (2, 3)),
    ("partitioned", (0, 1, 2, 3, 4, 5, 6, 7, 8, 9)),
])
def test_digits_allowed_in_training_scenes(preset, allowed):
    assert allowed_digits(TASKS[1], PRESETS[preset], range(10)) == allowed


@pytest.mark.parametrize("preset, expected", [
    # old digit 0 -> background unless labels are kept; future digits 5, 9 always background
    ("overlap", [[0, 0, 3], [0, 0, 255]]),
    ("disjoint", [[0, 0, 3], [0, 0, 255]]),
    ("sequential", [[0, 1, 3], [0, 0, 255]]),
    ("clean", [[0, 0, 3], [0, 0, 255]]),
    ("partitioned", [[0, 0, 3], [0, 0, 255]]),  # overlap's labels: only the digit instances differ
])
def test_training_labels(preset, expected):
    assert labels(train_lut(TASKS[1], PRESETS[preset], range(10))) == expected


def test_test_labels_ignore_or_background_for_future():
    # after task 1 the seen digits are 0..3; 5 and 9 are future
    assert labels(eval_lut(TASKS[1], make_setting("overlap"), range(10))) == [[0, 1, 3], [255, 255, 255]]
    assert labels(eval_lut(TASKS[1], make_setting("overlap", test_future="background"), range(10))) == [
        [0, 1, 3], [0, 0, 255]]
    # after the last task everything is labelled
    assert labels(eval_lut(TASKS[4], make_setting("overlap"), range(10))) == [[0, 1, 3], [6, 10, 255]]


def test_labels_follow_the_class_order():
    order = (9, 8, 7, 6, 5, 4, 3, 2, 1, 0)
    tasks = make_tasks("2-2-2-2-2", order)  # task 0 = {9, 8}: channels 1, 2
    assert labels(train_lut(tasks[0], PRESETS["overlap"], order)) == [[0, 0, 0], [0, 1, 255]]
    assert labels(train_lut(tasks[2], PRESETS["sequential"], order)) == [[0, 0, 0], [5, 1, 255]]


def test_switches_override_presets_and_are_validated():
    s = make_setting("overlap", old_labels="keep")
    assert s == Setting(True, True, "keep", "ignore")
    assert make_setting("disjoint", future_in_images="yes") == PRESETS["overlap"]
    assert make_setting("overlap").name == "overlap"
    with pytest.raises(ValueError, match="'nope'"):
        make_setting("nope")
    with pytest.raises(ValueError, match="old_labels='drop'"):
        make_setting("overlap", old_labels="drop")
    with pytest.raises(ValueError, match="maybe"):
        make_setting("overlap", old_in_images="maybe")
    with pytest.raises(ValueError, match="colour"):
        make_setting("overlap", colour="red")


def test_every_distinct_combination_listed_once():
    settings = all_settings()
    assert len(settings) == len(set(settings)) == 7  # 6 background-shift combinations + partitioned
    assert set(PRESETS.values()) <= set(settings)
    assert [s.instances for s in settings].count("partitioned") == 1


def test_a_setting_is_rebuilt_from_its_name():
    """Every combination's name (a preset's, or the compact one) reads back as that combination, so a
    configuration saved with the name alone rebuilds its setting."""
    combinations = [Setting(o, f, labels, test) for o in (True, False) for f in (True, False)
                    for labels in ("background", "keep") for test in ("ignore", "background")]
    assert len({s.name for s in combinations}) == len(combinations) == 16
    for setting in combinations:
        assert make_setting(setting.name) == setting
    assert Setting(True, True, "keep").name == "old=yes,future=yes,labels=keep,test=ignore"
    assert make_setting("old=yes,future=yes,labels=keep,test=ignore", old_labels="background").name == "overlap"
    partitioned = [Setting(o, f, labels, test, "partitioned") for o in (True, False) for f in (True, False)
                   for labels in ("background", "keep") for test in ("ignore", "background")]
    for setting in partitioned:  # the instance switch is named only when it is not the default
        assert make_setting(setting.name) == setting and setting.name not in {s.name for s in combinations}
    assert make_setting("overlap", instances="partitioned").name == "partitioned"
    assert make_setting("partitioned", old_labels="keep").name == \
        "old=yes,future=yes,labels=keep,test=ignore,instances=partitioned"
    for bad, needle in [("old=yes,future=yes,labels=keep", "unknown setting"),
                        ("future=yes,old=yes,labels=keep,test=ignore", "unknown setting"),
                        ("old=maybe,future=yes,labels=keep,test=ignore", "old_in_images='maybe'"),
                        ("old=yes,future=yes,labels=drop,test=ignore", "old_labels='drop'"),
                        ("old=yes,future=yes,labels=keep,test=ignore,instances=some", "instances='some'"),
                        ("old=yes,future=yes,labels=keep,instances=shared", "unknown setting")]:
        with pytest.raises(ValueError, match=needle):
            make_setting(bad)


def test_naming_a_setting_replaces_the_switches_written_before_it():
    """``--setting`` on a saved config.yaml (whose four switches are explicit) means that setting;
    a switch given after it still overrides it."""
    from csslab.core.config import Config, apply_overrides
    from csslab.scenarios import Scenario

    saved = Config.from_yaml(Config(scenario=Scenario.from_config(Config().scenario).config()).to_yaml())
    assert saved.scenario.future_in_images is True
    disjoint = apply_overrides(saved, ["scenario.setting=disjoint"])
    assert Scenario.from_config(disjoint.scenario).setting == PRESETS["disjoint"]
    keep = apply_overrides(saved, ["scenario.setting=disjoint", "scenario.old_labels=keep"])
    assert Scenario.from_config(keep.scenario).setting == PRESETS["sequential"]
