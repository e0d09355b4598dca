"""DKD's and EWF's losses on hand-computed values and the papers' identities, and what the methods do
to the model (auxiliary classifier, frozen BatchNorm, thresholded prediction, endpoint fusion)."""

import dataclasses
import inspect
import math

import pytest
import torch
from torch import nn

from conftest import SCRIPTS, TINY_TASKS, load_module, make_method, tiny_data, train_tiny
from csslab.core.config import Config, TrainConfig, apply_overrides
from csslab.core.constants import IGNORE
from csslab.losses import all_negative_bce, decompose_logits, new_class_bce, sigmoid_kd
from csslab.methods import METHODS
from csslab.methods.dkd import ThresholdBackground, class_weights, outputs
from csslab.methods.ewf import fuse_weights, fusion_weight
from csslab.model.network import IncrementalSegmenter
from csslab.evaluation.metrics import iou
from csslab.training.callbacks import OnStep
from csslab.training.train import TaskData, fit_task, optimise, run, setup

LN3 = math.log(3.0)  # sigmoid(ln 3) = 3/4


def test_new_class_bce_by_hand():
    target = torch.tensor([[[0, 1], [2, IGNORE]]])
    zeros = torch.zeros(1, 3, 2, 2)
    # every pixel of every channel costs log 2 at logit 0: 2 new channels (n_old = 1) -> 2 log 2
    assert new_class_bce(zeros, target, 1).item() == pytest.approx(2 * math.log(2))
    # pos_weight 2: per channel one positive (2 log 2) and two negatives among 3 valid pixels -> 2 * 4/3 log 2
    assert new_class_bce(zeros, target, 1, pos_weight=2.0).item() == pytest.approx(8 / 3 * math.log(2))
    # n_old = 2: only channel 2; at logit ln 3 (p = 3/4) the negatives (labels 0 and the old class 1) cost
    # log 4 each, the positive log 4/3; the ignored pixel nothing, whatever its logit
    logits = torch.full((1, 3, 2, 2), LN3)
    logits[0, :, 1, 1] = 50.0
    expected = (2 * math.log(4) + math.log(4 / 3)) / 3  # = log 4 - (log 3) / 3 = 1.02009
    assert new_class_bce(logits, target, 2).item() == pytest.approx(expected)
    assert expected == pytest.approx(1.020090, abs=1e-6)


def test_sigmoid_kd_by_hand_and_its_minimum():
    zeros = torch.zeros(1, 2, 1, 1)
    assert sigmoid_kd(zeros, zeros).item() == pytest.approx(2 * math.log(2))  # summed over 2 channels
    one = torch.zeros(1, 1, 1, 1)
    # teacher 3/4, student 1/2: -(3/4 log 1/2 + 1/4 log 1/2) = log 2
    assert sigmoid_kd(one, one + LN3).item() == pytest.approx(math.log(2))
    # teacher 1/2, student 3/4: -(1/2 log 3/4 + 1/2 log 1/4) = log 4 - (log 3) / 2 = 0.83699
    assert sigmoid_kd(one + LN3, one).item() == pytest.approx(0.836988, abs=1e-6)
    # minimal where the student equals the teacher: the binary entropy, with a zero gradient
    old = torch.randn(2, 3, 4, 4)
    student = old.clone().requires_grad_(True)
    loss = sigmoid_kd(student, old)
    q = torch.sigmoid(old)
    entropy = -(q * q.log() + (1 - q) * (1 - q).log()).mean((0, 2, 3)).sum()
    assert loss.item() == pytest.approx(entropy.item(), rel=1e-5)
    loss.backward()
    assert student.grad.abs().max() < 1e-6
    assert sigmoid_kd(old + 0.5 * torch.randn_like(old), old) > loss
    with pytest.raises(ValueError, match="equal shape"):
        sigmoid_kd(zeros, one)


