"""Process-wide state that changes a run's numbers, in one place: the seeds, the state of every random stream
(saved in checkpoints and shared base models, restored on resume), torch's thread count (resolved when a run
starts, not at import) and the allocator's tuning (docs/architecture.md#a-runs-life)."""

from __future__ import annotations

import ctypes
import random

import numpy as np
import torch

_default_threads: int | None = None


def default_threads() -> int:
    """torch's own choice of threads (cores, OMP_NUM_THREADS), read the first time a run asks: before any run
    of this process sets another number, so that a later run's 0 still means this default."""
    global _default_threads
    if _default_threads is None:
        _default_threads = torch.get_num_threads()
    return _default_threads


def __getattr__(name: str):
    if name == "DEFAULT_THREADS":  # the default read lazily (when first asked), not at import
        return default_threads()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def resolve_threads(threads: int) -> int:
    """The torch threads a run uses: ``train.threads``, or this process's default for 0. A run's saved
    configuration holds the resolved number: oneDNN's reductions follow it, so it is part of the numbers."""
    return threads or default_threads()


def use_threads(threads: int) -> int:
    """Set torch's thread count to ``resolve_threads(threads)`` (also after a run that set another); returns it."""
    threads = resolve_threads(threads)
    torch.set_num_threads(threads)
    return threads


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state(method) -> dict:
    """Every random stream a later task may draw from, as tensors and plain data (weights_only-loadable)."""
    _, keys, pos, has_gauss, cached = np.random.get_state()
    state = {"torch": torch.get_rng_state(), "python": random.getstate(),
             "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                       "has_gauss": int(has_gauss), "cached_gaussian": float(cached)}}
    if isinstance(getattr(method, "generator", None), torch.Generator):
        state["method"] = method.generator.get_state()
    if torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict, method) -> None:
    """Put every random stream back in the state ``rng_state`` saved."""
    torch.set_rng_state(state["torch"].cpu())
    random.setstate(state["python"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].cpu().numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    if "method" in state:
        method.generator.set_state(state["method"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def configure_malloc() -> None:
    """Keep freed activation buffers in the heap: glibc otherwise unmaps and re-faults them
    every step (1.5x on training: docs/architecture.md#performance). No-op off glibc."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 32 * 1024 * 1024)  # M_MMAP_THRESHOLD: the largest glibc accepts
        libc.mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass
