"""The package version (as in pyproject.toml) and a digest of the code that is running, in a module of its own
so that any module can record them without importing the package root (which imports the API, which imports
training)."""

import functools
import hashlib
from pathlib import Path

__version__ = "0.1.0"


def files_digest(paths, root: Path) -> str:
    """16 hex digits over ``paths`` (each named relative to ``root``, and its contents, in the order given);
    '' when one is unreadable (e.g. a zipped install): no digest rather than one over part of the code."""
    digest = hashlib.blake2b(digest_size=8)
    try:
        for path in paths:
            digest.update(Path(path).relative_to(root).as_posix().encode() + b"\0" + Path(path).read_bytes() + b"\0")
    except OSError:
        return ""
    return digest.hexdigest()


@functools.lru_cache(maxsize=1)
def code_digest() -> str:
    """16 hex digits over every ``.py`` file of the installed csslab package (paths and contents): a run records
    it, so a run copied or resumed later says whether the same code made it. '' when no source is readable."""
    root = Path(__file__).parents[1]  # the csslab package (this file is csslab/core/version.py)
    return files_digest(sorted(root.rglob("*.py")), root)
