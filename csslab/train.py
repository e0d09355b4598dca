"""The training loop: one process runs every task (DESIGN §5).

For each task: add_head -> method.before_task -> fit (a fixed number of steps) ->
method.after_task -> evaluate -> results and checkpoint on disk (atomically) before the next task.
A checkpoint holds everything the next task depends on (model, method state, batch order and every
random number generator), so ``run(..., resume=True)`` continues a killed run to the same numbers.
"""

from __future__ import annotations

import ctypes
import math
import platform
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from csslab.checkpoints import load_frames, restore_checkpoint, save_checkpoint, save_frames, saved_run
from csslab.config import Config
from csslab.data.scenes import SceneConfig
from csslab.methods import get_method
from csslab.evaluation import Evaluator, eval_task, frame_lut
from csslab.models import IncrementalSegmenter
from csslab.reports.tables import format_task
from csslab.results import Results, atomic_write, task_entry
from csslab.scenarios import make_scenario

N_PREVIEW = 8  # fixed test scenes whose predictions are stored for the report


class TrainingError(RuntimeError):
    """A run cannot go on (e.g. a non-finite loss); completed tasks stay on disk."""


def configure_malloc() -> None:
    """Keep freed activation buffers in the heap: glibc otherwise unmaps and re-faults them
    every step (DESIGN §8 measured 1.5x on training). No-op off glibc."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 32 * 1024 * 1024)  # M_MMAP_THRESHOLD: the largest glibc accepts
        libc.mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass


def check_train(config: Config) -> torch.device:
    """The training options' own checks (one line each); returns the device."""
    t = config.train
    for name, ok, rule in (
        ("steps", t.steps > 0, "must be a positive number of steps per task"),
        ("steps_per_class", t.steps_per_class >= 0, "must be >= 0 (0 = train.steps for every task)"),
        ("batch_size", t.batch_size > 0, "must be positive"),
        ("lr", t.lr > 0 and math.isfinite(t.lr), "must be a positive finite number"),
        ("lr_incremental", t.lr_incremental >= 0 and math.isfinite(t.lr_incremental),
         "must be >= 0 (0 = the same as train.lr)"),
        ("weight_decay", t.weight_decay >= 0, "must be >= 0"),
        ("eval_batch_size", t.eval_batch_size > 0, "must be positive"),
        ("threads", t.threads >= 0, "must be >= 0 (0 = all cores)"),
        ("frame_every", t.frame_every >= 0, "must be >= 0 (0 = about 50 frames per run)"),
        ("frame_scenes", t.frame_scenes > 0, "must be a positive number of test scenes"),
    ):
        if not ok:
            raise ValueError(f"invalid {name} {getattr(t, name)} (train.{name}): {rule}")
    try:
        device = torch.device(t.device)
    except (RuntimeError, TypeError):
        raise ValueError(f"invalid device {t.device!r}: valid devices are cpu, cuda, cuda:N") from None
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"invalid device {t.device!r}: valid devices are cpu, cuda, cuda:N")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"invalid device {t.device!r}: CUDA is not available here (valid: cpu)")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ValueError(f"invalid device {t.device!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return device


def load_run_config(run_dir) -> Config:
    """The resolved configuration a run directory was started with (its config.yaml)."""
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"no config.yaml in {run_dir}: not a csslab run directory")
    try:
        return Config.from_yaml(path.read_text())
    except Exception as error:  # YAML syntax or a key this version does not know
        raise ValueError(f"unreadable {path}: {str(error).splitlines()[0]}") from None


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def build_scenario(config: Config):
    s = config.scenario
    return make_scenario(
        tasks=s.tasks, setting=s.setting, data=s.data, seed=config.seed, class_order=s.class_order,
        train_scenes=s.train_scenes, test_scenes=s.test_scenes,
        scene=SceneConfig(size=s.size, min_digits=s.min_digits, max_digits=s.max_digits,
                          max_box_iou=s.max_box_iou, ink=s.ink),
        old_in_images=s.old_in_images, future_in_images=s.future_in_images,
        old_labels=s.old_labels, test_future=s.test_future,
    )


