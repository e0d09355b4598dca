"""Runs on disk: which configuration a run directory holds, whether it is complete or was
interrupted, and reuse of finished runs across benchmarks (compared by resolved configuration, so a
run is never trained twice however its configuration was written)."""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path

from csslab.core.runtime import resolve_threads
from csslab.core.config import Config, ModelConfig
from csslab.methods import get_method, method_source
from csslab.store.results import Results
from csslab.scenarios import Scenario
from csslab.store.lock import LOCK_NAME
from csslab.store.rundir import RESULTS, RunDir
from csslab.core.version import code_digest

def setting_name(config: Config) -> str:
    """The name of the setting a configuration trains under: a preset's, or the switches' compact name
    (``benchmark --settings all``), whichever way it was written."""
    return Scenario.from_config(config.scenario, config.seed).setting.name


def resolved(config: Config | dict, saved: bool = False, scenario: Scenario | None = None, params=None) -> dict:
    """A configuration as a run saves it, with nothing left implicit, as JSON data: the scenario as
    ``Scenario.config()`` writes it (the setting's switches explicit, its name derived from them)
    and the method's parameters with their defaults. Two configurations train the same run exactly
    when their resolved forms are equal, however they were written (e.g. with the null switches, "the
    preset's", of runs saved before the setting was saved resolved). ``train.threads`` 0 ("all cores",
    as runs were saved before threads were resolved) becomes this process's number (``resolve_threads``); without
    ``model.pretrain``, its other options are their defaults. A ``saved`` configuration (a run's, read from
    disk: runs save every parameter) whose ``params`` lack some of the method's current parameters was written
    by an older csslab, before they existed: its resolved form names them (``saved_without``), so it is never
    the same run as today's (a parameter added since, e.g. DKD's ``head_lr``, changed what the code did, and
    its default cannot stand in for it). ``scenario`` and ``params``: the configuration's, when already built
    (``csslab.training.spec.validate``)."""
    saved_params = config.get("params") if saved and isinstance(config, dict) else None
    if isinstance(config, dict):
        config = Config.from_dict(config)
    elif not isinstance(config, Config):  # e.g. a results file without one
        raise TypeError(f"expected a Config or a config dict, not {type(config).__name__}")
    scenario = (scenario or Scenario.from_config(config.scenario, config.seed)).config()
    if params is None:
        params = get_method(config.method).make_params(config.params, config.model.pretrain)
    train = asdict(config.train) | {"threads": resolve_threads(config.train.threads)}
    model = asdict(config.model) | {"pretrain_steps": config.model.pretrain_budget()}  # 0 written as the budget
    if config.model.pretrain == "none":  # the pretraining's options change nothing then
        model = asdict(ModelConfig(backbone=config.model.backbone))
    data = config.to_dict() | {"scenario": asdict(scenario), "params": vars(params), "train": train, "model": model}
    missing = set(vars(params)) - set(saved_params) if isinstance(saved_params, dict) else set()
    if missing:
        data["saved_without"] = sorted(f"params.{key}" for key in missing)
    return json.loads(json.dumps(data))


# keys of a configuration that change no number: a run is the same run whatever they say (a finished run is
# not trained again to get other logs: csslab/training/tracking.py)
NOT_NUMBERS = ("train.log",)


def numbers_key(config: Config | dict, saved: bool = False) -> dict:
    """``resolved(config)`` without the keys that change no number (``NOT_NUMBERS``): equal exactly when two
    configurations give the same numbers (``saved``: as ``resolved``)."""
    data = resolved(config, saved)
    for key in NOT_NUMBERS:
        section, name = key.split(".")
        data[section].pop(name, None)
    return data


def same_config(saved: Config | dict, b: Config | dict) -> bool:
    """Whether a run's saved configuration (a config dict as read from disk, or a Config) and another train the
    same run."""
    try:
        return numbers_key(saved, saved=True) == numbers_key(b)
    except (KeyError, TypeError, ValueError):  # a results file of another version or a since-renamed method
        return False


