"""Experience replay: a class-balanced memory of old scenes mixed into every batch."""

from dataclasses import dataclass

from csslab.losses import cross_entropy
from csslab.methods.base import Method, param
from csslab.methods.memory import Replaying


@dataclass
class ReplayParams:
    # scenes kept over all tasks (the original notebook kept 1,000; what each size recalls:
    # docs/methods.md#replay)
    memory_size: int = param(100, low=0)
    # "pseudo": relabel stored background pixels with the model; "none"
    refresh: str = param("pseudo", choices=("pseudo", "none"))
    refresh_threshold: float = param(0.7, low=0, high=1)  # softmax score a refreshed pixel needs (SSUL's 0.7)
    replay_fraction: float = param(0.5, low=0, high=4)  # replayed scenes added to each batch, a share of its size
    # a random rotation/zoom/shift of each replayed scene; off, as the original notebook: it lowered
    # the test recall of old classes (docs/methods.md#replay)
    augment: bool = False


class Replay(Replaying, Method):
    """CE on the task's batch concatenated with ``replay_fraction``·B scenes drawn from the memory.

    The memory (``Memory``) is updated class-balanced at the end of every task. Stored masks
    label classes not yet learnt (and, under ``overlap``, old classes) as background; with
    ``refresh=pseudo`` the current model relabels those background pixels it is sure of, after
    each task, so replayed scenes teach every class seen so far. Replay adds ~50% compute per
    step (mammoth's ER concatenates in the same way); steps and scenes are the same for all.
    References: Chaudhry et al., On Tiny Episodic Memories in Continual Learning, 2019 (ER);
    in CSS: Cermelli et al., MiB, CVPR 2020 and Cha et al., SSUL, NeurIPS 2021 (memory).
    """

    name = "replay"
    designed_for = "any backbone (a reference: rehearsal)"
    base_task = "ce"
    Params = ReplayParams

    def loss(self, model, images, masks):
        return {"ce": cross_entropy(model(images), masks)}

    def after_task(self, task, model, images, masks):
        super().after_task(task, model, images, masks)
        if self.params.refresh == "pseudo":
            self.memory.refresh(model, self.params.refresh_threshold, self.eval_batch_size)
