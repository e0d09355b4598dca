"""Compare every metric of two run directories exactly (to check that a change kept results bit-identical).

    python scripts/compare_runs.py BEFORE_DIR AFTER_DIR

Compares results.json's per-task metrics (mIoUs, accuracies, per-class IoU and accuracy, confusion matrix,
background-shift diagnostic, mean loss terms, steps, classes), the run-level figures (task x class matrices,
miou_avg, forgetting, final mIoUs, completeness) and, when either run has one, frames.npz array by array.
Wall-clock times, versions and the configuration are not compared. ``--new-keys`` accepts metrics that only
the AFTER run has (a change that adds a metric, e.g. miou_base) and names them. Exits 0 when everything is equal,
1 naming the first difference, 2 when a directory holds no readable run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from csslab.store.results import Results
from csslab.store.rundir import RunDir

NOT_METRICS = {"train_s", "eval_s", "data_s", "timings", "versions", "config"}


def first_difference(a, b, where: str, added: set | None = None) -> str | None:
    """Where ``a`` and ``b`` (JSON data) first differ, as ``where.key[index]: a != b``, else None. With ``added``
    (a set), a key only ``b`` has is collected there instead of being a difference."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            if key in NOT_METRICS:
                continue
            if key not in a and added is not None:
                added.add(key)
                continue
            if key not in a or key not in b:
                return f"{where}.{key}: only in {'after' if key in b else 'before'}"
            found = first_difference(a[key], b[key], f"{where}.{key}", added)
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{where}: {len(a)} items before, {len(b)} after"
        for i, (x, y) in enumerate(zip(a, b)):
            found = first_difference(x, y, f"{where}[{i}]", added)
            if found:
                return found
        return None
    if type(a) is not type(b) or a != b:
        return f"{where}: {a!r} before, {b!r} after"
    return None


def frames_difference(before: Path, after: Path) -> str | None:
    x, y = RunDir(before).read_frames(), RunDir(after).read_frames()
    if x is None and y is None:
        return None
    if x is None or y is None:
        return f"frames.npz: only {'after' if y is not None else 'before'}"
    for key in sorted(set(x) | set(y)):
        if key not in x or key not in y:
            return f"frames.npz[{key}]: only {'after' if key in y else 'before'}"
        if x[key].shape != y[key].shape or x[key].dtype != y[key].dtype or not np.array_equal(x[key], y[key]):
            return f"frames.npz[{key}]: arrays differ"
    return None


def compare(before: Path, after: Path, added: set | None = None) -> str | None:
    """The first difference between two runs' metrics, or None when they are identical (``added``: see
    ``first_difference``)."""
    found = first_difference(Results.load(before).data, Results.load(after).data, "results", added)
    return found or frames_difference(before, after)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--new-keys", action="store_true", help="accept metrics only the after run has")
    args = parser.parse_args(argv)
    added = set() if args.new_keys else None
    try:
        found = compare(args.before, args.after, added)
    except (FileNotFoundError, ValueError) as error:
        print(f"compare_runs: error: {error}", file=sys.stderr)
        return 2
    if found:
        print(f"different: {found}")
        return 1
    new = f" (new in after: {', '.join(sorted(added))})" if added else ""
    print(f"identical: every metric of {args.before} and {args.after}{new}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