def test_decompose_logits_by_hand_and_it_sums_to_the_classifier():
    features = torch.tensor([2.0, 3.0]).view(1, 2, 1, 1)
    weight = torch.tensor([[1.0, -1.0], [-2.0, 0.5]])
    positive, negative = decompose_logits(features, weight)
    assert positive.flatten().tolist() == [2.0, 1.5]  # 2*1, 3*0.5
    assert negative.flatten().tolist() == [-3.0, -4.0]  # 3*(-1), 2*(-2)
    conv = nn.Conv2d(6, 4, 1)
    x = torch.randn(2, 6, 5, 5)
    positive, negative = decompose_logits(x, conv.weight)
    assert torch.allclose(positive + negative + conv.bias.view(1, -1, 1, 1), conv(x), atol=1e-5)


def test_all_negative_bce_by_hand():
    logits = torch.tensor([0.0, LN3]).view(1, 1, 1, 2)
    assert all_negative_bce(logits).item() == pytest.approx((math.log(2) + math.log(4)) / 2)


def test_dkd_defaults_are_the_papers():
    dkd = dataclasses.asdict(METHODS["dkd"].Params())
    assert {"mbce": 1.0, "kd": 5.0, "dkd_pos": 5.0, "dkd_neg": 5.0, "ac": 1.0, "pos_weight": 1.0,
            "base_pos_weight": 2.0, "memory_size": 0, "head_lr": 10.0}.items() <= dkd.items()
    assert METHODS["dkd-m"].Params().memory_size == 100
    assert make_method("dkd").base_key() == make_method("dkd-m").base_key()  # the memory is empty in task 0
    assert make_method("dkd", base_pos_weight=1.0).base_key() != make_method("dkd").base_key()
    assert make_method("dkd", head_lr=1.0).base_key() == "dkd-bce-base_pos_weight2-mbce1-ac1-head_lr1-ignored_negative0"
    with pytest.raises(ValueError, match="params.kd"):
        make_method("dkd", kd=-1.0)


def test_dkd_new_classifier_starts_as_the_auxiliary_one():
    method, model = make_method("dkd"), IncrementalSegmenter()
    method.add_head(model, TINY_TASKS[0])
    head = method.add_head(model, TINY_TASKS[1])
    assert torch.equal(head.weight, model.heads[0].weight[:1].expand_as(head.weight))
    assert torch.equal(head.bias, model.heads[0].bias[:1].expand(2))
    random = make_method("dkd", ac=0.0)  # without the auxiliary loss DKD starts them at random
    random.add_head(model2 := IncrementalSegmenter(), TINY_TASKS[0])
    assert not torch.equal(random.add_head(model2, TINY_TASKS[1]).bias, model2.heads[0].bias[:1].expand(2))


def test_dkd_auxiliary_loss_trains_only_the_auxiliary_classifier():
    torch.manual_seed(0)
    model = IncrementalSegmenter()
    make_method("dkd").add_head(model, TINY_TASKS[0])
    model.eval()
    x = torch.rand(2, 1, 24, 24)
    logits, features = outputs(model, x)
    with torch.no_grad():
        assert torch.allclose(logits, model(x), atol=1e-6)  # the same values, channel 0 on detached features
    all_negative_bce(logits[:, :1]).backward()
    assert all(p.grad is None or not p.grad.any() for p in model.backbone.parameters())  # detached features
    grad = model.heads[0].weight.grad
    assert grad[0].abs().sum() > 0 and grad[1:].abs().sum() == 0
    assert class_weights(model).shape == (2, features.shape[1], 1, 1)


def test_dkd_terms_batchnorm_and_an_exact_teacher_at_the_start_of_task_1():
    method = make_method("dkd")
    model = train_tiny(method, steps=2, tasks=TINY_TASKS[:1])
    task = TINY_TASKS[1]
    images, masks = tiny_data(task)
    method.add_head(model, task)
    method.before_task(task, model, images, masks)
    method.train_mode(model)
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert norms and not any(m.training for m in norms)  # frozen statistics from task 1 on
    before = [m.running_mean.clone() for m in norms]
    terms = method.loss(model, images[:4], masks[:4].long())
    assert set(terms) == {"bce", "ac", "kd", "dkd_pos", "dkd_neg"}
    assert all(torch.equal(m.running_mean, b) for m, b in zip(norms, before))
    # the student is the teacher on the old channels: each distillation term is at its minimum, the
    # binary entropy of the teacher's scores (x 5, DKD's weight)
    old_logits, old_features = outputs(method.teacher, images[:4])
    positive, _ = decompose_logits(old_features, class_weights(method.teacher))
    for key, old in [("kd", old_logits[:, 1:]), ("dkd_pos", positive)]:
        q = torch.sigmoid(old).clamp(1e-7, 1 - 1e-7)
        entropy = -(q * q.log() + (1 - q) * (1 - q).log()).mean((0, 2, 3)).sum()
        assert terms[key].item() == pytest.approx(5 * entropy.item(), rel=1e-4), key


