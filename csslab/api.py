"""The notebook-facing entry point: ``csslab.run(method=..., scenario=..., steps=...)``."""

from __future__ import annotations

import os

from csslab.core.config import Config, apply_overrides
from csslab.scenarios import Scenario


def run(method: str = "finetune", scenario: Scenario | None = None, steps: int | None = None, seed: int | None = None,
        out=None, backbone: str | None = None, device: str | None = None, progress: bool = False,
        verbose: bool = False, overrides=(), **params):
    """Train ``method`` over ``scenario`` (default: 2-2-2-2-2 overlap) and return its Results.

    Extra keyword arguments are the method's hyper-parameters (``lam=5``); ``overrides`` takes the
    CLI's ``section.key=value`` strings (``["train.batch_size=16"]``). Refuses what ``csslab run``
    refuses, with the same one-line ValueError (``csslab.training.spec.validate``).
    """
    from csslab.reports.tables import print_task
    from csslab.training.spec import configure
    from csslab.training.train import run as train_run

    if scenario is not None and not isinstance(scenario, Scenario):  # as the command line would say it
        raise ValueError(f"invalid scenario {scenario!r}: expected a Scenario, e.g. "
                         f"csslab.make_scenario(tasks='2-2-2-2-2') (a split is make_scenario's tasks=)")
    if out is not None and not isinstance(out, (str, os.PathLike)):
        raise ValueError(f"invalid out {out!r}: expected a run directory's path (str or pathlib.Path)")
    config = Config(params=params)
    if scenario is not None:
        config.scenario = scenario.config()
        config.seed = scenario.seed
    config = configure(config, {"method": method, "seed": seed, "steps": steps, "backbone": backbone,
                                "device": device})  # through the command line's flags
    config = apply_overrides(config, overrides)
    return train_run(config, out=out, progress=progress, log=print if verbose else None,
                     on_task=print_task if verbose else None)
