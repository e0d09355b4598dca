"""Contract tests over the METHODS registry, driven through the Method lifecycle on a tiny model."""

import dataclasses
import inspect
import json
import math

import pytest
import torch
from torch import nn

from conftest import SHARED_MEMORY
from csslab.core.config import Config, TrainConfig
from csslab.core.constants import BACKGROUND, IGNORE
from csslab.methods import METHODS, get_method, previous_model
from csslab.methods.memory import Memory
from csslab.model.network import IncrementalSegmenter
from csslab.scenarios.tasks import Task
from csslab.training.callbacks import OnStep
from csslab.training.train import TaskData, fit_task, run

TASKS = [Task(0, (0, 1), ()), Task(1, (2, 3), (0, 1))]
SIZE = 24


def task_data(task, n=8, seed=0):
    """Scenes with one square digit of each current class (labels 1 + old + k) and one of an
    old or future class labelled background, as under the overlap setting."""
    g = torch.Generator().manual_seed(seed + task.index)
    images = torch.rand(n, 1, SIZE, SIZE, generator=g) * 0.3
    masks = torch.zeros(n, SIZE, SIZE, dtype=torch.uint8)
    for i in range(n):
        for k, label in enumerate([task.n_old + j for j in range(len(task.classes))] + [BACKGROUND]):
            top = int(torch.randint(0, SIZE - 6, (1,), generator=g))
            left = 6 * k
            images[i, 0, top:top + 6, left:left + 6] = 0.9
            masks[i, top:top + 6, left:left + 6] = label
    masks[:, 0, 0] = IGNORE
    return images, masks


def drive(method, steps=2, check=None):
    """The trainer's ``fit_task`` on a tiny model over TASKS; ``check(task, model, terms)`` after every step."""
    torch.manual_seed(0)
    model = IncrementalSegmenter()
    train = TrainConfig(batch_size=4, lr=1e-3, schedule="constant")
    generator = torch.Generator().manual_seed(0)
    for task in TASKS:
        images, masks = task_data(task)
        callbacks = [OnStep(lambda step: check(task, model, step.terms))] if check else []
        fit_task(model, method, task, TaskData(images, masks, steps, generator), train, callbacks)
    return model


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_method_runs_two_tasks_with_finite_terms_and_a_gradient_free_teacher(name):
    method = get_method(name)(seed=0)
    seen = []

    def check(task, model, terms):
        assert terms and all(isinstance(k, str) for k in terms)
        for key, value in terms.items():
            assert value.dim() == 0 and torch.isfinite(value), (name, task.index, key)
        if task.index > 0:
            assert method.teacher is not None and not method.teacher.training
            assert all(p.grad is None and not p.requires_grad for p in method.teacher.parameters())
        seen.append(set(terms))

    drive(method, check=check)
    assert len(seen) == 4
    method.load_state_dict(method.state_dict())  # the state survives a round trip


def test_a_method_without_a_loss_cannot_be_built():
    from csslab.methods import Method

    class NoLoss(Method):
        name = "no-loss"

    with pytest.raises(TypeError, match="abstract method loss"):
        NoLoss()


def test_distilling_methods_use_the_teacher_from_task_1():
    for name, extra in [("lwf", {"kd"}), ("ilt", {"kd", "feature"}), ("mib", {"kd"}),
                        ("plop", {"pod", "pod_logits"}), ("ewc", {"ewc"}), ("eir", {"kd"})]:
        keys = []
        drive(get_method(name)(seed=0), steps=1, check=lambda task, model, terms: keys.append(set(terms)))
        assert not extra & keys[0] and extra <= keys[1], name


@pytest.mark.parametrize("init", ["random", "mib"])
def test_previous_model_is_the_model_before_the_head_was_added(init):
    torch.manual_seed(0)
    model = IncrementalSegmenter()
    model.add_head(3)
    model.eval()  # the teacher is in eval mode: same normalisation statistics
    x = torch.rand(2, 1, SIZE, SIZE)
    with torch.no_grad():
        before = model(x)
        model.add_head(2, init=init)
        teacher = previous_model(model, TASKS[1], init)
        assert torch.allclose(teacher(x), before, atol=1e-5)
    assert len(model.heads) == 2 and model.n_channels == 5  # the model itself is untouched


