import csv
import json

import pytest

from conftest import saved_as_before
from csslab.core.runtime import DEFAULT_THREADS
from csslab.cli.main import main
from csslab.core.config import Config
from csslab.store.results import Results
from csslab.store.runstore import same_config
from csslab.experiments.plan import parse_methods, parse_settings

ARGS = ["benchmark", "--methods", "finetune,joint", "--seeds", "2", "--steps", "2", "--no-report",
        "--set", "scenario.train_scenes=32", "--set", "scenario.test_scenes=30", "--set", "train.batch_size=8"]


def _results_stamps(out, runs) -> dict:
    """Each run's results.json modification time: equal before and after a call that only reuses the runs."""
    return {run: (out / run / "results.json").stat().st_mtime_ns for run in runs}


def test_benchmark_table_and_reuse(tmp_path, capsys):
    out = tmp_path / "bench"
    assert main(ARGS + ["--out", str(out)]) == 0
    printed = capsys.readouterr().out
    data = json.loads((out / "benchmark.json").read_text())
    rows = {r["method"]: r for r in data["rows"]}
    assert list(rows) == ["finetune", "joint"] and all(r["n_seeds"] == 2 for r in rows.values())
    assert len(data["runs"]) == 4
    # the table is the mean over seeds of each run's final figures
    finals = [Results.load(out / run).split_mious() for run in data["runs"][:2]]
    assert rows["finetune"]["all_mean"] == pytest.approx(sum(f["all"] for f in finals) / 2)
    assert rows["finetune"]["new_mean"] == pytest.approx(sum(f["new"] for f in finals) / 2)
    with open(out / "benchmark.csv") as f:
        assert [r["method"] for r in csv.DictReader(f)] == ["finetune", "joint"]
    assert "| finetune | overlap | 2-2-2-2-2 | 1 | 2 |" in printed
    # a re-run reuses every completed run: no results file is rewritten
    stamps = _results_stamps(out, data["runs"])
    assert main(ARGS + ["--out", str(out)]) == 0
    assert capsys.readouterr().out.count("(reused)") == 4
    assert stamps == _results_stamps(out, data["runs"])


def test_a_benchmark_grown_part_by_part_into_one_out_reuses_every_finished_part(tmp_path, capsys):
    # how a suite too long for one sitting runs in parts: one seed and one setting, then more seeds, then
    # more settings, into the same --out; each part trains only what the parts before it did not
    out = tmp_path / "bench"
    part = ARGS[:ARGS.index("--seeds")] + ARGS[ARGS.index("--seeds") + 2:] + ["--out", str(out)]
    assert main(part + ["--seeds", "1", "--settings", "overlap"]) == 0
    first = json.loads((out / "benchmark.json").read_text())["runs"]
    stamps = _results_stamps(out, first)
    capsys.readouterr()
    assert main(part + ["--seeds", "2", "--settings", "overlap"]) == 0
    assert capsys.readouterr().out.count("(reused)") == 2
    assert main(part + ["--seeds", "2", "--settings", "overlap,disjoint"]) == 0
    assert capsys.readouterr().out.count("(reused)") == 4
    data = json.loads((out / "benchmark.json").read_text())
    assert len(data["runs"]) == 8 and set(first) <= set(data["runs"])
    assert stamps == _results_stamps(out, first)
    assert {r["setting"] for r in data["rows"]} == {"overlap", "disjoint"}


def test_threads_0_is_saved_resolved_and_runs_saved_with_0_are_still_reused(tmp_path, capsys):
    out = tmp_path / "bench"
    args = ARGS[:4] + ["1"] + ARGS[5:] + ["--tasks", "8-2", "--methods", "finetune", "--out", str(out)]
    assert main(args) == 0
    run = out / json.loads((out / "benchmark.json").read_text())["runs"][0]
    saved = json.loads((run / "results.json").read_text())
    assert saved["config"]["train"]["threads"] == DEFAULT_THREADS > 0
    assert "threads: 0" not in (run / "config.yaml").read_text()
    saved["config"]["train"]["threads"] = 0  # as saved before threads were resolved: "all cores" here
    (run / "results.json").write_text(json.dumps(saved))
    capsys.readouterr()
    assert main(args) == 0
    assert "(reused)" in capsys.readouterr().out
    assert not same_config(saved["config"], replace_threads(saved["config"], DEFAULT_THREADS + 1))


