"""How a replay run remembers task 0's classes: recall on the memory, on old and current scenes, on test.

A network that replays a few stored scenes among many current scenes that label the same digits
background can learn each set by heart. This prints, for the model saved after ``--task`` (default 1),
the share of task 0's class pixels it labels correctly on four sets of scenes:

- ``stored``: the scenes in its memory, with the masks the memory holds (refreshed ones included);
- ``seen``: all of task 0's training scenes (the stored ones among them), labelled as at task 0;
- ``current``: the training scenes of ``--task``, with their true labels: the task trained these
  same pixels as background (``overlap``/``disjoint``);
- ``test``: the test scenes.

``stored`` far above ``seen`` and ``test`` means the memory was learnt by heart; ``current`` near 0
means the current scenes were too, as background.

    python scripts/memory_recall.py RUN_DIR [--task N]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

SETS = ("stored", "seen", "current", "test")


def memory_recall(run_dir: Path, task: int = 1) -> dict:
    """``{set: (share of task 0's class pixels recalled, number of such pixels)}`` for ``SETS``."""
    import torch

    from csslab.store.checkpoints import load_model
    from csslab.core.config import Config
    from csslab.store.results import Results
    from csslab.store.rundir import RunDir
    from csslab.scenarios.labels import eval_lut
    from csslab.training.train import setup

    run_dir = Path(run_dir)
    results = Results.load(run_dir)
    n_done = len(results.tasks)
    if not 1 <= task < n_done:
        raise ValueError(f"invalid task {task}: {run_dir} has checkpoints after tasks 0..{n_done - 1}; "
                         f"choose one of 1..{n_done - 1}")
    state = torch.load(RunDir(run_dir).checkpoint(task), map_location="cpu", weights_only=True)
    memory = state["method"].get("memory")
    if memory is None or len(memory["images"]) == 0:
        raise ValueError(f"{run_dir} has no memory (method {results['config']['method']!r}): run replay, or a "
                         f"method with params.memory_size > 0")
    config = Config.from_dict(results["config"])
    config.train.device = "cpu"  # on this machine, whatever the run trained on
    scenario, _, _, method, model, _ = setup(config)
    load_model(model, method, scenario[:task + 1], state)
    model.eval()
    old = torch.arange(1, 1 + len(scenario[0].classes))  # task 0's channels

    def recall(images, masks):
        with torch.no_grad():
            prediction = torch.cat([model(images[i:i + 250]).argmax(1) for i in range(0, len(images), 250)])
        where = torch.isin(masks.long(), old)
        return float((prediction[where] == masks.long()[where]).float().mean()), int(where.sum())

    current, raw = scenario.train_raw(scenario[task])
    truth = eval_lut(scenario[task], scenario.setting, scenario.class_order)[raw]
    return {
        "stored": recall(memory["images"], memory["masks"]),
        "seen": recall(*scenario.train_set(scenario[0])),
        "current": recall(torch.from_numpy(current[:, None]), torch.from_numpy(truth)),
        "test": recall(*scenario.test_set(scenario[task])),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--task", type=int, default=1, help="the checkpoint: after this task (default 1)")
    args = parser.parse_args(argv)
    try:
        recalls = memory_recall(args.run_dir, args.task)
    except (ValueError, FileNotFoundError) as err:
        print(f"memory_recall: {err}", file=sys.stderr)
        return 2
    print(f"after task {args.task}: task 0's class pixels labelled correctly")
    print("| scenes | recalled | pixels |\n|---|---|---|")
    for name in SETS:
        share, pixels = recalls[name]
        print(f"| {name} | {share:.0%} | {pixels:,} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
