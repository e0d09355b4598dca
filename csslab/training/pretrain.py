"""``model.pretrain``: the backbone pretrained before task 0, as every CSS paper starts from an ImageNet-pretrained
network (docs/methods.md#pretrained-backbone).

``digits``: ImageNet's analogue, image-level labels of all ten digits on instances no scene draws
(``csslab.training.pretrain_digits``). ``joint``: the backbone a joint run (``--method joint``, seed 0) ends
with, at the run's scenario and budget: an analysis upper bound, not a CSS protocol (it saw every class's masks).
``shapes``: segmentation of procedurally generated strokes, ellipses and polygons (``csslab.data.shapes``),
a fresh seeded batch every step, Adam with poly decay. The backbone's weights (its BatchNorm statistics too;
the pretraining head is dropped) are trained once and cached by what they depend on: the pretraining options,
the generator, the backbone (its name, and the code of ``csslab.model.network``), and the device and threads they are
computed with (oneDNN's reductions follow the threads). Never by a run's seed or method: every run of a benchmark
starts from the same weights, which ``csslab benchmark`` trains before it dispatches its runs (``pretrain_once``).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import random
import time
import warnings
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from csslab.core.config import Config, ModelConfig, TrainConfig
from csslab.core.runtime import resolve_threads
from csslab.training.callbacks import ProgressBar, TaskData
from csslab.training.checks import check_model
from csslab.training.pretrain_digits import digits_digest, train_digits_backbone
from csslab.data.cache import pretrained_dir
from csslab.data.shapes import SHAPE_CLASSES, SHAPES_VERSION, make_shapes
from csslab.core.files import atomic_write
from csslab.evaluation.confusion import Evaluator
from csslab.evaluation.metrics import confusion_matrix, iou
from csslab.methods import get_method
from csslab.model.network import IncrementalSegmenter, make_backbone
from csslab.core.version import code_digest, files_digest
from csslab.scenarios import Scenario
from csslab.training.optim import pretrain_steps

SEED = 0  # the pretraining's own seed: the same weights for every run's seed
BATCH = 32
LR = 2e-3  # Adam with poly decay, the fast protocol's recipe
RECIPE = TrainConfig(optimizer="adam", lr=LR, weight_decay=0.0, schedule="poly")
EVAL_SEED, EVAL_CANVASES = 1_000_003, 200  # held-out canvases (training batches are seeded (SEED, step))


# the pretraining's code: this module, the generator and the network it trains (an edit to any of them that
# changes the weights cannot serve cached ones); '' without readable source, then the versions alone key the cache
_ROOT = Path(__file__).parents[1]  # the csslab package
CODE_DIGEST = files_digest([_ROOT / "training" / "pretrain.py", _ROOT / "training" / "optim.py",
                            _ROOT / "data" / "shapes.py", _ROOT / "model" / "network.py"], _ROOT)
DIGITS_CODE = files_digest([_ROOT / "training" / "pretrain_digits.py", _ROOT / "training" / "optim.py",
                            _ROOT / "data" / "scenes.py", _ROOT / "data" / "digits.py", _ROOT / "model" / "network.py"],
                           _ROOT)
# the train options a joint run's weights do not depend on (its logs, animation frames, checkpoints)
JOINT_UNKEYED = ("frame_every", "frame_scenes", "checkpoints", "log", "eval_batch_size", "device", "threads")
UPPER_BOUND = "an analysis upper bound, not a CSS protocol: its backbone saw every class's masks"


def _as_config(config: Config | ModelConfig) -> Config:
    """A run's configuration; a ModelConfig alone stands for the defaults around it (``shapes`` needs no more)."""
    return Config(model=config) if isinstance(config, ModelConfig) else config


def pretrain_key(config: Config | ModelConfig, device, threads: int) -> dict:
    """What the pretrained weights of ``config.model`` depend on, as JSON data (never the run's seed or method;
    ``joint``: the run's scenario and training options, and all of csslab's code)."""
    config, device = _as_config(config), torch.device(device)
    model = config.model
    common = {"pretrain": model.pretrain, "backbone": model.backbone, "seed": SEED, "device": device.type,
              "threads": threads if device.type == "cpu" else None}
    if model.pretrain == "joint":
        scenario = asdict(Scenario.from_config(config.scenario, SEED).config())  # resolved: one key per scenario
        train = {k: v for k, v in asdict(config.train).items() if k not in JOINT_UNKEYED}
        return common | {"scenario": scenario, "train": train, "code": code_digest()}
    if model.pretrain == "digits":
        return common | {"steps": model.pretrain_budget(), "data": digits_digest(config.scenario.data),
                         "code": DIGITS_CODE, "batch": BATCH, "lr": LR}
    return common | {"steps": model.pretrain_budget(), "generator": SHAPES_VERSION, "code": CODE_DIGEST, "batch": BATCH,
                     "lr": LR}