def replace_threads(config: dict, threads: int) -> dict:
    return config | {"train": config["train"] | {"threads": threads}}


def test_method_and_setting_lists():
    assert parse_methods("joint,finetune")[0] == "finetune" and parse_methods("joint,finetune")[-1] == "joint"
    assert len(parse_settings("all")) == 7  # the six background-shift combinations and partitioned
    with pytest.raises(ValueError, match="'nope'"):
        parse_methods("finetune,nope")
    with pytest.raises(ValueError, match="'odd'"):
        parse_settings("overlap,odd")


def test_parallel_workers_give_the_same_table(tmp_path, capsys):
    """Two worker processes, one thread each, give what one process with one thread gives."""
    common = ARGS + ["--set", "train.threads=1"]
    assert main(common + ["--out", str(tmp_path / "one")]) == 0
    assert main(common + ["--out", str(tmp_path / "two"), "--workers", "2"]) == 0
    one = json.loads((tmp_path / "one" / "benchmark.json").read_text())["rows"]
    two = json.loads((tmp_path / "two" / "benchmark.json").read_text())["rows"]
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds_mean"} for r in rows]  # noqa: E731
    assert strip(one) == strip(two)
    with pytest.raises(SystemExit):
        main(["benchmark", "--workers", "x"])
    assert main(["benchmark", "--workers", "0", "--out", str(tmp_path / "z")]) == 2


def test_resolved_configurations_compare_what_trains():
    from csslab.core.config import Config, apply_overrides
    from csslab.store.runstore import resolved, same_config
    from csslab.core import runtime
    from csslab.experiments.plan import run_configs

    cli = Config()  # as a user writes it: switches null (the preset's), params empty
    bench = run_configs(Config(), ["finetune"], [0], parse_settings("overlap"))[0]  # switches written out
    assert bench.scenario.old_in_images is True and cli.scenario.old_in_images is None
    assert resolved(cli) == resolved(bench) == resolved(json.loads(json.dumps(bench.to_dict())))
    assert resolved(cli)["scenario"]["old_in_images"] is True and same_config(cli, bench.to_dict())
    replay = Config(method="replay")
    assert same_config(replay, apply_overrides(replay, ["params.memory_size=100"]))  # the default
    assert not same_config(replay, apply_overrides(replay, ["params.memory_size=50"]))
    keep = apply_overrides(cli, ["scenario.old_labels=keep"])
    assert not same_config(keep, cli)
    s = resolved(keep)["scenario"]
    assert (s["old_labels"], s["setting"]) == ("keep", "old=yes,future=yes,labels=keep,test=ignore")
    assert not same_config(apply_overrides(cli, ["scenario.setting=sequential"]), cli)
    other = runtime.default_threads() + 1  # not the default (0, resolved to it), on any machine
    assert not same_config(apply_overrides(cli, [f"train.threads={other}"]), cli)  # thread count changes the sums
    assert not same_config(cli, {"method": "renamed-since"}) and not same_config(cli, None)


def test_a_setting_matching_no_preset_is_saved_by_a_name_that_rebuilds_it():
    """Every combination of switches the benchmark runs: its configuration names it, and that name read
    back (config.yaml, --config) gives the same setting and the same resolved configuration."""
    from csslab.core.config import Config
    from csslab.store.runstore import resolved, setting_name
    from csslab.scenarios import Scenario, all_settings
    from csslab.experiments.plan import run_configs

    for config in run_configs(Config(), ["finetune"], [0], all_settings()):
        again = Config.from_yaml(config.to_yaml())
        assert Scenario.from_config(again.scenario).setting == Scenario.from_config(config.scenario).setting
        assert resolved(again) == resolved(config) and setting_name(again) == config.scenario.setting
    names = [c.scenario.setting for c in run_configs(Config(), ["finetune"], [0], all_settings())]
    assert "old=yes,future=yes,labels=keep,test=ignore" in names and "overlap" in names and "partitioned" in names


