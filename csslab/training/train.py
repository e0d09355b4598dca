"""The training loop: one process runs every task (docs/architecture.md#a-runs-life).

For each task: the method adds the task's head -> before_task -> fit (a fixed number of steps) ->
after_task -> evaluate -> results and checkpoint on disk (atomically) before the next task.
A checkpoint holds everything the next task depends on (model, method state, batch order and every
random number generator), so ``run(..., resume=True)`` continues a killed run to the same numbers.
What watches the loop (progress, frames, tracked logs) are callbacks (``csslab.training.callbacks``).
"""

from __future__ import annotations

import platform
import time
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np
import torch

from csslab.core.words import plural, task_of
from csslab.core.config import Config, TrainConfig
from csslab.core.files import atomic_write
from csslab.core.precision import autocast
from csslab.core.runtime import configure_malloc, seed_everything, use_threads
from csslab.core.version import __version__, code_digest
from csslab.evaluation.confusion import Evaluator
from csslab.methods import Method, method_source
from csslab.model.network import IncrementalSegmenter
from csslab.scenarios import Scenario
from csslab.store.checkpoints import restore_checkpoint, resume_point, save_checkpoint
from csslab.store.frames import Frames, frame_interval
from csslab.store.results import Results, task_entry
from csslab.store.validate import check_run
from csslab.store.rundir import RunDir
from csslab.store.runstore import clear_run
from csslab.training.callbacks import Callback, LogSteps, ProgressBar, RecordFrames, Step, TaskData, TaskEnd
from csslab.training.optim import make_optimizer, make_scheduler
from csslab.training.pretrain import pretrained_backbone
from csslab.training.shared_base import base_path, fit_base
from csslab.training.spec import RunSpec, validate
from csslab.training.tracking import Tracker


class TrainingError(RuntimeError):
    """A run cannot go on (e.g. a non-finite loss); completed tasks stay on disk."""


def load_run_config(run_dir) -> Config:
    """The resolved configuration a run directory was started with (its config.yaml)."""
    path = RunDir(run_dir).config
    if not path.is_file():
        raise FileNotFoundError(f"no {path.name} in {run_dir}: not a csslab run directory")
    try:
        return Config.from_yaml(path.read_text())
    except Exception as error:  # YAML syntax or a key this version does not know
        raise ValueError(f"unreadable {path}: {str(error).splitlines()[0]}") from None


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


def setup(spec: RunSpec | Config, log=None, progress: bool = False) -> Setup:
    """The scenario, method, model and evaluator of a run (``spec``, or a Config validated now), made in the
    order (and after the seeding) whose random numbers its results depend on. With ``model.pretrain``, the
    backbone starts from the pretrained weights (trained first, with ``progress`` and ``log``, when not cached)."""
    spec = spec if isinstance(spec, RunSpec) else validate(spec)
    config = spec.config
    use_threads(spec.threads)  # also after a run that set another number
    backbone = pretrained_backbone(config, spec.device, spec.threads, progress, log, fit_task)  # own random numbers
    seed_everything(config.seed)
    method = spec.make_method()
    train_scenario, steps = method.prepare(spec.scenario, config.train.steps)
    model = IncrementalSegmenter(config.model.backbone).to(spec.device)
    if backbone is not None:  # after the model's own init, so that its heads draw what they draw without it
        model.backbone.load_state_dict(backbone)
    return Setup(spec.scenario, train_scenario, steps, method, model,
                 Evaluator(spec.scenario, spec.device, config.train.eval_batch_size, config.train.precision))


