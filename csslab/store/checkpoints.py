"""What a run directory holds between tasks, and how a resumed run gets back to it.

A checkpoint holds everything the next task depends on (model, method state, batch order and every
random number generator). Every file is written atomically.
"""

from __future__ import annotations

import io
from pathlib import Path

import torch

from csslab.core.files import atomic_write
from csslab.core.runtime import rng_state, set_rng_state
from csslab.store.results import Results
from csslab.store.rundir import RunDir
from csslab.store.runstore import resumable

CHECKPOINT_KEYS = ("task", "heads", "model", "method", "generator", "rng")


def save_checkpoint(out, task, model, method, generator) -> None:
    buffer = io.BytesIO()
    torch.save({"task": task.index, "heads": [h.out_channels for h in model.heads], "model": model.state_dict(),
                "method": method.state_dict(), "generator": generator.get_state(), "rng": rng_state(method)},
               buffer)
    atomic_write(RunDir(out).checkpoint(task.index), buffer.getvalue())


def load_model(model, method, tasks, state: dict) -> None:
    """Give ``model`` (backbone only) the heads of ``tasks``, added by ``method.add_head`` as training added
    them, and the weights of a saved checkpoint ``state``."""
    for task in tasks:
        method.add_head(model, task)
    model.load_state_dict(state["model"])


def remove_partial_files(out: Path) -> None:
    """Temporary files of atomic writes that a killed process left behind (the real files are intact)."""
    for tmp in RunDir(out).temporary_files():
        tmp.unlink(missing_ok=True)


def resume_point(out: Path, config) -> Results | None:
    """The results of the run in ``out`` to continue (``runstore.resumable``: of this configuration, or an
    error), or None to start from task 0. Removes what a killed process left partial."""
    remove_partial_files(out)
    data = resumable(out, config)
    return Results(data, out) if data is not None else None


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return (text.splitlines()[0] if text else type(error).__name__)[:200]


def restore_checkpoint(out: Path, tasks, model, method, generator, device) -> None:
    """Load the checkpoint after the last of the completed ``tasks`` into the model (with their heads), method,
    batch order and RNGs; clear errors if unusable."""
    index = len(tasks) - 1
    path = RunDir(out).checkpoint(index)
    if not path.is_file():
        raise ValueError(f"cannot resume {out}: {path.name} is missing (was train.checkpoints off?)")
    try:
        # tensors go back to the device they were saved from (memories on CPU, Fisher on the GPU, ...)
        state = torch.load(path, map_location="cpu" if device.type == "cpu" else None, weights_only=True)
    except Exception as error:  # truncated zip, garbage, or objects a weights-only load refuses
        if "Unsupported global" in str(error):
            raise ValueError(f"cannot resume from {path}: it holds objects other than tensors and plain data "
                             "(method state_dict() must return tensors, numbers, strings, lists, dicts)") from None
        raise ValueError(f"corrupt checkpoint {path} (not a readable checkpoint file): the run cannot continue from "
                         f"it; train it again with --overwrite") from None
    missing = [k for k in CHECKPOINT_KEYS if not isinstance(state, dict) or k not in state]
    if missing or state["task"] != index:
        what = f"no {missing[0]!r}" if missing else f"task {state['task']}"
        raise ValueError(f"cannot resume from {path}: it has {what} (expected a csslab checkpoint of task {index})")
    try:
        load_model(model, method, tasks, state)
        method.load_state_dict(state["method"])
        generator.set_state(state["generator"].cpu())
        set_rng_state(state["rng"], method)
    except (RuntimeError, KeyError, TypeError, ValueError) as error:
        raise ValueError(f"cannot resume from {path}: {first_line(error)}") from None
    model.eval()  # where evaluation left it: the next before_task sees the model as in an uninterrupted run
