"""One writer per directory: an OS file lock (``fcntl.flock``) on a hidden file in the directory, held
while a run or a benchmark writes it (docs/architecture.md).

The kernel drops the lock when its holder exits, however it exits (``kill -9`` included), so a crash
never leaves a directory stuck. A second writer is refused at once in one line naming the holder's pid,
which the holder writes into the lock file. The lock is re-entrant within a process (a benchmark run in
this process locks its run directories inside the benchmark's own lock; ``run`` and its report share
one). On release the lock file is removed, and so is the directory when it is left empty and held
nothing before: a refusal after the directory was made leaves no directory behind.
"""

from __future__ import annotations

import os
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: no lock (csslab runs on Linux and macOS)
    fcntl = None

LOCK_NAME = ".csslab.lock"
_HELD: dict[str, list] = {}  # resolved directory -> [file descriptor, depth, lock file, left empty?]


class DirectoryLock:
    """``with DirectoryLock(path, "run"):`` holds ``path`` for this process (creating the directory), or
    raises ValueError naming the process that holds it."""

    def __init__(self, path, kind: str = "run"):
        self.path, self.kind = Path(path), kind
        self.key = str(self.path.resolve())

    @property
    def held(self) -> bool:
        return self.key in _HELD

    def acquire(self) -> "DirectoryLock":
        if self.key in _HELD:
            _HELD[self.key][1] += 1
            return self
        empty = not self.path.exists() or (self.path.is_dir() and not any(self.path.iterdir()))
        self.path.mkdir(parents=True, exist_ok=True)
        file = self.path / LOCK_NAME
        fd = -1
        try:
            while fcntl is not None:
                fd = os.open(file, os.O_RDWR | os.O_CREAT, 0o666)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
                    raise ValueError(f"{self.kind} directory {self.path} is being written by another csslab "
                                     f"process (pid {holder}): wait for it to finish, or choose another "
                                     "--out") from None
                try:  # the holder before may have removed the file as it released it: lock the current one
                    if os.stat(file).st_ino == os.fstat(fd).st_ino:
                        break
                except FileNotFoundError:
                    pass
                os.close(fd)
                fd = -1
            if fd >= 0:
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
        except BaseException:
            if fd >= 0:
                os.close(fd)
            if empty:
                _remove_if_empty(self.path)
            raise
        _HELD[self.key] = [fd, 1, file, empty]
        return self

    def release(self) -> None:
        entry = _HELD.get(self.key)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1]:
            return
        del _HELD[self.key]
        fd, _, file, empty = entry
        if fd >= 0:
            Path(file).unlink(missing_ok=True)  # while still holding it: a waiting writer re-checks (above)
            os.close(fd)
        if empty:
            _remove_if_empty(self.path)

    def __enter__(self) -> "DirectoryLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _remove_if_empty(path: Path) -> None:
    try:
        path.rmdir()
    except OSError:  # not empty (the normal case: the run wrote its files) or already gone
        pass


def holder(path) -> int | None:
    """The pid of the process writing ``path`` now, or None when no process holds its lock."""
    file = Path(path) / LOCK_NAME
    if fcntl is None or not file.is_file():
        return None
    fd = os.open(file, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.read(fd, 64).decode(errors="replace").strip()
            return int(text) if text.isdigit() else -1
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
