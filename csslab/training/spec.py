"""One resolved run spec: ``validate`` checks a configuration whole, once, before any scene is generated or
anything trained, and returns everything a run needs (``RunSpec``): the configuration, the method's typed
parameters, the scenario, the device, the threads and the resolved configuration a run saves. The command line
and ``csslab.run`` set configuration fields through one table of flags (``FLAGS``), as typed values.

Bad or contradictory input stops with one line naming the bad value and the valid ones. What a method needs is
declared on its class (``Method.bound``, ``Method.memory_param``), not listed here
(docs/architecture.md#a-runs-life)."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch

from csslab.core.config import Config, set_value
from csslab.core.runtime import resolve_threads
from csslab.methods import METHODS, Method, get_method
from csslab.scenarios import Scenario
from csslab.store.runstore import resolved as resolved_config
from csslab.training.checks import check_digits, check_memory, check_model, check_seed, check_train

# the flags of ``csslab run`` / ``benchmark`` / ``scenario`` and the keywords of ``csslab.run``: the config key
# each one sets (``--steps 250`` -> train.steps)
FLAGS = {"method": "method", "seed": "seed", "tasks": "scenario.tasks", "setting": "scenario.setting",
         "class_order": "scenario.class_order", "data": "scenario.data", "steps": "train.steps",
         "backbone": "model.backbone", "device": "train.device", "protocol": "train.protocol", "log": "train.log",
         "precision": "train.precision"}


def configure(config: Config, values: dict) -> Config:
    """A copy of ``config`` with the key of each flag in ``values`` (``FLAGS``, None: not given) set to its value,
    converted to the field's type; a bad value raises a one-line ValueError."""
    config = copy.deepcopy(config)
    for flag, value in values.items():
        if value is not None:
            set_value(config, FLAGS[flag], value)
    return config


@dataclass(frozen=True)
class RunSpec:
    """What a valid configuration trains with, resolved once (``validate``)."""

    config: Config  # as given (a copy: later changes to the caller's object change nothing here)
    method: type[Method]
    params: Any  # the method's Params, typed, with their defaults
    scenario: Scenario  # the split, class order, setting and scenes
    device: torch.device
    threads: int  # train.threads resolved (0: this process's default)
    resolved: dict  # the configuration as the run saves it (config.yaml, results.json's "config")

    def make_method(self) -> Method:
        return self.method(self.params, device=self.device, seed=self.config.seed,
                           eval_batch_size=self.config.train.eval_batch_size)


def validate(config: Config) -> RunSpec:
    """Check ``config`` whole (method and its params, backbone, training options, device, scenario, what the
    method needs of the scenario, the digits) and resolve it; raise ValueError at the first problem."""
    config = copy.deepcopy(config)
    check_seed(config.seed)
    method = get_method(config.method)
    params = method.make_params(config.params, config.model.pretrain)
    check_model(config.model)
    device = check_train(config.train)
    scenario = Scenario.from_config(config.scenario, config.seed)
    s, n_tasks = config.scenario, len(scenario)
    if n_tasks == 1 and not method.bound:
        bounds = " or ".join(name for name, cls in METHODS.items() if cls.bound)
        raise ValueError(f"split {s.tasks!r} is a single task: continual method {config.method!r} has nothing to "
                         f"remember; use --method {bounds}, or a split with several tasks")
    if config.train.batch_size > s.train_scenes:
        raise ValueError(f"train.batch_size={config.train.batch_size} is larger than scenario.train_scenes="
                         f"{s.train_scenes}: a batch cannot hold more scenes than a task has")
    check_memory(s, n_tasks if method.bound == "upper" else 1)  # the upper bound trains all tasks' scenes at once
    if method.memory_param:
        memory = getattr(params, method.memory_param)
        seen = s.train_scenes * max(1, n_tasks - 1)  # the memory is filled from the tasks before the last
        if memory < 0 or memory > seen:
            raise ValueError(f"invalid params.{method.memory_param}={memory}: must be 0..{seen}, the training scenes "
                             f"of the tasks before the last ({n_tasks - 1 or 1} x scenario.train_scenes="
                             f"{s.train_scenes})")
    check_digits(scenario)
    return RunSpec(config, method, params, scenario, device, resolve_threads(config.train.threads),
                   resolved_config(config, scenario=scenario, params=params))
