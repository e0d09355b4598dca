"""Where csslab keeps what it can rebuild or fetch again: generated scenes, pretrained backbones
(``csslab.training.pretrain``) and downloaded digits.

One root, ``$CSSLAB_CACHE`` when set, else ``~/.cache/csslab``; each kind of file has its folder in it.
A scene file stores a digest of its arrays and is used only when they match it. ``entries`` and
``clear`` (``csslab cache list|clear``) see only files csslab writes there, by their names.

The scene cache is bounded (docs/speed.md#the-scene-cache has the measurements): reading a scene file back
is slower than painting the scenes again unless placing their digits took many draws, so only such scene sets are
written (``$CSSLAB_SCENE_CACHE``: ``auto``, the default; ``all``; ``off``), and the folder is kept under
``$CSSLAB_SCENE_CACHE_MB`` (default 512) by removing the least recently used files. Neither changes a number:
a cached file serves exactly the arrays the generator would paint.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from csslab.core.files import atomic_open

SCENE_FILES = ("scenes-*.npz", ".scenes-*.npz.*.tmp")  # a cache file; what a killed write left beside it
PRETRAINED_FILES = ("pretrained-*.pt", ".pretrained-*.pt.*.tmp")  # a backbone's weights; a killed write's
DOWNLOAD_FILES = ("*-ubyte.gz", ".*-ubyte.gz.*.tmp")  # the IDX files of a download; a killed download's part
SCENE_POLICIES = ("auto", "all", "off")
DEFAULT_LIMIT_MB = 512
# a scene set is written only when placing its digits drew at least this many candidate corners per KB of file:
# painting costs ~3.5 us per KB and a draw ~0.22 us, reading a file back ~8 us per KB (docs/speed.md), so the
# break-even is ~21 draws per KB; twice that, so a kept file saves at least what reading it costs again
MIN_DRAWS_PER_KB = 40


def cache_root() -> Path:
    """$CSSLAB_CACHE, else ~/.cache/csslab (read at every call, so a changed variable takes effect)."""
    root = os.environ.get("CSSLAB_CACHE")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "csslab"


def scene_policy() -> str:
    """Which scene sets are written: $CSSLAB_SCENE_CACHE, ``auto`` (default: those that pay, see MIN_DRAWS_PER_KB),
    ``all`` or ``off``."""
    policy = os.environ.get("CSSLAB_SCENE_CACHE", "auto").strip().lower() or "auto"
    if policy not in SCENE_POLICIES:
        raise ValueError(f"CSSLAB_SCENE_CACHE={policy!r} is invalid: valid values are {', '.join(SCENE_POLICIES)}")
    return policy


def scene_limit() -> int:
    """The scene folder's size limit in bytes: $CSSLAB_SCENE_CACHE_MB (a number >= 0), else DEFAULT_LIMIT_MB."""
    text = os.environ.get("CSSLAB_SCENE_CACHE_MB", "").strip()
    try:
        limit = float(text) if text else DEFAULT_LIMIT_MB
    except ValueError:
        limit = -1.0
    if not 0 <= limit < float("inf"):
        raise ValueError(f"CSSLAB_SCENE_CACHE_MB={text!r} is invalid: must be a number of megabytes >= 0")
    return int(limit * 1e6)


def worth_caching(draws: int, n_bytes: int) -> bool:
    """Whether a scene set whose placement drew ``draws`` corners and whose file holds ``n_bytes`` is written."""
    policy = scene_policy()
    if policy == "off" or scene_limit() < n_bytes:
        return False
    return policy == "all" or draws >= MIN_DRAWS_PER_KB * n_bytes / 1e3


def scenes_dir() -> Path:
    """The generated scenes' cache: <root>/scenes."""
    return cache_root() / "scenes"


def pretrained_dir() -> Path:
    """The pretrained backbones' cache (``model.pretrain``): <root>/pretrained."""
    return cache_root() / "pretrained"


def download_dir(name: str) -> Path:
    """Where ``csslab data download NAME`` stores a dataset's files: <root>/data/NAME."""
    return cache_root() / "data" / name


def scene_file(name: str, folder=None) -> Path:
    """The cache file of the scenes whose key hashes to ``name``, in ``folder`` (default ``scenes_dir()``)."""
    return Path(folder or scenes_dir()).expanduser() / f"scenes-{name}.npz"


def _content_digest(levels, masks) -> str:
    """What a scene file's arrays must hash to: a well-formed file of other content (zeros written over
    it, another generator's scenes) is caught, not trained on."""
    digest = hashlib.blake2b(digest_size=16)
    for array in (levels, masks):
        digest.update(f"{array.dtype}{array.shape}".encode() + np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def read_scenes(path: Path, shape) -> tuple[np.ndarray, np.ndarray] | None:
    """Cached (levels, masks) uint8 ``shape``, or None when absent or not verified (a one-line warning
    says why: unreadable, wrong shape, no digest or a digest the arrays do not match; it is rebuilt)."""
    if not path.is_file():
        return None
    try:
        with open(path, "rb") as file, np.load(file, allow_pickle=False) as data:  # np.load leaks on errors
            levels, masks = data["levels"], data["masks"]
            stored = str(data["digest"]) if "digest" in data.files else None
    except FileNotFoundError:  # evicted by another process since
        return None
    except Exception as error:  # a truncated or foreign file fails in zipfile, zlib or numpy's header parser
        why = f"unreadable ({' '.join(str(error).split())})"
    else:
        if levels.shape != tuple(shape) or masks.shape != tuple(shape) or levels.dtype != np.uint8 \
                or masks.dtype != np.uint8:
            why = "wrong shape or dtype"
        elif stored is None:
            why = "no content digest (written by an older csslab)"
        elif stored != _content_digest(levels, masks):
            why = "its content does not match its digest"
        else:
            _touch(path)
            return levels, masks
    warnings.warn(f"rebuilding scene cache {path}: {why}", RuntimeWarning, stacklevel=3)
    return None


def _touch(path: Path) -> None:
    """Mark a scene file as just used: eviction removes the files used longest ago (their mtime) first."""
    try:
        os.utime(path)
    except OSError:  # a read-only cache is still read
        pass


def write_scenes(path: Path, levels: np.ndarray, masks: np.ndarray) -> None:
    """Write atomically, with the digest of the arrays, so a crash never leaves a half-written file; then
    evict the least recently used scene files beyond ``scene_limit()``."""
    try:
        with atomic_open(path) as file:
            np.savez(file, levels=levels, masks=masks, digest=np.array(_content_digest(levels, masks)))
    except OSError as error:  # a read-only or full disk costs the cache, not the run
        warnings.warn(f"scene cache not written to {path}: {error}", RuntimeWarning, stacklevel=3)
        return
    evict(path.parent, scene_limit(), keep=path)


def evict(folder: Path, limit: int, keep: Path | None = None) -> list[Path]:
    """Remove scene files of ``folder``, least recently used first, until they hold at most ``limit`` bytes;
    ``keep`` (the file just written, never larger than the limit) stays. Returns the removed files."""
    files = []
    for path in folder.glob(SCENE_FILES[0]):
        try:
            stat = path.stat()
        except OSError:  # removed by another process meanwhile
            continue
        files.append((stat.st_mtime_ns, path.name, path, stat.st_size))
    total, removed = sum(f[-1] for f in files), []
    for _, _, path, size in sorted(files):
        if total <= limit:
            break
        if path != keep:
            path.unlink(missing_ok=True)
            total -= size
            removed.append(path)
    return removed


@dataclass(frozen=True)
class Entry:
    """One folder of the cache: what it is and the csslab files in it."""

    name: str  # "scenes", "pretrained" or "data/NAME"
    folder: Path
    files: tuple[Path, ...]
    download: bool  # fetched from the network (cleared only on request), else rebuilt when needed

    @property
    def size(self) -> int:
        return sum(f.stat().st_size for f in self.files)


def _matching(folder: Path, patterns) -> tuple[Path, ...]:
    if not folder.is_dir():
        return ()
    return tuple(sorted({p for pattern in patterns for p in folder.glob(pattern) if p.is_file()}))


def entries() -> list[Entry]:
    """The scene cache and the pretrained backbones (empty ones too), and each downloaded dataset's folder that
    holds a downloaded file (a failed download's empty folder is no entry)."""
    found = [Entry("scenes", scenes_dir(), _matching(scenes_dir(), SCENE_FILES), download=False),
             Entry("pretrained", pretrained_dir(), _matching(pretrained_dir(), PRETRAINED_FILES), download=False)]
    data = cache_root() / "data"
    for folder in sorted(p for p in data.iterdir() if p.is_dir()) if data.is_dir() else ():
        if files := _matching(folder, DOWNLOAD_FILES):  # an empty download folder is not a cache entry
            found.append(Entry(f"data/{folder.name}", folder, files, download=True))
    return found


def clear(downloads: bool = False) -> list[tuple[Entry, int]]:
    """Delete the generated scenes and pretrained backbones (and, with ``downloads``, the downloaded files);
    returns each emptied entry with the bytes it held. Only csslab's own files go, by their names, so a cache root
    that holds other files too is safe; a folder left empty is removed."""
    removed = []
    for entry in entries():
        if entry.files and (downloads or not entry.download):
            size = entry.size
            for file in entry.files:
                file.unlink(missing_ok=True)
            removed.append((entry, size))
        if not entry.download or downloads:
            try:
                entry.folder.rmdir()  # only when nothing else is left in it
            except OSError:
                pass
    if downloads:
        data = cache_root() / "data"
        for folder in [*(p for p in data.iterdir() if p.is_dir()), data] if data.is_dir() else ():
            try:
                folder.rmdir()  # a failed download's empty folder, then data/ itself when nothing else is in it
            except OSError:
                pass
    return removed
