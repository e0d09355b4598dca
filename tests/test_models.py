import math

import pytest
import torch

from csslab.model.network import BACKBONES, IncrementalSegmenter


@pytest.mark.parametrize("backbone", sorted(BACKBONES))
def test_shapes_and_features(backbone):
    model = IncrementalSegmenter(backbone)
    model.add_head(3)
    model.add_head(2)
    x = torch.rand(2, 1, 60, 60)
    logits, features = model.forward_features(x)
    assert logits.shape == (2, 5, 60, 60)
    assert model.n_channels == 5
    assert {"encoder", "decoder"} <= set(features)
    assert all(f.shape[0] == 2 for f in features.values())


def test_seed_backbone_matches_the_notebook_size():
    n = sum(p.numel() for p in IncrementalSegmenter("seed").backbone.parameters())
    assert 80_000 < n < 88_000


def test_add_head_keeps_old_parameters():
    model = IncrementalSegmenter()
    first = model.add_head(3)
    before = [p.detach().clone() for p in first.parameters()]
    ids = [id(p) for p in first.parameters()]
    model.add_head(2, init="random")
    assert [id(p) for p in model.heads[0].parameters()] == ids
    assert all(torch.equal(a, b) for a, b in zip(before, model.heads[0].parameters()))


def test_mib_init_values():
    model = IncrementalSegmenter()
    first = model.add_head(3)
    b_bg = first.bias[0].item()
    w_bg = first.weight[0].detach().clone()
    new = model.add_head(2, init="mib", symmetry_noise=0.0, bias_margin=0.0)  # MiB's exact init
    expected = b_bg - math.log(3)
    assert new.bias.tolist() == pytest.approx([expected, expected])
    assert first.bias[0].item() == pytest.approx(expected)
    assert torch.equal(new.weight[0], w_bg) and torch.equal(new.weight[1], w_bg)
    # the old classes' biases are untouched
    assert first.bias[1:].tolist() == pytest.approx(first.bias[1:].tolist())


@pytest.mark.parametrize("margin", [0.0, 2.0, 4.0])
def test_mib_init_with_a_margin_keeps_the_old_background_mass(margin):
    """Without noise, background + new channels sum to the old background's probability for any margin (0:
    MiB's exact init), the old classes keep theirs, and the new channels take e^-margin of the background's."""
    torch.manual_seed(0)
    model = IncrementalSegmenter()
    model.add_head(3)
    x = torch.rand(1, 1, 60, 60)
    with torch.no_grad():
        old = model(x).softmax(1)
        model.add_head(2, init="mib", symmetry_noise=0.0, bias_margin=margin)
        new = model(x).softmax(1)
    assert torch.allclose(new[:, [0, 3, 4]].sum(1), old[:, 0], atol=1e-5)
    assert torch.allclose(new[:, 1:3], old[:, 1:3], atol=1e-5)
    assert torch.allclose(new[:, 3] / new[:, 0], torch.full_like(new[:, 0], math.exp(-margin)), rtol=1e-4)


def test_invalid_model_arguments():
    with pytest.raises(ValueError, match="'resnet'"):
        IncrementalSegmenter("resnet")
    with pytest.raises(ValueError, match="n_new=0"):
        IncrementalSegmenter().add_head(0)
    with pytest.raises(ValueError, match="'xavier'"):
        IncrementalSegmenter().add_head(2, init="xavier")


def test_mib_init_breaks_the_symmetry_of_new_channels_by_default():
    """Identical new channels stay identical under Adam: the default adds the random init to the
    copied weights and lowers the new biases by a margin that keeps them under the background."""
    torch.manual_seed(0)
    model = IncrementalSegmenter()
    first = model.add_head(3)
    w_bg, b_bg = first.weight[0].detach().clone(), first.bias[0].item()
    new = model.add_head(2, init="mib")
    assert not torch.equal(new.weight[0], new.weight[1])
    bound = 1 / math.sqrt(first.weight.shape[1])  # Kaiming-uniform bound of a 1x1 conv head
    assert (new.weight - w_bg).abs().max() <= bound + 1e-6
    shift = math.log(1 + 2 * math.exp(-4.0))  # background + two copies 4 lower keep the old background's mass
    assert first.bias[0].item() == pytest.approx(b_bg - shift)
    assert new.bias.tolist() == pytest.approx([b_bg - shift - 4.0] * 2)
    margin = model.add_head(1, init="mib", bias_margin=0.5)
    assert margin.bias.item() == pytest.approx(first.bias[0].item() - 0.5)
