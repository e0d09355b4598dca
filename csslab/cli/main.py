"""The ``csslab`` command line: run, benchmark, report, scenario, methods and data, all on the Python API."""

from __future__ import annotations

import os
import sys

from csslab.training.checks import check_digits, check_memory
from csslab.training.spec import FLAGS, configure, validate
from csslab.cli.listing import cmd_cache, cmd_data, cmd_methods
from csslab.cli.parser import build_parser
from csslab.core.config import Config, apply_overrides
from csslab.core.files import check_output, new_run_dir
from csslab.core.words import plural
from csslab.store.rundir import BenchmarkDir, RunDir


def config_from_args(args) -> Config:
    """The configuration of the command's flags (``FLAGS``, typed as parsed) and then its ``--set`` overrides,
    over ``--config`` or the defaults."""
    config = Config.from_file(args.config) if getattr(args, "config", None) else Config()
    config = configure(config, {flag: getattr(args, flag, None) for flag in FLAGS})
    return apply_overrides(config, getattr(args, "overrides", []))


RUN_CONFIG_FLAGS = ("method", "tasks", "setting", "class_order", "data", "seed", "steps", "backbone", "device",
                    "protocol", "log", "precision", "config", "out", "overwrite")


def cmd_run(args) -> int:
    from csslab.methods import method_label
    from csslab.reports.budget import budget_text, budget_warning, run_budget
    from csslab.reports.tables import print_task
    from csslab.store.runstore import refusal
    from csslab.training.train import load_run_config, run

    if args.resume:
        given = [f"--{f.replace('_', '-')}" for f in RUN_CONFIG_FLAGS if getattr(args, f) not in (None, False)]
        if given or args.overrides:
            raise ValueError(f"--resume continues with {args.resume}/config.yaml: drop {(given or ['--set'])[0]}")
        out = args.resume
        config = load_run_config(out)
    else:
        config = config_from_args(args)
        out = args.out and check_output(args.out, "--out")
        if out:
            RunDir(out).check()  # a benchmark directory is never a run's, nor one another process writes
        if out and RunDir(out).has_results() and not args.overwrite:
            raise ValueError(refusal(out, config))
    spec = validate(config)  # once: the run trains with what it resolved
    if out is None:  # created now, so a run started in the same second gets another one
        out = new_run_dir("runs", f"{method_label(config.method)}-seed{config.seed}")
    budget = run_budget(spec.resolved)
    print(f"csslab run: {config.method} on {config.scenario.tasks} ({spec.scenario.setting.name}), "
          f"{budget_text(budget)} -> {out}")
    if warning := budget_warning(budget):  # the report says it too
        print(warning)
    try:
        results = run(spec, out=out, progress=not args.quiet, resume=bool(args.resume), on_task=print_task)
    except KeyboardInterrupt:
        print(f"csslab: interrupted; completed tasks are kept in {out} (continue: csslab run --resume {out})",
              file=sys.stderr)
        return 130
    d = results.data
    fmt = lambda v: "X" if v is None else f"{v:.3f}"  # noqa: E731
    print(f"\nfinal mIoU all {fmt(d['miou_all'])}  old {fmt(d['miou_old'])}  new {fmt(d['miou_new'])}  "
          f"avg {fmt(d['miou_avg'])}  base {fmt(d.get('miou_base'))}  added {fmt(d.get('miou_added'))}   "
          f"({d['timings']['total_s']:.1f} s)  results: {RunDir(out).results}")
    from csslab.reports import remove_run_report, write_run_report

    if args.no_report:  # a report of an earlier state of the run would show other numbers
        remove_run_report(out)
    else:
        write_run_report(out)
        print(f"report: {out / 'report.html'}")
    return 0


