"""Issue 29 item 7, a newcomer's command line: a benchmark given no methods says what it would run and stops; the
help lists the choices of the tables the checks read; one task numbering (0-based, as results.json) in the log
lines, the report and the figures; each warning once and short, in whole steps, with plurals."""

import json

import pytest

from csslab.cli.main import main
from csslab.cli.parser import build_parser
from csslab.core.config import PROTOCOLS
from csslab.core.precision import PRECISIONS
from csslab.core.words import plural, task_of
from csslab.data.digits import VALID_SOURCES
from csslab.experiments import sweep
from csslab.methods import METHODS
from csslab.model.network import BACKBONES
from csslab.reports.benchmark_table import BenchmarkRows
from csslab.scenarios import PRESETS
from csslab.training.tracking import SINKS

TINY = ["--steps", "3", "--set", "scenario.train_scenes=16", "--set", "scenario.test_scenes=20",
        "--set", "train.batch_size=8", "--set", "train.threads=1", "--set", "train.frame_scenes=8"]


def one_line(capsys) -> str:
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err.strip()


@pytest.mark.parametrize("given", [[], ["--methods", ""], ["--methods", " "]])
def test_a_benchmark_without_methods_says_what_it_would_run_and_stops(tmp_path, capsys, monkeypatch, given):
    monkeypatch.chdir(tmp_path)  # the default --out (runs/benchmark) would appear here
    assert main(["benchmark", *given]) == 2
    line = one_line(capsys)
    runs = len(METHODS) * 3  # every built-in x 3 seeds x the default setting, 1,250 steps each (250 x 5 tasks)
    assert f"all {len(METHODS)} built-in methods, {runs} runs, {runs * 1250:,} training steps in all" in line
    assert "--methods finetune,lwf" in line and "--all" in line
    assert list(tmp_path.iterdir()) == []  # nothing written
    assert main(["benchmark", "--seeds", "1", "--tasks", "5-5", "--steps", "10", *given]) == 2
    assert f"{len(METHODS)} runs, {len(METHODS) * 20:,} training steps" in one_line(capsys)


@pytest.fixture
def started(monkeypatch):
    """The specs ``csslab benchmark`` would run, kept instead of run (an empty table comes back)."""
    specs = []
    monkeypatch.setattr(sweep, "benchmark", lambda spec: specs.append(spec) or BenchmarkRows())
    return specs


@pytest.mark.parametrize("given, methods", [(["--all"], None), (["--methods", "all"], None),
                                             (["--methods", "lwf"], ("lwf",)),
                                             (["--suite", "papers"], "suite")])
def test_all_or_a_suite_or_named_methods_start_it(tmp_path, capsys, started, given, methods):
    from csslab.experiments.plan import parse_methods
    from csslab.experiments.suites import SUITES

    assert main(["benchmark", "--out", str(tmp_path / "b"), "--seeds", "1", *given]) == 0
    expected = {None: parse_methods("all"), "suite": parse_methods(SUITES["papers"].methods)}.get(methods, methods)
    assert [spec.methods for spec in started] == [tuple(expected)]
    assert "1 seed x" in capsys.readouterr().out  # not "1 seeds"


def test_all_and_methods_contradict(tmp_path, capsys):
    assert main(["benchmark", "--all", "--methods", "lwf", "--out", str(tmp_path / "b")]) == 2
    assert "--all runs every built-in method: drop it or --methods lwf" in one_line(capsys)
    assert list(tmp_path.iterdir()) == []


def _help(command: str, flag: str) -> str:
    sub = next(a for a in build_parser()._actions if a.dest == "command").choices[command]
    action = next(a for a in sub._actions if flag in a.option_strings)
    assert action.help, f"{command} {flag} has no help"
    return " ".join(action.help.split())


@pytest.mark.parametrize("command", ["run", "benchmark", "scenario"])
def test_help_lists_the_tables_the_checks_read(command, monkeypatch):
    for flag, table in (("--setting", PRESETS), ("--data", VALID_SOURCES.split())):
        assert all(str(name) in _help(command, flag) for name in table), (command, flag)
    assert " ".join(VALID_SOURCES.split()) in _help(command, "--data")  # embedded, mnist:DIR, fashion:DIR, ...
    if command != "scenario":
        for flag, table in (("--protocol", PROTOCOLS), ("--precision", PRECISIONS), ("--log", SINKS)):
            assert all(name in _help(command, flag) for name in table), (command, flag)
        monkeypatch.setitem(PRESETS, "brand-new", PRESETS["overlap"])  # generated: a new preset is listed at once
        assert "brand-new" in _help(command, "--setting")
    if command == "run":
        assert all(name in _help(command, "--method") for name in METHODS) and "finetune (default)" in _help(
            command, "--method")
        assert all(name in _help(command, "--backbone") for name in BACKBONES)
        monkeypatch.setitem(BACKBONES, "tiny", BACKBONES["fast"])
        assert "tiny" in _help(command, "--backbone")


def test_benchmark_set_and_all_have_help():
    assert "every run" in _help("benchmark", "--set") and "--grid" in _help("benchmark", "--set")
    assert "every built-in method" in _help("benchmark", "--all")


def test_plurals_and_task_names():
    assert [plural(n, "run") for n in (0, 1, 2, 1250)] == ["0 runs", "1 run", "2 runs", "1,250 runs"]
    assert task_of(0, 2) == "task 0 of 0..1" and task_of(4, 5) == "task 4 of 0..4"


def test_a_two_task_run_numbers_its_tasks_as_results_json_does(tmp_path, capsys, request):
    from csslab.reports import plots
    from csslab.reports.tables import RunData

    out = tmp_path / "r"
    assert main(["run", "--tasks", "5-5", "--out", str(out), *TINY]) == 0  # with progress lines and the report
    screen, progress = capsys.readouterr()
    indices = [entry["task"] for entry in json.loads((out / "results.json").read_text())["tasks"]]
    assert indices == [0, 1]
    report, page = (out / "report.md").read_text(), (out / "report.html").read_text()
    for k in indices:
        assert f"finetune task {k} of 0..1: step 1/3" in progress  # the progress lines
        assert f"### Task {k} of 0..1: classes" in screen and f"### Task {k} of 0..1: classes" in report
        assert f"Task {k} of 0..1: learns" in page
    for text in (screen, progress, report, page):
        assert "Task 2" not in text and "task 2" not in text  # no task numbered from 1
    assert "task 1/2" not in screen.lower() and "task 1/2" not in report.lower()
    figures = request.getfixturevalue("figures")  # drawn, not written (from here on)
    plots.plot_miou_per_task(RunData(out), tmp_path / "m.png")
    ticks = [t.get_text().split("\n")[0] for t in figures[-1].axes[0].get_xticklabels() if t.get_text()]
    assert ticks == [f"task {k}" for k in indices]
    assert screen.count("Warning") == 1 and "training step," in screen  # once, whole steps
    warning = next(line for line in screen.splitlines() if line.startswith("Warning"))
    assert len(warning) < 200 and "fewer than 1 training step" in warning
