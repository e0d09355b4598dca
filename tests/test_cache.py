"""``csslab cache list|clear``: what the cache holds with sizes, and clearing the generated scenes
(or, with --all, the downloads too) without touching any other file in the cache root."""

import re

import numpy as np
import pytest

from csslab.cli.main import main
from csslab.data import cache
from csslab.data.digits import load_digits
from csslab.data.scenes import make_scenes


@pytest.fixture(autouse=True)
def _cache_every_scene_set(monkeypatch):
    """These tests are about the files: every scene set is written (test_cache_bound.py tests which pay)."""
    monkeypatch.setenv("CSSLAB_SCENE_CACHE", "all")


@pytest.fixture
def filled(tmp_path, monkeypatch):
    """A cache root with two scene files, a killed write's leftover, a download and a foreign file."""
    monkeypatch.setenv("CSSLAB_CACHE", str(tmp_path))
    images, labels = np.zeros((20, 28, 28), np.uint8), np.arange(20) % 10
    for seed in (0, 1):
        make_scenes(images, labels, 5, seed=seed)
    (cache.scenes_dir() / ".scenes-abc.npz.1234abcd.tmp").write_bytes(b"x" * 10)
    mnist = cache.download_dir("mnist")
    mnist.mkdir(parents=True)
    (mnist / "train-labels-idx1-ubyte.gz").write_bytes(b"y" * 3000)
    (tmp_path / "notes.txt").write_text("not csslab's")
    (cache.scenes_dir() / "mine.npz").write_bytes(b"z")  # a user's file in the folder: not a cache file
    return tmp_path


def listing(capsys) -> dict:
    assert main(["cache", "list"]) == 0
    out = capsys.readouterr().out
    rows = re.findall(r"^(\S+)\s+(\d+) files\s+([\d.]+) MB", out, re.M)
    return {name: (int(n), float(mb)) for name, n, mb in rows}


def test_list_shows_each_entry_and_the_total(filled, capsys):
    rows = listing(capsys)
    scene_bytes = sum(p.stat().st_size for p in (filled / "scenes").iterdir() if p.name != "mine.npz")
    assert rows["scenes"] == (3, round(scene_bytes / 1e6, 1))
    assert rows["data/mnist"] == (1, 0.0)
    assert rows["total"][0] == 4
    assert [e.size for e in cache.entries()] == [scene_bytes, 0, 3000]  # scenes, pretrained, data/mnist


def test_clear_removes_the_scenes_and_keeps_downloads_and_other_files(filled, capsys):
    assert main(["cache", "clear"]) == 0
    out = capsys.readouterr().out
    assert "removed scenes: 3 files" in out and "downloads kept" in out
    assert sorted(p.name for p in (filled / "scenes").iterdir()) == ["mine.npz"]
    assert (filled / "data" / "mnist" / "train-labels-idx1-ubyte.gz").is_file()
    assert listing(capsys)["scenes"] == (0, 0.0)
    assert main(["cache", "clear", "--scenes"]) == 0  # nothing left to clear is fine
    assert "freed 0.0 MB" in capsys.readouterr().out


def test_clear_all_removes_downloads_too(filled, capsys):
    assert main(["cache", "clear", "--all"]) == 0
    out = capsys.readouterr().out
    assert "removed data/mnist: 1 file," in out and "downloads kept" not in out
    assert not (filled / "data").exists()
    assert sorted(p.name for p in filled.rglob("*")) == ["mine.npz", "notes.txt", "scenes"]
    assert listing(capsys)["total"] == (0, 0.0)


def test_cleared_scenes_are_rebuilt_identically(filled, capsys):
    digits = load_digits("embedded")
    first = make_scenes(digits.train_images, digits.train_labels, 5, seed=0)
    assert main(["cache", "clear"]) == 0
    again = make_scenes(digits.train_images, digits.train_labels, 5, seed=0)
    assert first[1].any() and all(np.array_equal(a, b) for a, b in zip(first, again))
    assert len(list((filled / "scenes").glob("scenes-*.npz"))) == 1


def test_clear_and_scenes_together_are_refused(capsys):
    with pytest.raises(SystemExit) as error:
        main(["cache", "clear", "--scenes", "--all"])
    assert error.value.code == 2 and "not allowed with" in capsys.readouterr().err


def test_a_blanked_cache_is_rebuilt_with_one_line_per_file(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CSSLAB_CACHE", str(tmp_path))
    assert main(["scenario", "--train-scenes", "8", "--tasks", "5-5"]) == 0
    table = capsys.readouterr().out
    files = sorted((tmp_path / "scenes").glob("scenes-*.npz"))
    for path in files:  # zeros of the right shape and dtype: what a silent corruption looks like
        with np.load(path) as data:
            zeros = np.zeros_like(data["levels"])
        np.savez(path, levels=zeros, masks=zeros)
    assert main(["scenario", "--train-scenes", "8", "--tasks", "5-5"]) == 0
    out, err = capsys.readouterr()
    assert out == table  # the label statistics of the rebuilt scenes, not of blank ones
    lines = err.strip().splitlines()
    assert len(lines) == len(files) > 0
    assert all(line.startswith("csslab: warning: rebuilding scene cache ") and "no content digest" in line
               for line in lines)
