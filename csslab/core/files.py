"""Writing files: every file csslab writes goes through here.

A file is written to a temporary name beside its destination and renamed over it once complete, so a
killed process leaves either the previous complete file or the new one, never a partial one. The
temporary file is created with mode 0666 minus the user's umask, as ``open()`` would (0644 under
umask 022), so the renamed file is readable by whoever may read the user's other files
(``tempfile.mkstemp`` would give 0600).
"""

from __future__ import annotations

import errno
import itertools
import json
import math
import os
import secrets
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Iterator

import numpy as np


def _create_temp(path: Path, tmp: Path) -> int:
    """The temporary file ``tmp`` of ``path``, created (it must not exist) and opened for writing, permissions
    from the umask."""
    return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)


@contextmanager
def atomic_open(path) -> Iterator[BinaryIO]:
    """A binary file to write ``path`` through: renamed into place when the block ends, discarded
    (leaving any previous ``path`` as it was) when the block raises."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = None
    try:  # named before it exists: a Ctrl-C raised as it is created leaves no temporary file behind
        while tmp is None:
            tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")  # hidden, unique
            try:
                fd = _create_temp(path, tmp)
            except FileExistsError:  # another writer drew the same name: draw again
                tmp = None
        with os.fdopen(fd, "wb") as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)  # only left when the block or the rename failed


def atomic_write(path, data: bytes | str) -> Path:
    """Write ``data`` (text is UTF-8 encoded) to ``path`` atomically; returns the path."""
    with atomic_open(path) as file:
        file.write(data.encode() if isinstance(data, str) else data)
    return Path(path)


def new_run_dir(parent, stem: str, now: datetime | None = None) -> Path:
    """A new empty directory ``parent/STEM-YYYYmmdd-HHMMSS``, created atomically (``mkdir`` fails when the
    name exists), so two runs started in the same second, in one process or two, never share one: the
    second gets ``-2``, the next ``-3``, ... ``now``: the clock (tests fix it)."""
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    base = f"{stem}-{(now or datetime.now()).strftime('%Y%m%d-%H%M%S')}"
    for n in itertools.count(1):
        path = parent / (base if n == 1 else f"{base}-{n}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue


def _dangling(path: Path) -> bool:
    """``path`` is a symbolic link to nothing (False where the name cannot even be looked at, e.g. too long)."""
    try:
        return path.is_symlink() and not path.exists()
    except OSError:
        return False


def check_output(path, flag: str, kind: str = "directory") -> Path:
    """Refuse, before anything is computed, an output ``path`` (given as ``flag``) that cannot be written:
    an existing file where a directory is wanted (or the reverse), a path through a file or through a symbolic
    link to nothing, a name longer
    than the file system allows (ValueError, one line), or a location the user may not write
    (PermissionError naming it). Creates nothing."""
    path = Path(path)
    dangling = next((p for p in (path, *path.parents) if _dangling(p)), None)
    if dangling is not None:  # it exists as a name, so nothing can be made there; the target does not
        raise ValueError(f"invalid {flag} {path}: {dangling} is a symbolic link to {os.readlink(dangling)}, which "
                         "does not exist; remove the link or point it at a directory")
    try:
        existing = next(p for p in (path, *path.parents) if p.exists())  # "." exists
        limit = os.pathconf(existing if existing.is_dir() else existing.parent, "PC_NAME_MAX")
    except OSError as error:  # the name of an existing part is too long for the file system
        raise ValueError(f"invalid {flag} {path}: {error.strerror}") from None
    except (ValueError, AttributeError):  # no pathconf on this platform: the common limit
        limit = 255
    long = [part for part in path.parts if len(os.fsencode(part)) > limit]
    if long:
        raise ValueError(f"invalid {flag} {path}: a name in it has {len(os.fsencode(long[0]))} bytes, more than "
                         f"the {limit} the file system allows")
    if existing != path and not existing.is_dir():
        raise ValueError(f"invalid {flag} {path}: {existing} is a file, not a directory")
    if existing == path and kind == "directory" and not path.is_dir():
        raise ValueError(f"invalid {flag} {path}: it is a file; {flag} takes a directory")
    if existing == path and kind == "file" and path.is_dir():
        raise ValueError(f"invalid {flag} {path}: it is a directory; {flag} takes a file name")
    if not os.access(existing if existing.is_dir() else existing.parent, os.W_OK):
        raise PermissionError(errno.EACCES, "not writable (permission denied or a read-only file system)",
                              str(existing))
    return path


def json_safe(value):
    """``value`` as plain JSON data: NaN and infinities -> None, numpy scalars and arrays -> Python."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, (np.floating, float)):
        return None if math.isnan(float(value)) or math.isinf(float(value)) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def write_json(path, data) -> Path:
    """``json_safe(data)`` as indented JSON, written atomically; returns the path."""
    return atomic_write(path, json.dumps(json_safe(data), indent=1, allow_nan=False) + "\n")
