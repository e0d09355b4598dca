"""MiB's head initialisation on a trained task-0 model: does the old argmax survive, are the new classes learnt?

Loads the task-0 checkpoint of RUN_DIR (a default `finetune` or `mib` run: their task 0 is the same
plain cross-entropy), adds task 1's head with ``init="mib"`` and, per variant, perturbs the two new
channels' copied weights with one Kaiming-uniform draw ``k`` (the head's default init):

- ``S:M``: ``+ S·k``, and the new biases ``M`` below the shared background bias (``add_head``'s
  ``symmetry_noise`` and ``bias_margin``, with the background bias lowered by log 3 as in MiB; ``0:0`` is MiB's exact init);
- ``neg:S``: ``- S·|k|`` (a new channel can only fall below the background, the input being >= 0);
- ``max:S``: ``+ S·(k - max over the new channels of k)`` (as ``neg``, with the differences of ``S:0``);
- ``default``: ``add_head``'s own default init (noise 1, margin 4, the background bias lowered by
  ``mib_background_shift``: log(1 + 2·e^-4) instead of the ``S:M`` variants' log 3).

For each it prints the share of test pixels whose argmax changes right after the head is added
(and of those that go to a new class) and, with ``--steps N``, the test IoU of background, the two
old and the two new digits after N steps of MiB on task 1 (Adam at train.lr, poly decay, one thread).

    python scripts/mib_init.py RUN_DIR [--steps 250] [--variants 0:0,1:0,1:4]
"""

from __future__ import annotations

import argparse
import copy
import sys


def perturb(model, variant: str):
    """``model`` with task 1's head added and its two new channels perturbed as ``variant`` says."""
    import torch

    torch.manual_seed(0)
    if variant == "default":
        model.add_head(2, init="mib")
        return model
    kind, _, scale = variant.partition(":")
    head = model.add_head(2, init="mib", symmetry_noise=0.0, bias_margin=0.0)
    k = torch.nn.Conv2d(head.weight.shape[1], 2, 1).weight.detach()  # a Kaiming-uniform draw
    with torch.no_grad():
        if kind == "neg":
            head.weight -= float(scale) * k.abs()
        elif kind == "max":
            head.weight += float(scale) * (k - k.max(0, keepdim=True).values)
        else:
            head.weight += float(kind) * k
            head.bias -= float(scale)
    return model


def measure(run_dir, variants, steps: int = 0):
    """One line of figures per variant (see the module docstring)."""
    import numpy as np
    import torch

    from csslab.store.checkpoints import load_model
    from csslab.evaluation.confusion import eval_task
    from csslab.methods import get_method
    from csslab.evaluation.metrics import iou
    from csslab.store.rundir import RunDir
    from csslab.training.train import TaskData, load_run_config, optimise, setup

    torch.set_num_threads(1)
    config = load_run_config(run_dir)
    config.method = "mib"
    config.train.device = "cpu"  # on this machine, whatever the run trained on
    s = setup(config)
    scenario, task = s.scenario, list(s.scenario)[1]
    base = s.model
    load_model(base, s.method, s.train_scenario[:1], torch.load(RunDir(run_dir).checkpoint(0), weights_only=True))
    base.eval()
    images, masks = scenario.test_set(eval_task(scenario, task))

    def predict(model):
        with torch.no_grad():
            return torch.cat([model(images[s:s + 250]).argmax(1) for s in range(0, len(images), 250)])

    old = predict(base)
    for variant in variants:
        model = perturb(copy.deepcopy(base), variant).eval()
        new = predict(model)
        line = (f"{variant:8s} argmax changed on {(new != old).float().mean():.2%} of test pixels, "
                f"to a new class on {(new >= task.n_old).float().mean():.2%}")
        if steps:  # the trainer's own fit_task, on the head this variant initialised
            train_images, train_masks = scenario.train_set(task)
            method = get_method("mib")(seed=0)  # the head is there: before_task, the steps, after_task
            method.before_task(task, model, train_images, train_masks)
            optimise(model, method, task, TaskData(train_images, train_masks, steps, torch.Generator().manual_seed(0)),
                     config.train)
            method.after_task(task, model, train_images, train_masks)
            pred, target = predict(model.eval()), masks.long()
            valid = target != 255
            n = task.n_old + len(task.classes)
            cm = np.bincount((target[valid] * n + pred[valid]).numpy(), minlength=n * n).reshape(n, n)
            line += f"; IoU after {steps} steps: " + " ".join(f"{v:.3f}" for v in iou(cm))
        print(line, flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--steps", type=int, default=0, help="MiB steps on task 1 after the init (0: none)")
    parser.add_argument("--variants", default="0:0,1:0,1:4,neg:1,max:1,default")
    args = parser.parse_args(argv)
    measure(args.run_dir, args.variants.split(","), args.steps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
