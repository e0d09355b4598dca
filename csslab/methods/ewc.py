"""EWC: a quadratic penalty keeps parameters that the old tasks' loss is sensitive to."""

from dataclasses import dataclass

import torch

from csslab.losses import cross_entropy, ewc_penalty
from csslab.methods.base import Method


@dataclass
class EWCParams:
    lam: float = 500.0  # penalty weight: MiB's EWC on Pascal-VOC (reg_importance 500)
    decay: float = 0.9  # online Fisher F = decay·F_new + (1 − decay)·F_old (MiB's EWC++ alpha)
    fisher_batches: int = 20  # batches of the task's scenes averaged for F_new
    batch_size: int = 32


class EWC(Method):
    """CE + λ·Σ F·(θ − θ*)² over the parameters of the previous model (θ* = its weights).

    The diagonal (empirical) Fisher is the mean squared gradient of the CE on the task's
    scenes, normalised to [0, 1] by its largest entry as in MiB's EWC, and accumulated online
    over tasks. New heads are not penalised.
    References: Kirkpatrick et al., Overcoming catastrophic forgetting in neural networks, PNAS
    2017; online Fisher: Chaudhry et al., Riemannian Walk (EWC++), ECCV 2018; as run in MiB.
    """

    name = "ewc"
    Params = EWCParams

    def __init__(self, params=None, device="cpu", seed: int = 0):
        super().__init__(params, device, seed)
        self.fisher: dict[str, torch.Tensor] = {}
        self.anchor: dict[str, torch.Tensor] = {}

    def loss(self, model, images, masks):
        terms = {"ce": cross_entropy(model(images), masks)}
        if self.fisher:
            params = {n: p for n, p in model.named_parameters() if n in self.fisher}
            terms["ewc"] = self.params.lam * ewc_penalty(params, self.anchor, self.fisher)
        return terms

    def after_task(self, task, model, images, masks):
        named = dict(model.named_parameters())
        fisher = {n: torch.zeros_like(p) for n, p in named.items()}
        order = torch.randperm(len(images), generator=self.generator)
        was_training, n_batches = model.training, 0
        model.eval()  # normalisation statistics stay those of the trained model
        for start in range(0, min(len(images), self.params.fisher_batches * self.params.batch_size),
                           self.params.batch_size):
            idx = order[start:start + self.params.batch_size]
            model.zero_grad(set_to_none=True)
            cross_entropy(model(images[idx].to(self.device)), masks[idx].long().to(self.device)).backward()
            for n, p in named.items():
                if p.grad is not None:
                    fisher[n] += p.grad.detach() ** 2
            n_batches += 1
        model.zero_grad(set_to_none=True)
        model.train(was_training)
        top = max(float(f.max()) for f in fisher.values()) / max(n_batches, 1)
        for n in fisher:
            fisher[n] = fisher[n] / max(n_batches, 1) / max(top, 1e-12)
            if n in self.fisher:
                fisher[n] = self.params.decay * fisher[n] + (1 - self.params.decay) * self.fisher[n]
        self.fisher = fisher
        self.anchor = {n: p.detach().clone() for n, p in named.items()}

    def state_dict(self):
        return {"fisher": self.fisher, "anchor": self.anchor}

    def load_state_dict(self, state):
        self.fisher, self.anchor = dict(state["fisher"]), dict(state["anchor"])
