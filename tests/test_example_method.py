"""The one-file method of docs/getting-started.md: examples/lwf_mc.py, registered with ``register``."""

import json
import math
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from conftest import load_module

import csslab
from csslab.core.constants import IGNORE
from csslab.methods import METHODS, Method, get_method, register
from csslab.scenarios.tasks import Task

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "lwf_mc.py"


@pytest.fixture
def example():
    """examples/lwf_mc.py imported by path; its ``@register`` (and any other registration made by
    a test) is undone afterwards, so other tests see the built-in METHODS only."""
    before = dict(METHODS)
    try:
        yield load_module(EXAMPLE, "lwf_mc_example")
    finally:
        METHODS.clear()
        METHODS.update(before)


def test_importing_the_example_registers_it(example):
    assert list(METHODS)[-1] == "lwf-mc" and get_method("lwf-mc") is example.LwFMC
    assert example.LwFMC.make_params({"lam": "2"}).lam == 2.0  # the Params dataclass types --set values


def test_register_refuses_duplicates_bad_names_and_non_methods(example):
    before = dict(METHODS)
    with pytest.raises(ValueError, match=r"'lwf' of Dup is already registered \(by LwF\)"):
        register(type("Dup", (Method,), {"name": "lwf"}))
    with pytest.raises(ValueError, match="'lwf-mc' .* already registered"):
        register(example.LwFMC)  # registering twice, e.g. re-running an import by path
    for bad in ["LwF-MC", "lwf_mc", "lwf mc", "", "-lwf", "lwf-mc\n", None]:
        with pytest.raises(ValueError, match="invalid method name .*lowercase letters, digits and hyphens"):
            register(type("Bad", (Method,), {"name": bad}))

    class NotAMethod:
        name = "not-a-method"

    for thing in [NotAMethod, NotAMethod(), example.LwFMC()]:
        with pytest.raises(ValueError, match="must be a subclass of csslab.methods.Method"):
            register(thing)
    with pytest.raises(ValueError, match="Params .* must be a dataclass"):
        register(type("NoDataclass", (Method,), {"name": "no-dataclass", "Params": dict}))
    assert METHODS == before  # a refused class leaves no trace

    @dataclass
    class Params:
        k: int = 3

    ok = type("Ok", (Method,), {"name": "ok-2", "Params": Params})
    assert register(ok) is ok and get_method("ok-2") is ok  # returns the class: usable as a decorator


def _loss(example, task, logits, masks, old_logits=None):
    method = example.LwFMC()
    method.task = task
    method.teacher = None if old_logits is None else (lambda images: old_logits)
    return method.loss(lambda images: logits, torch.zeros(masks.shape[0], 1, *masks.shape[1:]), masks)


TASK_1 = Task(1, (2, 3), (0, 1))  # n_old = 3 (background, digits 0 and 1), C = 5 channels


def test_loss_at_zero_logits_is_log2_per_channel(example):
    """sigmoid(0) = 1/2: BCE is log 2 whatever the label, so the sums over channels are C·log 2
    (label term) and λ·n_old·log 2 (distillation)."""
    masks = torch.tensor([[[0, 3], [1, IGNORE]]])
    terms = _loss(example, TASK_1, torch.zeros(1, 5, 2, 2), masks, old_logits=torch.zeros(1, 3, 2, 2))
    assert set(terms) == {"bce", "kd"}
    assert terms["bce"].item() == pytest.approx(5 * math.log(2))
    assert terms["kd"].item() == pytest.approx(10 * 3 * math.log(2))
    task_0_masks = torch.tensor([[[0, 2], [1, IGNORE]]])
    assert set(_loss(example, Task(0, (0, 1), ()), torch.zeros(1, 3, 2, 2), task_0_masks)) == {"bce"}  # no teacher


