"""What a benchmark runs: its methods, settings, hyper-parameter grid and class orders parsed from the command
line, expanded into one configuration per run (splits x settings x methods x grid points x orders x seeds),
each with its grid label and run directory name. ``sweep`` runs them and gathers the table."""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from csslab.core.config import Config, apply_overrides, parse_value
from csslab.core.words import plural
from csslab.methods import METHODS, get_method, method_label
from csslab.store.rundir import BenchmarkDir
from csslab.store.runstore import setting_name
from csslab.scenarios import all_settings, make_setting, parse_split

# what a training step costs on a CPU: a default run's 1,250 steps took 135-167 s (docs/speed.md#a-default-run)
SECONDS_PER_STEP = 0.12


def parse_methods(text: str) -> list[str]:
    """``--methods``: built-in names, plugins' names and references (``path/to/mine.py:Mine``), or 'all' (the
    built-ins); each is loaded (a refusal is one line) and two that go by the same name are refused."""
    names = list(METHODS) if text == "all" else [m.strip() for m in text.split(",") if m.strip()]
    if not names:
        raise ValueError(f"invalid --methods {text!r}: give 'all' or names like finetune,mib")
    labels = {}
    for name in dict.fromkeys(names):
        get_method(name)  # a refusal of an unknown name or a broken reference, before anything runs
        label = method_label(name)
        if labels.setdefault(label, name) != name:
            raise ValueError(f"invalid --methods: {labels[label]} and {name} are both named {label!r}; "
                             "a benchmark's methods need names of their own (set the class's name)")
    # the bounds frame the table: the lower (fine-tuning) first, the upper (joint) last; methods from outside csslab
    # after the built-ins, in the order given
    frame, order = {"lower": 0, "upper": 2}, {m: i for i, m in enumerate([*METHODS, *labels.values()])}
    return sorted(labels.values(), key=lambda m: (frame.get(get_method(m).bound, 1), order[m]))


def parse_settings(text: str) -> list:
    if text == "all":
        return all_settings()
    return [make_setting(s.strip()) for s in text.split(",") if s.strip()]


def _param_names(method: str) -> set[str]:
    return {f.name for f in fields(get_method(method).Params)}


def parse_grid(items, methods) -> dict[str, list[str]]:
    """``["params.lam=1,10,100", ...]`` -> ``{"params.lam": ["1", "10", "100"]}`` (``method.lam`` is an alias
    of ``params.lam``). Values stay text, parsed and type-checked like ``--set`` when applied."""
    grid: dict[str, list[str]] = {}
    for item in items or ():
        key, sep, text = item.partition("=")
        key = key.strip().replace("method.", "params.", 1) if key.strip().startswith("method.") else key.strip()
        first: dict = {}  # what a value means -> the first text given for it: 10,10.0,1e1 is one run
        for value in (v.strip() for v in text.split(",") if v.strip()):
            first.setdefault(_meaning(value), value)
        values = list(first.values())
        if not sep or not values or "." not in key:
            raise ValueError(f"invalid --grid {item!r}: expected section.key=v1,v2,..., e.g. params.lam=1,10,100")
        if key in grid:
            raise ValueError(f"invalid --grid {item!r}: {key} is already a grid axis")
        section, name = key.split(".", 1)
        if section == "params" and not any(name in _param_names(m) for m in methods):
            raise ValueError(f"invalid --grid {item!r}: none of the methods ({', '.join(methods)}) has a parameter "
                             f"{name!r}")
        grid[key] = values
    return grid


def _meaning(text: str):
    """What a grid value means, for telling duplicates apart: a number (10, 10.0 and 1e1 are one), else the text."""
    try:
        number = float(parse_value(text))
    except (TypeError, ValueError):
        return text
    return number if math.isfinite(number) else str(number)  # nan is not equal to itself


def _grid_points(grid: dict, method: str) -> list[list[str]]:
    """The override lists of the grid's points that apply to ``method`` (a params axis only to methods
    that have that parameter), always at least one (no overrides)."""
    axes = [[f"{key}={v}" for v in values] for key, values in (grid or {}).items()
            if not key.startswith("params.") or key.split(".", 1)[1] in _param_names(method)]
    return [list(point) for point in itertools.product(*axes)]


def variant(config: Config, grid: dict | None) -> str:
    """The grid point of ``config`` as a label, e.g. ``lam=10`` or ``lam=10,train.lr=0.001`` ('' without a grid)."""
    parts = []
    for key in grid or ():
        section, name = key.split(".", 1)
        if section == "params":
            if name in config.params:
                parts.append(f"{name}={config.params[name]}")
        else:
            parts.append(f"{key}={getattr(getattr(config, section), name)}")
    return ",".join(parts)


