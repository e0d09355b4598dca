"""Values typed on the command line: converted by the field's type, and echoed in an error as typed,
not as YAML parsed them ('yes' is not True, 'mnist:' is not {'mnist': None})."""

import pytest

from csslab.core.config import Config, apply_overrides
from csslab.methods.replay import Replay


def test_words_are_converted_by_the_field_type():
    config = apply_overrides(Config(), ["scenario.old_in_images=yes", "scenario.future_in_images=off",
                                        "train.checkpoints=no", "scenario.old_labels=~", "train.lr=1e-3",
                                        "params.augment=on", "params.memory_size=7"])
    assert config.scenario.old_in_images is True and config.scenario.future_in_images is False
    assert config.train.checkpoints is False and config.scenario.old_labels is None and config.train.lr == 0.001
    params = Replay.make_params(config.params)
    assert params.augment is True and params.memory_size == 7
    # a config file's YAML booleans are still booleans, but never numbers
    assert Config.from_yaml("train:\n  checkpoints: yes\n").train.checkpoints is True
    with pytest.raises(ValueError, match="invalid value True for train.lr: expected a number"):
        Config.from_yaml("train:\n  lr: yes\n")
