"""Process-wide settings that change a run's numbers: torch's thread count."""

from __future__ import annotations

import torch

DEFAULT_THREADS = torch.get_num_threads()  # torch's own choice (cores, OMP_NUM_THREADS) before a run sets one


def resolve_threads(threads: int) -> int:
    """The torch threads a run uses: ``train.threads``, or this process's default for 0. A run's saved
    configuration holds the resolved number: oneDNN's reductions follow it, so it is part of the numbers."""
    return threads or DEFAULT_THREADS