def pretrained_file(config: Config | ModelConfig, device, threads: int) -> Path | None:
    """The cache file of the configuration's pretrained backbone (None for ``pretrain=none``)."""
    model = _as_config(config).model
    check_model(model)
    if model.pretrain == "none":
        return None
    digest = hashlib.sha256(json.dumps(pretrain_key(config, device, threads), sort_keys=True).encode()).hexdigest()
    return pretrained_dir() / f"pretrained-{model.pretrain}-{model.backbone}-{digest[:16]}.pt"


def pretrained_backbone(config: Config | ModelConfig, device, threads: int, progress: bool = False, log=None,
                        fit=None) -> dict | None:
    """The backbone's pretrained state dict for ``config`` (None for ``pretrain=none``): the cached one, or
    trained now (a progress bar with ``progress``; ``log(message)`` says which) and cached atomically.
    ``fit``: the training loop of one task (``csslab.training.train.fit_task``), which ``joint`` trains with."""
    config = _as_config(config)
    path = pretrained_file(config, device, threads)
    if path is None:
        return None
    key = pretrain_key(config, device, threads)
    state = _read(path, key, config.model.backbone)
    trained = state is None
    if trained:
        state = _train(config, device, threads, progress, fit) | {"key": key}
        _write(path, state)
    if log:
        log(f"pretrained backbone {'trained' if trained else 'loaded from cache'}: {describe(config.model, state)} "
            f"({path})")
    return state["backbone"]


def describe(model: ModelConfig, state: dict) -> str:
    """What a pretrained backbone is and how good, for the log."""
    if model.pretrain == "joint":
        return (f"joint ({UPPER_BOUND}), {state['steps']} steps in {state['seconds']:.0f} s, test mIoU "
                f"{state['miou']:.3f}")
    if model.pretrain == "digits":
        return (f"digits, {model.pretrain_budget()} steps in {state['seconds']:.0f} s, held-out exact-set accuracy "
                f"{state['accuracy']:.3f} (per digit {state['digit_accuracy']:.3f})")
    return f"shapes, {model.pretrain_budget()} steps in {state['seconds']:.0f} s, held-out mIoU {state['miou']:.3f}"


def _train(config: Config, device, threads: int, progress: bool, fit) -> dict:
    model, device = config.model, torch.device(device)
    with _own_random_numbers(device, threads):
        if model.pretrain == "joint":
            return train_joint_backbone(config, device, progress, fit)
        if model.pretrain == "digits":
            return train_digits_backbone(model.backbone, config.scenario.data, model.pretrain_budget(), BATCH, LR, SEED,
                                         device, progress)
    return train_backbone(model, device, threads, progress)


def pretrain_once(configs, log=None, progress: bool = False, fit=None) -> None:
    """The pretrained backbone of each configuration that has one, trained (or found) once per cache file:
    what a benchmark runs before it dispatches runs, so that workers load the weights instead of each training
    them."""
    done = set()
    for config in configs:
        threads = resolve_threads(config.train.threads)
        path = pretrained_file(config, config.train.device, threads)
        if path is not None and path not in done:
            pretrained_backbone(config, config.train.device, threads, progress, log, fit)
            done.add(path)