def class_orders(base: Config, n_orders: int = 1) -> list[str]:
    """The class orders of ``--orders N``: order 0 is the configured one (natural unless set), order k >= 1
    is ``random:k``, the same for every seed; so ``--orders 1`` is the benchmark without the axis (its runs
    keep their names and are reused) and order k is one a paper's "order k" could be checked against."""
    if n_orders <= 0:
        raise ValueError(f"invalid --orders {n_orders}: must be a positive number of class orders")
    orders = [base.scenario.class_order] + [f"random:{k}" for k in range(1, n_orders)]
    if len(set(orders)) < len(orders):
        raise ValueError(f"invalid --orders {n_orders} with class_order {base.scenario.class_order}: order k >= 1 is "
                         "random:k, so the configured order would run twice; set another class_order or fewer orders")
    return orders


def run_configs(base: Config, methods, seeds, settings, grid: dict | None = None, orders: int = 1,
                splits=None) -> list[Config]:
    """Every run of a benchmark: splits (default: the base's) x settings x methods x grid points x orders x seeds."""
    configs = []
    for split, setting in itertools.product(splits or [base.scenario.tasks], settings):
        for method in methods:
            for point, order, seed in itertools.product(_grid_points(grid, method), class_orders(base, orders), seeds):
                config = apply_overrides(base, point)
                config.method, config.seed = method, seed
                config.scenario.tasks, config.scenario.class_order = split, order
                config.scenario = replace(config.scenario, setting=setting.name, **asdict(setting))
                configs.append(config)
    return configs


@dataclass(frozen=True)
class BenchmarkSpec:
    """A benchmark: what it runs (``base`` configuration x ``splits`` (default: the base's) x ``settings`` x
    ``methods`` x ``grid`` points x ``orders`` class orders x ``seeds``) into ``out``, and how. ``ray``: an address
    or "local" to run each configuration as a task on a Ray cluster, else ``workers`` local processes.
    ``reuse``: directories searched for finished runs of the same configurations, copied in instead of run
    again. ``report``: the benchmark's report and, with ``run_reports``, each run's. ``overwrite``: replace runs
    of other configurations held in ``out``. ``shared_base``: methods whose first task trains alike
    (``Method.base_task``) share it, trained once per seed (kept in out/base)."""

    base: Config
    methods: tuple[str, ...]
    seeds: tuple[int, ...]
    settings: tuple
    out: Path
    grid: dict | None = None
    orders: int = 1
    splits: tuple[str, ...] | None = None
    ray: str | None = None
    workers: int = 1
    reuse: tuple = ()
    report: bool = True
    run_reports: bool = True
    overwrite: bool = False
    shared_base: bool = True

    def configs(self) -> list[Config]:
        """Every run of the benchmark (``run_configs``)."""
        return run_configs(self.base, self.methods, self.seeds, self.settings, self.grid, self.orders, self.splits)

    def run_dirs(self, configs) -> list[Path]:
        return [BenchmarkDir(self.out).run(run_name(c, self.grid)).path for c in configs]


def run_name(config: Config, grid: dict | None = None) -> str:
    setting = setting_name(config).replace(",", "_").replace("=", "-")
    label = variant(config, grid).replace(",", "_").replace("=", "-").replace("/", "_")
    order = config.scenario.class_order  # the --orders axis: random:K -> orderK (a configured order keeps the name)
    order = f"order{order.split(':', 1)[1]}-" if order.startswith("random:") else ""
    method = method_label(config.method)  # a reference's class name: a path is no directory name
    return f"{method}-{setting}-{config.scenario.tasks}-{label + '-' if label else ''}{order}seed{config.seed}"


def planned_steps(config: Config) -> int:
    """The optimisation steps a run of ``config`` trains in all (``train.task_steps`` over its split)."""
    split = parse_split(config.scenario.tasks)
    per_class = config.train.steps_per_class
    return per_class * sum(split) if per_class else config.train.steps * len(split)


def unchosen_methods(configs: list[Config], methods) -> str:
    """The refusal of a benchmark given no methods: what it would run (runs, steps, a CPU time estimate) and how
    to choose (``--methods``) or confirm (``--all``)."""
    steps = sum(planned_steps(c) for c in configs)
    hours = steps * SECONDS_PER_STEP / 3600
    return (f"no --methods given: the benchmark would run all {plural(len(methods), 'built-in method')}, "
            f"{plural(len(configs), 'run')}, {plural(steps, 'training step')} in all (about {hours:.1f} h at the "
            f"{SECONDS_PER_STEP} s a step of docs/speed.md's 2-core CPU); choose some with --methods finetune,lwf,... "
            "or run them all with --all")
