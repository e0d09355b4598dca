"""Values typed on the command line: converted by the field's type, and echoed in an error as typed,
not as YAML parsed them ('yes' is not True, 'mnist:' is not {'mnist': None})."""

import pytest

from csslab.cli.main import main
from csslab.core.config import Config, apply_overrides
from csslab.methods.replay import Replay


@pytest.mark.parametrize("args, needle", [
    (["--set", "train.steps=yes"], "invalid value 'yes' for train.steps: expected an integer"),
    (["--set", "train.steps=null"], "invalid value 'null' for train.steps: expected an integer"),
    (["--set", "train.lr=no"], "invalid value 'no' for train.lr: expected a number"),
    (["--setting", "yes"], "unknown setting 'yes'"),
    (["--tasks", "on"], "invalid split 'on'"),
    (["--data", "mnist:"], "unknown digit source 'mnist:'"),
    (["--data", "None"], "unknown digit source 'None'"),
    (["--set", "scenario.old_labels=yes"], "old_labels='yes'"),
    (["--method", "lwf", "--set", "params.lam=yes"], "invalid value 'yes' for params.lam: expected a number"),
    (["--method", "replay", "--set", "params.refresh=off"], "invalid params.refresh='off' for method replay"),
])
def test_a_bad_value_is_echoed_as_typed(tmp_path, capsys, args, needle):
    assert main(["run", "--out", str(tmp_path / "r"), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and needle in err, err
    assert "True" not in err and "False" not in err and "{" not in err
    assert not (tmp_path / "r").exists()


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
