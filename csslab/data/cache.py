"""Where csslab keeps what it can rebuild or fetch again: generated scenes and downloaded digits.

One root, ``$CSSLAB_CACHE`` when set, else ``~/.cache/csslab``; each kind of file has its folder in it.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """$CSSLAB_CACHE, else ~/.cache/csslab (read at every call, so a changed variable takes effect)."""
    root = os.environ.get("CSSLAB_CACHE")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "csslab"


def scenes_dir() -> Path:
    """The generated scenes' cache: <root>/scenes."""
    return cache_root() / "scenes"


def download_dir(name: str) -> Path:
    """Where ``csslab data download NAME`` stores a dataset's files: <root>/data/NAME."""
    return cache_root() / "data" / name
