"""The bounded scene cache: only scene sets slower to paint than to read are written, the folder stays under its
limit by removing the least recently used files, `csslab cache list` shows the sizes and the limit, and a failed
download's empty folder is no cache entry."""

import os
import warnings

import numpy as np
import pytest

from csslab.cli.main import main
from csslab.data import cache
from csslab.data.digits import load_digits
from csslab.data.scenes import SceneConfig, generate_scenes, make_scenes
from csslab.scenarios.scenario import make_scenario

CROWDED = SceneConfig(min_digits=4, max_box_iou=0.0, max_tries=2000)  # most 4th digits find no place: many draws


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("CSSLAB_CACHE", str(tmp_path))
    for name in ("CSSLAB_SCENE_CACHE", "CSSLAB_SCENE_CACHE_MB"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@pytest.fixture(scope="module")
def digits():
    d = load_digits("embedded")
    return d.train_images, d.train_labels


def scene_files():
    return sorted(cache.scenes_dir().glob("scenes-*.npz"))


def test_a_default_scenario_writes_no_scene_file(root):
    """Its scenes paint faster than they read back (docs/speed.md): a default run leaves the cache empty."""
    scenario = make_scenario("5-5")
    images, masks = scenario.train_raw(scenario.tasks[0])
    scenario.test_raw()
    assert masks.shape == (2000, 60, 60) and masks.any()
    assert scene_files() == []


def test_a_crowded_scene_set_is_written_and_read_back_identically(root, digits):
    first = make_scenes(*digits, 40, CROWDED, seed=3)
    (path,) = scene_files()
    again = make_scenes(*digits, 40, CROWDED, seed=3)
    reference = generate_scenes(*digits, 40, CROWDED, seed=3)
    assert all(np.array_equal(a, b) and np.array_equal(a, c) for a, b, c in zip(first, again, reference))
    assert scene_files() == [path]


def test_the_rule_weighs_draws_against_bytes(root, monkeypatch):
    kb = 1000
    assert not cache.worth_caching(cache.MIN_DRAWS_PER_KB * 10 - 1, 10 * kb)
    assert cache.worth_caching(cache.MIN_DRAWS_PER_KB * 10, 10 * kb)
    monkeypatch.setenv("CSSLAB_SCENE_CACHE", "all")
    assert cache.worth_caching(0, 10 * kb)
    monkeypatch.setenv("CSSLAB_SCENE_CACHE_MB", "0.005")  # a set larger than the whole limit is never written
    assert not cache.worth_caching(10**9, 10 * kb)
    monkeypatch.setenv("CSSLAB_SCENE_CACHE", "off")
    monkeypatch.delenv("CSSLAB_SCENE_CACHE_MB")
    assert not cache.worth_caching(10**9, 10 * kb)


def test_off_reads_and_writes_nothing(root, digits, monkeypatch):
    monkeypatch.setenv("CSSLAB_SCENE_CACHE", "all")
    make_scenes(*digits, 10, seed=1)
    (path,) = scene_files()
    path.write_bytes(b"damaged")  # would warn if read
    monkeypatch.setenv("CSSLAB_SCENE_CACHE", "off")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make_scenes(*digits, 10, seed=1)
        make_scenes(*digits, 10, seed=2)
    assert scene_files() == [path] and path.read_bytes() == b"damaged"


def test_the_least_recently_used_files_go_first(root, digits, monkeypatch):
    monkeypatch.setenv("CSSLAB_SCENE_CACHE", "all")
    files = []  # by seed
    for seed in (0, 1, 2):
        make_scenes(*digits, 20, seed=seed)
        (new,) = set(scene_files()) - set(files)
        files.append(new)
        os.utime(new, (1_000_000 + seed, 1_000_000 + seed))  # written long ago, seed 0 first
    size = files[0].stat().st_size
    make_scenes(*digits, 20, seed=0)  # a hit: seed 0's file is now the most recently used
    assert files[0].stat().st_mtime > 2_000_000
    monkeypatch.setenv("CSSLAB_SCENE_CACHE_MB", str(3.5 * size / 1e6))  # room for three files, not four
    make_scenes(*digits, 20, seed=3)
    left = scene_files()
    assert len(left) == 3 and files[0] in left and files[1] not in left and files[2] in left
    assert sum(f.stat().st_size for f in left) <= cache.scene_limit()


def test_evict_keeps_the_file_just_written_and_ignores_other_files(root, digits, monkeypatch):
    monkeypatch.setenv("CSSLAB_SCENE_CACHE", "all")
    make_scenes(*digits, 20, seed=0)
    (path,) = scene_files()
    (cache.scenes_dir() / "mine.npz").write_bytes(b"x" * 10**6)  # not csslab's: never removed
    assert cache.evict(cache.scenes_dir(), 0, keep=path) == []
    assert cache.evict(cache.scenes_dir(), 0) == [path]
    assert (cache.scenes_dir() / "mine.npz").is_file()


@pytest.mark.parametrize("name, value", [("CSSLAB_SCENE_CACHE", "sometimes"), ("CSSLAB_SCENE_CACHE_MB", "-1"),
                                         ("CSSLAB_SCENE_CACHE_MB", "nan"), ("CSSLAB_SCENE_CACHE_MB", "lots")])
def test_a_bad_setting_is_one_line(root, monkeypatch, capsys, name, value):
    monkeypatch.setenv(name, value)
    assert main(["cache", "list"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"{name}='{value}' is invalid" in err and "Traceback" not in err


def test_list_shows_sizes_and_the_limit_and_no_empty_download_folder(root, monkeypatch, capsys):
    monkeypatch.setenv("CSSLAB_SCENE_CACHE_MB", "64")
    (root / "data" / "mnist").mkdir(parents=True)  # what a failed download leaves
    fashion = root / "data" / "fashion"
    fashion.mkdir()
    (fashion / "train-labels-idx1-ubyte.gz").write_bytes(b"y" * 2_000_000)
    assert [e.name for e in cache.entries()] == ["scenes", "pretrained", "data/fashion"]
    assert main(["cache", "list"]) == 0
    out = capsys.readouterr().out
    assert "data/mnist" not in out and "data/fashion" in out and "2.0 MB" in out
    assert "at most 64.0 MB" in out and "written: auto" in out
    assert main(["cache", "clear", "--all"]) == 0
    assert not (root / "data").exists()