def test_reuse_copies_finished_runs_of_the_same_configuration(tmp_path, capsys):
    """A run made by `csslab run` (saved as older versions did: switches left null) is found under
    --reuse and copied, not re-run; the copy's numbers are the original's, and a configuration not
    found is run."""
    tiny = ["--steps", "2", "--no-report", "--set", "scenario.train_scenes=32", "--set", "scenario.test_scenes=30",
            "--set", "train.batch_size=8", "--tasks", "2-2"]
    source = tmp_path / "elsewhere" / "my-run"
    assert main(["run", "--method", "finetune", "--out", str(source), "--quiet"] + tiny) == 0
    saved_as_before(source)
    out = tmp_path / "bench"
    args = ["benchmark", "--methods", "finetune,joint", "--seeds", "1", "--out", str(out)] + tiny
    assert main(args + ["--reuse", str(tmp_path / "elsewhere")]) == 0
    printed = capsys.readouterr().out
    assert "finetune-overlap-2-2-seed0: copied from" in printed and "(reused)" in printed
    copied = json.loads((out / "runs" / "finetune-overlap-2-2-seed0" / "results.json").read_text())
    original = json.loads((source / "results.json").read_text())
    assert copied["tasks"] == original["tasks"]
    assert (out / "runs" / "joint-overlap-2-2-seed0" / "results.json").exists()  # not found: run
    assert "joint-overlap-2-2-seed0: copied" not in printed
    assert main(args + ["--reuse", str(tmp_path / "missing")]) == 2
    assert "missing" in capsys.readouterr().err


def test_reuse_with_workers_compares_the_threads_the_workers_use(tmp_path, capsys):
    """--workers 2 trains each run on one thread: a one-thread run made elsewhere is that run."""
    tiny = ["--steps", "2", "--no-report", "--set", "scenario.train_scenes=32", "--set", "scenario.test_scenes=30",
            "--set", "train.batch_size=8", "--tasks", "8-2"]
    source = tmp_path / "elsewhere" / "one-thread"
    assert main(["run", "--method", "finetune", "--out", str(source), "--quiet", "--set", "train.threads=1"] + tiny) == 0
    out = tmp_path / "bench"
    assert main(["benchmark", "--methods", "finetune", "--seeds", "1", "--workers", "2", "--out", str(out),
                 "--reuse", str(tmp_path / "elsewhere")] + tiny) == 0
    printed = capsys.readouterr().out
    assert "finetune-overlap-8-2-seed0: copied from" in printed and "(reused)" in printed


def test_a_run_saved_before_a_parameter_existed_is_not_the_same_run(tmp_path, capsys):
    """A run whose saved params lack one the method has today (DKD's head_lr, added with a new default) was
    trained by other code: --reuse does not copy it, --resume refuses it naming the parameter; a run saved
    with every parameter is still reused."""
    from csslab.store.runstore import resolved

    config = Config(method="dkd")
    saved = resolved(config)  # every parameter, as a run saves it
    assert same_config(saved, config) and same_config(config, Config(method="dkd").to_dict())
    del saved["params"]["head_lr"]
    assert not same_config(saved, config)
    tiny = ["--steps", "2", "--no-report", "--set", "scenario.train_scenes=32", "--set", "scenario.test_scenes=30",
            "--set", "train.batch_size=8", "--tasks", "2-2", "--set", "train.threads=1"]
    source = tmp_path / "elsewhere" / "dkd"
    assert main(["run", "--method", "dkd", "--out", str(source), "--quiet"] + tiny) == 0
    results = json.loads((source / "results.json").read_text())
    del results["config"]["params"]["head_lr"]  # as csslab saved it before head_lr existed
    (source / "results.json").write_text(json.dumps(results))
    out = tmp_path / "bench"
    assert main(["benchmark", "--methods", "dkd", "--seeds", "1", "--out", str(out),
                 "--reuse", str(tmp_path / "elsewhere")] + tiny) == 0
    assert "copied from" not in capsys.readouterr().out
    assert main(["run", "--resume", str(source)]) == 2
    assert "params.head_lr" in capsys.readouterr().err
