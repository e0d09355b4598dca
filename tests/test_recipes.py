"""The official codes' recipes, one switch each (docs/methods.md#recipes): SSUL's per-layer learning rates,
DKD's frozen BatchNorm affine parameters and ignored pixels as negatives, MicroSeg's unseen background, PLOP's
cross-entropy over all pixels. EWF's ``--fix_pre_cls`` is ``freeze_old_heads`` (tests/test_dkd_ewf.py)."""

import pytest
import torch
from torch import nn

from conftest import TINY_TASKS, make_method, tiny_data, train_tiny
from csslab.core.config import TrainConfig
from csslab.core.constants import BACKGROUND, IGNORE
from csslab.losses import (cross_entropy, cross_entropy_all_pixels, entropy_pseudo_labels, new_class_bce,
                           new_class_bce_all_pixels)
from csslab.methods.recipes import classifier_of
from csslab.model.network import IncrementalSegmenter
from csslab.training.train import TaskData, optimise

LR = 1e-3


def _fresh(method, task):
    """A new model with ``task``'s head, seeded."""
    torch.manual_seed(0)
    model = IncrementalSegmenter()
    method.add_head(model, task)
    return model


def _step(model, method, task, steps=1):
    """``steps`` Adam steps of ``task`` (its head already added) at LR; returns the state before them."""
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    images, masks = tiny_data(task)
    method.before_task(task, model, images, masks)  # fit_task's parts, its head already added
    optimise(model, method, task, TaskData(images, masks, steps, torch.Generator()), TrainConfig(batch_size=4, lr=LR))
    method.after_task(task, model, images, masks)
    return before


def _moved(model, before, prefix):
    """The largest change of any entry of ``model``'s state whose name starts with ``prefix``."""
    return max((v - before[k]).abs().max().item() for k, v in model.state_dict().items()
               if k.startswith(prefix) and v.is_floating_point() and "running" not in k)


def test_ssul_layer_lrs_task_0_backbone_at_a_tenth_heads_at_the_rate():
    """SSUL's step 0: Adam's first step moves each weight by about its group's rate, 0.1x for the backbone."""
    method = make_method("ssul", layer_lrs=True)
    model = _fresh(method, TINY_TASKS[0])
    before = _step(model, method, TINY_TASKS[0])
    assert _moved(model, before, "backbone.") == pytest.approx(0.1 * LR, rel=1e-2)
    assert _moved(model, before, "heads.0.") == pytest.approx(LR, rel=1e-2)
    default = make_method("ssul")
    model = _fresh(default, TINY_TASKS[0])
    before = _step(model, default, TINY_TASKS[0])
    assert _moved(model, before, "backbone.") == pytest.approx(LR, rel=1e-2)  # off: one rate


def test_ssul_layer_lrs_later_tasks_background_at_1e_4_new_and_unknown_at_the_rate():
    method = make_method("ssul", layer_lrs=True)
    model = train_tiny(method, steps=1, tasks=TINY_TASKS[:1])
    task = TINY_TASKS[1]
    method.add_head(model, task)
    method.before_task(task, model, *tiny_data(task))  # the weight transfer, as fit_task's call repeats it
    unknown = {k: v.detach().clone() for k, v in method.unknown.state_dict().items()}
    before = _step(model, method, task)
    background = classifier_of(model.heads[0])
    assert background.weight.requires_grad
    last = f"heads.0.{len(model.heads[0]) - 1}."  # the first head's 1x1 classifier (an MLPHead's last layer)
    assert _moved(model, before, last) == pytest.approx(1e-4 * LR, rel=0.1)  # float32 resolution of the weights
    assert _moved(model, before, "backbone.") == 0
    assert _moved(model, before, "heads.0.0.") == 0  # the first head's hidden layers stay frozen
    assert _moved(model, before, "heads.1.") == pytest.approx(LR, rel=1e-2)
    moved = max((v - unknown[k]).abs().max().item() for k, v in method.unknown.state_dict().items()
                if v.is_floating_point() and "running" not in k)
    assert moved == pytest.approx(LR, rel=1e-2)


@pytest.mark.parametrize("frozen", [True, False])
def test_dkd_freeze_bn_affine_from_task_1(frozen):
    """DKD's --freeze_bn keeps BatchNorm's weight and bias out of its optimiser from step 1 on; not in step 0."""
    method = make_method("dkd", freeze_bn_affine=frozen)
    model = train_tiny(method, steps=1, tasks=TINY_TASKS[:1])
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert norms and all(m.weight.requires_grad and m.bias.requires_grad for m in norms)  # task 0 trained them
    task = TINY_TASKS[1]
    method.add_head(model, task)
    weights = [m.weight.detach().clone() for m in norms]
    _step(model, method, task, steps=2)
    assert all(m.weight.requires_grad is not frozen and m.bias.requires_grad is not frozen for m in norms)
    unchanged = [torch.equal(m.weight, w) for m, w in zip(norms, weights)]
    assert all(unchanged) if frozen else not any(unchanged)
    assert all(not m.training for m in norms)  # statistics frozen either way (DKD's model.freeze_bn)


