"""EWC as MiB's code runs it: a moving average of squared gradients over steps, min-max per tensor."""

import pytest
import torch
from conftest import TINY_TASKS, make_method, train_tiny

from csslab import losses
from csslab.methods.ewc import _with_gradients

TASKS = TINY_TASKS


def test_with_gradients_has_the_loss_value_and_its_gradient():
    w = torch.tensor([1.0, -2.0], requires_grad=True)
    loss = (w ** 3).sum()
    grads = torch.autograd.grad(loss, [w], retain_graph=True)
    surrogate = _with_gradients(loss, [w], grads)
    assert surrogate.item() == loss.item()
    surrogate.backward()
    assert w.grad.tolist() == [3.0, 12.0]


def test_ewc_fisher_is_a_moving_average_over_steps_normalised_per_tensor(monkeypatch):
    method = make_method("ewc")
    seen = []

    def spy(fisher, grads, decay):
        seen.append({n: g.detach().clone() for n, g in grads.items() if g is not None})
        return losses.fisher_step(fisher, grads, decay)

    monkeypatch.setattr("csslab.methods.ewc.fisher_step", spy)
    model = train_tiny(method, steps=3, tasks=TASKS[:1])
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
    method = make_method("ewc")
    train_tiny(method, steps=2)
    state = method.state_dict()
    restored = make_method("ewc")
    restored.load_state_dict(state)
    assert set(restored.running) == set(method.running) and set(restored.fisher) == set(method.fisher)
    with pytest.raises(ValueError, match="params.fisher='online'"):
        make_method("ewc", fisher="online")
    with pytest.raises(ValueError, match="params.normalise='max'"):
        make_method("ewc", normalise="max")


def test_ewc_after_and_steps_give_different_fisher():
    steps, after = make_method("ewc"), make_method("ewc", fisher="after", normalise="global")
    train_tiny(steps, steps=2), train_tiny(after, steps=2)
    assert set(steps.fisher) == set(after.fisher)
    name = "backbone.enc1.0.weight"
    assert after.fisher[name].max() <= 1.0 and not torch.allclose(steps.fisher[name], after.fisher[name])
