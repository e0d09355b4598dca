"""Bring your own method (issue 28): a method in the user's file (``path/mine.py:Mine``), module (``pkg.mod:Mine``) or
installed plugin (entry-point group ``csslab.methods``) runs wherever a built-in does, to the same numbers, with its
code's digest recorded, and a broken reference is refused in one line before anything is written."""

import json
import re
from pathlib import Path

import pytest
from conftest import TINY_RUN, load_module, tiny_run

from csslab.cli.main import main
from csslab.methods import METHODS, get_method, method_source

# fine-tuning under another name: it must train to exactly the numbers of the built-in `finetune`
MINE = '''
from dataclasses import dataclass

from csslab.losses import cross_entropy
from csslab.methods import Method


@dataclass
class MineParams:
    lam: float = 1.0


class Mine(Method):
    """Cross-entropy on the task's labels, lam times (fine-tuning when lam is 1)."""

    name = "mine"
    Params = MineParams
    base_task = "ce"

    def loss(self, model, images, masks):
        return {"ce": self.params.lam * cross_entropy(model(images), masks)}


class Helper:
    pass
'''
BENCH = ["benchmark", "--seeds", "1", "--steps", "2", "--tasks", "5-5", "--no-report", "--set",
         "scenario.train_scenes=32", "--set", "scenario.test_scenes=30", "--set", "train.batch_size=8"]


@pytest.fixture
def mine(tmp_path) -> Path:
    """The method's file, in a folder outside the checkout."""
    path = tmp_path / "elsewhere" / "mine.py"
    path.parent.mkdir()
    path.write_text(MINE)
    return path


def numbers(run_dir) -> list:
    return [(t["confusion"], t["loss"]) for t in json.loads((Path(run_dir) / "results.json").read_text())["tasks"]]


def results(run_dir) -> dict:
    return json.loads((Path(run_dir) / "results.json").read_text())


def test_a_file_reference_trains_as_the_builtin_it_equals(tmp_path, mine):
    ref = f"{mine}:Mine"
    tiny_run(tmp_path / "mine", ref)
    tiny_run(tmp_path / "finetune", "finetune")
    assert numbers(tmp_path / "mine") == numbers(tmp_path / "finetune")
    data = results(tmp_path / "mine")
    assert data["config"]["method"] == ref and "method: " + ref in (tmp_path / "mine" / "config.yaml").read_text()
    assert data["versions"]["method"] == method_source(ref) and len(method_source(ref)) == 16
    assert "method" not in results(tmp_path / "finetune")["versions"]  # a built-in's code is csslab's
    assert "mine" not in METHODS  # a reference is not added to the registry


def test_a_module_reference_and_params_from_the_command_line(tmp_path, mine, monkeypatch):
    (tmp_path / "elsewhere" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    tiny_run(tmp_path / "r", "elsewhere.mine:Mine", "--set", "params.lam=2")
    data = results(tmp_path / "r")
    assert data["config"]["params"] == {"lam": 2.0} and data["versions"]["method"] == method_source(f"{mine}:Mine")
    assert numbers(tmp_path / "r") != numbers(tiny_run(tmp_path / "f", "finetune"))  # lam 2 is not fine-tuning


def test_the_notebook_api_and_the_papers_suite_take_a_reference(tmp_path, mine, capsys):
    import csslab

    scenario = csslab.make_scenario(tasks="5-5", train_scenes=16, test_scenes=20)
    ref = f"{mine}:Mine"
    a = csslab.run(ref, scenario=scenario, steps=2, lam=1.0, overrides=["train.batch_size=8", "train.threads=1"])
    b = csslab.run("finetune", scenario=scenario, steps=2, overrides=["train.batch_size=8", "train.threads=1"])
    assert a["config"]["method"] == ref and [t["confusion"] for t in a.tasks] == [t["confusion"] for t in b.tasks]
    out = tmp_path / "papers"
    assert main(["benchmark", "--suite", "papers", "--methods", f"mib,{ref}", "--tasks", "5-5", "--settings",
                 "overlap", "--seeds", "1", "--no-report", "--set", "train.steps_per_class=1", "--set",
                 "scenario.train_scenes=16", "--set", "scenario.test_scenes=20", "--set", "train.batch_size=8",
                 "--set", "train.threads=1", "--out", str(out)]) == 0
    assert "csslab benchmark --suite papers: 2 runs" in capsys.readouterr().out
    rows = json.loads((out / "benchmark.json").read_text())["rows"]
    assert [r["method"] for r in rows] == ["mib", "mine"]
    assert [len(t["loss"]) for t in results(out / "runs" / "mine-overlap-5-5-seed0")["tasks"]] == [1, 1]


def _plugin(root: Path, entry_points: str) -> None:
    """A distribution as pip installs one (its .dist-info beside its module) in ``root``, found by importlib.metadata
    once ``root`` is on sys.path."""
    info = root / "mine_plugin-0.3.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mine-plugin\nVersion: 0.3\n")
    (info / "entry_points.txt").write_text(f"[csslab.methods]\n{entry_points}")


