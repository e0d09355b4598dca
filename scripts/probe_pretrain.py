"""How well a pretrained backbone's frozen per-pixel features separate the digits: a linear probe.

For each backbone (``none``: the random init; ``digits:STEPS``; ``shapes:STEPS``; ``joint``: a joint run's at
``--steps``), the backbone is frozen (eval mode) and a 1×1 convolution to background + 10 digits is trained on its
features of the joint task's training scenes (all classes, full masks; ``--scenes`` of them), its logits upsampled
as the network's are; the probe's mIoU (background and the ten digits) on the test scenes says how much of a
segmentation the frozen features already hold: what SSUL's frozen backbone gets to work with.

    python scripts/probe_pretrain.py --backbones none digits:300 digits:1500 joint --steps 100

Pretrained backbones come from (or go to) the cache, as a run's do (``csslab.training.pretrain``).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

from csslab.core.config import Config, apply_overrides
from csslab.evaluation.metrics import confusion_matrix, iou
from csslab.model.network import IncrementalSegmenter
from csslab.scenarios import Scenario
from csslab.training.pretrain import pretrained_backbone
from csslab.training.train import fit_task

PROBE_STEPS, PROBE_BATCH, PROBE_LR = 400, 32, 1e-2


def backbone_for(name: str, steps: int, threads: int, log) -> IncrementalSegmenter:
    """The frozen network of ``name`` (none, digits:STEPS, shapes:STEPS or joint) in eval mode."""
    kind, _, budget = name.partition(":")
    overrides = [f"model.pretrain={kind}", f"train.steps={steps}", f"train.threads={threads}"]
    config = apply_overrides(Config(), overrides + ([f"model.pretrain_steps={budget}"] if budget else []))
    torch.manual_seed(0)
    net = IncrementalSegmenter(config.model.backbone)
    state = pretrained_backbone(config, "cpu", threads, log=log, fit=fit_task)
    if state is not None:
        net.backbone.load_state_dict(state)
    return net.eval()


@torch.no_grad()
def features(net, images) -> torch.Tensor:
    return torch.cat([net.backbone(images[i:i + 250])[0] for i in range(0, len(images), 250)])  # N, C, h, w


def probe(net, train, test, steps: int = PROBE_STEPS, seed: int = 0) -> float:
    """The test mIoU of a 1×1 probe trained on the frozen features of ``train`` (images, masks)."""
    (x, y), (tx, ty) = train, test
    fx, ftx = features(net, x), features(net, tx)
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    head = torch.nn.Conv2d(fx.shape[1], 11, 1)
    optimizer = torch.optim.Adam(head.parameters(), lr=PROBE_LR)
    for _ in range(steps):
        idx = torch.randint(len(fx), (PROBE_BATCH,), generator=generator)
        logits = F.interpolate(head(fx[idx]), size=y.shape[-2:], mode="bilinear", align_corners=False)
        loss = F.cross_entropy(logits, y[idx].long())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        pred = torch.cat([F.interpolate(head(ftx[i:i + 250]), size=ty.shape[-2:], mode="bilinear",
                                        align_corners=False).argmax(1) for i in range(0, len(ftx), 250)])
    return float(np.nanmean(iou(confusion_matrix(pred.numpy(), ty.numpy(), 11))))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backbones", nargs="+", default=["none", "digits:300", "joint"])
    parser.add_argument("--steps", type=int, default=Config().train.steps, help="the run's train.steps (joint's)")
    parser.add_argument("--scenes", type=int, default=1000, help="training scenes of the probe")
    parser.add_argument("--probe-steps", type=int, default=PROBE_STEPS, help="the probe's Adam steps")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    scenario = Scenario.from_config(Config().scenario, 0)
    joint = scenario.joint()
    images, masks = joint.train_set(joint[0])
    test = joint.test_set(joint[0])
    train = images[:args.scenes], masks[:args.scenes]
    print("| backbone | probe mIoU (test scenes) | seconds |\n|---|---|---|")
    for name in args.backbones:
        start = time.perf_counter()
        net = backbone_for(name, args.steps, args.threads, log=lambda message: print(f"<!-- {message} -->"))
        print(f"| {name} | {probe(net, train, test, args.probe_steps):.3f} | {time.perf_counter() - start:.0f} |", flush=True)


if __name__ == "__main__":
    main()
