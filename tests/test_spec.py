"""One resolved run spec: a run validates its configuration, builds its scenario and types its method's
parameters once; the command line and ``csslab.run`` set fields through one typed table of flags; the loop's
extras are callbacks (``csslab.training.callbacks``)."""

from __future__ import annotations

import dataclasses
import inspect

import pytest
import torch

from conftest import TINY_TASKS, make_method, tiny_data, tiny_run
from csslab.cli.parser import build_parser
from csslab.core import runtime
from csslab.core.config import Config, TrainConfig
from csslab.model.network import IncrementalSegmenter
from csslab.store.runstore import resolved
from csslab.training import spec as spec_module
from csslab.training.callbacks import Callback, OnStep
from csslab.training.spec import FLAGS, RunSpec, configure, validate
from csslab.training.train import TaskData, fit_task


def test_flags_set_typed_values_and_every_run_flag_has_a_key():
    config = configure(Config(), {"steps": 7, "tasks": "10", "seed": 3, "protocol": "paper", "device": None})
    assert (config.train.steps, config.scenario.tasks, config.seed) == (7, "10", 3)
    assert config.train.optimizer == "sgd"  # the protocol's preset, as --set train.protocol=paper sets it
    assert Config().train.steps != 7  # a copy: the given configuration is unchanged
    with pytest.raises(ValueError, match="invalid value 'many' for train.steps: expected an integer"):
        configure(Config(), {"steps": "many"})
    assert set(FLAGS) <= set(vars(build_parser().parse_args(["run"])))  # every flag of `csslab run` that sets a key


def test_validate_resolves_once_what_a_run_needs():
    config = configure(Config(), {"method": "replay", "tasks": "5-5"})
    config.params["memory_size"] = "20"  # as --set writes it: typed by the method's Params
    spec = validate(config)
    assert spec.params.memory_size == 20 and spec.method.name == "replay"
    assert len(spec.scenario) == 2 and spec.device == torch.device("cpu")
    assert spec.threads == runtime.resolve_threads(0) > 0
    assert spec.resolved == resolved(config)  # what the run saves, built from the spec's own scenario and params
    config.train.steps = 1  # the spec holds its own copy
    assert spec.config.train.steps == 250
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.threads = 1


def test_a_cli_run_validates_and_builds_its_scenario_once(tmp_path, monkeypatch):
    from csslab.scenarios import Scenario

    calls = {"validate": 0, "scenario": 0}
    real_validate, real_from_config = spec_module.validate, Scenario.from_config.__func__

    def counted_validate(config):
        calls["validate"] += 1
        return real_validate(config)

    def counted_from_config(cls, *args, **kwargs):
        calls["scenario"] += 1
        return real_from_config(cls, *args, **kwargs)

    import csslab.cli.main as cli
    import csslab.training.train as train

    for module in (spec_module, cli, train):
        monkeypatch.setattr(module, "validate", counted_validate)
    monkeypatch.setattr(Scenario, "from_config", classmethod(counted_from_config))
    tiny_run(tmp_path / "run", "finetune")
    assert calls == {"validate": 1, "scenario": 1}


def test_fit_task_and_benchmark_take_at_most_six_parameters():
    from csslab.experiments.sweep import benchmark

    for function in (fit_task, benchmark):
        assert len(inspect.signature(function).parameters) <= 6, function.__name__
    assert {f.name for f in dataclasses.fields(RunSpec)} >= {"config", "params", "scenario", "device", "threads",
                                                             "resolved"}


def test_callbacks_see_every_step_in_order_with_its_learning_rate():
    seen = []

    class Ends(Callback):  # on_task_end is the run's (after evaluation): fit_task never calls it
        def on_task_end(self, end):
            raise AssertionError("fit_task ended a task")

    torch.manual_seed(0)
    model, method, task = IncrementalSegmenter(), make_method("finetune"), TINY_TASKS[0]
    images, masks = tiny_data(task)
    train = TrainConfig(batch_size=4, lr=1e-3, schedule="poly")
    fit_task(model, method, task, TaskData(images, masks, 3, torch.Generator().manual_seed(0)), train,
             [OnStep(seen.append), Ends()])
    assert [(s.index, s.steps, s.task) for s in seen] == [(0, 3, task), (1, 3, task), (2, 3, task)]
    assert seen[0].lr == 1e-3 > seen[1].lr > seen[2].lr  # the poly schedule, as the optimiser used it
    assert all(s.loss.item() == pytest.approx(sum(s.values.values()), rel=1e-5) for s in seen)


def test_threads_resolve_to_the_default_read_before_any_run_set_one():
    default = runtime.default_threads()
    before = torch.get_num_threads()
    try:
        assert runtime.use_threads(1) == 1 and torch.get_num_threads() == 1
        assert runtime.resolve_threads(0) == default == runtime.DEFAULT_THREADS  # not the number a run set
    finally:
        torch.set_num_threads(before)
