"""The scene generator: determinism, the constraint it samples to, masks against an independent painter,
placement rules, and the on-disk cache."""

import warnings
from pathlib import Path

import numpy as np
import pytest

from csslab.core.constants import BACKGROUND
from csslab.data import scenes as scenes_module
from csslab.data.cache import scenes_dir
from csslab.data.digits import load_digits
from csslab.data.scenes import SceneConfig, generate_scenes, make_scenes
from csslab.core.version import files_digest


@pytest.fixture(autouse=True)
def _cache_every_scene_set(monkeypatch):
    """These tests are about the files: every scene set is written (test_cache_bound.py tests which pay)."""
    monkeypatch.setenv("CSSLAB_SCENE_CACHE", "all")


@pytest.fixture(scope="module")
def digits():
    embedded = load_digits("embedded")
    return embedded.train_images, embedded.train_labels


def box_iou(a, b, side=28):
    inter = max(0, side - abs(a[0] - b[0])) * max(0, side - abs(a[1] - b[1]))
    return inter / (2 * side * side - inter)


def paint_reference(images, meta, config):
    """One scene at a time from the metadata: the brightest digit wins a pixel, ties the higher label."""
    n, size = len(meta.labels), config.size
    scenes = np.zeros((n, size, size), dtype=np.float32)
    masks = np.full((n, size, size), BACKGROUND, dtype=np.uint8)
    for i in range(n):
        level = np.zeros((size, size), dtype=np.int64)
        label = np.full((size, size), -1)
        for slot in np.flatnonzero(meta.digits[i] >= 0):
            (r, c), digit = meta.positions[i, slot], images[meta.digits[i, slot]].astype(np.int64)
            here, mine = level[r:r + 28, c:c + 28], label[r:r + 28, c:c + 28]
            wins = (digit > here) | ((digit == here) & (meta.labels[i, slot] > mine))
            here[wins], mine[wins] = digit[wins], meta.labels[i, slot]
        scenes[i] = level / 255
        masks[i][scenes[i] >= config.ink] = label[scenes[i] >= config.ink] + 1
    return scenes, masks


def test_shapes_dtypes_and_range(digits):
    scenes, masks = generate_scenes(*digits, 50, SceneConfig(size=64))
    assert scenes.shape == masks.shape == (50, 64, 64)
    assert scenes.dtype == np.float32 and masks.dtype == np.uint8
    assert scenes.min() == 0 and scenes.max() == 1.0
    assert set(np.unique(masks)) <= set(range(11))
    empty = generate_scenes(*digits, 0)
    assert empty[0].shape == (0, 60, 60) and empty[1].shape == (0, 60, 60)


def test_same_seed_same_scenes_other_seed_other_scenes(digits):
    a = generate_scenes(*digits, 40, seed=3)
    b = generate_scenes(*digits, 40, seed=3)
    c = generate_scenes(*digits, 40, seed=4)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


@pytest.mark.parametrize("config", [SceneConfig(), SceneConfig(ink=0.05, max_box_iou=0.6), SceneConfig(ink=1.0),
                                    SceneConfig(size=40, min_digits=1, max_digits=6, max_tries=3)])
def test_scenes_and_masks_match_an_independent_painter(digits, config):
    images, _ = digits
    scenes, masks, meta = generate_scenes(*digits, 300, config, seed=1, return_meta=True)
    expected_scenes, expected_masks = paint_reference(images, meta, config)
    np.testing.assert_allclose(scenes, expected_scenes, rtol=0, atol=1e-7)
    np.testing.assert_array_equal(masks, expected_masks)
    assert np.array_equal(masks != BACKGROUND, scenes >= config.ink)  # mask > 0 exactly on ink


def test_meta_is_consistent(digits):
    images, labels = digits
    config = SceneConfig(size=120, max_tries=50)  # room enough that no digit is ever dropped
    _, _, meta = generate_scenes(*digits, 500, config, seed=2, return_meta=True)
    placed = meta.digits >= 0
    counts = placed.sum(axis=1)
    assert set(counts.tolist()) == {2, 3, 4}
    assert np.array_equal(meta.labels[placed], labels[meta.digits[placed]])
    assert (meta.labels[~placed] == -1).all() and (meta.positions[~placed] == -1).all()
    assert (np.diff(placed.astype(int), axis=1) <= 0).all()  # filled slots first
    assert meta.positions[placed].min() >= 0 and meta.positions[placed].max() <= config.size - 28


@pytest.mark.parametrize("config", [SceneConfig(), SceneConfig(max_box_iou=0.0, max_tries=5),
                                    SceneConfig(size=28, min_digits=1, max_digits=3)])
