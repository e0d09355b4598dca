"""Self-contained HTML pages: every image embedded as a data URI, inline CSS, no script, no network."""

from __future__ import annotations

import base64
import html
import os
from pathlib import Path

from csslab.core.words import task_of
from csslab.reports.benchmark_table import benchmark_table, n_runs, ranking_summary, ranking_table, several_orders
from csslab.reports.budget import benchmark_lines, budget_text, budget_warning, seeds_caption
from csslab.store.cells import MISSING, fmt, table
from csslab.reports.tables import RunData

CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; color: #1d1d1f;
       max-width: 1180px; margin: 0 auto; padding: 16px 24px 48px; background: #fff; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { margin-top: 1.8em; border-bottom: 1px solid #ddd; }
.meta, figcaption, .note { color: #555; font-size: 0.9em; }
.cards { display: flex; gap: 12px; flex-wrap: wrap; margin: 14px 0; }
.card { border: 1px solid #ddd; border-radius: 8px; padding: 8px 16px; min-width: 110px; }
.card b { display: block; font-size: 1.5em; } .card span { color: #555; font-size: 0.85em; }
figure { margin: 18px 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
table { border-collapse: collapse; margin: 8px 0 14px; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: right; } th { background: #f5f5f7; }
td.x { color: #bbb; } td.new { font-weight: bold; } td.left, th.left { text-align: left; }
details { margin: 6px 0; } summary { cursor: pointer; font-weight: 600; }
.note { background: #fff8e1; border-left: 4px solid #f0b400; padding: 6px 12px; }
.warning { background: #fdecea; border-left: 4px solid #d93025; padding: 6px 12px; color: #5f1410; }
.budget { background: #f5f5f7; padding: 6px 12px; font-size: 0.9em; }
.row { display: flex; flex-wrap: wrap; gap: 0 20px; align-items: flex-start; }
.row figure { flex: 1 1 440px; }
pre { background: #f5f5f7; padding: 10px; overflow-x: auto; font-size: 0.85em; }
"""

MIME = {".png": "image/png", ".gif": "image/gif"}


def data_uri(path) -> str:
    path = Path(path)
    return f"data:{MIME[path.suffix]};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def page(title: str, body: list[str]) -> str:
    return "\n".join([
        "<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<link rel="icon" href="data:,">',  # no favicon request
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>", *body, "</body></html>", "",
    ])


def figure(path, caption: str, alt: str) -> str:
    return (f'<figure><img src="{data_uri(path)}" alt="{html.escape(alt)}">'
            f"<figcaption>{caption}</figcaption></figure>")


def _task_tables(run: RunData, entry: dict) -> str:
    seen = {"background"} | {str(c) for c in entry.get("old_classes", []) + entry.get("classes", [])}
    new = {str(c) for c in entry.get("classes", [])}

    def row(label, values):
        values = values or {}
        return [label] + [(MISSING, "x") if n not in seen else (fmt(values.get(n)), "new" if n in new else "")
                          for n in run.class_names]

    k = entry.get("task", 0)
    summary = (f"{task_of(k, run.n_tasks).capitalize()}: learns {entry.get('classes', '?')}, old "
               f"{entry.get('old_classes') or '-'} — mIoU all {fmt(entry.get('miou_all'))}, "
               f"old {fmt(entry.get('miou_old'))}, new {fmt(entry.get('miou_new'))}"
               + (f", base {fmt(entry['miou_base'])}, added {fmt(entry.get('miou_added'))}" if "miou_base" in entry
                  else ""))
    parts = [f"<details{' open' if k == len(run.tasks) - 1 else ''}><summary>{html.escape(summary)}</summary>",
             table(["Overall Acc", "Mean Acc", "Mean IoU"],
                   [[fmt(entry.get("overall_acc")), fmt(entry.get("mean_acc")), fmt(entry.get("miou_all"))]]),
             table([""] + run.short_names, [row(name, entry.get(key)) for name, key in
                                            (("Class IoU", "iou"), ("Class Acc", "acc")) if entry.get(key) is not None],
                   left=1)]
    parts += [f"<p>{name}: not in this results.json.</p>" for name, key in (("Class IoU", "iou"), ("Class Acc", "acc"))
              if entry.get(key) is None]  # an older results.json: said so, not drawn as a row of X
    if entry.get("loss"):
        parts.append(table(["loss term"] + list(entry["loss"]), [["mean over the task"] +
                                                                  [fmt(v, 4) for v in entry["loss"].values()]], left=1))
    return "\n".join(parts) + "</details>"


def run_html(run: RunData, images: dict, notes: list[str], config_text: str | None) -> str:
    """report.html of a run; ``images`` maps a figure's name to its file (absent figures are skipped)."""
    d = run.data
    final = run.tasks[-1]
    cards = [("mIoU all", d.get("miou_all", final.get("miou_all")), "background + all seen classes"),
             ("mIoU old", d.get("miou_old", final.get("miou_old")), "classes of earlier tasks"),
             ("mIoU new", d.get("miou_new", final.get("miou_new")), "classes of the last task"),
             ("mIoU avg", d.get("miou_avg"), "mean of mIoU all over tasks"),
             ("forgetting", run.mean_forgetting, "best − final IoU, mean over old classes")]
    cards += [(f"mIoU {k[5:]}", final[k], what) for k, what in (  # absent from runs saved before them
        ("miou_base", "task 0's classes (the papers' old)"), ("miou_added", "classes added after task 0 (the papers' new)"))
        if k in final]
    status = f"{len(run.tasks)} of {run.n_tasks} tasks" + ("" if d.get("complete", True) else " (incomplete run)")
    body = [f"<h1>{html.escape(run.title)}</h1>",
            f'<p class="meta">Report of the run directory <code>{html.escape(str(run.path))}</code>: {status}. '
            "All numbers are on the test scenes; IoU = intersection over union of a class's pixels.</p>",
            f'<p class="budget" id="budget"><b>Budget</b>: {html.escape(budget_text(run.budget))}.</p>']
    if warning := budget_warning(run.budget):
        body.append(f'<p class="warning" id="budget-warning">{html.escape(warning)}</p>')
    body.append('<div class="cards">' + "".join(f"<div class=\"card\"><span>{html.escape(a)}</span><b>{fmt(v)}</b>"
                                              f"<span>{html.escape(c)}</span></div>" for a, v, c in cards) + "</div>")
    body += [f'<p class="note">{html.escape(n)}</p>' for n in notes]

    def fig(name, caption, alt):
        if images.get(name):
            body.append(figure(images[name], caption, alt))

    body.append("<h2>After each task</h2>")
    fig("iou_heatmap", "IoU of every class on the test set after each task. Red boxes: the classes that task "
        "learns; grey: classes not seen yet. Fading columns are forgotten classes.", "IoU heatmap, task by class")
    body.append('<div class="row">')
    fig("miou_per_task", "Mean IoU after each task over all seen classes, over the old ones and over the new ones "
        "(the axis starts below 0, so a line at 0 shows).", "mean IoU per task")
    fig("losses", "Each loss term's mean over each task's training steps: what results.json records of training "
        "(every step's terms are in steps.csv, written by the default --log csv).", "training loss per task")
    body.append("</div>")
    fig("background_shift", "Where test pixels went after each task. Left: pixels of old classes, still right, "
        "taken for another old class, for a new class, or for background (background shift). Right: background "
        "pixels, kept as background or taken for a digit (a model that paints background as a digit shows here).",
        "background shift per task")
    if d.get("forgetting"):
        body += ["<h3>Forgetting per class</h3>",
                 '<p class="meta">Best IoU before the last task minus the final IoU (positive: forgotten; '
                 f"{MISSING}: not seen before the last task).</p>",
                 table(run.short_names, [[(fmt(d["forgetting"].get(n)), "x" if d["forgetting"].get(n) is None
                                           else "") for n in run.class_names]])]
    body.append("<h2>Training labels</h2>")
    fig("training_labels", "What each task's training masks say, in this run's setting: the same test scene as each "
        "task would label it (faded where the setting keeps it out of that task's scenes), then some of the "
        "task's own training scenes. Faint grey strokes are digits labelled background. A method may relabel "
        "further (pseudo-labels, a memory).", "training labels of each task")
    body.append("<h2>During training</h2>")
    fig("iou_curves", "IoU of each class during training on a fixed subset of test scenes; dashed lines mark the "
        "start of a task.", "per-class IoU over training")
    fig("confusion_gif", "The confusion matrix over training (rows: true class, columns: predicted class, each row "
        "sums to 100%). A red banner marks the start of a task.", "confusion matrix animation")
    fig("predictions_gif", "Predictions on fixed test scenes over training. Faint grey strokes are digits the "
        "model calls background.", "prediction animation")
    fig("predictions", "The same scenes at the end of each task (the last frame saved in each task).",
        "predictions after each task")
    body.append("<h2>Per-task tables</h2>")
    body.append(f'<p class="meta">The original notebook\'s tables; {MISSING}: class not seen yet; bold: classes the '
                "task learns.</p>")
    body += [_task_tables(run, entry) for entry in run.tasks]
    body.append("<h2>Run</h2>")
    if d.get("timings"):
        body.append(table(list(d["timings"]), [[fmt(v, 1) for v in d["timings"].values()]]))
        body.append('<p class="meta">Seconds spent training, evaluating and preparing data.</p>')
    if d.get("versions"):
        body.append('<p class="meta">' + html.escape(", ".join(f"{k} {v}" for k, v in d["versions"].items())) + "</p>")
    if config_text:
        body.append(f"<details><summary>Configuration (config.yaml)</summary><pre>{html.escape(config_text)}</pre>"
                    "</details>")
    return page(f"csslab report: {run.title}", body)


def benchmark_html(bench_dir: Path, bench: dict, title: str, images: dict, runs: list[tuple[str, Path | None]]) -> str:
    """benchmark.html: the comparison table, its figures, and a link to every run's report."""
    bench_rows = bench.get("rows", [])
    head, rows = benchmark_table(bench_rows)
    budget, *more = benchmark_lines(bench_rows) or ["Budget: not recorded (written by an older csslab)."]
    body = [f"<h1>{html.escape(title)}</h1>",
            f'<p class="meta">Benchmark directory <code>{html.escape(str(bench_dir))}</code>. '
            f"{html.escape(seeds_caption(bench_rows))} On the test scenes.</p>",
            f'<p class="budget" id="budget"><b>Budget</b>: {html.escape(budget.removeprefix("Budget: "))}</p>']
    body += [f'<p class="warning">{html.escape(line)}</p>' for line in more]
    body.append(table(head, rows, left=3))
    rankings = bench.get("order_ranking") or []
    if several_orders(rankings):
        body.append(f'<p class="meta">Ranking per class order. {html.escape(ranking_summary(rankings))}</p>')
        body.append(table(*ranking_table(rankings), left=5))
    several = any(n_runs(row) >= 2 for row in bench_rows)
    if images.get("bars"):
        body.append(figure(images["bars"], "Final mIoU of old classes, new classes and all classes per method"
                           + ("; error bars: standard deviation over the runs of a row (seeds x class orders, rows "
                              "with several)" if several else
                              " (one seed per row: no error bars)")
                           + "; dashed and dotted lines: mIoU all of joint training (the upper bound) and of "
                           "fine-tuning (the lower bound), where the benchmark has them.", "mIoU per method"))
    if images.get("shift"):
        body.append(figure(images["shift"], "The background-shift diagnostic after the last task, per setting and "
                           "method (first seed): the share of old-class test pixels predicted as background, as a "
                           "new class, as another old class, or correctly.", "background shift per setting"))
    if images.get("heatmaps"):
        body.append(figure(images["heatmaps"], "IoU of every class after each task, written in each cell, one run "
                           "per method (its first seed).", "IoU heatmaps per method"))
    body.append("<h2>Runs</h2><ul>")
    for label, report in runs:
        if report is not None:
            href = html.escape(Path(os.path.relpath(report, bench_dir)).as_posix())
            body.append(f'<li><a href="{href}">{html.escape(label)}</a></li>')
        else:
            body.append(f"<li>{html.escape(label)} <span class=\"meta\">(no report)</span></li>")
    body.append("</ul>")
    return page(title, body)
