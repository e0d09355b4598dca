"""Many runs: methods x seeds x settings (x class orders x a hyper-parameter grid), run in this process or as tasks on
a Ray cluster, gathered into the comparison table the papers print (old / new / all after the last
task, avg). Completed runs are reused and interrupted ones resumed, so a re-run only does what is missing."""

from __future__ import annotations

import shutil
import time
import warnings
from pathlib import Path

import numpy as np

from csslab.core.words import plural
from csslab.core.runtime import resolve_threads
from csslab.core.config import Config
from csslab.experiments.distributed import run_on_ray, worker_lifetime
from csslab.core.files import atomic_write, write_json
from csslab.reports import (remove_benchmark_report, remove_run_report, write_benchmark_markdown,
                            write_benchmark_report, write_run_report)
from csslab.store.papers_csv import PLOP_KEYS, plop_averages
from csslab.experiments.plan import BenchmarkSpec, class_orders, variant
from csslab.training.pretrain import pretrain_once
from csslab.reports.benchmark_table import BenchmarkRows, benchmark_csv, selections
from csslab.reports.budget import benchmark_budget, row_budgets, run_budget
from csslab.store.results import split_mious
from csslab.methods import method_label
from csslab.store.rundir import BenchmarkDir, RunDir
from csslab.store.runstore import code_note, completed, foreign_runs, reuse_runs, saved_run, setting_name
from csslab.training.train import fit_task, run


def run_one(config_dict: dict, run_dir: str, report: bool = True, base: str | None = None) -> dict:
    """Train one configuration into ``run_dir`` (reusing a completed identical run); returns results data.
    A plain function of plain data, so it can run in another process or on a Ray worker. ``base``: the
    directory of shared base models (``csslab.training.shared_base``)."""
    config = Config.from_dict(config_dict)
    with RunDir(run_dir).lock():  # the run and its report, written by this process only
        return _run_one(config, Path(run_dir), report, base)


def _run_one(config: Config, run_dir: Path, report: bool, base: str | None) -> dict:
    saved = saved_run(run_dir, config)  # results.json read once: finished, interrupted, or None
    done = saved if saved is not None and saved.complete else None
    if saved is not None and not saved.complete and saved.tasks:  # interrupted: resume after its last task
        try:
            done = run(config, out=run_dir, progress=False, log=None, resume=True)
        except ValueError as error:  # e.g. a corrupt checkpoint: the run is redone from its first task
            warnings.warn(f"cannot resume {run_dir} ({error}); running it again", RuntimeWarning, stacklevel=2)
    if done is None:
        done = run(config, out=run_dir, progress=False, log=None, base=base)
    if done is not saved and report:
        write_run_report(run_dir)
    elif done is not saved:  # trained now without a report: one of the run's earlier state shows other numbers
        remove_run_report(run_dir)
    return done.data


def _mean_std(row: dict, key: str, values: list) -> None:
    v = np.array([np.nan if x is None else x for x in values], dtype=float)
    row[f"{key}_mean"] = float(np.nanmean(v)) if not np.isnan(v).all() else None
    row[f"{key}_std"] = float(np.nanstd(v)) if len(v) > 1 and not np.isnan(v).all() else None


def table_rows(entries: list[tuple[Config, dict, str]], grid: dict | None = None) -> list[dict]:
    """One row per (method, grid variant, setting, split) from (config, results data, run directory)
    entries: mean and std over its runs (seeds x class orders; n_runs, n_seeds, n_orders say how many),
    the averages PLOP's average_csv.py prints (``plop_*``, percent), and the runs it averages (so a report
    can label each run by its row)."""
    groups: dict[tuple, list] = {}
    for config, data, run_dir in entries:
        key = (method_label(config.method), variant(config, grid), setting_name(config), config.scenario.tasks)
        groups.setdefault(key, []).append((config, data, run_dir))
    rows = []
    for (method, label, setting, tasks), group in groups.items():
        values = [split_mious(data) for _, data, _ in group]
        plop = [plop_averages(data) for _, data, _ in group]
        row = {"method": method, "variant": label, "setting": setting, "tasks": tasks, "n_runs": len(group),
               "n_seeds": len({c.seed for c, _, _ in group}),
               "n_orders": len({c.scenario.class_order for c, _, _ in group})}
        for k in ("old", "new", "hiou", "all", "avg", "base", "added", "val_old", "val_new", "val_all"):
            if any(k in x for x in values):  # val_*: runs with a validation set
                _mean_std(row, k, [x.get(k) for x in values])
        for k in PLOP_KEYS:
            _mean_std(row, f"plop_{k}", [x[k] for x in plop])
        row["seconds_mean"] = float(np.mean([x["seconds"] for x in values]))
        row["runs"] = [run_dir for _, _, run_dir in group]
        rows.append(row)
    return rows