def test_box_iou_rule_always_holds(digits, config):
    _, _, meta = generate_scenes(*digits, 400, config, seed=5, return_meta=True)
    counts = (meta.digits >= 0).sum(axis=1)
    assert counts.min() >= 1 and counts.max() <= config.max_digits
    for i in range(len(counts)):
        boxes = meta.positions[i, :counts[i]]
        for a in range(len(boxes)):
            for b in range(a):
                assert box_iou(boxes[a], boxes[b]) <= config.max_box_iou
    if config.size == 28:  # one corner only: every second digit clashes and is dropped
        assert (counts == 1).all()
    if config == SceneConfig():
        assert (counts >= config.min_digits).mean() > 0.99  # dropping is rare at the defaults


def test_allowed_and_required_digits(digits):
    _, labels = digits
    scenes, masks, meta = generate_scenes(*digits, 400, allowed=[3, 5, 8], required=[5], seed=0,
                                          return_meta=True)
    assert set(np.unique(masks)) <= {BACKGROUND, 4, 6, 9}
    assert set(np.unique(meta.labels[meta.labels >= 0])) == {3, 5, 8}
    assert ((meta.labels == 5).any(axis=1)).all()
    assert ((masks == 6).any(axis=(1, 2))).all()  # and it shows: it is never fully hidden
    first = meta.labels[:, 0]
    assert 0.1 < (first == 5).mean() < 0.9  # the required digit is not always in the first slot
    _, _, free = generate_scenes(*digits, 400, seed=0, return_meta=True)
    assert set(np.unique(free.labels[free.labels >= 0])) == set(range(10))


def test_required_alone_fills_every_scene(digits):
    _, masks, meta = generate_scenes(*digits, 100, allowed=[7], required=[7], return_meta=True)
    assert set(np.unique(meta.labels)) == {-1, 7}
    assert set(np.unique(masks)) == {BACKGROUND, 8}


@pytest.mark.parametrize("kwargs,message", [
    ({"allowed": [1, 2], "required": [3]}, "not a subset"),
    ({"allowed": []}, "non-empty"),
    ({"required": [10]}, "digits 0..9"),
    ({"allowed": [-1]}, "digits 0..9"),
])
def test_bad_constraints(digits, kwargs, message):
    with pytest.raises(ValueError, match=message):
        generate_scenes(*digits, 5, **kwargs)


def test_constraint_with_no_instances():
    images = np.zeros((4, 28, 28), dtype=np.uint8)
    labels = np.array([0, 0, 1, 1])
    with pytest.raises(ValueError, match="no digit instance of allowed=\\[5\\]"):
        generate_scenes(images, labels, 3, allowed=[5])
    with pytest.raises(ValueError, match="no digit instance of required=\\[2\\]"):
        generate_scenes(images, labels, 3, required=[2])


def test_bad_digit_arrays(digits):
    images, labels = digits
    with pytest.raises(ValueError, match="uint8"):
        generate_scenes(images.astype(np.float32), labels, 2)
    with pytest.raises(ValueError, match="labels must be"):
        generate_scenes(images, labels[:-1], 2)
    with pytest.raises(ValueError, match="do not fit"):
        generate_scenes(np.zeros((2, 30, 30), np.uint8), np.zeros(2, np.int64), 2, SceneConfig(size=29))
    with pytest.raises(ValueError, match="n=-1"):
        generate_scenes(images, labels, -1)


@pytest.mark.parametrize("kwargs,name", [
    ({"size": 27}, "size"), ({"size": 60.0}, "size"), ({"size": "60"}, "size"),
    ({"min_digits": 0}, "min_digits"), ({"min_digits": 3, "max_digits": 2}, "max_digits"),
    ({"max_box_iou": -0.1}, "max_box_iou"), ({"max_box_iou": 1.5}, "max_box_iou"),
    ({"ink": 0}, "ink"), ({"ink": 1.01}, "ink"), ({"max_tries": 0}, "max_tries"), ({"max_tries": True}, "max_tries"),
])
def test_invalid_config(kwargs, name):
    with pytest.raises(ValueError, match=f"SceneConfig.{name}=") as error:
        SceneConfig(**kwargs)
    assert "must be" in str(error.value)


