"""SDR's and MicroSeg's losses against values worked out by hand on tiny tensors, the papers' identities, and
the methods' own contracts (prototypes, proposals, region-level evaluation)."""

import math

import pytest
import torch
from conftest import TINY_TASKS, make_method, train_tiny

from csslab import losses
from csslab.core.constants import IGNORE


def fmap(*pixels):
    """Features [1, D, 1, W] from W per-pixel lists of D values."""
    return torch.tensor(pixels, dtype=torch.float32).T[None, :, None, :]


def row(*values):
    return torch.tensor(values, dtype=torch.int64)[None, None, :]  # 1, 1, W


KNOWN = torch.tensor([False, True, True])  # prototypes of channels 1 and 2 set, background's not


# --- SDR ---

def test_class_means_by_hand():
    features = fmap([1.0, 0.0], [3.0, 2.0], [5.0, 4.0])
    means = losses.class_means(features, row(1, 1, 2), [1, 2, 0])
    assert means.tolist() == [[2.0, 1.0], [5.0, 4.0], [0.0, 0.0]]  # an absent class: zeros


def test_prototype_matching_by_hand_and_zero_at_the_prototypes():
    features = fmap([1.0, 0.0], [3.0, 2.0], [5.0, 4.0])
    prototypes = torch.tensor([[9.0, 9.0], [2.0, 0.0], [5.0, 5.0]])
    # class 1: mean (2, 1) vs (2, 0) -> (0 + 1) / 2; class 2: (5, 4) vs (5, 5) -> 1 / 2; background skipped
    value = losses.prototype_matching(features, row(1, 1, 2), prototypes, KNOWN)
    assert value.item() == pytest.approx((0.5 + 0.5) / 2)
    prototypes[1] = torch.tensor([2.0, 1.0])
    prototypes[2] = torch.tensor([5.0, 4.0])
    assert losses.prototype_matching(features, row(1, 1, 2), prototypes, KNOWN).item() == 0.0
    assert losses.prototype_matching(features, row(0, 0, IGNORE), prototypes, KNOWN).item() == 0.0  # no old class


def test_feature_attraction_by_hand_skips_classes_without_a_prototype():
    features = fmap([1.0, 0.0], [3.0, 2.0], [5.0, 4.0])
    prototypes = torch.tensor([[0.0, 0.0], [2.0, 1.0], [5.0, 4.0]])
    # class 1: pixels (1,0), (3,2) vs (2,1): squared errors 1,1,1,1 -> 1; class 2: 0; background: no prototype
    value = losses.feature_attraction(features, row(1, 1, 2), prototypes, KNOWN)
    assert value.item() == pytest.approx((1.0 + 0.0) / 2)
    assert losses.feature_attraction(features, row(0, 0, 0), prototypes, KNOWN).item() == 0.0


def test_feature_repulsion_is_the_mean_inverse_distance_between_class_means():
    features = fmap([0.0, 0.0], [0.0, 2.0], [3.0, 0.0], [3.0, 4.0])
    # means: class 0 (0, 1), class 1 (3, 0), class 2 (3, 4): distances sqrt(10), sqrt(18) and 4
    value = losses.feature_repulsion(features, row(0, 0, 1, 2))
    expected = (1 / math.sqrt(10) + 1 / math.sqrt(18) + 1 / 4) / 3  # each pair counted twice: same mean
    assert value.item() == pytest.approx(expected, rel=1e-6)
    assert losses.feature_repulsion(features, row(1, 1, 1, IGNORE)).item() == 0.0  # one class: nothing to repel


def test_feature_sparsity_by_hand():
    # class 1's largest feature is 4, class 2's is 1; the ignored pixel counts nowhere
    features = fmap([2.0, 4.0], [1.0, 0.0], [7.0, 7.0])
    value = losses.feature_sparsity(features, row(1, 2, IGNORE))
    first = (math.exp(0.5) + math.exp(1.0)) / 1.5
    second = (math.exp(1.0) + math.exp(0.0)) / 1.0
    assert value.item() == pytest.approx((first + second) / 2, rel=1e-6)


def test_feature_sparsity_skips_dead_pixels_and_is_scale_free():
    features = fmap([0.0, 0.0], [1.0, 3.0])  # a pixel with no activation: SDR's code would give ~1e15
    assert losses.feature_sparsity(features, row(1, 1)).item() == pytest.approx((math.exp(1 / 3) + math.e) / (4 / 3))
    scaled = losses.feature_sparsity(features * 10, row(1, 1))  # normalised by the class maximum
    assert scaled.item() == pytest.approx(losses.feature_sparsity(features, row(1, 1)).item(), rel=1e-6)


