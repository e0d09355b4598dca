"""PLOP's options that follow its official code (docs/methods.md, PLOP)."""

import math

import pytest
import torch
from conftest import TINY_TASKS, make_method, tiny_data, train_tiny

from csslab.methods.plop import _forward
from csslab.model.network import IncrementalSegmenter

TASKS = TINY_TASKS


def test_plop_preactivation_maps_are_the_relu_inputs_of_every_map_but_the_heads_input():
    torch.manual_seed(0)
    model = IncrementalSegmenter()
    model.add_head(3)
    x = torch.rand(2, 1, 24, 24)
    logits, named, pre = _forward(model, x, preactivation=True)
    assert torch.equal(logits, model.forward_features(x)[0])
    for name, value in named.items():
        assert torch.equal(torch.relu(pre[id(value)]), value) and (pre[id(value)] < 0).any(), name
    method = make_method("plop", pod_preactivation=True)
    method.task = TASKS[1]
    _, maps, _ = method._pod_inputs(model, x)
    assert (maps["enc1"] < 0).any() and (maps["encoder"] < 0).any()
    assert (maps["decoder"] >= 0).all()  # PLOP's last map, the ASPP output, is after its activation


def test_plop_logits_pod_at_the_heads_resolution():
    torch.manual_seed(0)
    model = IncrementalSegmenter()
    model.add_head(3)
    x = torch.rand(2, 1, 24, 24)
    logits, _, small = make_method("plop", pod_logits_at="head")._pod_inputs(model, x)
    assert logits.shape[-2:] == (24, 24) and small.shape == (2, 3, 12, 12)  # the fast backbone's stride 2
    assert torch.allclose(torch.nn.functional.interpolate(small, size=(24, 24), mode="bilinear"), logits)


@pytest.mark.parametrize("options", [
    {"pod_preactivation": True}, {"pod_logits_at": "head"}, {"threshold_rule": "median"},
    {"adaptive_background": True},
])
def test_plop_options_train_with_finite_terms(options):
    method = make_method("plop", **options)
    train_tiny(method, steps=2)
    assert method.thresholds is not None and len(method.thresholds) == TASKS[1].n_old
    terms = method.loss(*_batch(method))
    assert {"ce", "pod", "pod_logits"} == set(terms) and all(torch.isfinite(v) for v in terms.values())


def _batch(method):
    torch.manual_seed(1)
    model = IncrementalSegmenter()
    model.add_head(3)
    model.add_head(2, init="mib")
    method.before_task(TASKS[1], model, *tiny_data(TASKS[1]))
    images, masks = tiny_data(TASKS[1])
    return model, images[:2], masks[:2].long()


def test_plop_adaptive_factor_counts_background_only_when_asked():
    terms = {}
    for flag in (False, True):
        method = make_method("plop", adaptive_background=flag)
        terms[flag] = method.loss(*_batch(method))
    ratio = (terms[True]["pod"] / terms[False]["pod"]).item()
    assert ratio == pytest.approx(math.sqrt(5 / 2) / math.sqrt(4 / 2), rel=1e-5)  # task 1 of 2-2: 4 classes
    with pytest.raises(ValueError, match="params.threshold_rule='mean'"):
        make_method("plop", threshold_rule="mean")
