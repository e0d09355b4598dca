"""Training and evaluation throughput of each backbone, and the wall time of a default run.

    python benchmarks/train.py [--steps 30] [--batch 32] [--repeats 3] [--no-run]

Prints images/s per backbone and the ratio against the `seed` backbone (the original
notebook's network) measured in the same process (rounds interleaved, the best of each counts),
then times `csslab run --method finetune` with its defaults in a fresh process (scene cache warm,
as after a first run).
"""

import argparse
import subprocess
import sys
import tempfile
import time

import torch
import torch.nn.functional as F

from csslab.models import BACKBONES, IncrementalSegmenter
from csslab.train import configure_malloc


class Throughput:
    """One backbone's training and evaluation images/s on random scenes; ``measure`` times one round
    and keeps the best round so far, so rounds interleaved across backbones share the machine's noise."""

    def __init__(self, backbone: str, steps: int, batch: int, classes: int = 11):
        torch.manual_seed(0)
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
            loss = F.cross_entropy(self.model(self.x), self.y)
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()

    def measure(self):
        start = time.perf_counter()
        self._train_steps(self.steps)
        self.train = max(self.train, self.steps * self.batch / (time.perf_counter() - start))
        self.model.eval()
        with torch.no_grad():
            self.model(self.xe)
            start = time.perf_counter()
            for _ in range(4):
                self.model(self.xe).argmax(1)
        self.eval = max(self.eval, 4 * 250 / (time.perf_counter() - start))


def matmul_gflops(n: int = 2048, repeats: int = 10) -> float:
    """The machine's speed on a large float32 matmul, to set the figures below against other machines
    (DESIGN.md §8's 2-core reference reaches ~390 GFLOP/s)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n**3 * repeats / (time.perf_counter() - start) / 1e9


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds per backbone; the best counts")
    parser.add_argument("--no-run", action="store_true", help="skip timing a default csslab run")
    args = parser.parse_args()
    configure_malloc()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}; "
          f"this machine: {matmul_gflops():.0f} GFLOP/s on a 2048x2048 float32 matmul")
    rates = {name: Throughput(name, args.steps, args.batch) for name in BACKBONES}
    for _ in range(args.repeats):  # interleaved, best round of each
        for rate in rates.values():
            rate.measure()
    print(f"best of {args.repeats} interleaved rounds of {args.steps} training steps and 4 x 250 eval scenes")
    print("| backbone | params | train images/s | eval images/s | train vs seed | eval vs seed |")
    print("|---|---|---|---|---|---|")
    base = rates["seed"]
    for name, rate in rates.items():
        params = sum(p.numel() for p in rate.model.backbone.parameters())
        print(f"| {name} | {params:,} | {rate.train:.0f} | {rate.eval:.0f} | {rate.train / base.train:.1f}x | "
              f"{rate.eval / base.eval:.1f}x |")
    if not args.no_run:
        with tempfile.TemporaryDirectory() as out:
            cmd = [sys.executable, "-m", "csslab", "run", "--method", "finetune", "--quiet", "--out", out]
            subprocess.run(cmd + ["--steps", "1", "--overwrite"], check=True, capture_output=True)  # warm the cache
            start = time.perf_counter()
            subprocess.run(cmd + ["--overwrite"], check=True, capture_output=True)
            print(f"default `csslab run --method finetune`: {time.perf_counter() - start:.1f} s wall")


if __name__ == "__main__":
    main()