def cmd_benchmark(args) -> int:
    from csslab.reports.budget import budget_warning, run_budget
    from csslab.experiments.suites import get_suite, parse_splits
    from csslab.experiments.plan import (BenchmarkSpec, class_orders, parse_grid, parse_methods, parse_settings,
                                         unchosen_methods)
    from csslab.experiments.sweep import benchmark
    from csslab.reports.benchmark_table import benchmark_markdown

    check_output(args.out, "--out")
    BenchmarkDir(args.out).check()  # a run directory is never a benchmark's, nor one another process writes
    args.methods = (args.methods or "").strip()
    if args.all and args.methods:
        raise ValueError(f"--all runs every built-in method: drop it or --methods {args.methods}")
    suite = get_suite(args.suite) if args.suite else None
    if suite:  # the suite's defaults; a flag given on the command line wins
        args.methods, args.seeds = args.methods or ("" if args.all else suite.methods), args.seeds or suite.seeds
        args.tasks, args.settings = args.tasks or ",".join(suite.tasks), args.settings or suite.settings
        args.overrides = list(suite.overrides) + args.overrides
    planned = not args.methods and not args.all  # every method, not asked for: said, then refused
    methods = parse_methods(args.methods or "all")
    args.seeds = 3 if args.seeds is None else args.seeds
    if args.workers <= 0:
        raise ValueError(f"invalid --workers {args.workers}: must be a positive number of processes")
    if args.seeds <= 0:
        raise ValueError(f"invalid --seeds {args.seeds}: must be a positive number of seeds")
    splits = parse_splits(args.tasks) if args.tasks else None
    args.tasks = None  # the splits are an axis of the benchmark, not one configuration's value
    config = config_from_args(args)
    settings = parse_settings(args.settings or config.scenario.setting)
    grid = parse_grid(args.grid, methods)
    orders = class_orders(config, args.orders)
    spec = BenchmarkSpec(config, tuple(methods), tuple(range(args.seeds)), tuple(settings), args.out, grid=grid,
                         orders=args.orders, splits=splits and tuple(splits), ray=args.ray, workers=args.workers,
                         reuse=tuple(args.reuse), report=not args.no_report, run_reports=not args.no_run_reports,
                         overwrite=args.overwrite, shared_base=not args.no_shared_base)
    configs = spec.configs()
    for c in configs:  # every method x setting x order x grid point (seeds do not change validity), before any run
        if c.seed == 0:
            validate(c)
    if planned:
        raise ValueError(unchosen_methods(configs, methods))
    axes = f"{plural(len(orders), 'class order')} ({', '.join(orders)}) x " if len(orders) > 1 else ""
    print(f"csslab benchmark{' --suite ' + suite.name if suite else ''}: {plural(len(configs), 'run')} "
          f"({', '.join(methods)} x {plural(args.seeds, 'seed')} x {axes}{plural(len(settings), 'setting')}"
          f"{' x splits ' + ','.join(splits) if splits and len(splits) > 1 else ''}"
          f"{' x grid ' + ' '.join(args.grid) if grid else ''}) -> {args.out}"
          + (f" on Ray ({args.ray})" if args.ray else ""))
    notes = sorted({budget_warning(run_budget(c.to_dict())) for c in configs if c.seed == 0} - {None})
    for note in notes:
        print(note)
    rows = benchmark(spec)
    print(f"\n{benchmark_markdown(rows, rows.rankings, said=notes)}")  # the table, the ranking per class order
    print(f"\ntable: {BenchmarkDir(args.out).markdown}, {BenchmarkDir(args.out).csv}")
    return 0


def cmd_report(args) -> int:
    from csslab.reports import write_reports

    files = write_reports(args.paths, run_reports=args.run_reports)
    print(f"wrote {plural(len(files), 'file')}: " + ", ".join(str(f) for f in files if f.suffix == ".html"))
    return 0


MAX_SAMPLES = 20  # columns of the scenario grid; a wider figure is unreadable and slow to draw


def cmd_scenario(args) -> int:
    from csslab.scenarios import PRESETS, Scenario
    from csslab.reports.preview import describe, save_grid, save_shift_figure

    config = config_from_args(args)
    config.scenario.train_scenes = args.train_scenes
    scenario = Scenario.from_config(config.scenario, config.seed)  # checks the scenario options, --train-scenes too
    check_digits(scenario)  # as `csslab run` does: every class of the split has digits in the data
    check_memory(config.scenario)  # its statistics build every task's scenes
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
        rows = [Scenario.from_config(configure(config, {"setting": preset}).scenario, config.seed)
                for preset in PRESETS]
        index = save_shift_figure(rows, args.save_shift, args.scene)
        print(f"saved {args.save_shift} (test scene {index})")
    return 0


def cmd_new_method(args) -> int:
    from csslab.cli.new_method import method_class, write_method

    method, test = write_method(args.name, args.dir)
    print(f"wrote {method} and {test}\nrun it:   csslab run --method {method}:{method_class(args.name)} --tasks 5-5 "
          f"--steps 5\ntest it:  python -m pytest -q {test}")
    return 0


COMMANDS = {"run": cmd_run, "benchmark": cmd_benchmark, "report": cmd_report, "scenario": cmd_scenario,
            "methods": cmd_methods, "new-method": cmd_new_method, "data": cmd_data, "cache": cmd_cache}


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
    from csslab.training.train import TrainingError

    try:
        with warnings.catch_warnings():
            warnings.showwarning = _warning_line  # a notice is one line, as an error is
            return COMMANDS[args.command](args)
    except (ValueError, FileNotFoundError, NotADirectoryError, TrainingError) as error:
        print(f"csslab: error: {error}", file=sys.stderr)
        return 2 if not isinstance(error, TrainingError) else 1
    except BrokenPipeError:  # the reader of the output went away (`csslab methods | head`): nothing to report
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115  (the interpreter's final flush must not fail again)
        return 0
    except OSError as error:  # a fault of the file system: permission, read-only, full disk
        where = f": {error.filename}" if error.filename else ""
        print(f"csslab: error: {error.strerror or error}{where}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"csslab: {interrupted(args)}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