@pytest.mark.parametrize("hidden", [0, 24])
def test_ssul_freezes_backbone_and_old_heads_and_transfers_the_unknown_head(hidden):
    """With 1x1 heads (hidden=0) and with SSUL's per-task MLP heads."""
    ssul, snapshot = get_method("ssul"), {}

    class Checked(ssul):
        def before_task(self, task, model, images, masks):
            super().before_task(task, model, images, masks)
            if task.index == 1:  # the weight transfer is done, no step yet
                snapshot.update({n: p.detach().clone() for n, p in model.named_parameters()})
                snapshot.update({n: b.clone() for n, b in model.named_buffers()})
                new, unknown = model.heads[1], self.unknown
                if hidden:
                    assert torch.equal(new[0].weight, unknown[0].weight)
                    assert torch.equal(new[1].running_mean, unknown[1].running_mean)
                    new, unknown = new[-1], unknown[-1]
                assert torch.allclose(new.weight, unknown.weight.expand_as(new.weight))

    model = drive(Checked(ssul.make_params({"head_hidden": hidden}), seed=0), steps=3)
    assert snapshot, "task 1 was trained"
    assert isinstance(model.heads[0], nn.Conv2d) == (hidden == 0)
    for n, p in model.named_parameters():
        if n.startswith("heads.1."):
            assert not torch.equal(p, snapshot[n]), n  # the new head learns
        else:
            assert torch.equal(p, snapshot[n]), n  # backbone and old heads keep their parameters
    for n, b in model.named_buffers():
        if not n.startswith("heads.1."):
            assert torch.equal(b, snapshot[n]), n  # frozen normalisation statistics (train_mode)
    assert model.n_channels == 5  # the unknown channel is the method's, not the model's


def test_ssul_labels_pseudo_labels_then_unknown_ink():
    method = get_method("ssul")(seed=0)
    drive(method, steps=1)
    images = torch.zeros(1, 1, 2, 2)
    images[0, 0, 1, :] = 1.0  # bottom row is ink
    masks = torch.tensor([[[0, 0], [0, 3]]])
    target = method.labels(images.expand(1, 1, 2, 2), masks)
    unknown = 1 + TASKS[1].n_seen
    assert target[0, 1, 1] == 3 and target[0, 1, 0] in (unknown, 1, 2) and target[0, 0, 0] in (0, 1, 2)


@pytest.mark.parametrize("name", ["replay", "mib", "ssul", "mib-augm"])
def test_memory_never_exceeds_its_size_and_is_mixed_into_batches(name):
    """Replay, MiB-M and SSUL-M share the memory: bounded, filled after each task, saved with the state."""
    method = get_method(name)(get_method(name).make_params({"memory_size": 3}), seed=0)
    sizes = []
    drive(method, check=lambda task, model, terms: sizes.append(len(method.memory)))
    assert sizes == [0, 0, 3, 3] and len(method.memory) == 3
    x, y = method.batch(torch.zeros(4, 1, SIZE, SIZE), torch.zeros(4, SIZE, SIZE, dtype=torch.long))
    assert x.shape[0] == 6 and y.shape == (6, SIZE, SIZE) and y.dtype == torch.long
    assert torch.equal(method.state_dict()["memory"]["images"], method.memory.images)


