"""The layout of the directories csslab writes: a run directory (``RunDir``) and a benchmark directory
(``BenchmarkDir``). The one place that spells their file names, says which kind a directory is, clears
a run's outputs, and locks a directory while one process writes it (docs/architecture.md).

A run directory::

    config.yaml        the resolved configuration
    results.json       metrics per task (the run is complete when its last task is in it)
    results.csv        the same per-task IoUs in PLOP's CSV layout (csslab.store.papers_csv)
    frames.npz         confusion matrices and predictions over training (csslab.store.frames)
    checkpoints/task-N.pt   model (and method state) after task N
    steps.csv, metrics.csv, tensorboard/   the training logs (csslab.training.tracking)
    report.md, report.html and figures     the run's report (csslab.reports)

A benchmark directory: benchmark.json/.md/.csv (the table), runs/NAME (one run directory per run),
base/ (the shared base models, csslab.training.shared_base) and the benchmark's report.
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from csslab.store.lock import DirectoryLock, holder
from csslab.store.papers_csv import CSV_NAME

# the training logs (csv sink) beside the directory TENSORBOARD_DIR (tensorboard sink)
STEPS_CSV, METRICS_CSV, TENSORBOARD_DIR = "steps.csv", "metrics.csv", "tensorboard"
LOG_FILES = (STEPS_CSV, METRICS_CSV)
CONFIG, RESULTS, FRAMES, CHECKPOINTS = "config.yaml", "results.json", "frames.npz", "checkpoints"
RUN_FILES = (CONFIG, RESULTS, CSV_NAME, FRAMES)  # beside checkpoints/task-N.pt, the logs and the report

# the report's files (csslab.reports writes them)
RUN_FIGURES = {"iou_heatmap": "iou_heatmap.png", "miou_per_task": "miou_per_task.png", "losses": "losses.png",
               "background_shift": "background_shift.png", "training_labels": "training_labels.png",
               "iou_curves": "iou_curves.png", "confusion_gif": "confusion.gif", "predictions": "predictions.png",
               "predictions_gif": "predictions.gif"}
BENCHMARK_FIGURES = {"bars": "benchmark_miou.png", "shift": "benchmark_shift.png", "heatmaps": "benchmark_iou.png"}
# every file a report writes, in one list: what is removed when its numbers would no longer be the results'
RUN_REPORT_FILES = ("report.md", "report.html", *RUN_FIGURES.values())
BENCHMARK_REPORT_FILES = ("benchmark.html", *BENCHMARK_FIGURES.values())  # benchmark.md is the table's
BENCHMARK_JSON, BENCHMARK_MD, BENCHMARK_CSV = "benchmark.json", "benchmark.md", "benchmark.csv"
BENCHMARK_FILES = (BENCHMARK_JSON, BENCHMARK_MD, BENCHMARK_CSV)  # the table
RUNS, BASE = "runs", "base"


def kind_of(path) -> str | None:
    """"run" (a config.yaml or results.json), "benchmark" (a benchmark.json or runs/) or None (neither)."""
    path = Path(path)
    if (path / CONFIG).is_file() or (path / RESULTS).is_file():
        return "run"
    if (path / BENCHMARK_JSON).is_file() or (path / RUNS).is_dir():
        return "benchmark"
    return None


class _Directory:
    kind = ""

    def __init__(self, path):
        self.path = Path(path)

    def __fspath__(self) -> str:
        return os.fspath(self.path)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"

    def check_kind(self, flag: str = "--out") -> None:
        """Refuse (ValueError, one line) a directory of the other kind: a run is never written into a benchmark
        directory, nor a benchmark into a run directory."""
        found = kind_of(self.path)
        if found is not None and found != self.kind:
            other = "benchmark" if self.kind == "run" else "run"
            raise ValueError(f"invalid {flag} {self.path}: it is a {found} directory (it holds "
                             f"{RESULTS if found == 'run' else BENCHMARK_JSON + ' or ' + RUNS + '/'}), "
                             f"not a {self.kind} directory; give the {self.kind} another --out "
                             f"(a {other} directory is never mixed with a {self.kind})")

    def check(self, flag: str = "--out") -> None:
        """Before anything is computed: refuse (ValueError, one line) a directory of the other kind
        (``check_kind``) or one another process is writing (naming its pid)."""
        self.check_kind(flag)
        pid = None if self.lock().held else holder(self.path)
        if pid is not None:
            raise ValueError(f"{self.kind} directory {self.path} is being written by another csslab process "
                             f"(pid {pid if pid > 0 else 'unknown'}): wait for it to finish, or choose another "
                             f"{flag}")

    def lock(self) -> DirectoryLock:
        """The lock one writer holds while it writes this directory (``csslab.store.lock``)."""
        return DirectoryLock(self.path, self.kind)


class RunDir(_Directory):
    """One run's directory: a path per file it holds, the kind check, ``clear`` and the writer's lock."""

    kind = "run"

    config = property(lambda self: self.path / CONFIG)
    results = property(lambda self: self.path / RESULTS)
    results_csv = property(lambda self: self.path / CSV_NAME)
    frames = property(lambda self: self.path / FRAMES)
    checkpoints = property(lambda self: self.path / CHECKPOINTS)
    steps_csv = property(lambda self: self.path / STEPS_CSV)
    metrics_csv = property(lambda self: self.path / METRICS_CSV)
    tensorboard = property(lambda self: self.path / TENSORBOARD_DIR)
    report_md = property(lambda self: self.path / "report.md")
    report_html = property(lambda self: self.path / "report.html")

    @staticmethod
    def staged(path: Path) -> Path:
        """Where a log is written before results.json and renamed from after it (``.steps.csv.next``): the logs
        never hold a task results.json does not, yet a crash between the two leaves the last task's steps."""
        return path.with_name(f".{path.name}.next")

    def checkpoint(self, index: int) -> Path:
        """The checkpoint written after task ``index`` (0-based)."""
        return self.checkpoints / f"task-{index}.pt"

    def figure(self, name: str) -> Path:
        """A report figure by its name in ``RUN_FIGURES``."""
        return self.path / RUN_FIGURES[name]

    def read_frames(self) -> dict | None:
        """frames.npz as a dict of arrays (the one reader of the file: resume, reports, scripts); None when there
        is none. Raises ValueError (one line) when it cannot be read."""
        if not self.frames.is_file():
            return None
        try:
            with open(self.frames, "rb") as stream, np.load(stream, allow_pickle=False) as npz:
                return {k: npz[k] for k in npz.files}
        except Exception as error:  # a truncated file fails in zipfile, zlib or numpy's header parser
            cause = " ".join(str(error).split())  # one line, whatever the library wrote
            raise ValueError(f"corrupt frames file {self.frames} ({type(error).__name__}: {cause})") from None

    def has_results(self) -> bool:
        return self.results.is_file()

    def temporary_files(self) -> list[Path]:
        """Temporary files of atomic writes that a killed process left behind (the real files are intact)."""
        return [tmp for folder in (self.path, self.checkpoints) if folder.is_dir() for tmp in folder.glob(".*.tmp")]

    def remove_report(self) -> None:
        """Delete the run's report (report.md/html, its PNGs and GIFs), e.g. when the run is trained again
        without one: a report left beside new results would show the old numbers."""
        for name in RUN_REPORT_FILES:
            (self.path / name).unlink(missing_ok=True)

    @contextmanager
    def writing(self, clean: bool = True, keep=()):
        """Hold the directory for one run (refusing a benchmark directory, and a directory another process
        writes). With ``clean``, an error before the first task's results are saved (a refusal: bad data,
        memory, a missing package) removes what the run wrote, and the directory itself when it held nothing
        before, so that no directory holding only config.yaml is left; an interruption (Ctrl-C) and the errors
        of ``keep`` leave it for ``--resume``."""
        self.check()
        with self.lock():
            try:
                yield self
            except BaseException as error:
                if clean and not isinstance(error, (KeyboardInterrupt, *keep)) and not self.has_results():
                    self.clear()
                raise

    def clear(self) -> None:
        """Remove every output of the run held here (config, results, frames, checkpoints, logs, report), so
        that nothing of it survives beside a new run written here; other files are left alone."""
        for name in RUN_FILES + LOG_FILES:
            (self.path / name).unlink(missing_ok=True)
            self.staged(self.path / name).unlink(missing_ok=True)
        shutil.rmtree(self.tensorboard, ignore_errors=True)
        for checkpoint in self.checkpoints.glob("task-*.pt"):
            checkpoint.unlink()
        if self.checkpoints.is_dir() and not any(self.checkpoints.iterdir()):
            self.checkpoints.rmdir()
        self.remove_report()