def _flat(data: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in data.items():
        if isinstance(value, dict) and value:
            flat |= _flat(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def first_difference(a: Config | dict, b: Config | dict, ignore=()) -> tuple[str, object, object] | None:
    """The first key (``section.key``, in the order a configuration is saved) whose resolved value differs
    between two configurations, with both values; None when they train the same run. ``ignore``: keys
    or whole sections (``params``) left out of the comparison. ``a`` is the saved one (``resolved``)."""
    def flat(config, saved=False):
        try:
            return _flat(resolved(config, saved))
        except (KeyError, TypeError, ValueError):  # another version's or a since-renamed method's: as written
            return _flat(config.to_dict() if isinstance(config, Config) else config if isinstance(config, dict) else {})

    fa, fb = flat(a, saved=True), flat(b)
    for key in list(fa) + [k for k in fb if k not in fa]:
        if any(key == i or key.startswith(f"{i}.") for i in (*ignore, *NOT_NUMBERS)):
            continue
        if key not in fa or key not in fb or fa[key] != fb[key]:
            return key, fa.get(key), fb.get(key)
    return None


def difference_text(there: Config | dict, here: Config | dict, ignore=()) -> str:
    """``train.steps is 20 there, 30 here``: the first difference of a saved configuration (there) and
    a new one (here), for the message that refuses to mix them ('' when there is none)."""
    found = first_difference(there, here, ignore)
    if found is None:
        return ""
    show = lambda v: "not set" if v is None else v if isinstance(v, str) else json.dumps(v)  # noqa: E731
    return f"{found[0]} is {show(found[1])} there, {show(found[2])} here"


def saved_config(run_dir: Path) -> dict | None:
    """The configuration of the results saved in ``run_dir``; None when it holds none (or none readable)."""
    try:
        return Results.load(run_dir)["config"]
    except (FileNotFoundError, KeyError, ValueError):
        return None


def refusal(run_dir: Path, config: Config) -> str:
    """Why ``csslab run`` will not write into ``run_dir``, which holds results: the first difference of
    their configuration and this one, or that they are this configuration's, and what to do instead."""
    saved = saved_config(run_dir)
    if saved is None:
        return (f"run directory {run_dir} already holds results (unreadable): pass --overwrite to replace them, "
                "or another --out")
    if difference := difference_text(saved, config):
        return (f"run directory {run_dir} already holds results of another configuration ({difference}): "
                "pass --overwrite to replace them, or another --out")
    return (f"run directory {run_dir} already holds results of this configuration: continue an interrupted run "
            f"with --resume {run_dir}, run it again with --overwrite, or choose another --out")


def clear_run(run_dir: Path) -> None:
    """``RunDir(run_dir).clear()``: every output of the run held in ``run_dir`` removed, other files left alone."""
    RunDir(run_dir).clear()


# what differs between the runs of one benchmark (with its grid's axes): any other key is the benchmark's own
VARYING = ("method", "seed", "params", "scenario.setting", "scenario.old_in_images", "scenario.future_in_images",
           "scenario.old_labels", "scenario.test_future", "scenario.instances")


def foreign_runs(root: Path, configs, dirs, varying=()) -> list[tuple[Path, str]]:
    """The run directories under ``root`` that hold results of another configuration than the benchmark
    about to run there, each with its first difference: a planned directory (``dirs[i]`` for
    ``configs[i]``) of another configuration, or an unplanned one whose configuration differs from the
    benchmark's in a key no run of it varies (``VARYING`` and the grid's axes ``varying``): another
    budget. Runs of the same budget (another method, seed or grid point) are not foreign."""
    planned = dict(zip(map(Path, dirs), configs))
    found = []
    for run_dir in sorted(p for p in Path(root).glob("*") if p.is_dir() and not p.name.startswith(".")):
        saved = saved_config(run_dir)
        if saved is None or not configs:
            continue
        config = planned.get(run_dir)
        text = (difference_text(saved, config) if config is not None
                else difference_text(saved, configs[0], VARYING + tuple(varying)))
        if text:
            found.append((run_dir, text))
    return found


def saved_run(run_dir: Path, config: Config) -> Results | None:
    """The results saved in ``run_dir`` if they are of this configuration (however it was written),
    finished or not; else None."""
    try:
        results = Results.load(run_dir)
    except (FileNotFoundError, ValueError):
        return None
    return results if same_config(results["config"], config) else None


def resumable(run_dir: Path, config: Config | dict) -> dict | None:
    """The results data to continue the run in ``run_dir`` from (complete or not), or None to start at
    task 0 (nothing saved yet); results of another configuration are an error."""
    if not RunDir(run_dir).has_results():
        return None  # killed before its first task was saved
    data = Results.load(run_dir).data
    if not same_config(data.get("config"), config):
        raise ValueError(f"cannot resume {run_dir}: its results.json was written with another configuration "
                         f"({difference_text(data.get('config'), config)})")
    return data if data.get("tasks") else None


def completed(run_dir: Path, config: Config) -> Results | None:
    """The saved results of a finished run of this configuration, else None."""
    results = saved_run(run_dir, config)
    return results if results is not None and results.complete else None


def completed_runs(roots) -> dict[str, Path]:
    """Every finished run under the directories ``roots`` (searched recursively), by its resolved
    configuration; the first found wins when several ran the same configuration."""
    found = {}
    for root in roots:
        root = Path(root)
        if not root.is_dir():
            raise ValueError(f"--reuse {root}: no such directory (expected a directory holding csslab runs)")
        for path in sorted(root.rglob(RESULTS)):
            try:
                results = Results.load(path.parent)
                key = json.dumps(numbers_key(results["config"], saved=True), sort_keys=True) if results.complete else None
            except (FileNotFoundError, KeyError, TypeError, ValueError):
                continue
            if key is not None:
                found.setdefault(key, path.parent)
    return found


def copy_run(source: Path, run_dir: Path) -> None:
    """Copy a finished run into ``run_dir`` (replacing what is there) through a temporary directory, so
    an interrupted copy never looks like a finished run."""
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=run_dir.parent, prefix=f".{run_dir.name}-"))
    try:
        shutil.copytree(source, tmp, dirs_exist_ok=True, ignore=shutil.ignore_patterns(LOCK_NAME))
        if run_dir.exists():
            shutil.rmtree(run_dir)
        tmp.rename(run_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def code_note(run_dir: Path) -> str:
    """'' when the code running now made the run, else what the copy should say of it (the configuration is the
    same, so its numbers are comparable unless that code computed them differently): csslab's code, and a method's
    from a file or a plugin (``versions.method``)."""
    data = Results.load(run_dir).data
    versions, notes = data.get("versions", {}), []
    made, now = versions.get("code"), code_digest()
    if made != now:
        notes.append(f"made by other code: csslab code {made or 'unrecorded'}, this is {now}")
    method = method_source(data["config"]["method"])
    if method is not None and versions.get("method") != method:
        notes.append(f"made by other method code: {versions.get('method') or 'unrecorded'}, this is {method}")
    return f" ({'; '.join(notes)})" if notes else ""


def reuse_runs(configs, dirs, roots, log=print) -> None:
    """Copy into each run directory a finished run of its configuration found under ``roots``, unless
    the directory already holds one."""
    found = completed_runs(roots)
    for config, run_dir in zip(configs, dirs):
        source = found.get(json.dumps(numbers_key(config), sort_keys=True))
        if source is not None and source.resolve() != run_dir.resolve() and completed(run_dir, config) is None:
            copy_run(source, run_dir)
            if log:
                log(f"{run_dir.name}: copied from {source}{code_note(run_dir)}")
