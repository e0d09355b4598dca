"""Benchmark runs as tasks on a Ray cluster (``csslab benchmark --ray ADDRESS``, or ``--ray local``).

Each run is one Ray task calling the function it is given (``sweep.run_one``: it trains into its run
directory, reusing a completed run, resuming an interrupted one, and returns the results data); the
results are gathered in the order of the calls. This module knows nothing of runs: the sweep passes
the function and reports progress itself. A worker on this machine (the process pool's, ``--ray local``'s)
dies with the process that started the benchmark (``worker_lifetime``, ``die_with``). Every node needs csslab
installed, and the run directories must be on storage every node sees (one machine, or a shared filesystem).
A method of the user's is not shipped: each worker loads it as the configuration names it, so a file reference
(``path/mine.py:Mine``; a relative path from the directory the benchmark started in) must reach the same file on
every node, and a plugin's package must be installed on every node. Ray is an optional extra:
``pip install 'csslab[ray]'``.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import threading
import time


LOCAL_CPUS = 2  # a local cluster is small: each run already uses its own threads
PR_SET_PDEATHSIG = 1  # linux/prctl.h
WATCH_SECONDS = 1.0  # how often a worker checks that its parent is alive (where the kernel cannot tell it)


def die_with(parent: int) -> None:
    """Make this process (a worker) die when the process ``parent`` does, however it ends (``kill -9`` too), so
    that no orphan goes on training run directories or idles holding memory. Linux: the kernel sends SIGKILL
    as the worker's parent exits (``prctl(PR_SET_PDEATHSIG)``); elsewhere, or when ``parent`` is not this
    process's parent (a Ray worker's is its raylet), a daemon thread polls every ``WATCH_SECONDS``."""
    if parent == os.getppid():
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0:
                if os.getppid() != parent:  # the parent died before prctl: nothing would signal us
                    os._exit(1)
                return
        except (OSError, AttributeError):  # not Linux: poll instead
            pass
    if parent not in _WATCHED:  # a Ray worker runs many tasks: one watcher
        _WATCHED.add(parent)
        threading.Thread(target=_watch, args=(parent, parent == os.getppid()), name="csslab-die-with-parent",
                         daemon=True).start()


_WATCHED: set[int] = set()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: the pid was reused, ours is gone
        return False
    return True


def _watch(parent: int, direct: bool) -> None:
    while _alive(parent) and (not direct or os.getppid() == parent):
        time.sleep(WATCH_SECONDS)
    os._exit(1)  # at once: no cleanup handler may wait for a parent that is gone


def worker_lifetime() -> dict:
    """The ``ProcessPoolExecutor`` arguments that make its workers die with this process (``die_with``)."""
    return {"initializer": die_with, "initargs": (os.getpid(),)}


def _watched(parent: int | None, function, *args):
    """``function(*args)`` in a Ray worker that first ties its life to ``parent`` (``--ray local``'s driver)."""
    if parent is not None:
        die_with(parent)
    return function(*args)


def _import_ray():
    try:
        import ray
    except ImportError:
        raise ValueError("--ray needs Ray, an optional extra: pip install 'csslab[ray]'") from None
    return ray


def _init(ray, address: str):
    """Connect to ``address``, or start a local head on loopback for ``"local"``."""
    if address == "local":
        cpus = min(LOCAL_CPUS, os.cpu_count() or 1)
        return ray.init(address="local", num_cpus=cpus, include_dashboard=False, _node_ip_address="127.0.0.1",
                        log_to_driver=False, configure_logging=False)
    _check_reachable(address)
    try:
        return ray.init(address=address, log_to_driver=False, configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError) as error:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise ValueError(f"cannot connect to the Ray cluster at {address!r}: {first}") from None


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail in seconds with one line when HOST:PORT does not answer (Ray itself retries for minutes)."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        return  # "auto" and other forms: left to Ray
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout).close()
    except OSError as error:
        raise ValueError(f"cannot connect to the Ray cluster at {address!r}: {error.strerror or error}") from None


def _task_error(ray, error) -> Exception:
    """The run's own error (bad config, non-finite loss, ...) from a Ray task failure, else a one-line one."""
    cause = getattr(error, "cause", None)
    if isinstance(cause, Exception) and not isinstance(cause, ray.exceptions.RayError):
        return cause
    first = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return RuntimeError(f"a Ray task failed: {first}")


def run_on_ray(address: str, function, calls: list[tuple], on_result=None, cpus_per_run: float = 1) -> list:
    """``function(*args)`` for every ``args`` of ``calls``, each as a Ray task; the results in call order.

    ``function`` must be importable by the workers (a module-level function of csslab).
    ``on_result(i, result)`` is called as each task finishes, in the order they finish.
    ``address``: "local" starts a Ray instance in this process on loopback (and stops it afterwards);
    anything else is passed to ``ray.init(address=...)`` ("auto", "ray://HOST:10001", "HOST:6379").
    If Ray is already initialised in this process, that cluster is used as it is.
    """
    ray = _import_ray()
    started = not ray.is_initialized()
    if started:
        _init(ray, address)
    try:
        task = ray.remote(num_cpus=cpus_per_run)(_watched)  # a lost worker is retried: it resumes its run
        parent = os.getpid() if address == "local" and started else None  # a cluster's workers are not ours
        refs = [task.remote(parent, function, *args) for args in calls]
        index = {ref: i for i, ref in enumerate(refs)}
        results: list = [None] * len(refs)
        pending = list(refs)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            i = index[ready[0]]
            try:
                results[i] = ray.get(ready[0])
            except ray.exceptions.RayError as error:
                raise _task_error(ray, error) from None
            if on_result:
                on_result(i, results[i])
        return results
    finally:
        if started:
            ray.shutdown()