@pytest.mark.parametrize("head_lr", [10.0, 1.0])
def test_dkd_trains_its_classifiers_at_head_lr_times_the_learning_rate(head_lr):
    """DKD's param groups: Adam's first step moves every weight by about its group's learning rate."""
    method = make_method("dkd", head_lr=head_lr)
    model = train_tiny(method, steps=1, tasks=TINY_TASKS[:1])
    task, lrs = TINY_TASKS[1], []
    images, masks = tiny_data(task)
    method.add_head(model, task)
    head, stem = model.heads[-1].weight.detach().clone(), model.backbone.stem[0].weight.detach().clone()
    method.before_task(task, model, images, masks)  # the head added above: the parts of fit_task after it
    optimise(model, method, task, TaskData(images, masks, 1, torch.Generator()), TrainConfig(batch_size=4, lr=1e-3),
             [OnStep(lambda step: lrs.append(step.lr))])
    method.after_task(task, model, images, masks)
    assert (model.heads[-1].weight - head).abs().max().item() == pytest.approx(head_lr * 1e-3, rel=1e-3)
    assert (model.backbone.stem[0].weight - stem).abs().max().item() == pytest.approx(1e-3, rel=1e-3)
    assert lrs == [1e-3]  # the logged rate stays the task's


def test_dkd_learns_new_digits_in_task_1():
    """With one learning rate for all weights DKD learnt no new digit (IoU 0.000 after task 1): its new
    classifiers copy the auxiliary one, whose weights Adam drives all negative on ReLU features, and could
    not move them far enough in a task (docs/methods.md#dkd). Tasks 0-1 of the default split, 150 steps each, on
    torch's default threads (every core of a serial run, a worker's share under pytest -n)."""
    config = apply_overrides(Config(), ["method=dkd", "scenario.train_scenes=300", "scenario.test_scenes=100",
                                        "train.steps=150"])
    s = setup(config)
    for task in s.train_scenario[:2]:
        images, masks = s.train_scenario.train_set(task)
        fit_task(s.model, s.method, task, TaskData(images, masks, 150, torch.Generator().manual_seed(task.index)),
                 config.train)
    cm, _ = s.evaluator.evaluate_task(s.method.eval_model(s.model), task)
    new = [c + 1 for c in task.classes]  # results' class space
    found = cm[new][:, new].sum() / cm[new].sum()  # 14.6% measured (13.3% on 1 thread); none with head_lr=1
    assert found > 0.01 and (iou(cm)[new] > 0).all(), (found, iou(cm)[new])


def test_dkd_predicts_background_unless_a_score_exceeds_one_half():
    class Fixed(nn.Module):
        def forward(self, x):  # 3 pixels: no class above 0, class 2 above 0, both above 0 (class 1 higher)
            return torch.tensor([[[[9.0, 9.0, 9.0]], [[-1.0, -2.0, 3.0]], [[-0.5, 0.5, 2.0]]]])

    prediction = ThresholdBackground(Fixed())(None).argmax(1)
    assert prediction.flatten().tolist() == [0, 2, 1]  # channel 0 (the auxiliary logit 9) is never used


def test_ewf_defaults_are_mibs_and_the_papers_or_measured():
    params = METHODS["ewf"].Params()
    assert params.lam == 10.0 and params.fuse and not params.freeze_old_heads
    assert "docs/methods.md#ewf" in inspect.getsource(METHODS["ewf"].Params)  # why freezing is off


def test_fusion_weight_is_ewfs():
    assert fusion_weight(2, 3) == pytest.approx(math.sqrt(2 / 5))  # 2-2-2-2-2, task 1: bg + 2 old classes
    assert fusion_weight(1, 16) == pytest.approx(0.242536, abs=1e-6)  # VOC 15-1, step 1: sqrt(1/17)
    with pytest.raises(ValueError, match="n_old=0"):
        fusion_weight(1, 0)


