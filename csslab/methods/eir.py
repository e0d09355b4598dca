"""EIR: instance replay. Stored old-class digit instances are pasted into the task's scenes with their labels."""

from dataclasses import dataclass

import torch

from csslab.core.constants import BACKGROUND
from csslab.losses import cross_entropy, region_kd
from csslab.methods.base import Method, freeze_batchnorm, param
from csslab.methods.instances import InstanceMemory


@dataclass
class EIRParams:
    memory_size: int = param(100, low=0)  # digit instances kept over all tasks, class-balanced (the paper's 100)
    n_paste: int = param(3, low=0)  # instances pasted into each scene (the paper's code: up to 3)
    # old-model score of a pseudo-label and of a potential old class (the paper's 0.7)
    threshold: float = param(0.7, low=0, high=1)
    lam: float = param(5.0, low=0)  # weight of the region-specific distillation (the paper's kd=5)
    alpha: float = param(1.0, low=0)  # teacher temperature factor of the distillation
    freeze_bn: bool = True  # BatchNorm statistics frozen from the second task on (the paper's --freeze_bn)


class EIR(Method):
    """Enhanced Instance Replay. A scene replay memory keeps scenes whose other digits are labelled
    background; EIR keeps *instances* instead: after each task, class-balanced digits of the task's
    classes (a crop and the mask of the digit's own pixels, ``InstanceMemory``). From the second task on,
    every scene of a batch (1) takes the old model's confident predictions (score ≥ ``threshold``) on its
    background pixels as pseudo-labels, (2) gets ``n_paste`` stored instances pasted with their labels:
    first of the old classes the old model finds in it ("class combination"), and when it finds fewer
    than two, of old classes drawn at random, (3) each where its box covers the fewest labelled pixels
    ("position selection"). Loss: CE on these labels + λ·``region_kd`` (MiB's unbiased distillation) on
    the pixels not labelled a current class. So neither stored nor new scenes teach an old digit as
    background (unless the old model missed it and no instance covers it).

    Differences from the paper: it builds on DKD (sigmoid heads and BCE, DKD's base-task losses); here
    the softmax model with cross-entropy and MiB's head init and distillation, its first task plain CE
    (the shared base of finetune and replay). Its instances are cut with instance masks and pasted where a
    coarse grid cell holds the most background; here an instance is a connected group of a class's ink
    and its position the least covered box. Its RSKD code is MiB's unbiased KD under a mask, as here.

    References: Yin et al., Beyond Background Shift: Rethinking Instance Replay in Continual Semantic
    Segmentation, CVPR 2025.
    """

    name = "eir"
    base_task = "ce"  # the first task is plain CE: the memory is empty, there is no old model
    Params = EIRParams
    head_init = "mib"
    memory_param = "memory_size"

    def setup(self):
        super().setup()
        self.memory = InstanceMemory(self.params.memory_size)

    def train_mode(self, model):
        model.train()
        if self.params.freeze_bn and self.task is not None and self.task.index > 0:
            freeze_batchnorm(model)

    def batch(self, images, masks):
        if self.teacher is None:
            return images, masks
        with torch.no_grad():
            score, pred = torch.softmax(self.teacher(images.to(self.device)), 1).max(1)  # B, H, W
        score, pred = score.cpu(), pred.cpu()
        images, masks = images.clone(), masks.clone()
        sure = (masks == BACKGROUND) & (pred != BACKGROUND) & (score >= self.params.threshold)  # B, H, W
        masks[sure] = pred[sure]
        stored = self.memory.classes()
        for i in range(len(images)):
            for channel in self.combination(pred[i][sure[i]].unique().tolist(), stored):
                self.memory.paste_class(images[i], masks[i], channel, self.generator)
        return images, masks

    def combination(self, found, stored) -> list[int]:
        """The classes pasted into one scene: the old classes found in it that the memory holds, at most
        ``n_paste``; fewer than two, then ``n_paste`` in all with stored classes drawn at random."""
        chosen = [c for c in found if c in stored][:self.params.n_paste]
        if len(chosen) < 2 and stored:
            draws = torch.randint(len(stored), (self.params.n_paste - len(chosen),), generator=self.generator)
            chosen += [stored[k] for k in draws.tolist()]
        return chosen

    def loss(self, model, images, masks):
        logits = model(images)
        terms = {"ce": cross_entropy(logits, masks)}
        if self.teacher is not None:
            region = masks < self.task.n_old  # background and old classes: neither a current class nor ignored
            terms["kd"] = self.params.lam * region_kd(logits, self.teacher(images), region, self.params.alpha)
        return terms

    def after_task(self, task, model, images, masks):
        self.memory.update(task, images, masks, self.generator)

    def state_dict(self):
        return {"memory": self.memory.state_dict()}

    def load_state_dict(self, state):
        self.memory.load_state_dict(state["memory"])