class BenchmarkDir(_Directory):
    """A benchmark's directory: its table, its runs' directories, the shared bases and its report."""

    kind = "benchmark"

    json = property(lambda self: self.path / BENCHMARK_JSON)
    markdown = property(lambda self: self.path / BENCHMARK_MD)
    csv = property(lambda self: self.path / BENCHMARK_CSV)
    html = property(lambda self: self.path / "benchmark.html")
    runs = property(lambda self: self.path / RUNS)
    base = property(lambda self: self.path / BASE)

    def run(self, name: str) -> RunDir:
        return RunDir(self.runs / name)

    def figure(self, name: str) -> Path:
        """A report figure by its name in ``BENCHMARK_FIGURES``."""
        return self.path / BENCHMARK_FIGURES[name]

    def remove_report(self) -> None:
        """Delete the benchmark's report (benchmark.html and its figures); the runs' reports are theirs."""
        for name in BENCHMARK_REPORT_FILES:
            (self.path / name).unlink(missing_ok=True)

    def remove_table(self) -> None:
        for name in BENCHMARK_FILES:
            (self.path / name).unlink(missing_ok=True)

    def remove_bases(self) -> None:
        """Delete the shared base models (trained again by the next run that needs one)."""
        shutil.rmtree(self.base, ignore_errors=True)


def remove_run_report(run_dir) -> None:
    """``RunDir(run_dir).remove_report()``."""
    RunDir(run_dir).remove_report()