def test_fuse_weights_interpolates_shared_entries_only():
    old, new = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2)), nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    new.add_module("extra", nn.Linear(2, 1))  # a head the old model does not have
    with torch.no_grad():
        for module, value in ((old, 0.0), (new, 1.0)):
            module[0].weight.fill_(value)
            module[1].running_mean.fill_(4 * value)
        new[1].num_batches_tracked.fill_(7)
    extra = new.extra.weight.clone()
    fuse_weights(new, old, 0.25)
    assert new[0].weight.unique().tolist() == [0.25]  # 0.75 * 0 + 0.25 * 1
    assert new[1].running_mean.unique().tolist() == [1.0]  # 0.75 * 0 + 0.25 * 4
    assert new[1].num_batches_tracked.item() == 7 and torch.equal(new.extra.weight, extra)


def test_ewf_freezes_old_heads_then_evaluates_the_fused_model():
    ewf, seen = METHODS["ewf"], {}

    class Checked(ewf):
        def after_task(self, task, model, images, masks):
            if task.index:
                seen["trained"] = {n: v.clone() for n, v in model.state_dict().items()}
                seen["old"] = {n: v.clone() for n, v in self.teacher.state_dict().items()}
                seen["grad"] = [p.requires_grad for h in model.heads[:-1] for p in h.parameters()]
            super().after_task(task, model, images, masks)

    model = train_tiny(Checked(ewf.make_params({"freeze_old_heads": True}), seed=0), steps=2)
    m = fusion_weight(2, 3)
    assert seen["grad"] and not any(seen["grad"])  # EWF's --fix_pre_cls
    for name, value in model.state_dict().items():
        if name in seen["old"] and value.is_floating_point():
            expected = (1 - m) * seen["old"][name] + m * seen["trained"][name]
            assert torch.allclose(value, expected, atol=1e-6), name
        else:  # the new head and integer counters keep what training left
            assert torch.equal(value, seen["trained"][name]), name
    assert not torch.equal(model.backbone.stem[0].weight, seen["trained"]["backbone.stem.0.weight"])
    assert METHODS["ewf"].base_task == METHODS["mib"].base_task  # task 0 is MiB's: their base is shared


@pytest.mark.parametrize("first,second", [("dkd", "dkd-m"), ("mib", "ewf")])
def test_a_base_shared_with_another_method_gives_the_results_of_training_it_again(tmp_path, first, second):
    """dkd-m trains on the base dkd saved (their first tasks are alike: the memory is empty), ewf on mib's."""
    small = ["scenario.tasks=5-5", "scenario.train_scenes=16", "scenario.test_scenes=20", "train.steps=3",
             "train.batch_size=8", "train.frame_every=2", "train.frame_scenes=10"]
    memory = {"dkd-m": ["params.memory_size=4"]}  # at most the 16 scenes it is filled from

    def config(method):
        return apply_overrides(Config(), [f"method={method}", *small, *memory.get(method, [])])

    compare = load_module(SCRIPTS / "compare_runs.py").compare
    base = tmp_path / "base"
    run(config(first), out=tmp_path / first, progress=False, log=None, base=base)
    run(config(second), out=tmp_path / "shared", progress=False, log=None, base=base)
    run(config(second), out=tmp_path / "own", progress=False, log=None)
    assert len(list(base.glob("*.pt"))) == 1  # trained once, by the first method
    assert compare(tmp_path / "own", tmp_path / "shared") is None


@pytest.mark.parametrize("name,first,later", [("dkd", {"bce", "ac"}, {"bce", "ac", "kd", "dkd_pos", "dkd_neg"}),
                                              ("ewf", {"ce"}, {"ce", "kd"})])
def test_distillation_terms_start_with_task_1(name, first, later):
    method, model = make_method(name), IncrementalSegmenter()
    for task, expected in zip(TINY_TASKS, (first, later)):
        images, masks = tiny_data(task)
        method.add_head(model, task)
        method.before_task(task, model, images, masks)
        method.train_mode(model)
        assert set(method.loss(model, images[:2], masks[:2].long())) == expected
