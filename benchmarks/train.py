"""Training and evaluation throughput of each backbone, and the wall time of a default run.

    python benchmarks/train.py [--steps 30] [--batch 32] [--repeats 3] [--no-run] [--joint-steps N]

Prints images/s per backbone and the ratio against the `seed` backbone (the original
notebook's network) measured in the same process (rounds interleaved, the best of each counts), with
the training step's achieved GFLOP/s (FLOPs of one forward+backward counted by torch's FlopCounterMode,
over the measured step time) beside the machine's matmul GFLOP/s; then, where bfloat16 runs (CUDA, or a
CPU with AVX512-BF16 / AMX), the default backbone in bf16 autocast against float32 (interleaved too),
and with ``--joint-steps N`` the joint bound's final mIoU in each precision at N steps per task; then
times `csslab run --method finetune` with its defaults in a fresh process (scene cache warm, as after
a first run).
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from csslab.model.network import BACKBONES, IncrementalSegmenter
from csslab.core.precision import autocast, bf16_problem
from csslab.core.runtime import configure_malloc


class Throughput:
    """One backbone's training and evaluation images/s on random scenes; ``measure`` times one round
    and keeps the best round so far, so rounds interleaved across backbones share the machine's noise."""

    def __init__(self, backbone: str, steps: int, batch: int, classes: int = 11, precision: str = "fp32"):
        torch.manual_seed(0)
        self.precision = precision
        self.model = IncrementalSegmenter(backbone)
        self.model.add_head(classes)
        self.optimizer = torch.optim.Adam(self.model.parameters(), 1e-3)
        self.x, self.y = torch.rand(batch, 1, 60, 60), torch.randint(0, classes, (batch, 60, 60))
        self.xe = torch.rand(250, 1, 60, 60)
        self.steps, self.batch = steps, batch
        self.train = self.eval = 0.0
        self._train_steps(5)  # warm-up: allocator, oneDNN primitives

    def _train_steps(self, n):
        self.model.train()
        for _ in range(n):
            with autocast("cpu", self.precision):
                loss = F.cross_entropy(self.model(self.x), self.y)
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()

    def measure(self):
        start = time.perf_counter()
        self._train_steps(self.steps)
        self.train = max(self.train, self.steps * self.batch / (time.perf_counter() - start))
        self.model.eval()
        with torch.no_grad(), autocast("cpu", self.precision):
            self.model(self.xe)
            start = time.perf_counter()
            for _ in range(4):
                self.model(self.xe).argmax(1)
        self.eval = max(self.eval, 4 * 250 / (time.perf_counter() - start))


    def step_gflop(self) -> float:
        """GFLOP of one training step (forward + backward), as FlopCounterMode counts them (convolutions and
        matmuls; elementwise work, BatchNorm and the optimiser are not counted)."""
        self.model.train()
        with FlopCounterMode(display=False) as counter:
            F.cross_entropy(self.model(self.x), self.y).backward()
        self.optimizer.zero_grad()
        return counter.get_total_flops() / 1e9

    def train_gflops(self) -> float:
        """Achieved GFLOP/s of training: a step's FLOPs over the best round's step time."""
        return self.step_gflop() * self.train / self.batch