def _versions() -> dict:
    import csslab

    return {"csslab": csslab.__version__, "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version()}


def _batches(n: int, batch_size: int, generator: torch.Generator):
    """Endless indices: shuffled epochs over n samples."""
    while True:
        perm = torch.randperm(n, generator=generator)
        for start in range(0, n - batch_size + 1 if n >= batch_size else 1, batch_size):
            yield perm[start:start + batch_size]


def run(config: Config | None = None, out=None, progress: bool = True, log=print, resume: bool = False,
        **overrides) -> Results:
    """Train ``config.method`` over the scenario, task by task; returns the Results.

    With ``out``, writes config.yaml, results.json (after every task), frames.npz and per-task
    checkpoints there. With ``resume=True``, continues the run in ``out`` after its last completed
    task (``config`` defaults to its config.yaml) and ends with the numbers of an uninterrupted run.
    """
    if resume:
        if out is None:
            raise ValueError("resume needs the run directory (out=...)")
        config = config or load_run_config(out)
    config = config or Config()
    for key, value in overrides.items():
        setattr(config, key, value)
    configure_malloc()
    method_cls = get_method(config.method)
    params = method_cls.make_params(config.params)
    t = config.train
    device = check_train(config)
    out = Path(out) if out is not None else None
    results = Results.new(config.to_dict() | {"params": vars(params)}, _versions())
    saved = saved_run(out, results) if resume else None
    if saved is not None and saved.complete:
        if log:
            log(f"{out} is complete ({len(saved.tasks)} tasks): nothing to resume")
        return saved
    if t.threads:
        torch.set_num_threads(t.threads)
    scenario = build_scenario(config)
    seed_everything(config.seed)
    method = method_cls(params, device=device, seed=config.seed)
    train_scenario, steps = method.prepare(scenario, t.steps)
    model = IncrementalSegmenter(config.model.backbone).to(device)
    evaluator = Evaluator(scenario, device, t.eval_batch_size)
    if out is not None and saved is None:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write(out / "config.yaml", Config.from_dict(results["config"]).to_yaml())

    # animation frames: a fixed test subset evaluated every frame_every steps
    n_tasks = len(train_scenario)
    frame_every = t.frame_every or max(1, sum(task_steps(t, task, steps) for task in train_scenario) // 50)
    frame_images, frame_raw = scenario.test_raw()
    frame_images = torch.from_numpy(frame_images[: t.frame_scenes, None])
    frame_raw = frame_raw[: t.frame_scenes]
    frames = {"step": [], "task": [], "confusion": [], "pred": []}

    batch_gen = torch.Generator().manual_seed(config.seed)
    start_time = time.perf_counter()
    global_step = 0
    if saved is not None:  # continue after the last completed task, in the state it left everything
        results, frames = saved, load_frames(out, len(saved.tasks))
        restore_checkpoint(out, train_scenario[:len(results.tasks)], model, method, batch_gen, device)
        global_step = sum(entry["steps"] for entry in results.tasks)
        start_time -= results["timings"]["total_s"]
        if log:
            log(f"resuming {out} after task {len(results.tasks)}/{n_tasks}")
    n_done = len(results.tasks)
    for task in train_scenario:
        if task.index < n_done:
            continue
        t0 = time.perf_counter()
        images, masks = train_scenario.train_set(task)
        t_data = time.perf_counter() - t0
        method.add_head(model, task)
        method.before_task(task, model, images, masks)
        lr = t.lr_incremental if task.index and t.lr_incremental else t.lr
        optimizer = torch.optim.Adam(method.parameters(model), lr=lr, weight_decay=t.weight_decay)
        n_steps = task_steps(t, task, steps)
        scheduler = _scheduler(optimizer, t.schedule, n_steps)
        method.train_mode(model)
        frame_labels = frame_lut(scenario, task)
        t1 = time.perf_counter()
        sums: dict[str, float] = {}
        bar = tqdm(range(n_steps), desc=f"{config.method} task {task.index + 1}/{n_tasks}", disable=not progress,
                   leave=False, file=sys.stderr, dynamic_ncols=True)
        batches = _batches(len(images), t.batch_size, batch_gen)
        for step in bar:
            idx = next(batches)
            x, y = method.batch(images[idx], masks[idx].long())
            terms = method.loss(model, x.to(device), y.to(device))
            loss = sum(terms.values())
            if not torch.isfinite(loss):
                bad = [f"{k}={float(v.detach()):g}" for k, v in terms.items() if not torch.isfinite(v)]
                raise TrainingError(
                    f"non-finite loss at task {task.index}, step {step}: term {', '.join(bad)} "
                    f"({len(results.tasks)} completed task(s) kept{' in ' + str(out) if out else ''})"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach())
            global_step += 1
            if step % 10 == 0:
                bar.set_postfix(loss=f"{float(loss.detach()):.3f}")
            if global_step % frame_every == 0:
                model.eval()
                cm, pred = evaluator.confusion(model, frame_images, torch.from_numpy(frame_labels[frame_raw]),
                                               return_pred=N_PREVIEW)
                method.train_mode(model)
                frames["step"].append(global_step)
                frames["task"].append(task.index)
                frames["confusion"].append(cm)
                frames["pred"].append(pred)
        bar.close()
        train_s = time.perf_counter() - t1
        method.after_task(task, model, images, masks)

        t2 = time.perf_counter()
        model.eval()
        test_images, test_masks = scenario.test_set(eval_task(scenario, task))
        cm = evaluator.confusion(model, test_images, test_masks)
        eval_s = time.perf_counter() - t2
        loss = {k: v / n_steps for k, v in sums.items()}
        results.add_task(task_entry(task, cm, n_steps, loss, train_s, eval_s, t_data), task.index == n_tasks - 1)
        results.add_timings(train_s, eval_s, t_data, time.perf_counter() - start_time)
        if out is not None:
            save_frames(out, frames, frame_raw[:N_PREVIEW], frame_images[:N_PREVIEW])
            if t.checkpoints:
                save_checkpoint(out, task, model, method, batch_gen)
            results.save(out)
        if log:
            log(format_task(results.final, n_tasks))
    return results


def task_steps(t, task, steps: int) -> int:
    """Optimisation steps of ``task``: ``steps`` (what ``method.prepare`` made of ``train.steps``), or
    ``train.steps_per_class`` times the task's number of classes when that is set."""
    return t.steps_per_class * len(task.classes) if t.steps_per_class else steps


def _scheduler(optimizer, schedule: str, steps: int):
    """Learning rate per step within a task: constant, or MiB/PLOP's poly decay (power 0.9)."""
    if schedule == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    if schedule == "poly":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: (1 - min(step, steps - 1) / steps) ** 0.9)
    raise ValueError(f"unknown train.schedule {schedule!r}: valid values are poly, constant")
