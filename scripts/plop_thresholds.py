"""What PLOP's pseudo-labels keep under each threshold rule: the paper's median and PLOP's code's histogram.

For every task t >= 1 of a run, the model saved after task t-1 (the old model PLOP distils from) predicts
task t's training scenes, and the thresholds of both rules are computed as ``plop`` computes them before
training task t (``csslab.losses.pseudo_labels.entropy_thresholds``, on the pixels labelled background). For each
old class this prints both thresholds and the share of the background pixels the old model predicts as the
class whose normalised entropy is below each (the pixels that get the class as their pseudo-label).
Any run with checkpoints will do: the old models are the run's, whatever its method.

    python scripts/plop_thresholds.py RUN_DIR
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

RULES = ("median", "histogram")


def plop_thresholds(run_dir: Path, min_threshold: float = 1e-3) -> list[dict]:
    """One row per (task >= 1, old class): ``task``, ``channel``, ``name``, ``pixels`` (background pixels the
    old model predicts as the class), and per rule ``{rule}_threshold`` and ``{rule}_kept`` (share of those
    pixels below the threshold; None without pixels)."""
    import torch

    from csslab.store.checkpoints import load_model
    from csslab.core.config import Config
    from csslab.core.constants import BACKGROUND
    from csslab.model.network import IncrementalSegmenter
    from csslab.losses.pseudo_labels import entropy_thresholds, normalised_entropy
    from csslab.store.results import Results
    from csslab.store.rundir import RunDir
    from csslab.training.train import setup

    run_dir = Path(run_dir)
    results = Results.load(run_dir)
    config = Config.from_dict(results["config"])
    if len(results.tasks) < 2:
        raise ValueError(f"{run_dir} has finished {len(results.tasks)} task(s): the thresholds need a model after "
                         "task 0 and a task 1 to label; run at least two tasks")
    config.train.device = "cpu"  # on this machine, whatever the run trained on
    scenario, tasks, _, method, _, _ = setup(config)
    rows = []
    for t in range(1, len(results.tasks)):
        state = torch.load(RunDir(run_dir).checkpoint(t - 1), map_location="cpu", weights_only=True)
        old = IncrementalSegmenter(config.model.backbone)
        load_model(old, method, tasks[:t], state)
        old.eval()
        task = tasks[t]
        images, masks = tasks.train_set(task)
        with torch.no_grad():
            logits = [old(images[s:s + 250]) for s in range(0, len(images), 250)]
        targets = [masks[s:s + 250] for s in range(0, len(masks), 250)]
        thresholds = {rule: entropy_thresholds(logits, task.n_old, targets, min_threshold, rule=rule,
                                               n_channels=1 + task.n_seen) for rule in RULES}
        background = torch.cat(targets).flatten() == BACKGROUND
        entropy = torch.cat([normalised_entropy(x).flatten() for x in logits])[background]
        prediction = torch.cat([x.argmax(1).flatten() for x in logits])[background]
        for channel in range(1, task.n_old):  # the old digits (channel 0 is the background)
            values = entropy[prediction == channel]
            row = {"task": t, "channel": channel, "name": f"digit {task.old_classes[channel - 1]}", "pixels": len(values)}
            for rule in RULES:
                threshold = float(thresholds[rule][channel])
                row[f"{rule}_threshold"] = threshold
                row[f"{rule}_kept"] = float((values < threshold).float().mean()) if len(values) else None
            rows.append(row)
    return rows


def _share(value) -> str:
    return "-" if value is None else f"{value:.0%}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    args = parser.parse_args(argv)
    try:
        rows = plop_thresholds(args.run_dir)
    except (ValueError, FileNotFoundError) as err:
        print(f"plop_thresholds: {err}", file=sys.stderr)
        return 2
    print("| task | class | pixels | median: threshold | kept | histogram: threshold | kept |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['task']} | {r['name']} | {r['pixels']} | {r['median_threshold']:.3g} | {_share(r['median_kept'])} "
              f"| {r['histogram_threshold']:.3g} | {_share(r['histogram_kept'])} |")
    for rule in RULES:
        kept = [r[f"{rule}_kept"] * r["pixels"] for r in rows if r["pixels"]]
        print(f"{rule}: {sum(kept) / max(1, sum(r['pixels'] for r in rows)):.0%} of the old-class background pixels "
              f"pseudo-labelled over the tasks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
