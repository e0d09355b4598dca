"""``csslab data download``: fetch the four MNIST / Fashion-MNIST IDX files into a cache, checksummed.

Each file is streamed into a temporary file beside its destination and renamed only once its MD5
matches the published value, so a failed or interrupted download never leaves a partial or wrong
file under the real name. Files already present with the right checksum are not fetched again.
"""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from pathlib import Path

from csslab.data.cache import download_dir
from csslab.data.digits import IDX_FILES
from csslab.core.files import atomic_open

# The published MD5s (the values torchvision and the datasets' own pages list).
DATASETS = {
    "mnist": {
        "mirrors": ("https://ossci-datasets.s3.amazonaws.com/mnist/",
                    "https://storage.googleapis.com/cvdf-datasets/mnist/"),
        "md5": {
            "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
        },
    },
    "fashion": {
        "mirrors": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"),
        "md5": {
            "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
        },
    },
}
assert all(set(d["md5"]) == {f"{stem}.gz" for stem in IDX_FILES.values()} for d in DATASETS.values())
CHUNK = 1 << 20


def _check_name(name: str) -> dict:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}: valid datasets are {', '.join(DATASETS)}")
    return DATASETS[name]


def cache_dir(name: str) -> Path:
    """Where ``csslab data download NAME`` stores files: $CSSLAB_CACHE/data/NAME, else ~/.cache/csslab/data/NAME."""
    _check_name(name)
    return download_dir(name)


def md5sum(path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def status(name: str, folder=None, checksums: dict | None = None) -> dict[str, str]:
    """{file name: "ok" | "missing" | "bad checksum"} for the dataset's four files in ``folder``."""
    folder = Path(folder).expanduser() if folder else cache_dir(name)
    checksums = checksums or _check_name(name)["md5"]
    out = {}
    for file, expected in checksums.items():
        path = folder / file
        out[file] = "missing" if not path.is_file() else "ok" if md5sum(path) == expected else "bad checksum"
    return out


def download(name: str, folder=None, mirror: str | None = None, checksums: dict | None = None,
             log=print, timeout: float = 60.0) -> Path:
    """Fetch the dataset's four IDX .gz files into ``folder`` (default ``cache_dir(name)``); returns it.

    ``mirror``: a base URL to use instead of the built-in ones. ``checksums`` ({file: md5}) replaces the
    published table (tests serve small files of their own). Raises ValueError naming the file and the
    cause when no mirror gives a file with the right checksum; nothing partial is left behind.
    """
    spec = _check_name(name)
    folder = Path(folder).expanduser() if folder else cache_dir(name)
    checksums = checksums or spec["md5"]
    mirrors = [mirror] if mirror else list(spec["mirrors"])
    mirrors = [m if m.endswith("/") else m + "/" for m in mirrors]
    made = [p for p in (folder, *folder.parents) if not p.exists()]  # removed again if nothing lands in them
    folder.mkdir(parents=True, exist_ok=True)
    try:
        for file, expected in checksums.items():
            path = folder / file
            if path.is_file() and md5sum(path) == expected:
                if log:
                    log(f"{file}: in cache, checksum ok")
                continue
            errors = []
            for base in mirrors:
                try:
                    size = _fetch(base + file, path, expected, timeout)
                except ValueError as error:
                    errors.append(str(error))
                    continue
                if log:
                    log(f"{file}: downloaded {size / 1e6:.1f} MB from {base}, checksum ok")
                break
            else:
                raise ValueError(f"could not download {name} file {file}: " + "; ".join(errors))
    except BaseException:  # a failed download leaves no empty folder (``csslab cache list`` would show it)
        for created in made:
            try:
                created.rmdir()
            except OSError:  # not empty: a file of this dataset (or another's) arrived
                break
        raise
    return folder


def _fetch(url: str, path: Path, expected: str, timeout: float) -> int:
    """Stream ``url`` into ``path`` atomically: it is renamed into place only if its MD5 matches."""
    digest, size = hashlib.md5(usedforsecurity=False), 0
    with atomic_open(path) as out:  # an exception below discards the partial file
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                for block in iter(lambda: response.read(CHUNK), b""):
                    digest.update(block)
                    out.write(block)
                    size += len(block)
        except urllib.error.HTTPError as error:
            raise ValueError(f"{url}: HTTP {error.code} {error.reason}") from None
        except (urllib.error.URLError, OSError, ValueError) as error:
            raise ValueError(f"{url}: {getattr(error, 'reason', None) or error}") from None
        if digest.hexdigest() != expected:
            raise ValueError(f"{url}: checksum mismatch (md5 {digest.hexdigest()}, expected {expected}); "
                             "the file was not saved")
    return size