def run(spec: RunSpec | Config | None = None, out=None, progress: bool = True, log=print, resume: bool = False,
        on_task=None, base=None) -> Results:
    """Train the method of ``spec`` (a ``RunSpec``, or a Config validated now) over its scenario, task by task;
    returns the Results. With ``out``, writes config.yaml, results.json (after every task), frames.npz and
    checkpoints there, first removing a previous run's outputs; ``resume=True`` continues the run in ``out`` (with
    its own config.yaml when ``spec`` is None) to the numbers of an uninterrupted run. ``base``: a directory of
    shared base models (``shared_base``); ``log(message)`` says what happens, ``on_task(entry, n_tasks)`` gets
    each task's entry."""
    if resume and out is None:
        raise ValueError("resume needs the run directory (out=...)")
    spec = spec or (load_run_config(out) if resume else Config())
    spec = spec if isinstance(spec, RunSpec) else validate(spec)
    configure_malloc()
    log = log or (lambda message: None)
    if out is None:
        return _run(spec, None, progress, log, resume, on_task, base)
    with RunDir(out).writing(clean=not resume, keep=(TrainingError,)):  # one writer; a refusal leaves nothing
        return _run(spec, Path(out), progress, log, resume, on_task, base)


# the keys of a completed task that resuming reads (metrics.csv's rows, the averages, the IoU matrix)
RESUME_KEYS = ("task", "classes", "steps", "miou_all", "miou_old", "miou_new", "iou", "acc")


def _run(spec: RunSpec, out: Path | None, progress: bool, log, resume: bool, on_task, base) -> Results:
    config, t = spec.config, spec.config.train
    results = Results.new(spec.resolved, _versions(config.method))
    saved = resume_point(out, config) if resume else None
    if saved is not None:  # a results.json damaged or edited since: refused, never averaged into "avg nan"
        try:
            check_run(saved.data, RunDir(out).results)
        except ValueError as error:
            raise ValueError(f"cannot resume {out}: {error}") from None
        for k, entry in enumerate(saved.tasks):  # what continuing reads of each completed task (a report does not)
            if missing := [key for key in RESUME_KEYS if key not in entry]:
                raise ValueError(f"cannot resume {out}: task {k} of its results.json has no {missing[0]!r} (edited, "
                                 "or written by an older csslab); train it again with --overwrite")
    if saved is not None and saved.complete:
        log(f"{out} is complete ({plural(len(saved.tasks), 'task')}): nothing to resume")
        return saved
    s = setup(spec, log, progress)
    if out is not None and saved is None:  # a new run: nothing of what ``out`` held may survive beside it
        clear_run(out)
        atomic_write(RunDir(out).config, Config.from_dict(spec.resolved).to_yaml())
    n_tasks = len(s.train_scenario)
    every = frame_interval(t.frame_every, sum(task_steps(t, task, s.steps) for task in s.train_scenario))
    frames = Frames(s.scenario, s.evaluator, every, t.frame_scenes)
    batch_gen = torch.Generator().manual_seed(config.seed)
    start_time = time.perf_counter()
    if saved is not None:  # continue after the last completed task, in the state it left everything
        results, start_time = saved, start_time - _restore(saved, out, s, frames, batch_gen, spec.device, log)
    done = sum(entry["steps"] for entry in results.tasks)
    with Tracker(t.log, out, frames, s.evaluator, results.tasks) as tracker:
        callbacks = [LogSteps(tracker, done), RecordFrames(frames, out, done)]
        if progress:
            callbacks.append(ProgressBar(lambda task: f"{config.method} {task_of(task.index, n_tasks)}"))
        for task in s.train_scenario[len(results.tasks):]:
            t0 = time.perf_counter()
            images, masks = s.train_scenario.train_set(task)
            data_s, t1 = time.perf_counter() - t0, time.perf_counter()
            data = TaskData(images, masks, task_steps(t, task, s.steps), batch_gen)
            frames_before = frames.seconds
            try:
                loss = train_task(s, config, task, data, callbacks, base)
            except TrainingError as error:
                kept = f"{plural(len(results.tasks), 'completed task')} kept{' in ' + str(out) if out else ''}"
                raise TrainingError(f"{error} ({kept})") from None
            frames_s = frames.seconds - frames_before
            train_s, t2 = time.perf_counter() - t1 - frames_s, time.perf_counter()
            cm, val_cm = s.evaluator.evaluate_task(s.method.eval_model(s.model), task)
            eval_s = time.perf_counter() - t2
            results.add_task(task_entry(task, cm, data.steps, loss, train_s, eval_s, data_s, val_cm),
                             task.index == n_tasks - 1)
            done += data.steps
            end = TaskEnd(task, results.final, done, s.method.eval_model(s.model))
            for callback in callbacks:  # the tracked metrics, the frames saved
                callback.on_task_end(end)
            results.add_timings(train_s, eval_s, data_s, time.perf_counter() - start_time, frames_s)
            if out is not None:
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
    done, n = len(saved.tasks), len(s.train_scenario)
    log(f"resuming {out} after task {done - 1} of 0..{n - 1}: {plural(n - done, 'task')} left")
    _record_resuming_code(saved, log, saved["config"]["method"])
    return saved["timings"]["total_s"]


