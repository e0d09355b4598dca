"""The training loop: one process runs every task (docs/architecture.md#a-runs-life).

For each task: the method adds the task's head -> before_task -> fit (a fixed number of steps) ->
after_task -> evaluate -> results and checkpoint on disk (atomically) before the next task.
A checkpoint holds everything the next task depends on (model, method state, batch order and every
random number generator), so ``run(..., resume=True)`` continues a killed run to the same numbers.
"""

from __future__ import annotations

import ctypes
import platform
import random
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from csslab.store.checkpoints import restore_checkpoint, resume_point, save_checkpoint
from csslab.store.validate import check_run
from csslab.training.checks import resolve_threads, validate
from csslab.core.config import OPTIMIZERS, Config, TrainConfig
from csslab.evaluation.confusion import Evaluator
from csslab.store.frames import Frames, frame_interval
from csslab.methods import Method, get_method, method_source
from csslab.model.network import IncrementalSegmenter
from csslab.core.precision import autocast
from csslab.training.pretrain import pretrained_backbone
from csslab.core.progress import Progress
from csslab.core.files import atomic_write
from csslab.store.results import Results, task_entry
from csslab.store.rundir import RunDir
from csslab.store.runstore import clear_run, resolved as resolved_config
from csslab.scenarios import Scenario
from csslab.training.shared_base import base_path, fit_base
from csslab.training.tracking import Tracker
from csslab.core.version import __version__, code_digest


class TrainingError(RuntimeError):
    """A run cannot go on (e.g. a non-finite loss); completed tasks stay on disk."""