def test_an_entry_point_plugin_is_listed_with_its_origin_and_runs_by_name(tmp_path, capsys, monkeypatch):
    root = tmp_path / "site"
    root.mkdir()
    (root / "mine_plugin.py").write_text(MINE.replace('name = "mine"', 'name = "plug"'))
    (root / "broken_plugin.py").write_text("import no_such_module_anywhere\n")
    _plugin(root, "plug = mine_plugin:Mine\nbroken = broken_plugin:Mine\nmib = mine_plugin:Mine\n")
    monkeypatch.syspath_prepend(str(root))
    assert main(["methods"]) == 0
    printed = capsys.readouterr().out
    assert "plug       Cross-entropy on the task's labels" in printed
    assert "origin: plugin mine-plugin 0.3 (mine_plugin:Mine)" in printed
    broken = [line for line in printed.splitlines() if line.startswith("broken")]
    assert len(broken) == 1 and "ModuleNotFoundError: No module named 'no_such_module_anywhere'" in broken[0]
    assert "broken_plugin.py, line 1" in broken[0]
    assert "mib        unusable: plugin mine-plugin 0.3 (mine_plugin:Mine) takes the name of a method" in printed
    assert get_method("mib") is METHODS["mib"]  # a plugin cannot replace a built-in
    tiny_run(tmp_path / "r", "plug")
    assert results(tmp_path / "r")["versions"]["method"].startswith("mine-plugin 0.3 file ")
    assert numbers(tmp_path / "r") == numbers(tiny_run(tmp_path / "f", "finetune"))
    assert main(["run", "--method", "broken", "--out", str(tmp_path / "b"), *TINY_RUN]) == 2
    assert "cannot load plugin method 'broken'" in capsys.readouterr().err and not (tmp_path / "b").exists()


def test_worker_processes_the_shared_base_and_the_table(tmp_path, mine, capsys):
    """--workers 2 (spawned processes that import only csslab) train the user's method to the numbers of this
    process; it shares the base (first task) with finetune, and the table and report name it."""
    methods = ["--methods", f"finetune,{mine}:Mine"]
    assert main([*BENCH, *methods, "--out", str(tmp_path / "one"), "--set", "train.threads=1"]) == 0
    assert main([*BENCH, *methods, "--out", str(tmp_path / "two"), "--workers", "2"]) == 0
    capsys.readouterr()
    rows = json.loads((tmp_path / "two" / "benchmark.json").read_text())["rows"]
    assert [r["method"] for r in rows] == ["finetune", "mine"]
    for run in ("finetune-overlap-5-5-seed0", "mine-overlap-5-5-seed0"):
        assert numbers(tmp_path / "one" / "runs" / run) == numbers(tmp_path / "two" / "runs" / run)
    assert len(list((tmp_path / "two" / "base").glob("ce-seed0-*.pt"))) == 1  # one base for both
    (tmp_path / "two" / "benchmark.html").unlink(missing_ok=True)
    assert main(["report", str(tmp_path / "two"), "--run-reports", "none"]) == 0
    assert '<td class="left">mine</td>' in (tmp_path / "two" / "benchmark.html").read_text()


def test_kill_9_resume_and_reuse_say_when_the_file_changed(tmp_path, mine, capsys):
    """A run of the user's method killed with SIGKILL after its first task resumes, after an edit of the file, to the
    numbers of an uninterrupted run, recording the new digest; a benchmark reusing the run says the code changed."""
    import signal

    from test_resume import ARGS, start, stop_after_first_task, tasks_done

    args = [*ARGS[2:], "--method", f"{mine}:Mine"]
    assert main(["run", "--out", str(tmp_path / "whole"), *args]) == 0
    proc = start(["run", "--out", str(tmp_path / "killed"), *args])
    stop_after_first_task(proc, tmp_path / "killed", signal.SIGKILL)
    proc.wait()
    assert 1 <= tasks_done(tmp_path / "killed") < 5, "the run must be killed between its first and last task"
    before = method_source(f"{mine}:Mine")
    mine.write_text(MINE + "\n# an edit that changes no number\n")
    after = method_source(f"{mine}:Mine")
    capsys.readouterr()
    assert main(["run", "--resume", str(tmp_path / "killed"), "--quiet", "--no-report"]) == 0
    assert "versions.method_resumed" in capsys.readouterr().out
    versions = results(tmp_path / "killed")["versions"]
    assert numbers(tmp_path / "killed") == numbers(tmp_path / "whole") and before != after
    assert versions["method"] == before and versions["method_resumed"][0].startswith(f"{after} from task ")
    bench = ["benchmark", "--seeds", "1", "--methods", f"{mine}:Mine", *args[:-2], "--out", str(tmp_path / "b")]
    bench.remove("--quiet")
    assert main([*bench, "--reuse", str(tmp_path / "whole")]) == 0
    assert f"made by other method code: {before}, this is {after}" in capsys.readouterr().out