def matmul_gflops(n: int = 2048, repeats: int = 10, dtype=torch.float32) -> float:
    """The machine's speed on a large matmul, to set the figures below against other machines
    (a 2-core reference machine reaches ~390 GFLOP/s in float32: docs/architecture.md#performance)."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    for _ in range(3):
        a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n**3 * repeats / (time.perf_counter() - start) / 1e9


def joint_miou(precision: str, steps: int) -> tuple[float, float]:
    """Final mIoU and training seconds of `csslab run --method joint` at ``steps`` per task in ``precision``."""
    with tempfile.TemporaryDirectory() as out:
        subprocess.run([sys.executable, "-m", "csslab", "run", "--method", "joint", "--quiet", "--no-report",
                        "--steps", str(steps), "--precision", precision, "--log", "none", "--out", out],
                       check=True, capture_output=True)
        data = json.loads((Path(out) / "results.json").read_text())
    return data["miou_all"], data["timings"]["train_s"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds per backbone; the best counts")
    parser.add_argument("--no-run", action="store_true", help="skip timing a default csslab run")
    parser.add_argument("--joint-steps", type=int, default=0,
                        help="also train the joint bound in fp32 and bf16 at this many steps per task (0: skip)")
    args = parser.parse_args()
    configure_malloc()
    bf16 = bf16_problem(torch.device("cpu")) is None
    fp32_gflops = matmul_gflops()
    machine = f"{fp32_gflops:.0f} GFLOP/s on a 2048x2048 float32 matmul"
    if bf16:
        machine += f", {matmul_gflops(dtype=torch.bfloat16):.0f} in bfloat16"
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}; this machine: {machine}")
    rates = {(name, "fp32"): Throughput(name, args.steps, args.batch) for name in BACKBONES}
    if bf16:
        rates[("fast", "bf16")] = Throughput("fast", args.steps, args.batch, precision="bf16")
    for _ in range(args.repeats):  # interleaved, best round of each
        for rate in rates.values():
            rate.measure()
    print(f"best of {args.repeats} interleaved rounds of {args.steps} training steps and 4 x 250 eval scenes")
    print("| backbone | params | train images/s | eval images/s | train vs seed | eval vs seed | "
          "GFLOP per step | train GFLOP/s | of the fp32 matmul's |")
    print("|---|---|---|---|---|---|---|---|---|")
    base = rates[("seed", "fp32")]
    for (name, precision), rate in rates.items():
        if precision != "fp32":
            continue
        params = sum(p.numel() for p in rate.model.backbone.parameters())
        achieved = rate.train_gflops()
        print(f"| {name} | {params:,} | {rate.train:.0f} | {rate.eval:.0f} | {rate.train / base.train:.1f}x | "
              f"{rate.eval / base.eval:.1f}x | {rate.step_gflop():.2f} | {achieved:.1f} | "
              f"{achieved / fp32_gflops:.0%} |")
    if not bf16:
        print(f"bf16: not measured ({bf16_problem(torch.device('cpu'))})")
    else:
        fp32, low = rates[("fast", "fp32")], rates[("fast", "bf16")]
        joint = {p: joint_miou(p, args.joint_steps) for p in ("fp32", "bf16")} if args.joint_steps else {}
        print("\n`fast` in bf16 autocast against fp32 (same rounds)"
              + (f"; joint bound at {args.joint_steps} steps per task, seed 0" if joint else ""))
        print("| precision | train images/s | eval images/s | train vs fp32 | eval vs fp32 |"
              + (" joint mIoU | joint train s |" if joint else ""))
        print("|---|---|---|---|---|" + ("---|---|" if joint else ""))
        for name, rate in (("fp32", fp32), ("bf16", low)):
            row = (f"| {name} | {rate.train:.0f} | {rate.eval:.0f} | {rate.train / fp32.train:.2f}x | "
                   f"{rate.eval / fp32.eval:.2f}x |")
            print(row + (f" {joint[name][0]:.3f} | {joint[name][1]:.0f} |" if joint else ""))
    if not args.no_run:
        with tempfile.TemporaryDirectory() as out:
            cmd = [sys.executable, "-m", "csslab", "run", "--method", "finetune", "--quiet", "--out", out]
            subprocess.run(cmd + ["--steps", "1", "--overwrite"], check=True, capture_output=True)  # warm the cache
            start = time.perf_counter()
            subprocess.run(cmd + ["--overwrite"], check=True, capture_output=True)
            print(f"default `csslab run --method finetune`: {time.perf_counter() - start:.1f} s wall")


if __name__ == "__main__":
    main()
