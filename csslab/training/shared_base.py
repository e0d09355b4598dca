"""The shared base model: the papers train step 0 once and every method starts from it. A method whose
first task is trained the same way as others' (``Method.base_task`` names how, e.g. "ce") reuses the state
another run of the same configuration (but for method and params) saved right after that task's last step:
model, batch order, random number generators, loss means and animation frames. Its ``after_task``,
evaluation and everything after run as usual, so its results are bit-identical to training the base itself
(tests/test_shared_base.py)."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import torch

from csslab.core.runtime import rng_state, set_rng_state
from csslab.core.files import atomic_write
from csslab.store.frames import KEYS
from csslab.store.runstore import numbers_key
from csslab.core.version import code_digest


def base_path(base_dir, config, method) -> Path | None:
    """Where the base of ``config``'s first task is kept under ``base_dir`` (None: the method trains its own)."""
    name = method.base_key()  # base_task, and the values of the params that shape it (Method.base_params)
    if base_dir is None or name is None:
        return None
    key = {k: v for k, v in numbers_key(config).items() if k not in ("method", "params")} | {"base": name}
    key["code"] = code_digest()  # a base saved by other code (a benchmark resumed after an edit) is trained again
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return Path(base_dir) / f"{name}-seed{config.seed}-{digest}.pt"


def fit_base(path: Path, train, s, task, images, masks, generator, frames) -> dict[str, float]:
    """Task 0's optimisation, without ``after_task``: ``train()`` (then saved to ``path``), or the state
    ``path`` holds loaded into the model, method (as its ``before_task`` left it), ``generator`` and frames.
    Returns the loss means."""
    if path.is_file():
        state = torch.load(path, map_location="cpu", weights_only=True)
        s.method.add_head(s.model, task)
        s.method.before_task(task, s.model, images, masks)
        s.model.load_state_dict(state["model"])
        s.method.train_mode(s.model)  # where the last step left it
        generator.set_state(state["generator"])
        set_rng_state(state["rng"], s.method)
        frames.data = {key: list(state["frames"][key].numpy()) if key in state["frames"] else [] for key in KEYS}
        return state["loss"]
    loss = train()
    saved = {key: torch.from_numpy(np.stack(values)) for key, values in frames.data.items() if values}
    buffer = io.BytesIO()
    torch.save({"model": s.model.state_dict(), "generator": generator.get_state(), "rng": rng_state(s.method),
                "loss": loss, "frames": saved}, buffer)
    atomic_write(path, buffer.getvalue())
    return loss
