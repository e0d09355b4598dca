"""Run directories and ``Results``: the data of results.json (reports only read these files).

Layout of a run directory::

    config.yaml        the resolved configuration
    results.json       metrics per task, IoU matrix task x class, timings, versions
    frames.npz         confusion matrices and predictions over training (for animations)
    checkpoints/task-N.pt   model (and method state) after each task

Every file is written atomically by ``csslab.files`` (temporary file + rename), so a killed run leaves
either the previous complete file or the new complete file, never a partial one.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from csslab.constants import CLASS_NAMES
from csslab.files import atomic_write, json_safe, write_json  # noqa: F401  (atomic_write, write_json re-exported)

RESULTS_VERSION = 1


def per_class(values) -> dict:
    """{class name: value or None} over background and the 10 digits."""
    return {name: v for name, v in zip(CLASS_NAMES, json_safe(list(values)))}


class Results:
    """The data of one run's results.json, with a few conveniences for notebooks."""

    def __init__(self, data: dict, path: Path | None = None):
        self.data = data
        self.path = path

    @classmethod
    def load(cls, run_dir) -> "Results":
        path = Path(run_dir)
        file = path / "results.json" if path.is_dir() else path
        if not file.exists():
            raise FileNotFoundError(f"no results.json in {run_dir}")
        try:
            data = json.loads(file.read_text())
        except json.JSONDecodeError as error:
            raise ValueError(f"unreadable results file {file}: {error}") from None
        return cls(data, file.parent)

    @property
    def tasks(self) -> list[dict]:
        return self.data["tasks"]

    @property
    def final(self) -> dict:
        return self.tasks[-1]

    @property
    def complete(self) -> bool:
        return bool(self.data.get("complete"))

    @property
    def iou_matrix(self) -> np.ndarray:
        """IoU[task, class] with NaN for classes not yet seen (columns: background, 0..9)."""
        return np.array([[np.nan if v is None else v for v in row] for row in self.data["iou_matrix"]], dtype=float)

    def __getitem__(self, key):
        return self.data[key]

    def get(self, key, default=None):
        return self.data.get(key, default)

    def summary(self) -> dict:
        final = self.final
        return {k: self.data.get(k, final.get(k)) for k in ("miou_all", "miou_old", "miou_new", "miou_avg")} | {
            k: final[k] for k in ("miou_all", "miou_old", "miou_new")
        }

    def __repr__(self):
        s = self.summary()
        fmt = lambda v: "nan" if v is None else f"{v:.3f}"  # noqa: E731
        return (
            f"Results(method={self.data['config']['method']!r}, tasks={len(self.tasks)}, "
            + ", ".join(f"{k}={fmt(v)}" for k, v in s.items())
            + ")"
        )