@contextlib.contextmanager
def _own_random_numbers(device, threads: int):
    """Pretraining draws no number of the run's generators (torch's, numpy's, Python's: each seeded with SEED
    inside, restored after) and runs on ``threads`` torch threads."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    devices = [device.index or 0] if device.type == "cuda" else []
    states = random.getstate(), np.random.get_state()
    try:
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(SEED)
            random.seed(SEED)
            np.random.seed(SEED)
            yield
    finally:
        torch.set_num_threads(before)
        random.setstate(states[0])
        np.random.set_state(states[1])


def train_joint_backbone(config: Config, device, progress: bool, fit) -> dict:
    """The backbone of ``csslab run --method joint --seed 0`` on ``config``'s scenario and training options,
    trained with ``fit`` in the order a run makes things (its method, model, then its batch generator), and
    the joint model's test mIoU. The caller seeds the generators with SEED, as the run does."""
    if fit is None:
        raise ValueError("model.pretrain=joint trains a joint run: pass fit (csslab.training.train.fit_task)")
    method_cls = get_method("joint")
    method = method_cls(method_cls.make_params({}), device=device, seed=SEED,
                        eval_batch_size=config.train.eval_batch_size)
    scenario = Scenario.from_config(config.scenario, SEED)
    train_scenario, steps = method.prepare(scenario, config.train.steps)
    net = IncrementalSegmenter(config.model.backbone).to(device)
    generator = torch.Generator().manual_seed(SEED)
    task, t = train_scenario[0], config.train
    steps = t.steps_per_class * len(task.classes) if t.steps_per_class else steps  # train.task_steps
    images, masks = train_scenario.train_set(task)
    start = time.perf_counter()
    bar = [ProgressBar(lambda task: f"pretrain joint ({config.model.backbone})")] if progress else []
    loss = fit(net, method, task, TaskData(images, masks, steps, generator), t, bar)
    seconds = time.perf_counter() - start
    cm, _ = Evaluator(scenario, device, t.eval_batch_size, t.precision).evaluate_task(net, task)
    backbone = {k: v.detach().cpu().clone() for k, v in net.backbone.state_dict().items()}
    return {"backbone": backbone, "seconds": seconds, "steps": steps, "loss": float(sum(loss.values())),
            "miou": float(np.nanmean(iou(cm)))}


def train_backbone(model: ModelConfig, device, threads: int, progress: bool = False) -> dict:
    """Pretrain ``model.backbone`` with a head of SHAPE_CLASSES on fresh shapes for ``model.pretrain_steps``
    steps; returns its state dict (on the CPU), the seconds, the mean loss of the last quarter of steps and
    the mIoU on held-out canvases."""
    device = torch.device(device)
    with _own_random_numbers(device, threads):
        start = time.perf_counter()
        net = IncrementalSegmenter(model.backbone).to(device)
        net.add_head(len(SHAPE_CLASSES))
        steps = model.pretrain_budget()
        def loss_at(step):
            images, masks = make_shapes(BATCH, seed=(SEED, step))
            logits = net(torch.from_numpy(images).to(device))  # B, 4, H, W
            return F.cross_entropy(logits, torch.from_numpy(masks).to(device).long())

        label = f"pretrain {model.pretrain} ({model.backbone})" if progress else ""
        losses = pretrain_steps(net, loss_at, steps, RECIPE, LR, label, model.pretrain)
        seconds = time.perf_counter() - start
        miou = _held_out_miou(net, device)
    backbone = {k: v.detach().cpu().clone() for k, v in net.backbone.state_dict().items()}
    return {"backbone": backbone, "seconds": seconds, "loss": float(np.mean(losses[-max(1, steps // 4):])),
            "miou": miou}


@torch.no_grad()
def _held_out_miou(net, device) -> float:
    """Mean IoU (background and the three shapes) of ``net`` on canvases no training step drew."""
    images, masks = make_shapes(EVAL_CANVASES, seed=EVAL_SEED)
    net.eval()
    pred = net(torch.from_numpy(images).to(device)).argmax(1).cpu().numpy()
    return float(np.nanmean(iou(confusion_matrix(pred, masks, len(SHAPE_CLASSES)))))


def _read(path: Path, key: dict, backbone: str) -> dict | None:
    """The cached state at ``path``, or None when absent or not this key's (a warning says why; it is retrained)."""
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        with torch.random.fork_rng(devices=[]):  # its init draws no number of the run's
            expected = make_backbone(backbone).state_dict()
        if state.get("key") != key:
            why = "written for other options"
        elif {k: tuple(v.shape) for k, v in state["backbone"].items()} != {k: tuple(v.shape) for k, v in
                                                                           expected.items()}:
            why = f"not the weights of backbone {backbone!r}"
        else:
            return state
    except Exception as error:  # a truncated or foreign file fails in zipfile or torch's unpickler
        why = f"unreadable ({' '.join(str(error).split())[:200]})"
    warnings.warn(f"pretraining again: cached backbone {path} is {why}", RuntimeWarning, stacklevel=3)
    return None


def _write(path: Path, state: dict) -> None:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    try:
        atomic_write(path, buffer.getvalue())
    except OSError as error:  # a read-only or full disk costs the cache, not the run
        warnings.warn(f"pretrained backbone not cached in {path}: {error}", RuntimeWarning, stacklevel=3)
