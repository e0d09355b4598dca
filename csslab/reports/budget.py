"""The budget and protocol a run was trained with, as every report, table and data file states it.

``run_budget`` reads them from a run's resolved configuration (results.json's ``config``) and the steps
its tasks recorded; a benchmark row carries the budget of its runs (``row_budgets``), the benchmark the
budget its rows share and where they differ (``benchmark_budget``). ``budget_warning`` says when a
budget is below the one measured as needed (docs/decisions/steps-per-class.md).
"""

from __future__ import annotations

import math

from csslab.core.config import PRETRAIN_STEPS, protocol_changes
from csslab.scenarios.tasks import parse_split

# steps per class a task needs: the measured budget (250 steps for the default 2-class tasks,
# docs/decisions/steps-per-class.md; 20 steps per task ranked mib below finetune)
NEEDED_STEPS_PER_CLASS = 125

# the budget's keys, in the order tables and CSV columns show them
KEYS = ("steps", "steps_per_class", "least_steps_per_class", "batch_size", "train_scenes", "test_scenes", "data",
        "class_order", "protocol", "optimizer", "momentum", "lr", "lr_incremental", "weight_decay", "schedule",
        "backbone", "pretrain", "pretrain_steps", "seeds")


def least_steps_per_class(config: dict, tasks: list[dict] | None = None) -> float | None:
    """The fewest optimisation steps any class got: from the steps and classes each task recorded, else
    from the configuration's split (None when neither says)."""
    recorded = [t["steps"] / len(t["classes"]) for t in tasks or () if t.get("steps") and t.get("classes")]
    if recorded:
        return min(recorded)
    train = config.get("train") or {}
    if train.get("steps_per_class"):
        return float(train["steps_per_class"])
    try:
        return train["steps"] / max(parse_split((config.get("scenario") or {})["tasks"]))
    except (KeyError, TypeError, ValueError):
        return None


def run_budget(config: dict, tasks: list[dict] | None = None) -> dict:
    """The budget of one run (``KEYS``) from its resolved configuration and, if given, its task entries."""
    train, scenario = config.get("train") or {}, config.get("scenario") or {}
    model = config.get("model") or {}
    budget = {key: train.get(key) for key in ("steps", "steps_per_class", "batch_size", "lr", "lr_incremental",
                                              "weight_decay", "schedule")}
    budget |= {key: scenario.get(key) for key in ("train_scenes", "test_scenes", "data", "class_order")}
    optimizer = train.get("optimizer", "adam")
    budget |= {"protocol": protocol_label(train), "optimizer": optimizer,
               "momentum": train.get("momentum", 0.9) if optimizer == "sgd" else None,
               "backbone": model.get("backbone"), "pretrain": model.get("pretrain"),
               "pretrain_steps": _pretrain_steps(model),
               "seeds": [config["seed"]] if "seed" in config else [],
               "least_steps_per_class": least_steps_per_class(config, tasks)}
    return {key: budget[key] for key in KEYS}


def _pretrain_steps(model: dict) -> int | None:
    """The optimiser steps of the backbone's pretraining as the run resolved them: 0 from scratch, None for a
    joint run's backbone (a whole run, not a number of pretraining steps) or a run that did not record it."""
    if model.get("pretrain") == "none":
        return 0
    if model.get("pretrain") not in PRETRAIN_STEPS:
        return None
    return model.get("pretrain_steps") or PRETRAIN_STEPS[model["pretrain"]]


def protocol_label(train: dict) -> str | None:
    """The run's train.protocol, "+ its changed fields" where the run changed the preset (None: not recorded)."""
    if "protocol" not in train:
        return None
    changed = protocol_changes(train)
    return train["protocol"] + (f" ({', '.join(changed)} changed)" if changed else "")


