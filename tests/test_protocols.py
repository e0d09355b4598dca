"""train.protocol presets the optimiser fields (fast: Adam 2e-3, the default; paper: MiB's/PLOP's SGD),
keys written after it win, the trainer builds the optimiser they name, and the budget says which."""

from __future__ import annotations

import pytest
import torch

from csslab.training.checks import check_train
from csslab.core.config import PROTOCOLS, Config, TrainConfig, apply_overrides
from csslab.reports.budget import budget_text, run_budget
from csslab.training.train import make_optimizer


def _fields(train: TrainConfig) -> dict:
    return {key: getattr(train, key) for key in PROTOCOLS["fast"]}


def test_the_default_training_options_are_the_fast_protocol():
    assert Config().train.protocol == "fast"
    assert _fields(Config().train) == PROTOCOLS["fast"]


def test_setting_a_protocol_sets_its_fields_and_later_keys_override_them():
    paper = apply_overrides(Config(), ["train.lr=0.5", "train.protocol=paper"]).train
    assert _fields(paper) == PROTOCOLS["paper"]  # the lr written before the protocol is reset
    tuned = apply_overrides(Config(), ["train.protocol=paper", "train.lr=0.5"]).train
    assert tuned.optimizer == "sgd" and tuned.lr == 0.5 and tuned.weight_decay == PROTOCOLS["paper"]["weight_decay"]
    # a config file: the preset first, the keys beside it win wherever they are written
    from_file = Config.from_dict({"train": {"lr": 0.5, "protocol": "paper"}}).train
    assert from_file.optimizer == "sgd" and from_file.lr == 0.5
    assert Config.from_yaml(Config.from_dict({"train": {"protocol": "paper"}}).to_yaml()).train == \
        Config.from_dict({"train": {"protocol": "paper"}}).train


@pytest.mark.parametrize("override, message", [
    ("train.protocol=slow", "valid protocols are fast, paper"),
    ("train.optimizer=rmsprop", "valid optimizers are adam, sgd"),
    ("train.momentum=1.5", "must be in [0, 1)"),
])
def test_bad_protocol_options_are_one_line_errors(override, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace(")", r"\)")):
        check_train(apply_overrides(Config(), [override]).train)


def test_the_trainer_builds_the_optimiser_the_options_name():
    params = [torch.nn.Parameter(torch.zeros(3))]
    adam = make_optimizer(params, Config().train, 0.002)
    assert type(adam) is torch.optim.Adam and adam.defaults["lr"] == 0.002
    train = apply_overrides(Config(), ["train.protocol=paper", "train.momentum=0.5", "train.nesterov=false"]).train
    sgd = make_optimizer(params, train, 0.01)
    assert type(sgd) is torch.optim.SGD
    assert (sgd.defaults["lr"], sgd.defaults["momentum"], sgd.defaults["nesterov"]) == (0.01, 0.5, False)
    assert sgd.defaults["weight_decay"] == PROTOCOLS["paper"]["weight_decay"]


def test_the_budget_names_the_protocol_and_what_a_run_changed_of_it():
    paper = Config.from_dict({"train": {"protocol": "paper"}}).to_dict()
    text = budget_text(run_budget(paper))
    assert "protocol paper: SGD (momentum 0.9) lr 0.1" in text, text
    changed = Config.from_dict({"train": {"protocol": "paper", "lr": 0.3}}).to_dict()
    assert run_budget(changed)["protocol"] == "paper (lr changed)"
    assert "protocol fast: Adam lr 0.002" in budget_text(run_budget(Config().to_dict()))
    old = Config().to_dict()
    del old["train"]["protocol"]  # a run saved before protocols: nothing claimed
    assert run_budget(old)["protocol"] is None
