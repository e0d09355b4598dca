"""One atomic writer: whole files or none, with the user's umask, and JSON without NaN."""

import json
import math
import os
import stat

import numpy as np
import pytest

from csslab.data import cache
from csslab.data.scenes import make_scenes
from csslab.core.files import atomic_open, atomic_write, json_safe, write_json


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_files_get_the_umask_permissions(tmp_path, umask_022):
    assert mode(atomic_write(tmp_path / "a.txt", "text")) == 0o644
    assert mode(write_json(tmp_path / "deep" / "b.json", {"x": 1})) == 0o644
    os.umask(0o077)
    assert mode(atomic_write(tmp_path / "private.bin", b"\0")) == 0o600


def test_scene_cache_is_readable_by_others(tmp_path, umask_022, monkeypatch):
    monkeypatch.setenv("CSSLAB_SCENE_CACHE", "all")  # a set this small is not worth caching by default
    images, labels = np.zeros((20, 28, 28), np.uint8), np.arange(20) % 10
    make_scenes(images, labels, 3, seed=0, cache_dir=tmp_path)
    (path,) = tmp_path.iterdir()
    assert path.suffix == ".npz" and mode(path) == 0o644


def test_a_failed_write_keeps_the_previous_file_and_leaves_nothing_else(tmp_path):
    target = atomic_write(tmp_path / "results.json", "old")
    with pytest.raises(RuntimeError):
        with atomic_open(target) as file:
            file.write(b"half of the ne")
            raise RuntimeError("killed")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["results.json"]
    atomic_write(target, "new")
    assert target.read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_json_safe_turns_nan_and_numpy_into_plain_data(tmp_path):
    value = {1: np.float32(0.5), "nan": float("nan"), "inf": np.inf, "array": np.array([1, 2]),
             "tuple": (np.int64(3), math.nan)}
    assert json_safe(value) == {"1": 0.5, "nan": None, "inf": None, "array": [1, 2], "tuple": [3, None]}
    write_json(tmp_path / "x.json", value)
    assert json.loads((tmp_path / "x.json").read_text())["tuple"] == [3, None]


def test_one_cache_root(tmp_path, monkeypatch):
    monkeypatch.setenv("CSSLAB_CACHE", str(tmp_path))
    assert cache.scenes_dir() == tmp_path / "scenes" and cache.download_dir("mnist") == tmp_path / "data" / "mnist"
    monkeypatch.delenv("CSSLAB_CACHE")
    assert cache.cache_root() == cache.scenes_dir().parent == cache.download_dir("x").parent.parent
    assert cache.cache_root().parts[-2:] == (".cache", "csslab")
