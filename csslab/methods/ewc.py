"""EWC: a quadratic penalty keeps parameters that the old tasks' loss is sensitive to."""

from dataclasses import dataclass

import torch

from csslab.losses import cross_entropy, ewc_penalty, fisher_step, normalise_fisher
from csslab.methods.base import Method, param


@dataclass
class EWCParams:
    lam: float = param(500.0, low=0)  # penalty weight: MiB's EWC on Pascal-VOC (reg_importance 500)
    # where F comes from: "steps" = MiB's code, a moving average of the squared gradients over the
    # training steps; "after" = the mean over fisher_batches batches after training, averaged over
    # tasks with `decay`. Measured in docs/methods.md (EWC).
    fisher: str = param("steps", choices=("steps", "after"))
    # "tensor": min-max per tensor (MiB's code); "global": by the largest entry
    normalise: str = param("tensor", choices=("tensor", "global"))
    # F = decay·F_new + (1 − decay)·F_old, per step ("steps", MiB's alpha) or per task: a weight in [0, 1]
    decay: float = param(0.9, low=0, high=1)
    fisher_batches: int = param(20, low=1)  # batches of the task's scenes averaged for F_new (fisher="after")
    batch_size: int = param(32, low=1)


def _with_gradients(loss, params, grads):
    """``loss``'s value with gradient ``grads`` w.r.t. ``params``: a graph that needs no second
    backward pass through the model once ``grads`` is known."""
    used = [(p, g) for p, g in zip(params, grads) if g is not None]
    return loss.detach() + sum((g * p).sum() for p, g in used) - sum((g * p.detach()).sum() for p, g in used)


class EWC(Method):
    """CE + λ·Σ F·(θ − θ*)² over the parameters of the previous model (θ* = its weights).

    F is the diagonal empirical Fisher, the squared gradient of the CE. By default as MiB's code:
    a moving average over every training step (the penalty's own gradient left out), each tensor
    min-max normalised to [0, 1] when the task ends. New heads are not penalised.
    References: Kirkpatrick et al., Overcoming catastrophic forgetting in neural networks, PNAS
    2017; online Fisher: Chaudhry et al., Riemannian Walk (EWC++), ECCV 2018; as run in MiB.
    """

    name = "ewc"
    designed_for = "any backbone (EWC's paper trains classifiers from scratch)"
    Params = EWCParams

    def setup(self):
        super().setup()
        self.fisher: dict[str, torch.Tensor] = {}  # normalised, used by the penalty
        self.anchor: dict[str, torch.Tensor] = {}
        self.running: dict[str, torch.Tensor] = {}  # fisher="steps": the raw moving average

    def loss(self, model, images, masks):
        ce = cross_entropy(model(images), masks)
        if self.params.fisher == "steps":
            named = {n: p for n, p in model.named_parameters() if p.requires_grad}
            grads = torch.autograd.grad(ce, list(named.values()), allow_unused=True)
            for n, p in named.items():  # a new parameter starts at F = 1, as in MiB's code
                self.running.setdefault(n, torch.ones_like(p, requires_grad=False))
            fisher_step(self.running, dict(zip(named, grads)), self.params.decay)
            ce = _with_gradients(ce, named.values(), grads)
        terms = {"ce": ce}
        if self.fisher:
            params = {n: p for n, p in model.named_parameters() if n in self.fisher}
            terms["ewc"] = self.params.lam * ewc_penalty(params, self.anchor, self.fisher)
        return terms

    def after_task(self, task, model, images, masks):
        named = dict(model.named_parameters())
        if self.params.fisher == "steps":
            self.fisher = normalise_fisher(self.running, self.params.normalise)
        else:
            self.fisher = self._fisher_after(model, named, images, masks)
        self.anchor = {n: p.detach().clone() for n, p in named.items()}

    def _fisher_after(self, model, named, images, masks):
        """Mean squared gradient over ``fisher_batches`` batches of the trained model, normalised,
        then averaged with the previous tasks' F."""
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
        fisher = {n: f / max(n_batches, 1) for n, f in fisher.items()}
        fisher = normalise_fisher(fisher, self.params.normalise)
        for n in fisher:
            if n in self.fisher:
                fisher[n] = self.params.decay * fisher[n] + (1 - self.params.decay) * self.fisher[n]
        return fisher

    def state_dict(self):
        return {"fisher": self.fisher, "anchor": self.anchor, "running": self.running}

    def load_state_dict(self, state):
        self.fisher, self.anchor = dict(state["fisher"]), dict(state["anchor"])
        self.running = dict(state.get("running", {}))