def order_rankings(entries: list[tuple[Config, dict, str]], grid: dict | None = None) -> list[dict]:
    """Per class order (and setting and split): the methods (with their grid variant) ranked by final mIoU
    all, mean over seeds, best first; a method's rank can change with the order (PLOP's 20 VOC orders)."""
    groups: dict[tuple, dict] = {}
    for config, data, _ in entries:
        key = (setting_name(config), config.scenario.tasks, config.scenario.class_order,
               data["config"]["scenario"]["class_order"])  # as configured (random:K), and the permutation itself
        groups.setdefault(key, {}).setdefault((method_label(config.method), variant(config, grid)), []).append(
            split_mious(data)["all"])
    rankings = []
    for (setting, tasks, order, permutation), methods in groups.items():
        means = {m: np.array([np.nan if v is None else v for v in vs], dtype=float) for m, vs in methods.items()}
        means = {m: float(np.nanmean(v)) if not np.isnan(v).all() else None for m, v in means.items()}
        ranked = sorted(means, key=lambda m: -np.inf if means[m] is None else means[m], reverse=True)
        rankings.append({"setting": setting, "tasks": tasks, "order": order, "class_order": permutation,
                         "ranking": [{"method": m, "variant": label, "all_mean": means[(m, label)],
                                      "n_seeds": len(methods[(m, label)])} for m, label in ranked]})
    return rankings


def progress_line(done: int, total: int, run_dir, data: dict, note: str) -> str:
    """The line logged as each run of a benchmark finishes, wherever it ran."""
    m = split_mious(data)
    return (f"[{done}/{total}] {Path(run_dir).name}: all {m['all']:.3f} old {m['old']:.3f} new {m['new']:.3f} "
            f"({note})")


def _run_local(configs, dirs, report: bool, workers: int, base: str | None = None):
    """(config, dir, results data, reused) in order; with workers > 1, runs go to that many processes."""
    reused = [completed(d, c) is not None for c, d in zip(configs, dirs)]
    if workers <= 1:
        for config, run_dir, was in zip(configs, dirs, reused):
            yield config, run_dir, run_one(config.to_dict(), str(run_dir), report=report, base=base), was
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), **worker_lifetime()) as pool:
        futures = [pool.submit(run_one, c.to_dict(), str(d), report, base) for c, d in zip(configs, dirs)]
        for config, run_dir, future, was in zip(configs, dirs, futures, reused):
            yield config, run_dir, future.result(), was


def claim(out: Path, configs, dirs, grid: dict | None, overwrite: bool) -> None:
    """Make ``out`` hold this benchmark's outputs only. Runs of other configurations there (another budget:
    ``runstore.foreign_runs``) are refused, naming the first difference; with ``overwrite``, they, the runs
    of configurations no longer in the benchmark and the benchmark's table and report are removed first.
    Runs of this benchmark's configurations are kept either way (reused, or resumed)."""
    bench = BenchmarkDir(out)
    foreign = foreign_runs(bench.runs, configs, dirs, grid or ())
    if foreign and not overwrite:
        run_dir, difference = foreign[0]
        more = f" and {plural(len(foreign) - 1, 'more run')}" if len(foreign) > 1 else ""
        raise ValueError(f"benchmark directory {out} holds runs of another configuration ({difference}, in "
                         f"runs/{run_dir.name}{more}): pass --overwrite to replace them, or another --out")
    if not overwrite:
        return
    stale = {run_dir for run_dir, _ in foreign}
    for run_dir in sorted(bench.runs.glob("*")) if bench.runs.is_dir() else ():
        if run_dir.is_dir() and (run_dir in stale or run_dir not in dirs):
            shutil.rmtree(run_dir)
    bench.remove_table()
    bench.remove_bases()  # a base of another budget would stay forever: the next run that needs one trains it
    remove_benchmark_report(out)