def configure_malloc() -> None:
    """Keep freed activation buffers in the heap: glibc otherwise unmaps and re-faults them
    every step (1.5x on training: docs/architecture.md#performance). No-op off glibc."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 32 * 1024 * 1024)  # M_MMAP_THRESHOLD: the largest glibc accepts
        libc.mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass


def load_run_config(run_dir) -> Config:
    """The resolved configuration a run directory was started with (its config.yaml)."""
    path = RunDir(run_dir).config
    if not path.is_file():
        raise FileNotFoundError(f"no {path.name} in {run_dir}: not a csslab run directory")
    try:
        return Config.from_yaml(path.read_text())
    except Exception as error:  # YAML syntax or a key this version does not know
        raise ValueError(f"unreadable {path}: {str(error).splitlines()[0]}") from None


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _versions(method: str) -> dict:
    """The versions a run records; ``method``: the code of a method from a file or a plugin (``method_source``)."""
    source = method_source(method)
    return {"csslab": __version__, "code": code_digest(), "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version(), **({"method": source} if source is not None else {})}


def _record_resuming_code(results: Results, log, method: str) -> None:
    """A run resumed by other code than last ran it says so: the code's digest is added to
    ``versions.code_resumed`` (as "DIGEST from task N", its first task not yet done) and logged; so is a changed
    method from a file or a plugin (``versions.method``), in ``versions.method_resumed``."""
    versions = results.data.setdefault("versions", {})
    for key, now, what in (("code", code_digest(), "csslab code"), ("method", method_source(method), "method")):
        if now is None:  # a built-in method: csslab's code is its code
            continue
        resumed = versions.get(f"{key}_resumed", [])
        last = resumed[-1].rsplit(" from task ", 1)[0] if resumed else versions.get(key)  # what ran the last tasks
        if last != now:
            versions[f"{key}_resumed"] = [*resumed, f"{now} from task {len(results.tasks)}"]
            log(f"resuming with other code than last ran the run ({what} {now}, last run by {last or 'unrecorded'}): "
                f"recorded in results.json versions.{key}_resumed")


def _batches(n: int, batch_size: int, generator: torch.Generator):
    """Endless indices: shuffled epochs over n samples."""
    while True:
        perm = torch.randperm(n, generator=generator)
        for start in range(0, n - batch_size + 1 if n >= batch_size else 1, batch_size):
            yield perm[start:start + batch_size]


class Setup(NamedTuple):
    """What a run trains and evaluates with."""

    scenario: Scenario  # its test scenes evaluate every task
    train_scenario: Scenario  # the tasks the method trains (the joint bound: one task of all classes)
    steps: int  # train.steps as the method prepared it
    method: Method
    model: IncrementalSegmenter
    evaluator: Evaluator


def setup(config: Config, device, scenario: Scenario | None = None, log=None, progress: bool = False) -> Setup:
    """The scenario (built from ``config`` unless given), method, model and evaluator of a run, made in the
    order (and after the seeding) whose random numbers its results depend on. With ``model.pretrain``, the
    backbone starts from the pretrained weights (trained first, with ``progress`` and ``log``, when not cached)."""
    scenario = scenario or Scenario.from_config(config.scenario, config.seed)
    threads = resolve_threads(config.train.threads)
    torch.set_num_threads(threads)  # also after a run that set another number
    backbone = pretrained_backbone(config, device, threads, progress, log, fit_task)  # its own random numbers
    seed_everything(config.seed)
    method_cls = get_method(config.method)
    method = method_cls(method_cls.make_params(config.params), device=device, seed=config.seed,
                        eval_batch_size=config.train.eval_batch_size)
    train_scenario, steps = method.prepare(scenario, config.train.steps)
    model = IncrementalSegmenter(config.model.backbone).to(device)
    if backbone is not None:  # after the model's own init, so that its heads draw what they draw without it
        model.backbone.load_state_dict(backbone)
    return Setup(scenario, train_scenario, steps, method, model,
                 Evaluator(scenario, device, config.train.eval_batch_size, config.train.precision))


def run(config: Config | None = None, out=None, progress: bool = True, log=print, resume: bool = False,
        on_task=None, base=None) -> Results:
    """Train ``config.method`` over the scenario, task by task; returns the Results. With ``out``, writes
    config.yaml, results.json (after every task), frames.npz and checkpoints there, first removing a previous
    run's outputs; ``resume=True`` continues the run in ``out`` to the numbers of an uninterrupted run.
    ``base``: a directory of shared base models (``shared_base``); ``log(message)`` says what happens,
    ``on_task(entry, n_tasks)`` gets each task's entry."""
    if resume and out is None:
        raise ValueError("resume needs the run directory (out=...)")
    config = config or (load_run_config(out) if resume else Config())
    configure_malloc()
    log = log or (lambda message: None)
    checked = validate(config)
    if out is None:
        return _run(config, checked, None, progress, log, resume, on_task, base)
    with RunDir(out).writing(clean=not resume, keep=(TrainingError,)):  # one writer; a refusal leaves nothing
        return _run(config, checked, Path(out), progress, log, resume, on_task, base)


