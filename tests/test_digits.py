"""Digit sources: the embedded split and the IDX reader, including the files it must refuse."""

import gzip
import os

import numpy as np
import pytest

from csslab.core.constants import N_DIGITS
from csslab.data import digits as digits_module
from csslab.data.digits import load_digits, read_idx, stratified_split, write_idx


@pytest.fixture(scope="module")
def embedded():
    return load_digits("embedded")


def test_embedded_split_sizes_and_classes(embedded):
    assert embedded.train_images.shape == (3000, 28, 28) and embedded.train_images.dtype == np.uint8
    assert embedded.test_images.shape == (1000, 28, 28) and embedded.test_images.dtype == np.uint8
    assert embedded.train_labels.dtype == np.int64 and embedded.test_labels.dtype == np.int64
    assert np.bincount(embedded.train_labels, minlength=N_DIGITS).tolist() == [300] * N_DIGITS  # 100 pretrain
    assert np.bincount(embedded.pretrain_labels, minlength=N_DIGITS).tolist() == [100] * N_DIGITS
    assert np.bincount(embedded.test_labels, minlength=N_DIGITS).tolist() == [100] * N_DIGITS
    assert embedded.train_images.max() > 200  # real ink, not an all-zero parse


def test_embedded_train_and_test_share_no_digit(embedded):
    # The 5,000 embedded digits are pairwise distinct, so distinct bytes means distinct instances.
    train = {image.tobytes() for image in embedded.train_images}
    test = {image.tobytes() for image in embedded.test_images}
    pretrain = {image.tobytes() for image in embedded.pretrain_images}
    assert len(train) == 3000 and len(test) == 1000 and len(pretrain) == 1000
    assert not train & test and not pretrain & (train | test)


def test_embedded_is_deterministic_and_read_only(embedded):
    digits_module._embedded.cache_clear()  # parse again, not the memoised copy
    again = load_digits()
    assert again is not embedded
    for name in ("train_images", "train_labels", "test_images", "test_labels", "pretrain_images", "pretrain_labels"):
        np.testing.assert_array_equal(getattr(again, name), getattr(embedded, name))
        assert not getattr(again, name).flags.writeable


def test_stratified_split_is_exact_disjoint_and_seeded():
    labels = np.repeat(np.arange(3), [5, 6, 7])
    train, test = stratified_split(labels, test_per_class=2, seed=3)
    assert np.bincount(labels[test]).tolist() == [2, 2, 2]
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(len(labels)))
    again = stratified_split(labels, test_per_class=2, seed=3)
    assert np.array_equal(test, again[1])
    assert not np.array_equal(test, stratified_split(labels, test_per_class=2, seed=4)[1])
    with pytest.raises(ValueError, match="class 0 has 5 digits"):
        stratified_split(labels, test_per_class=5, seed=0)