def merge(budgets: list[dict]) -> tuple[dict, dict]:
    """(what every budget shares, {key: its distinct values} where they differ); seeds are pooled, and so
    are class orders (``benchmark --orders``: an axis of every row, not a difference between rows)."""
    common, differs = {}, {}
    for key in KEYS:
        values = [b.get(key) for b in budgets]
        if key == "seeds":
            common[key] = sorted({s for v in values for s in v or ()}, key=str)
            continue
        # a value that is a list: runs of one row that already differ (their values)
        distinct = list(dict.fromkeys(v for value in values for v in (value if isinstance(value, list) else [value])))
        if key == "class_order":
            common[key] = distinct[0] if len(distinct) == 1 else distinct
        elif len(distinct) == 1:
            common[key] = distinct[0]
        else:
            differs[key] = distinct
            known = [v for v in distinct if v is not None]
            common[key] = min(known) if key == "least_steps_per_class" and known else distinct
    return common, differs


def row_budgets(rows: list[dict], budgets: dict[str, dict]) -> list[dict]:
    """Each benchmark row with the ``budget`` of the runs it averages (``budgets``: run name -> run_budget);
    a key its runs disagree on holds their distinct values."""
    for row in rows:
        mine = [budgets[name] for name in row.get("runs", ()) if name in budgets]
        if mine:
            row["budget"] = merge(mine)[0]
    return rows


def benchmark_budget(rows: list[dict]) -> dict:
    """The budget the rows share, and ``differs``: each key on which rows of the same grid point differ, with its
    values. A key that differs only between grid points (``--grid train.lr=...,...``, ``--grid model.pretrain=
    none,digits``) is the grid's axis, which every row's variant names: the budget lists its values, and it is no
    difference to warn about."""
    budgets = [row["budget"] for row in rows if row.get("budget")]
    if not budgets:
        return {}
    common, differs = merge(budgets)
    points: dict[str, list[dict]] = {}
    for row in rows:
        if row.get("budget"):
            points.setdefault(row.get("variant") or "", []).append(row["budget"])
    if len(points) > 1:
        within = {key for group in points.values() for key in merge(group)[1]}
        differs = {key: values for key, values in differs.items() if key in within}
    return common | {"differs": differs}


