"""EWC as MiB's code runs it: a moving average of squared gradients over steps, min-max per tensor."""

import pytest
import torch

from csslab import losses
from csslab.methods import get_method
from csslab.methods.ewc import _with_gradients
from csslab.models import IncrementalSegmenter
from csslab.scenarios.tasks import Task

TASKS = [Task(0, (0, 1), ()), Task(1, (2, 3), (0, 1))]


def make(name, **params):
    cls = get_method(name)
    return cls(cls.make_params(params), seed=0)


def data(task, n=6, size=24):
    g = torch.Generator().manual_seed(task.index)
    images = torch.rand(n, 1, size, size, generator=g)
    masks = torch.randint(0, task.n_old + len(task.classes), (n, size, size), generator=g).to(torch.uint8)
    return images, masks


def train(method, steps=3, tasks=TASKS):
    """The trainer's lifecycle (loss -> zero_grad -> backward -> step) over ``tasks``."""
    torch.manual_seed(0)
    model = IncrementalSegmenter()
    for task in tasks:
        images, masks = data(task)
        model.add_head(len(task.classes) + (task.index == 0), init=method.head_init if task.index else "random")
        method.before_task(task, model, images, masks)
        optimizer = torch.optim.Adam(method.parameters(model), lr=1e-3)
        method.train_mode(model)
        for _ in range(steps):
            terms = method.loss(model, images[:4], masks[:4].long())
            optimizer.zero_grad(set_to_none=True)
            sum(terms.values()).backward()
            optimizer.step()
        method.after_task(task, model, images, masks)
    return model


def test_with_gradients_has_the_loss_value_and_its_gradient():
    w = torch.tensor([1.0, -2.0], requires_grad=True)
    loss = (w ** 3).sum()
    grads = torch.autograd.grad(loss, [w], retain_graph=True)
    surrogate = _with_gradients(loss, [w], grads)
    assert surrogate.item() == loss.item()
    surrogate.backward()
    assert w.grad.tolist() == [3.0, 12.0]


def test_ewc_fisher_is_a_moving_average_over_steps_normalised_per_tensor(monkeypatch):
    method = make("ewc")
    seen = []

    def spy(fisher, grads, decay):
        seen.append({n: g.detach().clone() for n, g in grads.items() if g is not None})
        return losses.fisher_step(fisher, grads, decay)

    monkeypatch.setattr("csslab.methods.ewc.fisher_step", spy)
    model = train(method, steps=3, tasks=TASKS[:1])
    assert len(seen) == 3  # one update per training step
    name = "backbone.enc1.0.weight"
    expected = torch.ones_like(seen[0][name])  # a new parameter starts at F = 1 (MiB's code)
    for grads in seen:
        expected = 0.9 * grads[name] ** 2 + 0.1 * expected
    assert torch.allclose(method.running[name], expected)
    raw = method.running[name]
    assert torch.allclose(method.fisher[name], (raw - raw.min()) / (raw.max() - raw.min() + 1e-8))
    for n, f in method.fisher.items():
        assert f.min().item() == 0.0 and f.max().item() <= 1.0, n
    assert all(torch.equal(method.anchor[n], p) for n, p in model.named_parameters())


def test_ewc_penalty_leaves_the_fisher_alone_and_survives_a_checkpoint():
    method = make("ewc")
    train(method, steps=2)
    state = method.state_dict()
    restored = make("ewc")
    restored.load_state_dict(state)
    assert set(restored.running) == set(method.running) and set(restored.fisher) == set(method.fisher)
    with pytest.raises(ValueError, match="params.fisher='online'"):
        make("ewc", fisher="online")
    with pytest.raises(ValueError, match="params.normalise='max'"):
        make("ewc", normalise="max")


def test_ewc_after_and_steps_give_different_fisher():
    steps, after = make("ewc"), make("ewc", fisher="after", normalise="global")
    train(steps, steps=2), train(after, steps=2)
    assert set(steps.fisher) == set(after.fisher)
    name = "backbone.enc1.0.weight"
    assert after.fisher[name].max() <= 1.0 and not torch.allclose(steps.fisher[name], after.fisher[name])
