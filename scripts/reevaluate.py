"""Re-evaluate finished runs from their checkpoints on the test scenes the current code makes.

    python scripts/reevaluate.py RUN_DIR... [--compare FRESH_RUN_DIR]

Rewrites each run's per-task metrics in results.json (IoU, accuracy, confusion, diagnostic, the
task x class matrices, the summary) and keeps its training figures (losses, timings). Made for one
repair: runs whose training scenes were right but whose test scenes came from a stale scene cache
(see CODE_DIGEST in csslab/data/scenes.py). Trained weights never depend on the test scenes (they are
only evaluated), so the rewritten metrics are those a fresh run gives: `--compare` checks that against
a fresh run of the same configuration, exactly. The animation frames were computed on the old test
scenes, so frames.npz and the run's report are deleted and the report is rewritten without them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from csslab.store.checkpoints import load_model
from csslab.model.network import IncrementalSegmenter
from csslab.reports import remove_run_report, write_run_report
from csslab.store.results import Results, task_entry
from csslab.store.rundir import RunDir
from csslab.training.train import load_run_config, setup

METRICS = ("miou_all", "miou_old", "miou_new", "overall_acc", "mean_acc", "iou", "acc", "confusion",
           "background_shift")


def reevaluate(run_dir: Path) -> dict:
    config = load_run_config(run_dir)
    before = Results.load(run_dir)
    if not before.complete:
        raise SystemExit(f"{run_dir}: not a finished run")
    config.train.device = "cpu"  # on this machine, whatever the run trained on
    s = setup(config)  # the run's scenario, method and evaluator (and its threads)
    results = Results.new(before["config"], before.get("versions", {}))
    for task, old in zip(s.train_scenario, before.tasks):
        state = torch.load(RunDir(run_dir).checkpoint(task.index), map_location="cpu", weights_only=True)
        model = IncrementalSegmenter(config.model.backbone)
        load_model(model, s.method, s.train_scenario[:task.index + 1], state)
        cm, val_cm = s.evaluator.evaluate_task(model, task)
        results.add_task(task_entry(task, cm, old["steps"], old["loss"], old["train_s"], old["eval_s"], old["data_s"],
                                    val_cm), before.complete)
    results.add_timings(**before["timings"])
    results.save(run_dir)
    RunDir(run_dir).frames.unlink(missing_ok=True)
    remove_run_report(run_dir)
    write_run_report(run_dir)
    return results.data


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--compare", type=Path, help="a fresh run of the (single) run's configuration")
    args = parser.parse_args(argv)
    for run_dir in args.runs:
        with RunDir(run_dir).lock():  # no run or report writes it meanwhile
            data = reevaluate(run_dir)
        print(f"{run_dir}: all {data['miou_all']:.3f} old {data['miou_old'] or 0:.3f} new {data['miou_new']:.3f}")
    if args.compare:
        fresh = Results.load(args.compare)
        mine = Results.load(args.runs[-1])  # as saved: NaN written as null
        same = len(mine.tasks) == len(fresh.tasks) and all(
            a[k] == b[k] for a, b in zip(mine.tasks, fresh.tasks) for k in METRICS)
        print(f"identical to the fresh run {args.compare}: {same}")
        return 0 if same else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