def test_memory_is_class_balanced_on_hand_made_masks():
    """5 slots over 2 then 4 classes: quotas 3/2, then 2/1/1/1; each scene stands for one class."""
    memory = Memory(5)
    g = torch.Generator().manual_seed(0)
    masks = torch.zeros(6, 2, 2, dtype=torch.uint8)
    masks[0:3, 0, 0] = 1  # scenes 0-2 show channel 1
    masks[3:6, 0, 1] = 2  # scenes 3-5 show channel 2
    images = torch.arange(6.0).view(6, 1, 1, 1).expand(6, 1, 2, 2).clone()
    memory.update(TASKS[0], images, masks, g)
    assert memory.owner.tolist() == [1, 1, 1, 2, 2]
    assert set(memory.images[:3, 0, 0, 0].tolist()) == {0, 1, 2}
    assert set(memory.images[3:, 0, 0, 0].tolist()) <= {3, 4, 5}

    masks2 = torch.zeros(4, 2, 2, dtype=torch.uint8)
    masks2[0, 0, 0] = 3
    masks2[1:, 1, 1] = 4
    masks2[1, 0, 0] = 3  # scene 1 shows both new classes: taken once only
    memory.update(TASKS[1], images[:4] + 10, masks2, g)
    assert memory.owner.tolist().count(1) == 2 and memory.owner.tolist().count(2) == 1
    assert memory.owner.tolist().count(3) == 1 and memory.owner.tolist().count(4) == 1
    assert len(memory) == 5
    assert len(set(memory.images[:, 0, 0, 0].tolist())) == 5  # no scene twice
    for mask, owner in zip(memory.masks, memory.owner):
        assert (mask == owner).any()