def test_labels_at_is_nearest_downsampling():
    target = torch.tensor([[[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, IGNORE, IGNORE], [3, 3, IGNORE, IGNORE]]])
    assert losses.labels_at(target, (2, 2)).tolist() == [[[1, 2], [3, IGNORE]]]


def test_sdr_first_task_is_plain_cross_entropy_and_prototypes_follow_the_classes():
    sdr = make_method("sdr")
    seen = []
    sdr_loss = sdr.loss
    sdr.loss = lambda model, images, masks: seen.append(out := sdr_loss(model, images, masks)) or out
    train_tiny(sdr, steps=2)
    assert set(seen[0]) == {"ce"} and set(seen[-1]) == {"ce", "kd", "pm", "fs", "fc", "sep"}
    assert sdr.prototypes.shape == (5, 48)  # background + 4 classes, the encoder's 48 channels
    assert sdr.counts[0] == 0 and (sdr.counts[1:] > 0).all()  # background never gets a prototype
    state = sdr.state_dict()
    fresh = make_method("sdr")
    fresh.load_state_dict(state)
    assert torch.equal(fresh.prototypes, sdr.prototypes)


# --- MicroSeg ---

def test_ink_regions_labels_8_connected_components_by_hand():
    image = torch.tensor([[0.9, 0.9, 0.0, 0.0],
                          [0.0, 0.0, 0.6, 0.0],  # touches the first stroke diagonally: same component
                          [0.0, 0.0, 0.0, 0.0],
                          [0.7, 0.0, 0.2, 0.8]])[None, None]
    regions = losses.ink_regions(image, ink=0.5)[0]
    assert regions.tolist() == [[7, 7, 0, 0], [0, 0, 7, 0], [0, 0, 0, 0], [13, 0, 0, 16]]


def test_ink_regions_of_a_long_snake_is_one_region():
    image = torch.zeros(1, 1, 9, 9)
    image[0, 0, ::2, :] = 1.0  # rows 0, 2, 4, 6, 8 joined at alternating ends: a path of 53 pixels
    for r in range(1, 9, 2):
        image[0, 0, r, 8 if r % 4 == 1 else 0] = 1.0
    regions = losses.ink_regions(image)[0]
    ink = image[0, 0] >= 0.5
    assert set(regions[ink].tolist()) == {81} and (regions[~ink] == 0).all()


def test_region_mean_by_hand_and_linear_head_identity():
    logits = torch.tensor([[1.0, 2.0, 3.0, 10.0], [0.0, 4.0, 8.0, 1.0]])[None, :, None, :]  # 1, 2, 1, 4
    regions = torch.tensor([[[5, 5, 0, 5]]])
    out = losses.region_mean(logits, regions)
    expected = torch.tensor([[13 / 3, 13 / 3, 3.0, 13 / 3], [5 / 3, 5 / 3, 8.0, 5 / 3]])
    assert torch.allclose(out[0, :, 0], expected)
    torch.manual_seed(0)
    features, head = torch.randn(2, 6, 5, 5), torch.nn.Conv2d(6, 3, 1)
    regions = torch.randint(0, 3, (2, 5, 5))
    pooled_features = losses.region_mean(features, regions)  # classify the region's mean feature ...
    assert torch.allclose(head(pooled_features), losses.region_mean(head(features), regions), atol=1e-6)  # ... = mean


def test_unseen_diversity_by_hand():
    disjoint = torch.eye(3).view(1, 3, 3, 1)  # three maps on disjoint pixels: similarity = identity
    expected = -math.log(math.e / (math.e + 2))
    assert losses.unseen_diversity(disjoint).item() == pytest.approx(expected, rel=1e-6)
    same = torch.ones(1, 3, 2, 2)  # identical maps: every similarity 1, softmax uniform
    assert losses.unseen_diversity(same).item() == pytest.approx(math.log(3), rel=1e-6)
    assert losses.unseen_diversity(disjoint).item() < losses.unseen_diversity(same).item()


