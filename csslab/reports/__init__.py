"""Reports of saved runs and benchmarks: markdown tables, PNG plots, GIF animations, one HTML page.

Everything here reads what training wrote (results.json, frames.npz, benchmark.json) and never
trains or evaluates; ``csslab report DIR...`` calls ``write_reports``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from csslab.core.files import atomic_write
from csslab.store.rundir import (BENCHMARK_FIGURES, BENCHMARK_REPORT_FILES, RUN_FIGURES, RUN_REPORT_FILES,
                                  BenchmarkDir, RunDir, remove_run_report)
from csslab.reports.benchmark_table import benchmark_markdown, method_label
from csslab.reports.budget import merge, seeds_caption
from csslab.reports.tables import RunData, fmt, run_markdown

__all__ = ["write_run_report", "write_benchmark_report", "write_reports", "remove_run_report",
           "remove_benchmark_report", "write_benchmark_markdown", "RUN_REPORT_FILES", "BENCHMARK_REPORT_FILES"]

RUN_REPORTS = ("missing", "all", "none")


def remove_benchmark_report(bench_dir) -> None:
    """Delete a benchmark's report (benchmark.html and its figures); the runs' reports are theirs."""
    BenchmarkDir(bench_dir).remove_report()


def write_run_report(run_dir) -> list[Path]:
    """Write report.md, the PNG plots, the GIFs and report.html into ``run_dir``; returns the files.

    Older run directories work too: without frames.npz the curves and animations are skipped (the
    page says so), without background-shift data or losses their charts are skipped. A figure this
    report does not draw is removed, so no figure of an earlier report survives beside it.
    """
    from csslab.reports import animate, html, plots, preview, shift

    run = RunData(run_dir)
    files = RunDir(run.path)
    images: dict[str, Path | None] = {}
    notes: list[str] = []
    images["iou_heatmap"] = plots.plot_iou_heatmap(run, files.figure("iou_heatmap"))
    images["miou_per_task"] = plots.plot_miou_per_task(run, files.figure("miou_per_task"))
    images["losses"] = plots.plot_losses(run, files.figure("losses"))
    images["background_shift"] = shift.plot_background_shift(run, files.figure("background_shift"))
    if images["background_shift"] is None and any(t.get("old_classes") for t in run.tasks):
        notes.append("This results.json holds no background-shift data (written by an older csslab): "
                     "the background-shift chart is skipped.")
    images["training_labels"], note = preview.plot_training_labels(run, files.figure("training_labels"))
    notes += [note] if note else []
    frames = run.frames
    if frames is None:
        notes.append(_no_frames_note(run))
    else:
        images["iou_curves"] = plots.plot_iou_curves(run, files.figure("iou_curves"))
        images["confusion_gif"] = animate.confusion_gif(run, files.figure("confusion_gif"))
        if {"pred", "truth", "images"} <= set(frames):
            images["predictions"] = plots.plot_predictions(run, files.figure("predictions"))
            images["predictions_gif"] = animate.predictions_gif(run, files.figure("predictions_gif"))
        else:
            notes.append("frames.npz holds no predictions: the prediction grid and animation are skipped.")
    for name in RUN_FIGURES:
        if images.get(name) is None:
            files.figure(name).unlink(missing_ok=True)
    figures = [p for p in images.values() if p is not None]
    report_md = atomic_write(files.report_md, run_markdown(run, figures))
    config = files.config
    report_html = atomic_write(files.report_html,
                               html.run_html(run, images, notes, config.read_text() if config.exists() else None))
    return figures + [report_md, report_html]


def _no_frames_note(run: RunData) -> str:
    """Why a run has no frames: ``train.frame_every`` above its steps saved none, else an older csslab."""
    skipped = "the IoU curves over training, the animations and the prediction grid are skipped"
    every = (run.config.get("train") or {}).get("frame_every")
    steps = sum(t["steps"] for t in run.tasks if isinstance(t.get("steps"), int))
    if isinstance(every, int) and not isinstance(every, bool) and every > steps > 0 \
            and not RunDir(run.path).frames.exists():
        return (f"No frame was saved: train.frame_every ({every}) is above the run's {steps} training steps, so "
                f"{skipped} (a frame_every of at most {steps}, or 0, saves them).")
    return (f"This run directory has no readable frames.npz (written by an older csslab, or with no frame saved): "
            f"{skipped}.")


def _read_benchmark(bench_dir: Path) -> dict:
    file = BenchmarkDir(bench_dir).json
    try:
        bench = json.loads(file.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"unreadable benchmark file {file}: {error}") from None
    if not isinstance(bench, dict) or not isinstance(bench.get("rows", []), list) \
            or not all(isinstance(row, dict) for row in bench.get("rows", [])):
        raise ValueError(f"invalid benchmark file {file}: expected an object with a list of 'rows'")
    for i, row in enumerate(bench.get("rows", [])):  # a NaN mean would read as X, "not seen"
        for key, value in row.items():
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"invalid benchmark file {file}: row {i + 1}'s {key!r} is {value!r}, expected a "
                                 "finite number or null")
    return bench


def _seed_order(run: RunData):
    return (0, run.seed, "") if isinstance(run.seed, int) else (1, 0, str(run.seed))


def write_benchmark_report(bench_dir, run_reports: str = "missing") -> list[Path]:
    """Write benchmark.md, the comparison charts and benchmark.html (linking every run's report.html).

    ``run_reports``: write the runs' own reports when they have none ("missing"), always ("all"),
    or never ("none").
    """
    from csslab.reports import benchmark_plots, html, shift

    if run_reports not in RUN_REPORTS:
        raise ValueError(f"invalid run_reports={run_reports!r}: valid values are {', '.join(RUN_REPORTS)}")
    bench_dir = Path(bench_dir)
    bench = _read_benchmark(bench_dir)
    title = bench.get("name") or f"Benchmark {bench_dir.resolve().name}"
    loaded: dict[str, RunData | str] = {}  # each listed run, or why it cannot be read
    listed = [rel for row in bench.get("rows", []) for rel in row.get("runs", ())]
    for rel in dict.fromkeys([*bench.get("runs", []), *listed]):
        try:
            loaded[rel] = RunData(bench_dir / rel)
        except ValueError as error:
            loaded[rel] = str(error)
    # a benchmark's rows are its runs on disk: a row averaging a run that is gone (or unreadable) is left out
    rows, notes = [], []
    for row in bench.get("rows", []):
        lost = [rel for rel in row.get("runs", ()) if not isinstance(loaded[rel], RunData)]
        if lost:
            notes.append(f"{method_label(row)} on {row.get('tasks')} ({row.get('setting')}) left out: its run"
                         f"{'s' if len(lost) > 1 else ''} {', '.join(lost)} not on disk or unreadable (the same "
                         "csslab benchmark command trains them again)")
        else:
            rows.append(row)
    # each row lists its runs; a run no row lists (an older benchmark.json) is grouped by method and scenario
    row_of = {rel: i for i, row in enumerate(rows) for rel in row.get("runs", ())}
    written: list[Path] = []
    runs: list[tuple[object, str, RunData]] = []  # (the row it belongs to, its label, the run)
    links: list[tuple[str, Path | None]] = [(note, None) for note in notes]
    for rel in bench.get("runs", []):
        path, run = bench_dir / rel, loaded[rel]
        if not isinstance(run, RunData):
            links.append((f"{rel} (unreadable: {run})", None))
            continue
        if rel in listed and rel not in row_of:  # its row is left out
            continue
        report = RunDir(path).report_html
        if run_reports == "all" or (run_reports == "missing" and not report.exists()):
            written += write_run_report(path)
        i = row_of.get(rel)
        label = method_label(rows[i]) if i is not None else run.method
        runs.append((i if i is not None else (run.method, run.setting, run.split), label, run))
        links.append((f"{label} on {run.split} ({run.setting}), seed {run.seed}: mIoU all "
                      f"{fmt(run.data.get('miou_all'))}, old {fmt(run.data.get('miou_old'))}, "
                      f"new {fmt(run.data.get('miou_new'))}", report if report.exists() else None))

    order = [(r.get("method"), r.get("setting"), r.get("tasks")) for r in rows]
    rank = lambda key: key if isinstance(key, int) else order.index(key) if key in order else len(order)  # noqa: E731
    budgets: dict[int, list[dict]] = {}  # the budgets of each row's runs, for rows that do not carry theirs
    for key, _, run in runs:
        budgets.setdefault(rank(key), []).append(run.budget)
    for i, row in enumerate(rows):
        if not row.get("budget") and budgets.get(i):  # a benchmark.json of an older csslab
            row["budget"] = merge(budgets[i])[0]
    images: dict[str, Path | None] = {}
    if rows:
        images["bars"] = benchmark_plots.plot_benchmark_bars(rows, BenchmarkDir(bench_dir).figure("bars"))
    firsts: dict[object, tuple[str, RunData]] = {}  # one run per row: its lowest seed
    for key, label, run in runs:
        if key not in firsts or _seed_order(run) < _seed_order(firsts[key][1]):
            firsts[key] = (label, run)
    chosen = [firsts[key] for key in sorted(firsts, key=rank)]
    images["shift"] = shift.plot_benchmark_shift(chosen, BenchmarkDir(bench_dir).figure("shift"))
    if chosen:
        images["heatmaps"] = benchmark_plots.plot_benchmark_heatmaps(chosen, BenchmarkDir(bench_dir).figure("heatmaps"))
    for name in BENCHMARK_FIGURES:
        if images.get(name) is None:
            BenchmarkDir(bench_dir).figure(name).unlink(missing_ok=True)
    md = write_benchmark_markdown(bench_dir, {**bench, "rows": rows}, [p for p in images.values() if p is not None],
                                  notes)
    page = atomic_write(BenchmarkDir(bench_dir).html,
                        html.benchmark_html(bench_dir, {**bench, "rows": rows}, title, images, links))
    return written + [p for p in images.values() if p is not None] + [md, page]


def write_benchmark_markdown(bench_dir, bench: dict | None = None, figures=(), notes=()) -> Path:
    """Write benchmark.md (the one writer of the file): the title, the seeds' caption, the ``notes`` (rows left
    out), the table of ``bench`` (benchmark.json's data, read when not given) with the ranking per class order,
    and links to the ``figures`` drawn."""
    bench = _read_benchmark(Path(bench_dir)) if bench is None else bench
    rows = bench.get("rows", [])
    title = bench.get("name") or f"Benchmark {Path(bench_dir).resolve().name}"
    return atomic_write(BenchmarkDir(bench_dir).markdown, "\n".join([
        f"# {title}", "", seeds_caption(rows), "", *(f"**{note}.**\n" for note in notes),
        benchmark_markdown(rows, bench.get("order_ranking")),
        *(f"\n![{p.stem}]({p.name})" for p in figures)]) + "\n")


def write_reports(paths, run_reports: str = "all") -> list[Path]:
    """Reports of each run directory (holds results.json) or benchmark directory (holds benchmark.json).

    Every directory is checked before any file is written (``RunData``, ``_read_benchmark``), so a refusal of
    the second leaves the first without a half-new report."""
    kinds = []
    for path in map(Path, paths):
        if BenchmarkDir(path).json.is_file():
            _read_benchmark(path)
            kinds.append((path, True))
        elif RunDir(path).has_results():
            RunData(path)
            kinds.append((path, False))
        else:
            raise ValueError(f"{path} is neither a run directory (no results.json) nor a benchmark directory "
                             "(no benchmark.json)")
    written: list[Path] = []
    for path, bench in kinds:
        with (BenchmarkDir(path) if bench else RunDir(path)).lock():  # one writer: not while a run writes it
            written += write_benchmark_report(path, run_reports=run_reports) if bench else write_run_report(path)
    return written