def test_label_term_skips_ignored_pixels(example):
    masks = torch.tensor([[[0, 3], [1, IGNORE]]])
    labels = torch.where(masks == IGNORE, 0, masks)  # 1, 2, 2
    one_hot = torch.nn.functional.one_hot(labels, 5).permute(0, 3, 1, 2).float()  # 1, 5, 2, 2
    logits = 30 * (2 * one_hot - 1)  # sure and right on every pixel
    logits[0, :, 1, 1] = 30.0  # the IGNORE pixel says yes to every class: 4 wrong channels if it counted
    assert _loss(example, TASK_1, logits, masks)["bce"].item() < 1e-6
    logits[0, 3, 0, 0] = 30.0  # one wrong "yes" on one of 3 counted pixels: BCE(30, 0) ≈ 30, / 3
    assert _loss(example, TASK_1, logits, masks)["bce"].item() == pytest.approx(10.0, rel=1e-6)


def test_distillation_is_minimal_and_equals_the_teachers_entropy_when_old_channels_match(example):
    g = torch.Generator().manual_seed(0)
    old_logits = 3 * torch.randn(2, 3, 4, 4, generator=g)  # B, n_old, H, W
    logits = torch.cat([old_logits, torch.randn(2, 2, 4, 4, generator=g)], 1).requires_grad_()  # B, C, H, W
    masks = torch.randint(0, 5, (2, 4, 4), generator=g)
    kd = _loss(example, TASK_1, logits, masks, old_logits)["kd"]
    p = torch.sigmoid(old_logits)
    entropy = -(p * p.log() + (1 - p) * (1 - p).log())  # binary entropy per old channel: B, n_old, H, W
    assert kd.item() == pytest.approx(10 * entropy.sum(1).mean().item(), rel=1e-5)
    kd.backward()
    assert logits.grad.abs().max() < 1e-7  # a minimum: d BCE(x, p)/dx = sigmoid(x) - p = 0
    for shift in (-0.5, 0.5):
        moved = logits.detach().clone()
        moved[:, 1] += shift  # an old class drifts from the teacher
        assert _loss(example, TASK_1, moved, masks, old_logits)["kd"] > kd + 1e-3


def test_run_end_to_end_through_the_python_api(example, tmp_path, monkeypatch):
    teachers = []

    def after_task(self, task, model, images, masks):  # how each task ends, seen from inside
        t = self.teacher
        teachers.append(None if t is None else (t.n_channels, t.training,
                                                any(p.requires_grad or p.grad is not None for p in t.parameters())))

    monkeypatch.setattr(example.LwFMC, "after_task", after_task)
    scenario = csslab.make_scenario(tasks="4-3-3", setting="overlap", seed=0, train_scenes=16, test_scenes=20)
    csslab.run("lwf-mc", scenario=scenario, steps=3, out=tmp_path / "r", overrides=["train.batch_size=8"], lam=2.0)

    data = json.loads((tmp_path / "r" / "results.json").read_text())
    assert data["complete"] and [t["task"] for t in data["tasks"]] == [0, 1, 2]
    assert (data["config"]["method"], data["config"]["params"]) == ("lwf-mc", {"lam": 2.0})
    assert [set(t["loss"]) for t in data["tasks"]] == [{"bce"}, {"bce", "kd"}, {"bce", "kd"}]
    assert all(math.isfinite(v) and v > 0 for t in data["tasks"] for v in t["loss"].values())
    seen = [[v is not None for v in row] for row in data["iou_matrix"]]  # background, digits 0..9
    assert seen == [[True] * 5 + [False] * 6, [True] * 8 + [False] * 3, [True] * 11]
    # the teacher: none at task 0, then the frozen previous model (bg + old classes) without gradients
    assert teachers == [None, (5, False, False), (8, False, False)]


def test_the_registration_does_not_leak_into_other_tests():
    """Runs after the tests above (file order): the fixture has removed what they registered."""
    assert "lwf-mc" not in METHODS and "ok-2" not in METHODS and "finetune" in METHODS
