"""The notebook-facing entry point: ``csslab.run(method=..., scenario=..., steps=...)``."""

from __future__ import annotations

from csslab.config import Config, ScenarioConfig, apply_overrides
from csslab.scenarios import Scenario


def scenario_config(scenario: Scenario) -> ScenarioConfig:
    """The config section that rebuilds ``scenario`` (switches are written out explicitly)."""
    s = scenario.setting
    return ScenarioConfig(
        tasks=scenario.split, setting="overlap", class_order=",".join(map(str, scenario.class_order)),
        data=scenario.data, train_scenes=scenario.train_scenes, test_scenes=scenario.test_scenes,
        old_in_images=s.old_in_images, future_in_images=s.future_in_images, old_labels=s.old_labels,
        test_future=s.test_future, size=scenario.scene.size, min_digits=scenario.scene.min_digits,
        max_digits=scenario.scene.max_digits, max_box_iou=scenario.scene.max_box_iou, ink=scenario.scene.ink,
    )


def run(method: str = "finetune", scenario: Scenario | None = None, steps: int | None = None, seed: int | None = None,
        out=None, backbone: str | None = None, device: str | None = None, progress: bool = False,
        verbose: bool = False, overrides=(), **params):
    """Train ``method`` over ``scenario`` (default: 2-2-2-2-2 overlap) and return its Results.

    Extra keyword arguments are the method's hyper-parameters (``lam=5``); ``overrides`` takes the
    CLI's ``section.key=value`` strings (``["train.batch_size=16"]``).
    """
    from csslab.reports.tables import print_task
    from csslab.train import run as train_run

    config = Config(method=method, params=params)
    if scenario is not None:
        config.scenario = scenario_config(scenario)
        config.seed = scenario.seed
    if seed is not None:
        config.seed = seed
    if steps is not None:
        config.train.steps = steps
    if backbone is not None:
        config.model.backbone = backbone
    if device is not None:
        config.train.device = device
    config = apply_overrides(config, overrides)
    return train_run(config, out=out, progress=progress, log=print if verbose else None,
                     on_task=print_task if verbose else None)