def test_cache_round_trip(digits, tmp_path, monkeypatch):
    config = SceneConfig(size=48)
    first = make_scenes(*digits, 30, config, allowed=[1, 2], seed=7, cache_dir=tmp_path, source_key="train")
    files = list(tmp_path.glob("*.npz"))
    assert [p.name for p in tmp_path.iterdir()] == [files[0].name]  # no temporary file left
    expected = generate_scenes(*digits, 30, config, allowed=[1, 2], seed=7)  # this module's own reference

    def fail(*args, **kwargs):
        raise AssertionError("generated although cached")
    monkeypatch.setattr(scenes_module, "_generate", fail)
    again = make_scenes(*digits, 30, config, allowed=[2, 1], seed=7, cache_dir=tmp_path, source_key="train")
    for a, b, c in zip(first, again, expected):
        assert np.array_equal(a, b) and np.array_equal(a, c) and a.dtype == c.dtype
    monkeypatch.undo()
    monkeypatch.setenv("CSSLAB_SCENE_CACHE", "all")  # undone with the rest
    for change in ({"seed": 8}, {"source_key": "test"}, {"allowed": [1, 2, 3]}, {"required": [1]}):
        arguments = {"seed": 7, "allowed": [1, 2], "source_key": "train", **change}
        make_scenes(*digits, 30, config, cache_dir=tmp_path, **arguments)
    assert len(list(tmp_path.glob("*.npz"))) == 5


@pytest.mark.parametrize("damage", ["truncate", "garbage", "wrong shape"])
def test_corrupt_cache_is_rebuilt(digits, tmp_path, damage):
    first = make_scenes(*digits, 20, seed=1, cache_dir=tmp_path)
    (path,) = tmp_path.glob("*.npz")
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:500])
    elif damage == "garbage":
        path.write_bytes(b"not a zip file at all")
    else:
        np.savez(path, levels=np.zeros((3, 5, 5), np.uint8), masks=np.zeros((3, 5, 5), np.uint8))
    with pytest.warns(RuntimeWarning, match="rebuilding"):
        again = make_scenes(*digits, 20, seed=1, cache_dir=tmp_path)
    assert np.array_equal(first[0], again[0]) and np.array_equal(first[1], again[1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the rebuilt file is whole again
        make_scenes(*digits, 20, seed=1, cache_dir=tmp_path)


@pytest.mark.parametrize("blank", ["no digest", "digest of the real scenes"])
def test_a_blank_but_well_formed_cache_file_is_detected_and_rebuilt(digits, tmp_path, blank):
    make_scenes(*digits, 20, seed=1, cache_dir=tmp_path)
    (path,) = tmp_path.glob("*.npz")
    with np.load(path) as data:
        zeros, digest = np.zeros_like(data["levels"]), data["digest"]
    extra = {} if blank == "no digest" else {"digest": digest}
    np.savez(path, levels=zeros, masks=zeros, **extra)  # readable, the right shape and dtype: only blank
    with pytest.warns(RuntimeWarning, match="rebuilding scene cache .*: (no content digest|its content does not)"):
        scenes, masks = make_scenes(*digits, 20, seed=1, cache_dir=tmp_path)
    fresh = generate_scenes(*digits, 20, seed=1)
    assert np.array_equal(scenes, fresh[0]) and np.array_equal(masks, fresh[1]) and masks.any()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the rebuilt file carries a digest that matches
        again = make_scenes(*digits, 20, seed=1, cache_dir=tmp_path)
    assert np.array_equal(again[0], fresh[0]) and np.array_equal(again[1], fresh[1])


def test_cache_location_and_switch(digits, tmp_path, monkeypatch):
    monkeypatch.setenv("CSSLAB_CACHE", str(tmp_path / "root"))
    assert scenes_dir() == tmp_path / "root" / "scenes"
    make_scenes(*digits, 5, seed=0)
    assert len(list((tmp_path / "root" / "scenes").glob("*.npz"))) == 1
    make_scenes(*digits, 5, seed=0, cache_dir=False)
    make_scenes(*digits, 5, seed=None)
    assert len(list((tmp_path / "root" / "scenes").glob("*.npz"))) == 1
    monkeypatch.setattr(scenes_module, "GENERATOR_VERSION", scenes_module.GENERATOR_VERSION + 1)
    make_scenes(*digits, 5, seed=0)
    assert len(list((tmp_path / "root" / "scenes").glob("*.npz"))) == 2
    # an edit to the generator's source keys new files too, even with the version left as it was
    source = Path(scenes_module.__file__)
    assert scenes_module.CODE_DIGEST == files_digest([source], source.parent) != ""
    monkeypatch.setattr(scenes_module, "CODE_DIGEST", "edited")
    make_scenes(*digits, 5, seed=0)
    assert len(list((tmp_path / "root" / "scenes").glob("*.npz"))) == 3


def test_baked_patches_are_reused_only_for_read_only_digits(digits):
    images, labels = digits
    scenes_module._BAKED.clear()
    generate_scenes(images, labels, 3)
    assert len(scenes_module._BAKED) == 1  # the Digits' arrays are read-only
    writable = images.copy()
    generate_scenes(writable, labels, 3)
    assert len(scenes_module._BAKED) == 1
    writable[:] = 0  # editing writable digits changes the next scenes: nothing stale
    assert generate_scenes(writable, labels, 3)[0].max() == 0