def test_microseg_labels_unseen_ink_and_evaluates_region_level():
    method = make_method("microseg", unseen_clusters=3)
    model = train_tiny(method, steps=1)
    assert method.unknown[-1].out_channels == 3
    images = torch.zeros(2, 1, 24, 24)
    images[:, :, 2:8, 2:8] = 1.0  # one square of ink per image
    pixels, regions, unseen = method.logits(model, images)
    assert pixels.shape == regions.shape == (2, 1 + TINY_TASKS[1].n_seen + 1, 24, 24) and unseen.shape[1] == 3
    square = regions[:, :, 2:8, 2:8].flatten(2)
    assert torch.allclose(square, square[..., :1].expand_as(square), atol=1e-5)  # one logit per proposal
    scores = method.eval_model(model).eval()(images)
    assert scores.shape == (2, 1 + TINY_TASKS[1].n_seen, 24, 24)
    masks = torch.zeros(2, 24, 24, dtype=torch.long)
    masks[:, 2:5, 2:8] = 3  # the top of the square is a current class, the rest is background ink
    target = method.labels(images, masks)
    assert (target[:, 2:5, 2:8] == 3).all() and (target[:, 10:, 10:] == 0).all()
    assert set(target[:, 5:8, 2:8].unique().tolist()) <= {1, 2, 1 + TINY_TASKS[1].n_seen}  # old pseudo-label or unseen


def test_microseg_state_survives_a_restart():
    method = make_method("microseg")
    model = train_tiny(method, steps=1)
    fresh = make_method("microseg")
    fresh.load_state_dict(method.state_dict())
    images = torch.rand(1, 1, 24, 24)
    method.eval_model(model).eval()
    assert torch.equal(fresh.unknown.eval()(model.backbone(images)[0]), method.unknown(model.backbone(images)[0]))


def test_sdr_started_from_the_shared_plain_ce_base_gives_its_own_results(tmp_path):
    """base_task = "ce": SDR's first task is finetune's, bit for bit (its prototypes are taken afterwards)."""
    from conftest import SCRIPTS, load_module

    from csslab.core.config import Config, apply_overrides
    from csslab.training.train import run

    small = ["scenario.tasks=5-5", "scenario.train_scenes=16", "scenario.test_scenes=20", "train.steps=3",
             "train.batch_size=8", "train.checkpoints=false"]
    compare = load_module(SCRIPTS / "compare_runs.py").compare
    config = lambda method: apply_overrides(Config(), [f"method={method}", *small])  # noqa: E731
    run(config("finetune"), out=tmp_path / "finetune", progress=False, log=None, base=tmp_path / "base")
    run(config("sdr"), out=tmp_path / "own", progress=False, log=None)
    run(config("sdr"), out=tmp_path / "shared", progress=False, log=None, base=tmp_path / "base")
    assert len(list((tmp_path / "base").glob("ce-seed0-*.pt"))) == 1  # trained by finetune, loaded by sdr
    assert compare(tmp_path / "own", tmp_path / "shared") is None


def test_defaults_are_the_papers_code_or_measured_with_a_pointer():
    import dataclasses
    import inspect

    from csslab.methods import METHODS

    sdr = dataclasses.asdict(METHODS["sdr"].Params())
    assert {"lam_pm": 0.01, "lam_fs": 1e-3, "lam_fc": 1e-3, "lam_sep": 1e-3}.items() <= sdr.items()  # SDR's code
    microseg = dataclasses.asdict(METHODS["microseg"].Params())
    assert {"unseen_clusters": 5, "pseudo_threshold": 0.7, "memory_size": 0}.items() <= microseg.items()
    # measured here (docs/methods.md): λ_kd 10 instead of SDR's preset 100; MicroSeg's evaluation and BN freezing
    assert sdr["lam_kd"] == 10.0 and "docs/methods.md#sdr" in inspect.getsource(METHODS["sdr"].Params)
    assert not microseg["unknown_to_background"] and not microseg["freeze_all_bn"]
    assert "docs/methods.md#microseg" in inspect.getsource(METHODS["microseg"].Params)
    assert METHODS["sdr"].base_task == "ce" and METHODS["microseg"].base_task is None


def test_sdr_refuses_an_unknown_feature_map_naming_the_valid_ones():
    with pytest.raises(ValueError, match="valid values are enc1, enc2, encoder, decoder"):
        make_method("sdr", feature="bottleneck")  # no backbone has it: refused before anything runs
    with pytest.raises(ValueError, match="valid maps are enc1, encoder, decoder"):
        train_tiny(make_method("sdr", feature="enc2"), steps=1)  # the seed backbone's, not the fast one's