def test_memory_refresh_relabels_only_confident_background():
    memory = Memory(2)
    memory.images = torch.zeros(1, 1, 1, 2)
    memory.masks = torch.tensor([[[0, 1]]], dtype=torch.uint8)
    memory.owner = torch.tensor([1])

    class Fixed(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.p = torch.nn.Parameter(torch.zeros(1))

        def forward(self, x):
            return torch.tensor([[[[0.0, 0.0]], [[0.0, 0.0]], [[9.0, 9.0]]]])  # channel 2 sure everywhere

    memory.refresh(Fixed(), threshold=0.7)
    assert memory.masks.tolist() == [[[2, 1]]]  # the labelled pixel keeps its label


PAPER_DEFAULTS = {
    "replay": {"memory_size": 100, "refresh": "pseudo"},
    "mib": {"lam": 10.0},
    "ssul": {"pseudo_threshold": 0.7, "memory_size": 0},
    "ewc": {"lam": 500.0},
    "plop": {"min_threshold": 0.001, "pod_maps": "enc1,encoder,decoder"},
    "mib-augm": {"lam": 10.0, "memory_size": 100},
    "eir": {"memory_size": 100, "n_paste": 3, "threshold": 0.7, "lam": 5.0, "freeze_bn": True},
}
# set by measurement at this scale; the Params' comment points to the docs section that holds the sweep
CALIBRATED = {
    "lwf": {"lam": 30.0},
    "ilt": {"lam_d": 30.0, "lam_e": 0.1},
    "plop": {"pod_factor": 0.001, "pod_logits_factor": 0.01, "threshold_rule": "histogram"},
}
MEASURED_IN = {  # what the Params' source must say about where the measurement is (test_docs checks the anchors)
    "lwf": "docs/methods.md#lwf",
    "ilt": "docs/methods.md#ilt",
    "plop": "docs/methods.md, PLOP",
}


@pytest.mark.parametrize("name", sorted(set(PAPER_DEFAULTS) | set(CALIBRATED)))
def test_params_defaults_are_the_papers_or_documented_calibrations(name):
    params = dataclasses.asdict(get_method(name).Params())
    assert PAPER_DEFAULTS.get(name, {}).items() <= params.items()
    assert CALIBRATED.get(name, {}).items() <= params.items()
    if name in CALIBRATED:  # the measurement that justified the change can be found from the code
        assert MEASURED_IN[name] in inspect.getsource(get_method(name).Params)


def test_head_inits():
    assert {n for n, cls in METHODS.items() if cls.head_init == "mib"} == {"mib", "plop", "ewf", "mib-augm", "eir"}


def test_unknown_params_are_refused_with_the_valid_ones():
    with pytest.raises(ValueError, match="lam"):
        get_method("mib").make_params({"lambda": 3})
    with pytest.raises(ValueError, match="refresh"):
        get_method("replay")(get_method("replay").make_params({"refresh": "always"}))


@pytest.mark.parametrize("name", ["replay", "plop", "ssul"])
def test_trainer_runs_the_method_end_to_end(name):
    config = Config(method=name)
    config.scenario.tasks = "5-5"
    config.scenario.train_scenes = 40
    config.scenario.test_scenes = 20
    config.train.steps = 3
    config.train.batch_size, config.train.threads = 8, 1
    config.train.checkpoints = False
    if memory := get_method(name).memory_param:  # a memory no larger than the scenes it is filled from
        config.params[memory] = 20
    results = run(config, progress=False, log=None)
    assert all(math.isfinite(v) for t in results.data["tasks"] for v in t["loss"].values())


def test_replayed_scenes_are_warped_with_their_masks():
    """Augmented replay: image and mask move together, nothing but background moves in, and the
    same generator state gives the same warp."""
    from csslab.methods.memory import random_affine

    images = torch.zeros(4, 1, 32, 32)
    masks = torch.zeros(4, 32, 32, dtype=torch.long)
    images[:, 0, 8:24, 12:20] = 1.0
    masks[:, 8:24, 12:20] = 3
    a = random_affine(images, masks, torch.Generator().manual_seed(1))
    b = random_affine(images, masks, torch.Generator().manual_seed(1))
    warped, labels = a
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert set(labels.unique().tolist()) == {0, 3} and labels.dtype == torch.long
    agree = ((warped[:, 0] > 0.5) == (labels == 3)).float().mean()
    assert agree > 0.98 and not torch.equal(labels, masks)  # moved, and still aligned
    memory = Memory(2)
    memory.images, memory.masks, memory.owner = images[:2], masks[:2].to(torch.uint8), torch.tensor([1, 2])
    plain = memory.sample(6, torch.Generator().manual_seed(0))
    augmented = memory.sample(6, torch.Generator().manual_seed(0), augment=True)
    assert torch.equal(plain[1].unique(), torch.tensor([0, 3])) and not torch.equal(plain[1], augmented[1])


def shared_results(method_run, name) -> dict:
    return json.loads((method_run(name) / "results.json").read_text())


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_method_runs_on_partitioned_scenes_with_a_pretrained_backbone(name, method_run):
    """issue 16's switches reach every method: `--setting partitioned` and `--set model.pretrain=shapes`
    (the session's shared run of the method, conftest.SHARED_RUN)."""
    data = shared_results(method_run, name)
    assert data["complete"] and len(data["tasks"]) == (1 if get_method(name).bound == "upper" else 5)
    assert all(math.isfinite(v) for t in data["tasks"] for v in t["loss"].values())
    assert data["config"]["scenario"]["instances"] == "partitioned"
    assert (data["config"]["model"]["pretrain"], data["config"]["model"]["pretrain_steps"]) == ("shapes", 2)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_method_runs_from_the_cli_on_a_big_base_split(name, method_run):
    """`csslab run --method NAME --tasks 6-1` (a 15-1 style split: a six-class base, then one class per task)
    works for every method: single-class tasks reach every loss, memory and head of the method (the session's
    shared run of the method, trained through the CLI)."""
    data = shared_results(method_run, name)
    upper = get_method(name).bound == "upper"
    assert data["complete"] and len(data["tasks"]) == (1 if upper else 5)
    assert data["config"]["scenario"]["tasks"] == "6-1"
    assert data["tasks"][0]["classes"] == (list(range(10)) if upper else [0, 1, 2, 3, 4, 5])
    assert [t["classes"] for t in data["tasks"][1:]] == [[6], [7], [8], [9]][: len(data["tasks"]) - 1]
    assert all(math.isfinite(v) for t in data["tasks"] for v in t["loss"].values())
    assert len(data["tasks"][-1]["iou"]) == 11  # background and the ten digits, each evaluated
    if memory := get_method(name).memory_param:
        assert data["config"]["params"][memory] == SHARED_MEMORY
