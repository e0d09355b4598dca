"""Training and evaluation throughput of each backbone, and the wall time of a default run.

    python benchmarks/train.py [--steps 30] [--batch 32] [--no-run]

Prints images/s per backbone and the ratio against the `seed` backbone (the original
notebook's network) measured in the same process, then times `csslab run --method finetune`
with its defaults in a fresh process (scene cache warm, as after a first run).
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


def throughput(backbone: str, steps: int, batch: int, classes: int = 11) -> tuple[float, float]:
    torch.manual_seed(0)
    model = IncrementalSegmenter(backbone)
    model.add_head(classes)
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    x = torch.rand(batch, 1, 60, 60)
    y = torch.randint(0, classes, (batch, 60, 60))
    for i in range(steps + 5):
        if i == 5:
            start = time.perf_counter()
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    train = steps * batch / (time.perf_counter() - start)
    model.eval()
    xe = torch.rand(250, 1, 60, 60)
    with torch.no_grad():
        model(xe)
        start = time.perf_counter()
        for _ in range(4):
            model(xe).argmax(1)
    return train, 4 * 250 / (time.perf_counter() - start)


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
    parser.add_argument("--no-run", action="store_true", help="skip timing a default csslab run")
    args = parser.parse_args()
    configure_malloc()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}; "
          f"this machine: {matmul_gflops():.0f} GFLOP/s on a 2048x2048 float32 matmul")
    rates = {name: throughput(name, args.steps, args.batch) for name in BACKBONES}
    base_train, base_eval = rates["seed"]
    print("| backbone | params | train images/s | eval images/s | train vs seed |")
    print("|---|---|---|---|---|")
    for name, (train, evaluate) in rates.items():
        params = sum(p.numel() for p in IncrementalSegmenter(name).backbone.parameters())
        print(f"| {name} | {params:,} | {train:.0f} | {evaluate:.0f} | {train / base_train:.1f}x |")
    if not args.no_run:
        with tempfile.TemporaryDirectory() as out:
            cmd = [sys.executable, "-m", "csslab", "run", "--method", "finetune", "--quiet", "--out", out]
            subprocess.run(cmd + ["--steps", "1", "--overwrite"], check=True, capture_output=True)  # warm the cache
            start = time.perf_counter()
            subprocess.run(cmd + ["--overwrite"], check=True, capture_output=True)
            print(f"default `csslab run --method finetune`: {time.perf_counter() - start:.1f} s wall")


if __name__ == "__main__":
    main()
