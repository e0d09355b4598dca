"""model.pretrain=digits and =joint: no pretraining digit instance is in any scene (embedded and IDX data), the
pretraining trains on those instances only, a second run loads the cached backbone, and joint's backbone is the one
a seed-0 joint run ends with."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from csslab.core.config import Config, apply_overrides
from csslab.data import cache
from csslab.data.digits import load_digits, write_idx
from csslab.scenarios import make_scenario
from csslab.store.checkpoints import load_model
from csslab.methods import get_method
from csslab.model.network import IncrementalSegmenter
from csslab.training import pretrain, pretrain_digits
from csslab.training.train import fit_task, run

SMALL = ["scenario.tasks=5-5", "scenario.train_scenes=16", "scenario.test_scenes=20", "train.steps=3",
         "train.batch_size=8", "train.threads=1", "model.pretrain_steps=2"]


@pytest.fixture
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CSSLAB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _bytes(images) -> set:
    return {image.tobytes() for image in images}


def _idx_source(folder) -> str:
    """A tiny MNIST folder of distinct random digits, 8 train and 3 test digits a class."""
    rng = np.random.default_rng(0)
    folder.mkdir()
    for prefix, n in (("train", 80), ("t10k", 30)):
        write_idx(folder / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", (np.arange(n) % 10).astype(np.uint8))
    return f"mnist:{folder}"


@pytest.mark.parametrize("source", ["embedded", "idx"])
def test_no_pretraining_instance_is_in_any_scene(tmp_path, source):
    source = _idx_source(tmp_path / "idx") if source == "idx" else source
    digits = load_digits(source)
    pretraining = _bytes(digits.pretrain_images)
    assert len(pretraining) == len(digits.pretrain_labels) > 0  # distinct instances, every class
    assert set(digits.pretrain_labels.tolist()) == set(range(10))
    for setting in ("overlap", "partitioned"):
        scenario = make_scenario("2-2-2-2-2", setting, data=source, val_scenes=10, train_scenes=8, test_scenes=8)
        drawn = [scenario.train_digits(task)[0] for task in scenario]  # what each task's scenes are made of
        drawn += [digits.train_images[scenario.held_out()], digits.test_images]  # validation, test scenes
        assert all(not pretraining & _bytes(images) for images in drawn)
        assert sum(len(images) for images in drawn[:-2]) >= len(digits.train_labels) - len(drawn[-2])


def test_digits_pretraining_draws_only_the_held_out_instances(monkeypatch, tmp_path):
    source = _idx_source(tmp_path / "idx")
    digits, seen = load_digits(source), []
    real = pretrain_digits.generate_scenes

    def recording(images, labels, *args, **kwargs):
        seen.append(images)
        return real(images, labels, *args, **kwargs)

    monkeypatch.setattr(pretrain_digits, "generate_scenes", recording)
    state = pretrain_digits.train_digits_backbone("fast", source, 2, 4, 1e-3, 0, torch.device("cpu"))
    assert len(seen) == 3 and seen[0] is digits.pretrain_images and seen[1] is digits.pretrain_images
    assert seen[2] is digits.test_images  # the held-out accuracy's canvases, never trained on
    assert 0 <= state["accuracy"] <= state["digit_accuracy"] <= 1


def test_pooled_logits_follow_the_strongest_pixels():
    net = lambda x: x  # noqa: E731 (per-pixel logits given directly)
    flat = torch.full((1, 2, 4, 4), -3.0)
    peaked = flat.clone()
    peaked[0, 1, 0, 0] = 6.0
    assert torch.allclose(pretrain_digits.pooled_logits(net, flat), torch.full((1, 2), -3.0))  # constant: itself
    pooled = pretrain_digits.pooled_logits(net, peaked)
    assert pooled[0, 0] == -3.0 and pooled[0, 1] > 0  # one confident pixel makes the digit present


def test_a_second_run_loads_the_cached_digits_backbone(own_cache):
    config = apply_overrides(Config(), [*SMALL, "method=finetune", "model.pretrain=digits"])
    logs = [], []
    first = run(config, progress=False, log=logs[0].append)
    second = run(config, progress=False, log=logs[1].append)
    assert any("pretrained backbone trained: digits, 2 steps" in line for line in logs[0])
    assert any("pretrained backbone loaded from cache: digits" in line for line in logs[1])
    assert [t["confusion"] for t in first.tasks] == [t["confusion"] for t in second.tasks]
    assert len(list(cache.pretrained_dir().glob("pretrained-digits-*.pt"))) == 1


def test_joint_is_the_backbone_of_a_seed_0_joint_run_and_is_cached(own_cache, tmp_path):
    config = apply_overrides(Config(), [*SMALL, "method=finetune", "seed=3", "model.pretrain=joint"])
    logs = []
    backbone = pretrain.pretrained_backbone(config, "cpu", 1, log=logs.append, fit=fit_task)
    assert "an analysis upper bound, not a CSS protocol" in logs[0] and "trained" in logs[0]
    joint = apply_overrides(config, ["method=joint", "seed=0", "model.pretrain=none"])
    run(joint, out=tmp_path / "joint", progress=False, log=None)
    model, method = IncrementalSegmenter("fast"), get_method("joint")()
    state = torch.load(tmp_path / "joint" / "checkpoints" / "task-0.pt", weights_only=True)
    load_model(model, method, make_scenario("10"), state)
    assert all(torch.equal(backbone[k], v) for k, v in model.backbone.state_dict().items())
    other_seed = apply_overrides(config, ["seed=1", "method=mib"])  # never keyed by the run's seed or method
    assert pretrain.pretrained_file(other_seed, "cpu", 1) == pretrain.pretrained_file(config, "cpu", 1)
    more = apply_overrides(config, ["train.steps=4"])  # the run's budget is the joint run's
    assert pretrain.pretrained_file(more, "cpu", 1) != pretrain.pretrained_file(config, "cpu", 1)
    logs.clear()
    run(config, progress=False, log=logs.append)
    assert any("pretrained backbone loaded from cache: joint" in line for line in logs)


def test_joint_needs_the_training_loop():
    config = apply_overrides(Config(), [*SMALL, "model.pretrain=joint"])
    with pytest.raises(ValueError, match="pass fit"):
        pretrain.train_joint_backbone(config, torch.device("cpu"), False, None)
