"""The names of the files a run directory holds: the one place that spells them."""

from __future__ import annotations

from pathlib import Path

# the training logs (csv sink) beside the directory TENSORBOARD_DIR (tensorboard sink)
STEPS_CSV, METRICS_CSV, TENSORBOARD_DIR = "steps.csv", "metrics.csv", "tensorboard"
LOG_FILES = (STEPS_CSV, METRICS_CSV)

# the report's files (csslab.reports writes them)
RUN_FIGURES = {"iou_heatmap": "iou_heatmap.png", "miou_per_task": "miou_per_task.png", "losses": "losses.png",
               "background_shift": "background_shift.png", "training_labels": "training_labels.png",
               "iou_curves": "iou_curves.png", "confusion_gif": "confusion.gif", "predictions": "predictions.png",
               "predictions_gif": "predictions.gif"}
BENCHMARK_FIGURES = {"bars": "benchmark_miou.png", "shift": "benchmark_shift.png", "heatmaps": "benchmark_iou.png"}
# every file a report writes, in one list: what is removed when its numbers would no longer be the results'
RUN_REPORT_FILES = ("report.md", "report.html", *RUN_FIGURES.values())
BENCHMARK_REPORT_FILES = ("benchmark.html", *BENCHMARK_FIGURES.values())  # benchmark.md is the table (sweep's)


def remove_run_report(run_dir) -> None:
    """Delete a run's report (report.md/html, its PNGs and GIFs), e.g. when the run is trained again
    without one: a report left beside new results would show the old numbers."""
    for name in RUN_REPORT_FILES:
        (Path(run_dir) / name).unlink(missing_ok=True)