def _run(config: Config, checked, out: Path | None, progress: bool, log, resume: bool, on_task, base) -> Results:
    results = Results.new(resolved_config(config), _versions(config.method))
    saved = resume_point(out, config) if resume else None
    if saved is not None:  # a results.json damaged or edited since: refused, never averaged into "avg nan"
        try:
            check_run(saved.data, RunDir(out).results)
        except ValueError as error:
            raise ValueError(f"cannot resume {out}: {error}") from None
    if saved is not None and saved.complete:
        log(f"{out} is complete ({len(saved.tasks)} tasks): nothing to resume")
        return saved
    s, t = setup(config, checked.device, checked.scenario, log, progress), config.train
    if out is not None and saved is None:  # a new run: nothing of what ``out`` held may survive beside it
        clear_run(out)
        atomic_write(RunDir(out).config, Config.from_dict(results["config"]).to_yaml())
    n_tasks = len(s.train_scenario)
    every = frame_interval(t.frame_every, sum(task_steps(t, task, s.steps) for task in s.train_scenario))
    frames = Frames(s.scenario, s.evaluator, every, t.frame_scenes)
    batch_gen = torch.Generator().manual_seed(config.seed)
    start_time = time.perf_counter()
    if saved is not None:  # continue after the last completed task, in the state it left everything
        results, start_time = saved, start_time - _restore(saved, out, s, frames, batch_gen, checked.device, log)
    with Tracker(t.log, out, frames, s.evaluator, results.tasks) as tracker:
        for task in s.train_scenario[len(results.tasks):]:
            t0 = time.perf_counter()
            images, masks = s.train_scenario.train_set(task)
            data_s, t1 = time.perf_counter() - t0, time.perf_counter()
            n_steps, done = task_steps(t, task, s.steps), sum(entry["steps"] for entry in results.tasks)
            frames_before = frames.seconds
            label = f"{config.method} task {task.index + 1}/{n_tasks}" if progress else ""
            try:
                loss = train_task(s, config, task, images, masks, n_steps, batch_gen, (frames, tracker), done, label,
                                  base)
            except TrainingError as error:
                kept = f"{len(results.tasks)} completed task(s) kept{' in ' + str(out) if out else ''}"
                raise TrainingError(f"{error} ({kept})") from None
            frames_s = frames.seconds - frames_before
            train_s, t2 = time.perf_counter() - t1 - frames_s, time.perf_counter()
            cm, val_cm = s.evaluator.evaluate_task(s.method.eval_model(s.model), task)
            eval_s = time.perf_counter() - t2
            results.add_task(task_entry(task, cm, n_steps, loss, train_s, eval_s, data_s, val_cm),
                             task.index == n_tasks - 1)
            tracker.end_task(task, results.final, done + n_steps, s.method.eval_model(s.model))
            results.add_timings(train_s, eval_s, data_s, time.perf_counter() - start_time, frames_s)
            if out is not None:
                frames.save(out)
                if t.checkpoints:
                    save_checkpoint(out, task, s.model, s.method, batch_gen)
                results.save(out)
            tracker.save()  # the logs after the results: they never hold a task results.json does not
            if on_task:
                on_task(results.final, n_tasks)
    return results


def _restore(saved: Results, out: Path, s: Setup, frames: Frames, batch_gen, device, log) -> float:
    """Put everything in the state the completed tasks of ``saved`` left it; returns their seconds."""
    frames.load(out, len(saved.tasks))
    restore_checkpoint(out, s.train_scenario[:len(saved.tasks)], s.model, s.method, batch_gen, device)
    log(f"resuming {out} after task {len(saved.tasks)}/{len(s.train_scenario)}")
    _record_resuming_code(saved, log, saved["config"]["method"])
    return saved["timings"]["total_s"]


def train_task(s: Setup, config: Config, task, images, masks, steps: int, generator, recorders: tuple[Frames, Tracker],
               done: int, label: str, base=None) -> dict[str, float]:
    """``fit_task`` on ``task`` with animation frames and the tracker's per-step logs recorded, or, for the first
    task of a method that shares its base (``base`` given), the shared base model: trained by the first run that
    needs it, loaded by the others (``shared_base.fit_base``; a loaded base logs no steps); returns each loss
    term's mean."""
    (frames, tracker), shared = recorders, base_path(base, config, s.method) if task.index == 0 else None
    fit = lambda: fit_task(s.model, s.method, task, images, masks, config.train, steps, generator,  # noqa: E731
                           on_step=lambda step, terms: frames.record(s.model, s.method, task, done + step + 1),
                           progress=label, after_task=shared is None,
                           log_step=lambda step, values, lr: tracker.step(task, done + step + 1, values, lr))
    if shared is None:
        return fit()
    loss = fit_base(shared, fit, s, task, images, masks, generator, frames)
    s.method.after_task(task, s.model, images, masks)
    return loss