def benchmark(spec: BenchmarkSpec, log=print) -> BenchmarkRows:
    """Run every configuration of ``spec`` (reusing completed runs, resuming interrupted ones) in this process or
    on a Ray cluster (``BenchmarkSpec``); then write benchmark.json/.md/.csv (and the report) into ``spec.out``.
    With several class orders, the rows average over them, and benchmark.json/.md hold the methods' ranking per
    order. A directory holding runs of another configuration is refused, or with ``spec.overwrite`` cleared first
    (``claim``). A pretrained backbone (``model.pretrain``) is trained, or found in the cache, before any run
    starts. Returns the rows (a list that Jupyter shows as the table)."""
    out, grid, report, run_reports = Path(spec.out), spec.grid, spec.report, spec.run_reports
    configs = spec.configs()
    dirs = spec.run_dirs(configs)
    if len(set(dirs)) != len(dirs):
        raise ValueError("two configurations of the benchmark map to the same run directory: check --grid and "
                         "--orders")
    if spec.workers > 1 and not spec.ray:  # before anything compares configurations: the threads are part of them
        for config in configs:  # on a small CPU two one-thread runs side by side beat one two-thread run
            if not config.train.threads:
                config.train.threads = 1
    for config in configs:  # here, not where it runs: a Ray worker's own default is another number
        config.train.threads = resolve_threads(config.train.threads)
    bench = BenchmarkDir(out)
    bench.check()
    with bench.lock():  # one writer: a second benchmark here, or a re-run while another still writes, is refused
        claim(out, configs, dirs, grid, spec.overwrite)
        if spec.reuse:
            reuse_runs(configs, dirs, spec.reuse, log)
        start = time.perf_counter()
        # model.pretrain: the weights every run loads, trained here once rather than by several workers at once
        pretrain_once([c for c, d in zip(configs, dirs) if completed(d, c) is None], log, progress=log is not None,
                      fit=fit_task)
        bases = str(bench.base) if spec.shared_base else None  # the shared base models' directory
        if spec.ray:
            finished = []

            def on_result(i, data):
                finished.append(i)
                if log:
                    log(progress_line(len(finished), len(configs), dirs[i], data, "on Ray"))

            calls = [(c.to_dict(), str(d), report and run_reports, bases) for c, d in zip(configs, dirs)]
            datas = run_on_ray(spec.ray, run_one, calls, on_result=on_result)
        else:
            datas = []
            for i, (config, run_dir, data, reused) in enumerate(_run_local(configs, dirs, report and run_reports,
                                                                           spec.workers, bases)):
                datas.append(data)
                if log:
                    note = f"reused{code_note(run_dir)}" if reused else f"{data['timings']['total_s']:.0f} s"
                    log(progress_line(i + 1, len(configs), run_dir, data, note))
        names = [d.relative_to(out).as_posix() for d in dirs]
        entries = list(zip(configs, datas, names))
        rows = BenchmarkRows(table_rows(entries, grid))
        row_budgets(rows, {name: run_budget(data["config"], data["tasks"]) for name, data in zip(names, datas)})
        rows.rankings = order_rankings(entries, grid)
        write_json(bench.json, {"rows": rows, "runs": names, "seconds": time.perf_counter() - start,
                                "grid": grid or {}, "orders": class_orders(spec.base, spec.orders),
                                "order_ranking": rows.rankings, "budget": benchmark_budget(rows),
                                "selected_on_validation": selections(rows)})
        atomic_write(bench.csv, benchmark_csv(rows))
        if report:  # benchmark.md too
            write_benchmark_report(out, run_reports="missing" if run_reports else "none")
        else:  # the page and charts of an earlier benchmark here would show other numbers than the table
            write_benchmark_markdown(out)
            remove_benchmark_report(out)
        return rows