def _number(value) -> str:
    """A budget value for people: floats as written (0.002), lists (runs that differ) joined by "/"."""
    if isinstance(value, list):
        return " / ".join(map(_number, value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def _steps(budget: dict) -> str:
    if budget.get("steps_per_class"):
        text = f"{budget['steps_per_class']} steps per class of each task"
    else:
        steps = budget.get("steps", "?")
        text = f"{_number(steps)} step{'' if steps == 1 else 's'} per task"
    least = budget.get("least_steps_per_class")
    if not isinstance(least, (int, float)):
        return text
    return text + (f" (at least {least:g} per class)" if float(least).is_integer() else
                   f" ({whole_steps(least)} per class)")


def _optimizer(budget: dict) -> str:
    name = budget.get("optimizer")
    if isinstance(name, list):
        return " / ".join(map(str, name))
    name = {"sgd": "SGD", "adam": "Adam"}.get(name, str(name))
    return name + (f" (momentum {_number(budget['momentum'])})" if budget.get("momentum") is not None else "")


def _pretrain(budget: dict) -> str:
    """How the backbone started, after its name: " from scratch", " pretrained on digits (3000 steps)" (nothing
    for a run saved before model.pretrain existed, which trained from scratch but did not say so)."""
    kind, steps = budget.get("pretrain"), budget.get("pretrain_steps")
    if kind is None:
        return ""
    if kind == "none":
        return " from scratch"
    if kind == "joint":
        return " from a joint run"
    if isinstance(kind, list):  # rows or runs of several regimes (a grid's axis, or rows that differ): their values
        return f" (model.pretrain {_number(kind)})"
    return f" pretrained on {kind}" + (f" ({_number(steps)} steps)" if steps is not None else "")


def budget_text(budget: dict) -> str:
    """The budget in one line, e.g. "250 steps per task (...), batch 32, 2000 training scenes per task, ..."."""
    if not budget:
        return "not recorded (written by an older csslab)"
    lr, later = budget.get("lr"), budget.get("lr_incremental")
    rate = f"lr {_number(lr)}" + (f", {_number(later)} after the first task" if later else " for every task")
    seeds = budget.get("seeds") or []
    parts = [_steps(budget), f"batch {_number(budget.get('batch_size'))}",
             f"{_number(budget.get('train_scenes'))} training scenes per task, {_number(budget.get('test_scenes'))} "
             "test scenes", f"data {budget.get('data')}",
             f"class order{'s' if isinstance(budget.get('class_order'), list) else ''} "
             f"{_number(budget.get('class_order'))}",
             (f"protocol {_number(budget['protocol'])}: " if budget.get("protocol") else "")
             + _optimizer(budget) + f" {rate}, {budget.get('schedule')} schedule"
             + (f", weight decay {_number(budget['weight_decay'])}" if budget.get("weight_decay") else ""),
             f"backbone {budget.get('backbone')}" + _pretrain(budget),
             (f"seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}" if seeds else "seed not recorded")]
    return ", ".join(parts)


def differs_text(differs: dict) -> str | None:
    """A line naming what a benchmark's rows differ in (None when they share one budget)."""
    differs = {k: v for k, v in (differs or {}).items() if k != "least_steps_per_class"} or differs
    if not differs:
        return None
    keys = "; ".join(f"{key} {', '.join(_number(v) for v in values)}" for key, values in differs.items())
    return (f"The rows were run with different budgets ({keys}): compare only rows of the same budget "
            "(benchmark.csv and benchmark.json hold each row's).")


def budget_warning(budget: dict) -> str | None:
    """A short warning when a class got fewer steps than measured as needed (None otherwise)."""
    least = (budget or {}).get("least_steps_per_class")
    if not isinstance(least, (int, float)) or least >= NEEDED_STEPS_PER_CLASS:
        return None
    steps = f"{whole_steps(least, 'only ')} training step{'' if math.ceil(least) == 1 else 's'}"
    return (f"Warning: a class got {steps}, under the {NEEDED_STEPS_PER_CLASS} measured as needed: results can rank "
            f"methods in the wrong order (--set train.steps_per_class={NEEDED_STEPS_PER_CLASS})")


def whole_steps(count: float, exact: str = "") -> str:
    """Steps per class in whole steps: ``exact`` + 10 for 10, "fewer than 3" for 2.4 (a task of 12 steps and
    5 classes: no class trains a fraction of a step)."""
    return f"{exact}{count:g}" if float(count).is_integer() else f"fewer than {math.ceil(count)}"


def seeds_caption(rows: list[dict]) -> str:
    """What a benchmark table's cells are: mean ± std over seeds (and class orders), or single runs (no ± for
    one seed)."""
    if any(row.get("n_orders", 1) > 1 for row in rows):
        return "Final mIoU after the last task, mean ± standard deviation over class orders x seeds."
    counts = sorted({row.get("n_runs", row.get("n_seeds", 1)) for row in rows})
    if not counts or counts == [1]:
        return "Final mIoU after the last task, one seed per row (no standard deviation from a single run)."
    if counts[0] == 1:
        return ("Final mIoU after the last task: mean ± standard deviation over the seeds of rows with several "
                "seeds; rows with one seed show that run alone.")
    return "Final mIoU after the last task, mean ± standard deviation over seeds."


def benchmark_lines(rows: list[dict]) -> list[str]:
    """The budget, any difference between rows and the warning: what the table is shown with on the
    screen, in benchmark.md and benchmark.html (empty for rows without budgets)."""
    budget = benchmark_budget(rows)
    if not budget:
        return []
    lines = [f"Budget: {budget_text(budget)}."]
    lines += [line for line in (differs_text(budget["differs"]), budget_warning(budget)) if line]
    return lines