def fit_task(model, method, task, images, masks, train: TrainConfig, steps: int, generator: torch.Generator,
             on_step=None, progress: str = "", after_task: bool = True, add_head: bool = True,
             log_step=None) -> dict[str, float]:
    """Train ``model`` on ``task``: ``method.add_head`` (unless False: the model has the task's head already, e.g.
    a measurement's own init), ``before_task``, ``steps`` optimiser steps on batches of ``images`` and ``masks``
    (shuffled epochs drawn from ``generator``), ``after_task`` (unless False: the shared base runs it). Returns
    each loss term's mean over the steps. ``on_step(step, terms)`` runs after every step; ``progress``: the
    label of the progress on stderr (a bar on a terminal, a few lines elsewhere; none if empty). Raises
    TrainingError on a non-finite loss. ``log_step(step, {term: value}, lr)`` gets every step's loss terms and the
    learning rate it used. The forward passes run in ``train.precision`` (``csslab.core.precision.autocast``)."""
    if add_head:
        method.add_head(model, task)
    method.before_task(task, model, images, masks)
    lr = train.lr_incremental if task.index and train.lr_incremental else train.lr
    optimizer = make_optimizer(method.parameters(model), train, lr)
    scheduler = _scheduler(optimizer, train.schedule, steps)
    method.train_mode(model)
    sums: dict[str, float] = {}
    batches = _batches(len(images), train.batch_size, generator)
    bar = Progress(steps, progress)
    for step in range(steps):
        idx = next(batches)
        x, y = method.batch(images[idx], masks[idx].long())
        with autocast(method.device, train.precision):
            terms = method.loss(model, x.to(method.device), y.to(method.device))
        loss = sum(terms.values())
        if not torch.isfinite(loss):
            bad = [f"{k}={float(v.detach()):g}" for k, v in terms.items() if not torch.isfinite(v)]
            raise TrainingError(f"non-finite loss at task {task.index}, step {step}: term {', '.join(bad)}")
        lr_used = optimizer.param_groups[0]["lr"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        values = {k: float(v.detach()) for k, v in terms.items()}
        for k, v in values.items():
            sums[k] = sums.get(k, 0.0) + v
        if log_step:
            log_step(step, values, lr_used)
        if progress:
            bar.update(step, float(loss.detach()))
        if on_step:
            on_step(step, terms)
    bar.close()
    if after_task:  # False: the caller runs it (after saving the shared base)
        method.after_task(task, model, images, masks)
    return {k: v / steps for k, v in sums.items()}


def task_steps(t, task, steps: int) -> int:
    """Optimisation steps of ``task``: ``steps`` (what ``method.prepare`` made of ``train.steps``), or
    ``train.steps_per_class`` times the task's number of classes when that is set."""
    return t.steps_per_class * len(task.classes) if t.steps_per_class else steps


def make_optimizer(parameters, train: TrainConfig, lr: float) -> torch.optim.Optimizer:
    """``train.optimizer`` over ``parameters``: Adam, or SGD with ``train.momentum`` and ``train.nesterov``. A param
    group with an ``lr_scale`` (``Method.parameters``) trains at ``lr_scale`` times ``lr``."""
    parameters = [{k: v for k, v in p.items() if k != "lr_scale"} | {"lr": lr * p["lr_scale"]}
                  if isinstance(p, dict) and "lr_scale" in p else p for p in parameters]
    if train.optimizer == "adam":
        return torch.optim.Adam(parameters, lr=lr, weight_decay=train.weight_decay)
    if train.optimizer == "sgd":
        return torch.optim.SGD(parameters, lr=lr, momentum=train.momentum, weight_decay=train.weight_decay,
                               nesterov=train.nesterov and train.momentum > 0)
    raise ValueError(f"unknown train.optimizer {train.optimizer!r}: valid optimizers are {', '.join(OPTIMIZERS)}")


def _scheduler(optimizer, schedule: str, steps: int):
    """Learning rate per step within a task: constant, or MiB/PLOP's poly decay (power 0.9)."""
    if schedule == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    if schedule == "poly":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: (1 - min(step, steps - 1) / steps) ** 0.9)
    raise ValueError(f"unknown train.schedule {schedule!r}: valid values are poly, constant")
