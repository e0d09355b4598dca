"""EWC's penalty and MiB's online, per-tensor normalised Fisher."""

from collections.abc import Mapping

import torch


def ewc_penalty(params, old_params, fisher):
    """EWC's quadratic penalty Σ F·(θ − θ*)², summed over all parameters.

    Takes three aligned sequences of tensors or three dicts keyed by parameter name.
    References: Kirkpatrick et al., Overcoming catastrophic forgetting in neural networks, PNAS 2017.
    """
    if isinstance(params, Mapping):
        names = list(params)
        params, old_params, fisher = ([d[n] for n in names] for d in (params, old_params, fisher))
    total = 0.0
    for p, old, f in zip(params, old_params, fisher, strict=True):
        total = total + (f.detach() * (p - old.detach()).pow(2)).sum()
    return total


@torch.no_grad()
def fisher_step(fisher, grads, decay=0.9):
    """MiB's online Fisher, after every training step: F ← decay·g² + (1 − decay)·F per parameter.
    `fisher`, `grads`: dicts by parameter name; a name whose gradient is None keeps its F. Updates
    `fisher` in place and returns it.
    References: Chaudhry et al., Riemannian Walk for Incremental Learning (EWC++), ECCV 2018; MiB's code.
    """
    for name, grad in grads.items():
        if grad is not None:
            fisher[name] = decay * grad.detach().pow(2) + (1 - decay) * fisher[name]
    return fisher


@torch.no_grad()
def normalise_fisher(fisher, mode="tensor", eps=1e-8):
    """Fisher values in [0, 1]: `tensor` maps each tensor to (F − min F) / (max F − min F + eps)
    (MiB's code, so every tensor has weights of importance 1 and 0); `global` divides every tensor
    by the largest entry over all of them (max at least 1e-12). Returns a new dict.
    """
    if mode == "tensor":
        return {n: (f - f.min()) / (f.max() - f.min() + eps) for n, f in fisher.items()}
    if mode == "global":
        top = max((float(f.max()) for f in fisher.values()), default=0.0)
        return {n: f / max(top, 1e-12) for n, f in fisher.items()}
    raise ValueError(f"unknown Fisher normalisation {mode!r}: valid values are tensor, global")