@pytest.mark.parametrize(("text", "attr", "says"), [
    (None, "Mine", "is no such file"),
    (MINE, "Nope", "no class 'Nope' in .*mine.py \\(its methods: Mine\\)"),
    (MINE, "Helper", "Helper'> is not a subclass of csslab.methods.Method"),
    (MINE + "\ndef broken(:\n", "Mine", "SyntaxError: invalid syntax \\(.*mine.py, line {line}\\)"),
    ("import os\nimport no_such_module_anywhere\n", "Mine", "ModuleNotFoundError: .*\\(.*mine.py, line 2\\)"),
    (MINE + "\nraise RuntimeError('half-written')\n", "Mine",
     "RuntimeError: half-written \\(.*mine.py, line {line}\\)"),
    (MINE.replace('name = "mine"', 'name = "mib"'), "Mine", "name 'mib' of Mine is a built-in method's"),
    (MINE.replace("    def loss", "    def lost"), "Mine", "Mine is abstract \\(define loss\\)"),
    (MINE.replace('    name = "mine"\n', ""), "Mine", "invalid name 'method' of Mine: set name = "),
])
def test_a_bad_reference_is_one_line_and_writes_nothing(tmp_path, capsys, text, attr, says):
    path = tmp_path / "elsewhere" / "mine.py"
    if text is not None:
        path.parent.mkdir()
        path.write_text(text)
    for argv in (["run", "--method", f"{path}:{attr}", "--out", str(tmp_path / "out"), *TINY_RUN],
                 [*BENCH, "--methods", f"finetune,{path}:{attr}", "--out", str(tmp_path / "out")]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("csslab: error: ") and f" method '{path}:{attr}': " in err
        assert re.search(says.format(line=MINE.count("\n") + 2), err), err
        assert not (tmp_path / "out").exists()


def test_a_bad_module_reference_is_one_line(tmp_path, capsys, monkeypatch):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "mod.py").write_text("import os\nimport no_such_module_anywhere\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for ref, says in [("no_such_pkg.mod:Mine", "no module named 'no_such_pkg'"),
                      ("pkg.nope:Mine", "no module named 'pkg.nope'"),
                      ("pkg.mod:Mine",
                       "ModuleNotFoundError: No module named 'no_such_module_anywhere' (.*mod.py, line 2)"),
                      ("pkg.mod:", "invalid method reference 'pkg.mod:': expected path/to/file.py:Class")]:
        assert main(["run", "--method", ref, "--out", str(tmp_path / "out"), *TINY_RUN]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and re.search(says.replace("(", "\\(").replace(")", "\\)"), err), err
        assert not (tmp_path / "out").exists()


def test_ray_local_trains_it_to_the_same_numbers(tmp_path, mine, capsys, monkeypatch):
    pytest.importorskip("ray", reason="the Ray test needs the ray extra: pip install 'csslab[ray]'")
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    args = [*BENCH, "--methods", f"{mine}:Mine", "--set", "train.threads=1"]
    assert main([*args, "--out", str(tmp_path / "local")]) == 0
    assert main([*args, "--out", str(tmp_path / "ray"), "--ray", "local"]) == 0
    assert "(on Ray)" in capsys.readouterr().out
    run = "mine-overlap-5-5-seed0"
    assert numbers(tmp_path / "local" / "runs" / run) == numbers(tmp_path / "ray" / "runs" / run)


def test_new_method_writes_a_method_and_a_test_that_runs_it(tmp_path, capsys, monkeypatch):
    assert main(["new-method", "half-kd", "--dir", str(tmp_path / "mine")]) == 0
    assert "csslab run --method" in capsys.readouterr().out
    method, test = tmp_path / "mine" / "half_kd.py", tmp_path / "mine" / "test_half_kd.py"
    assert get_method(f"{method}:HalfKd").name == "half-kd"
    load_module(test, "test_half_kd").test_half_kd_runs_two_tasks(tmp_path / "t")
    assert main(["new-method", "half-kd", "--dir", str(tmp_path / "mine")]) == 2  # never overwrites
    assert main(["new-method", "mib", "--dir", str(tmp_path / "other")]) == 2
    assert "a built-in method's" in capsys.readouterr().err and not (tmp_path / "other").exists()
