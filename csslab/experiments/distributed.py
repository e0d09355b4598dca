"""Benchmark runs as tasks on a Ray cluster (``csslab benchmark --ray ADDRESS``, or ``--ray local``).

Each run is one Ray task calling the function it is given (``sweep.run_one``: it trains into its run
directory, reusing a completed run, resuming an interrupted one, and returns the results data); the
results are gathered in the order of the calls. This module knows nothing of runs: the sweep passes
the function and reports progress itself. Every node needs csslab installed, and the run directories must be on
storage every node sees (one machine, or a shared filesystem). A method of the user's is not shipped: each worker
loads it as the configuration names it, so a file reference (``path/mine.py:Mine``; a relative path from the
directory the benchmark started in) must reach the same file on every node, and a plugin's package must be installed
on every node. Ray is an optional extra:
``pip install 'csslab[ray]'``.
"""

from __future__ import annotations

import os
import socket


LOCAL_CPUS = 2  # a local cluster is small: each run already uses its own threads


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
        task = ray.remote(num_cpus=cpus_per_run)(function)  # a lost worker is retried: it resumes its run
        refs = [task.remote(*args) for args in calls]
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