def test_new_class_bce_all_pixels_counts_ignored_pixels_as_negatives():
    new = torch.tensor([[[[0.5, -1.0], [2.0, 0.0]]]])  # B=1, the new channel, 2x2
    logits = torch.cat([torch.zeros_like(new), new], 1)  # channel 0: background, old
    target = torch.tensor([[[1, 0], [IGNORE, 1]]])
    bce = lambda z, y: -(y * torch.log(torch.sigmoid(z)) + (1 - y) * torch.log(1 - torch.sigmoid(z)))  # noqa: E731
    z, y = new.flatten(), torch.tensor([1.0, 0.0, 0.0, 1.0])
    assert new_class_bce_all_pixels(logits, target, 1).item() == pytest.approx(bce(z, y).mean().item(), rel=1e-6)
    assert new_class_bce(logits, target, 1).item() == pytest.approx(bce(z, y)[[0, 1, 3]].mean().item(), rel=1e-6)
    clean = torch.tensor([[[1, 0], [0, 1]]])
    assert new_class_bce_all_pixels(logits, clean, 1).item() == pytest.approx(new_class_bce(logits, clean, 1).item())


def test_dkd_ignored_negative_is_its_own_shared_base():
    assert make_method("dkd", ignored_negative=True).base_key() != make_method("dkd").base_key()


def test_cross_entropy_all_pixels_divides_by_every_pixel():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 4, 4, generator=g)
    target = torch.randint(0, 3, (2, 4, 4), generator=g)
    target[0, :2] = IGNORE  # 8 of 32 pixels
    weight = torch.tensor([0.5, 2.0])
    labelled = cross_entropy(logits, target, weight)
    assert cross_entropy_all_pixels(logits, target, weight).item() == pytest.approx(labelled.item() * 24 / 32)
    target[0, :2] = 1
    assert cross_entropy_all_pixels(logits, target).item() == pytest.approx(cross_entropy(logits, target).item())


def test_plop_ce_all_pixels_scales_its_ce_by_the_share_of_confident_pixels():
    """From task 1 PLOP's pseudo-labels leave unsure pixels ignored; its code's mean counts them as 0."""
    default, recipe = make_method("plop"), make_method("plop", ce_all_pixels=True)
    model = train_tiny(default, steps=2, tasks=TINY_TASKS[:1])
    task = TINY_TASKS[1]
    images, masks = tiny_data(task)
    masks = masks.long()
    default.add_head(model, task)
    for method in (default, recipe):
        method.before_task(task, model, images, masks)
    recipe.thresholds = default.thresholds = torch.full_like(default.thresholds, 0.5)  # some pixels unsure
    model.eval()
    pseudo = entropy_pseudo_labels(default.teacher(images), masks, task.n_old, default.thresholds)
    share = (pseudo != IGNORE).float().mean().item()
    assert 0 < share < 1
    ce, ce_all = default.loss(model, images, masks)["ce"], recipe.loss(model, images, masks)["ce"]
    assert ce_all.item() == pytest.approx(ce.item() * share, rel=1e-5)


def test_microseg_unseen_background_labels_every_background_pixel_unseen_and_joins_it_at_evaluation():
    task = TINY_TASKS[0]
    images, masks = tiny_data(task)
    masks = masks.long()
    for flag in (False, True):
        method = make_method("microseg", unseen_background=flag)
        model = _fresh(method, task)
        method.before_task(task, model, images, masks)
        labels = method.labels(images, masks)
        unseen = 1 + task.n_seen
        background = masks == BACKGROUND
        dark = background & (images[:, 0] < method.params.ink)
        assert dark.any()
        assert (labels[dark] == unseen).all() if flag else (labels[dark] == BACKGROUND).all()
        assert (labels[~background] == masks[~background]).all()
        if flag:
            assert not (labels == BACKGROUND).any()  # background's own channel never a positive (MicroSeg's dummy)
        model.eval()
        with torch.no_grad():
            scores = torch.sigmoid(method.logits(model, images)[1])
            evaluated = method.eval_model(model)(images)
        joined = scores[:, :1] + scores[:, -1:] if flag else scores[:, :1]
        assert torch.allclose(evaluated[:, :1], joined)
