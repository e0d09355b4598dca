"""MiB's initialisation on a trained model: the old predictions stay, and the new classes are learnt."""

import copy
import math

import pytest
import torch

from csslab.core.config import Config
from csslab.evaluation.confusion import eval_task
from csslab.evaluation.metrics import iou
from csslab.model.network import IncrementalSegmenter
from csslab.training.train import TaskData, fit_task, run, setup


def mib_two_tasks(config):
    """MiB on the first two tasks of ``config``'s scenario, as ``run`` trains them (one batch generator seeded
    with the run's seed) without training the three tasks this test never reads: the model after task 0 (a
    copy) and task 1's test confusion matrix."""
    s = setup(config)
    batches = torch.Generator().manual_seed(config.seed)
    trained = []
    for task in s.train_scenario[:2]:
        images, masks = s.train_scenario.train_set(task)
        fit_task(s.model, s.method, task, TaskData(images, masks, s.steps, batches), config.train)
        trained.append(copy.deepcopy(s.model))
    cm, _ = s.evaluator.evaluate_task(s.method.eval_model(s.model), task)
    return s.scenario, trained[0], cm


def test_mib_init_keeps_a_trained_models_argmax_and_both_new_classes_are_learnt():
    config = Config(method="mib")
    config.scenario.tasks, config.scenario.train_scenes, config.scenario.test_scenes = "2-2", 300, 100
    config.train.steps = 120  # on torch's default threads: every core, or a pytest -n worker's share
    scenario, model, cm = mib_two_tasks(config)

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

    new = iou(cm)[[3, 4]]
    assert new[0] > 0.1 and new[1] > 0.1, new  # both new classes learnt (channels 3, 4 = digits 2, 3)


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
