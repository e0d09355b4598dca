"""model.pretrain: the shapes generator, the pretrained backbone's cache (trained once, keyed by its options,
never by a run's seed or method), its loading before task 0, and what it changes in a run."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from csslab.training import pretrain
from csslab.cli.main import main
from csslab.core.config import PRETRAIN_STEPS, Config, ModelConfig, apply_overrides
from csslab.data import cache
from csslab.data.shapes import MAX_SHAPES, MIN_SHAPES, SHAPE_CLASSES, make_shapes
from csslab.methods import get_method
from csslab.store.runstore import resolved, same_config
from csslab.training.shared_base import base_path
from csslab.training.train import run, setup

SMALL = ["scenario.tasks=5-5", "scenario.train_scenes=16", "scenario.test_scenes=20", "train.steps=3",
         "train.batch_size=8", "train.threads=1", "train.checkpoints=false", "model.pretrain_steps=2"]


@pytest.fixture
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CSSLAB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _config(*overrides) -> Config:
    return apply_overrides(Config(), [*SMALL, *overrides])


def _files() -> list:
    return sorted(cache.pretrained_dir().glob("pretrained-*.pt"))


def test_shapes_are_seeded_and_their_masks_label_their_ink():
    images, masks, kinds = make_shapes(64, seed=3, return_kinds=True)
    again, again_masks = make_shapes(64, seed=3)
    assert images.shape == (64, 1, 60, 60) and images.dtype == np.float32 and masks.dtype == np.uint8
    assert np.array_equal(images, again) and np.array_equal(masks, again_masks)
    assert not np.array_equal(images, make_shapes(64, seed=4)[0])
    assert not np.array_equal(make_shapes(4, seed=(0, 1))[0], make_shapes(4, seed=(0, 2))[0])  # one batch a step
    assert 0 <= images.min() and images.max() <= 1
    assert np.array_equal(masks > 0, images[:, 0] >= 0.5)  # labelled exactly where the ink is, as digit scenes
    for mask, placed in zip(masks, kinds):  # a canvas labels only the kinds of shape drawn on it
        assert set(np.unique(mask)) <= {0, *placed.tolist()}
    assert set(np.unique(masks)) == set(range(len(SHAPE_CLASSES)))
    assert ((kinds > 0).sum(1) >= MIN_SHAPES).all() and ((kinds > 0).sum(1) <= MAX_SHAPES).all()


def test_pretraining_is_cached_by_its_options_and_not_by_seed_or_method(own_cache, monkeypatch):
    model = ModelConfig(pretrain="shapes", pretrain_steps=2)
    first = pretrain.pretrained_backbone(model, "cpu", 1)
    assert len(_files()) == 1

    def no_training(*args, **kwargs):
        raise AssertionError("trained again")

    with monkeypatch.context() as m:
        m.setattr(pretrain, "train_backbone", no_training)
        loaded = pretrain.pretrained_backbone(model, "cpu", 1)
    assert loaded.keys() == first.keys() and all(torch.equal(loaded[k], first[k]) for k in first)
    assert pretrain.pretrained_file(ModelConfig(), "cpu", 1) is None  # none: nothing pretrained
    calls = []
    monkeypatch.setattr(pretrain, "train_backbone", lambda *a, **k: calls.append(a) or pretrain_state(first))
    pretrain.pretrained_backbone(ModelConfig(pretrain="shapes", pretrain_steps=3), "cpu", 1)
    pretrain.pretrained_backbone(model, "cpu", 2)  # other threads, other numbers: their own weights
    assert len(calls) == 2 and len(_files()) == 3
    configs = [_config(f"method={m}", f"seed={s}", "model.pretrain=shapes", "model.pretrain_steps=4")
               for m in ("finetune", "mib") for s in (0, 1)]
    pretrain.pretrain_once(configs)  # a benchmark's four runs: trained once
    assert len(calls) == 3 and len(_files()) == 4


def pretrain_state(backbone: dict) -> dict:
    return {"backbone": backbone, "seconds": 0.0, "loss": 0.0, "miou": 0.0}


def test_a_damaged_cache_file_is_trained_again(own_cache):
    model = ModelConfig(pretrain="shapes", pretrain_steps=1)
    first = pretrain.pretrained_backbone(model, "cpu", 1)
    _files()[0].write_bytes(b"not a torch file")
    with pytest.warns(RuntimeWarning, match="unreadable"):
        again = pretrain.pretrained_backbone(model, "cpu", 1)
    assert all(torch.equal(again[k], first[k]) for k in first)  # the same seeded pretraining


def test_a_run_starts_from_the_cached_weights_and_differs_from_one_without(own_cache):
    config = _config("method=finetune", "model.pretrain=shapes")
    s = setup(config)
    cached = torch.load(_files()[0], weights_only=True)["backbone"]
    assert all(torch.equal(s.model.backbone.state_dict()[k], cached[k]) for k in cached)
    scratch = setup(_config("method=finetune")).model.backbone.state_dict()
    assert not all(torch.equal(v, s.model.backbone.state_dict()[k]) for k, v in scratch.items())


def test_a_pretrained_run_is_deterministic_and_differs_from_one_from_scratch(own_cache):
    trained_inline = run(_config("method=finetune", "model.pretrain=shapes"), progress=False, log=None)
    assert len(_files()) == 1
    loaded = run(_config("method=finetune", "model.pretrain=shapes"), progress=False, log=None)
    scratch = run(_config("method=finetune"), progress=False, log=None)
    final = lambda results: [(task["confusion"], task["loss"]) for task in results.tasks]  # noqa: E731
    assert final(trained_inline) == final(loaded)  # training it inline drew none of the run's random numbers
    assert final(scratch) != final(loaded)


def test_another_pretraining_is_another_configuration_and_another_shared_base(tmp_path):
    scratch, shapes = _config(), _config("model.pretrain=shapes")
    longer = _config("model.pretrain=shapes", "model.pretrain_steps=5")
    assert not same_config(scratch, shapes) and not same_config(shapes, longer)
    method = get_method("finetune")()  # base_path reads base_key() off a method instance
    paths = {base_path(tmp_path, c, method) for c in (scratch, shapes, longer)}
    assert len(paths) == 3
    saved_before = scratch.to_dict() | {"model": {"backbone": "fast"}}  # a run saved before model.pretrain existed
    assert same_config(saved_before, scratch) and same_config(scratch, _config("model.pretrain_steps=7"))
    assert resolved(scratch)["model"] == {"backbone": "fast", "pretrain": "none",
                                        "pretrain_steps": ModelConfig().pretrain_steps}


def test_pretrain_steps_0_is_the_kinds_own_budget_and_is_saved_as_its_number():
    for kind, budget in PRETRAIN_STEPS.items():
        implicit = apply_overrides(Config(), [f"model.pretrain={kind}"])
        explicit = apply_overrides(Config(), [f"model.pretrain={kind}", f"model.pretrain_steps={budget}"])
        assert implicit.model.pretrain_budget() == budget and same_config(implicit, explicit)
        assert resolved(implicit)["model"]["pretrain_steps"] == budget
        assert pretrain.pretrain_key(implicit, "cpu", 1) == pretrain.pretrain_key(explicit, "cpu", 1)
    assert not same_config(implicit, apply_overrides(Config(), [f"model.pretrain={kind}", "model.pretrain_steps=7"]))


def test_a_benchmark_pretrains_before_its_runs_and_the_cache_lists_it(own_cache, monkeypatch, tmp_path, capsys):
    from csslab.experiments import sweep

    started = []
    real_run_one = sweep.run_one

    def run_one(*args, **kwargs):
        started.append(len(_files()))
        return real_run_one(*args, **kwargs)

    monkeypatch.setattr(sweep, "run_one", run_one)
    args = ["benchmark", "--methods", "finetune,lwf", "--seeds", "1", "--steps", "2", "--no-report", "--tasks", "5-5",
            "--set", "scenario.train_scenes=16", "--set", "scenario.test_scenes=20", "--set", "train.batch_size=8",
            "--set", "model.pretrain=shapes", "--set", "model.pretrain_steps=2", "--out", str(tmp_path / "b")]
    assert main(args) == 0
    assert started == [1, 1] and len(_files()) == 1  # the weights were there before the first run
    assert "pretrained backbone trained: shapes, 2 steps" in capsys.readouterr().out
    assert main(["cache", "list"]) == 0
    assert re.search(r"^pretrained\s+1 files", capsys.readouterr().out, re.M)
    assert main(["cache", "clear"]) == 0 and _files() == []