def train_task(s: Setup, config: Config, task, data: TaskData, callbacks: Sequence[Callback],
               base=None) -> dict[str, float]:
    """``fit_task`` on ``task`` with the run's callbacks, or, for the first task of a method that shares its base
    (``base`` given), the shared base model: trained by the first run that needs it, loaded by the others
    (``shared_base.fit_base``; a loaded base calls no ``on_step``); returns each loss term's mean."""
    shared = base_path(base, config, s.method) if task.index == 0 else None
    if shared is None:
        return fit_task(s.model, s.method, task, data, config.train, callbacks)

    def fit():  # the base: everything but after_task, which runs after it was saved
        s.method.add_head(s.model, task)
        s.method.before_task(task, s.model, data.images, data.masks)
        return optimise(s.model, s.method, task, data, config.train, callbacks)

    frames = next(c.frames for c in callbacks if isinstance(c, RecordFrames))
    loss = fit_base(shared, fit, s, task, data.images, data.masks, data.generator, frames)
    s.method.after_task(task, s.model, data.images, data.masks)
    return loss


def fit_task(model, method, task, data: TaskData, train: TrainConfig,
             callbacks: Sequence[Callback] = ()) -> dict[str, float]:
    """Train ``model`` on ``task``: ``method.add_head``, ``before_task``, ``optimise`` (``data.steps`` optimiser
    steps), ``after_task``. Returns each loss term's mean over the steps. (A caller that has added the task's
    head, or runs ``after_task`` itself, calls the parts.)"""
    method.add_head(model, task)
    method.before_task(task, model, data.images, data.masks)
    loss = optimise(model, method, task, data, train, callbacks)
    method.after_task(task, model, data.images, data.masks)
    return loss


def optimise(model, method, task, data: TaskData, train: TrainConfig,
             callbacks: Sequence[Callback] = ()) -> dict[str, float]:
    """``data.steps`` optimiser steps of ``method.loss`` on ``model`` (its head for ``task`` added, ``before_task``
    run), each followed by every callback's ``on_step``; returns each loss term's mean. Raises TrainingError on a
    non-finite loss. The forward passes run in ``train.precision`` (``csslab.core.precision.autocast``)."""
    lr = train.lr_incremental if task.index and train.lr_incremental else train.lr
    optimizer = make_optimizer(method.parameters(model), train, lr)
    scheduler = make_scheduler(optimizer, train.schedule, data.steps)
    method.train_mode(model)
    sums: dict[str, float] = {}
    batches = _batches(len(data.images), train.batch_size, data.generator)
    for step in range(data.steps):
        idx = next(batches)
        x, y = method.batch(data.images[idx], data.masks[idx].long())
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
        for callback in callbacks:
            callback.on_step(Step(task, step, data.steps, model, method, terms, loss, values, lr_used))
    return {k: v / data.steps for k, v in sums.items()}


def task_steps(t, task, steps: int) -> int:
    """Optimisation steps of ``task``: ``steps`` (what ``method.prepare`` made of ``train.steps``), or
    ``train.steps_per_class`` times the task's number of classes when that is set."""
    return t.steps_per_class * len(task.classes) if t.steps_per_class else steps
