"""MiB-AugM: MiB with a memory of scenes whose own labels are kept and whose background shift is modelled."""

from dataclasses import dataclass

from csslab.losses import memory_ce, unbiased_ce, unbiased_kd
from csslab.methods.base import param
from csslab.methods.mib import MiB, MiBParams


@dataclass
class MiBAugMParams(MiBParams):
    memory_size: int = param(100, low=0)  # the paper's memory (scripts *_mem100)


class MiBAugM(MiB):
    """MiB whose replayed scenes are not relabelled by the current task. MiB-M (``mib`` with
    ``memory_size``) puts stored scenes through ``unbiased_ce`` with the task's scenes, which folds their
    old-class labels into the background: the memory's labels are lost (the "retrieval issue" the paper
    found in earlier code). MiB-AugM scores stored scenes with ``memory_ce`` instead: their old labels
    count, and their background may be a class of the current task (the memory's own background shift).
    Loss from the second task on: ½·unbiased_ce(task scenes) + ½·memory_ce(stored scenes) +
    λ·(½·unbiased_kd(task scenes) + ½·unbiased_kd(stored scenes)), as the paper's code; the first task
    is MiB's. Differences from the paper: its batch is half task, half memory scenes; here, as every
    csslab memory, ``replay_fraction``·B stored scenes are appended to B task scenes.

    References: Kwak, Cha & Moon, Towards Realistic Incremental Scenario in Class Incremental Semantic
    Segmentation, 2024 (MiB-AugM); Cermelli et al., MiB, CVPR 2020.
    """

    name = "mib-augm"
    base_task = "unbiased_ce"  # task 0 is MiB's (the memory is empty then): it shares MiB's base model
    Params = MiBAugMParams

    def setup(self):
        super().setup()
        self.n_current = None  # task scenes at the head of the batch ``batch`` returned last

    def batch(self, images, masks):
        self.n_current = len(images)
        return super().batch(images, masks)

    def loss(self, model, images, masks):
        n, self.n_current = self.n_current or len(images), None
        if self.teacher is None or n >= len(images):  # first task, or nothing replayed
            return super().loss(model, images, masks)
        logits, old_logits = model(images), self.teacher(images)
        n_old, lam, alpha = self.task.n_old, self.params.lam, self.params.alpha
        kd = unbiased_kd(logits[:n], old_logits[:n], alpha) + unbiased_kd(logits[n:], old_logits[n:], alpha)
        return {"ce": 0.5 * unbiased_ce(logits[:n], masks[:n], n_old),
                "memory_ce": 0.5 * memory_ce(logits[n:], masks[n:], n_old),
                "kd": lam * 0.5 * kd}
