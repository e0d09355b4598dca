"""MiB's initialisation on a trained model: the old predictions stay, and the new classes are learnt."""

import copy
import json
import math

import pytest
import torch

from csslab.store.checkpoints import load_model
from csslab.core.config import Config
from csslab.evaluation.confusion import eval_task
from csslab.model.network import IncrementalSegmenter
from csslab.training.train import run, setup


def test_mib_init_keeps_a_trained_models_argmax_and_both_new_classes_are_learnt(tmp_path):
    config = Config(method="mib")
    config.scenario.tasks, config.scenario.train_scenes, config.scenario.test_scenes = "2-2", 300, 100
    config.train.steps, config.train.frame_every, config.train.threads = 120, 10_000, 1  # no animation frames
    run(config, out=tmp_path, progress=False, log=None)

    s = setup(config)
    model, scenario = s.model, s.scenario
    load_model(model, s.method, s.train_scenario[:1], torch.load(tmp_path / "checkpoints" / "task-0.pt",
                                                                  weights_only=True))
    model.eval()
    images, _ = scenario.test_set(eval_task(scenario, list(scenario)[1]))
    with torch.no_grad():
        before = model(images)
        model.add_head(2, init="mib")  # the default symmetry noise
        after = model(images)
    assert before.argmax(1).float().mean() > 0  # the task-0 model predicts digits somewhere
    unchanged = (after.argmax(1) == before.argmax(1)).float().mean().item()
    assert unchanged >= 0.99, unchanged  # the old signed noise changed 94% of the pixels, MiB's log 3 shift ~1%
    assert (after.argmax(1) >= 3).sum() == 0  # no pixel goes to a new class before training
    bg_and_new = after.softmax(1)[:, [0, 3, 4]].sum(1)
    gap = (bg_and_new - before.softmax(1)[:, 0]).abs()  # background + new keep the old background's share
    assert gap.mean() < 0.01 and gap.max() < 0.05, (gap.mean(), gap.max())

    iou = json.loads((tmp_path / "results.json").read_text())["iou_matrix"][1]
    assert iou[3] > 0.1 and iou[4] > 0.1, iou  # both new classes learnt (channels 3, 4 = digits 2, 3)


def test_the_measurement_script_perturbs_as_documented():
    from conftest import SCRIPTS, load_module

    script = load_module(SCRIPTS / "mib_init.py")
    torch.manual_seed(0)
    base = IncrementalSegmenter()
    first = base.add_head(3)
    w_bg, b_new = first.weight[0].detach().clone(), first.bias[0].item() - math.log(3)
    exact = script.perturb(copy.deepcopy(base), "0:0").heads[1]
    assert torch.equal(exact.weight, w_bg.expand_as(exact.weight)) and exact.bias.tolist() == [pytest.approx(b_new)] * 2
    margin = script.perturb(copy.deepcopy(base), "1:4").heads[1]
    assert not torch.equal(margin.weight[0], margin.weight[1]) and margin.bias.tolist() == [pytest.approx(b_new - 4)] * 2
    for kind in ("neg:1", "max:1"):
        head = script.perturb(copy.deepcopy(base), kind).heads[1]
        assert (head.weight <= w_bg).all() and not torch.equal(head.weight[0], head.weight[1]), kind