def write_mnist_dir(folder, n_train=12, n_test=7, gz=False, seed=0):
    """A tiny MNIST folder; returns the arrays written."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    folder.mkdir(exist_ok=True)
    for name, array in arrays.items():
        write_idx(folder / (name + (".gz" if gz else "")), array)
    return arrays


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_round_trip(tmp_path, suffix):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / f"images{suffix}"
    write_idx(path, images)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == (suffix == ".gz")
    np.testing.assert_array_equal(read_idx(path), images)
    write_idx(path, images[:, 0, 0])
    np.testing.assert_array_equal(read_idx(path), images[:, 0, 0])


@pytest.mark.parametrize("kind,gz", [("mnist", False), ("mnist", True), ("fashion", True)])
def test_load_idx_folder(tmp_path, kind, gz):
    arrays = write_mnist_dir(tmp_path / "data", gz=gz)
    digits = load_digits(f"{kind}:{tmp_path / 'data'}")
    scenes, pretrain = digits_module.pretrain_split(arrays["train-labels-idx1-ubyte"].astype(np.int64))
    assert len(scenes) + len(pretrain) == 12 and len(pretrain) > 0  # the pretraining's share of the classes of >= 4
    np.testing.assert_array_equal(digits.train_images, arrays["train-images-idx3-ubyte"][scenes])
    np.testing.assert_array_equal(digits.pretrain_images, arrays["train-images-idx3-ubyte"][pretrain])
    np.testing.assert_array_equal(digits.test_labels, arrays["t10k-labels-idx1-ubyte"])
    assert digits.train_labels.dtype == np.int64 and len(digits.test_images) == 7
    assert digits.name.startswith(kind)


HEADER = bytes([0, 0, 8, 1]) + (4).to_bytes(4, "big")  # uint8 labels, 4 of them


@pytest.mark.parametrize("content,message", [
    (b"\x01\x02" + HEADER[2:] + bytes(4), "not an IDX file"),
    (bytes([0, 0, 0x0D, 1]) + (4).to_bytes(4, "big") + bytes(16), "type byte is 0x0d"),
    (bytes([0, 0, 8, 2]) + (2).to_bytes(4, "big") * 2 + bytes(4), "2 dimensions"),
    (HEADER + bytes(3), "needs 4 data bytes, the file has 3"),
    (HEADER + bytes(5), "needs 4 data bytes, the file has 5"),
    (HEADER[:6], "truncated IDX header"),
    (b"", "not an IDX file"),
    (b"\x1f\x8b" + bytes(10), "corrupt gzip"),
])
def test_read_idx_refuses_bad_files(tmp_path, content, message):
    path = tmp_path / "bad-labels-idx1-ubyte"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message) as error:
        read_idx(path)
    assert str(path) in str(error.value)


def test_read_idx_truncated_gzip_member(tmp_path):
    path = tmp_path / "labels.gz"
    path.write_bytes(gzip.compress(HEADER + bytes(4))[:-6])
    with pytest.raises(ValueError, match="corrupt gzip") as error:
        read_idx(path)
    assert str(path) in str(error.value)


def test_mismatched_image_and_label_counts(tmp_path):
    write_mnist_dir(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(6, dtype=np.uint8))
    with pytest.raises(ValueError, match="7 images but 6 labels") as error:
        load_digits(f"mnist:{tmp_path}")
    assert "t10k-images-idx3-ubyte" in str(error.value)


def test_missing_file_and_folder(tmp_path):
    write_mnist_dir(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match="train-labels-idx1-ubyte") as error:
        load_digits(f"mnist:{tmp_path}")
    assert str(tmp_path) in str(error.value)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_digits(f"fashion:{tmp_path / 'nowhere'}")
    with pytest.raises(FileNotFoundError, match="absent-file"):
        read_idx(tmp_path / "absent-file")


@pytest.mark.parametrize("source", ["mnist", "mnist:", "cifar:/data", "Embedded", "", None])
def test_unknown_source_lists_valid_forms(source):
    with pytest.raises(ValueError, match="valid sources are 'embedded', 'mnist:DIR' or 'fashion:DIR'") as error:
        load_digits(source)
    assert repr(source) in str(error.value)


def test_write_idx_refuses_non_uint8(tmp_path):
    with pytest.raises(ValueError, match="uint8"):
        write_idx(tmp_path / "x", np.zeros(3, dtype=np.int64))


def test_labels_must_be_digits(tmp_path):
    write_mnist_dir(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.full(12, 12, dtype=np.uint8))
    with pytest.raises(ValueError, match="label 12 is not a digit") as error:
        load_digits(f"mnist:{tmp_path}")
    assert "train-images-idx3-ubyte" in str(error.value)


def test_idx_folder_is_memoised_until_a_file_changes(tmp_path):
    write_mnist_dir(tmp_path)
    first = load_digits(f"mnist:{tmp_path}")
    assert load_digits(f"mnist:{tmp_path}") is first
    path = tmp_path / "t10k-labels-idx1-ubyte"
    stamp = path.stat().st_mtime_ns
    write_idx(path, np.full(7, 3, dtype=np.uint8))  # same size: only the time tells
    os.utime(path, ns=(stamp + 10**9, stamp + 10**9))  # on coarse-clock file systems too
    second = load_digits(f"mnist:{tmp_path}")
    assert second is not first and (second.test_labels == 3).all()
