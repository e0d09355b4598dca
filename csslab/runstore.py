"""Runs on disk: which configuration a run directory holds, whether it is complete or was
interrupted, and reuse of finished runs across benchmarks (compared by canonical configuration, so a
run is never trained twice however its configuration was written)."""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path

from csslab.config import Config
from csslab.methods import get_method
from csslab.results import Results
from csslab.scenarios import make_setting


def resolved_setting(config: Config):
    """The Setting a configuration trains under: its preset with the switches it sets."""
    s = config.scenario
    return make_setting(s.setting, old_in_images=s.old_in_images, future_in_images=s.future_in_images,
                        old_labels=s.old_labels, test_future=s.test_future)


def setting_name(config: Config) -> str:
    """The preset's name, or the switches' when they match no preset (``benchmark --settings all``)."""
    return resolved_setting(config).name


def canonical(config: Config | dict) -> dict:
    """A configuration as JSON data with nothing left implicit, for comparing runs: the method's
    parameters with their defaults, and the setting's four switches resolved from its preset (``csslab
    run`` leaves them null, a benchmark writes them out), named by what they are. Two configurations
    with equal canonical forms train the same run. For comparison only: the name of a preset-less
    combination of switches is not a preset a configuration could be loaded with."""
    config = Config.from_dict(config) if isinstance(config, dict) else config
    setting = resolved_setting(config)
    data = config.to_dict()
    data["scenario"] |= {"setting": setting.name} | asdict(setting)  # the four switches
    data["params"] = vars(get_method(config.method).make_params(config.params))
    return json.loads(json.dumps(data))


def same_run(results: Results, config: Config) -> bool:
    try:
        return canonical(results["config"]) == canonical(config)
    except (KeyError, TypeError, ValueError):  # a results file of another version or a since-renamed method
        return False


def saved_run(run_dir: Path, config: Config) -> Results | None:
    """The results saved in ``run_dir`` if they are of this configuration (however it was written),
    finished or not; else None."""
    try:
        results = Results.load(run_dir)
    except (FileNotFoundError, ValueError):
        return None
    return results if same_run(results, config) else None


def completed(run_dir: Path, config: Config) -> Results | None:
    """The saved results of a finished run of this configuration, else None."""
    results = saved_run(run_dir, config)
    return results if results is not None and results.complete else None


def completed_runs(roots) -> dict[str, Path]:
    """Every finished run under the directories ``roots`` (searched recursively), by its canonical
    configuration; the first found wins when several ran the same configuration."""
    found = {}
    for root in roots:
        root = Path(root)
        if not root.is_dir():
            raise ValueError(f"--reuse {root}: no such directory (expected a directory holding csslab runs)")
        for path in sorted(root.rglob("results.json")):
            try:
                results = Results.load(path.parent)
                key = json.dumps(canonical(results["config"]), sort_keys=True) if results.complete else None
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
        shutil.copytree(source, tmp, dirs_exist_ok=True)
        if run_dir.exists():
            shutil.rmtree(run_dir)
        tmp.rename(run_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def reuse_runs(configs, dirs, roots, log=print) -> None:
    """Copy into each run directory a finished run of its configuration found under ``roots``, unless
    the directory already holds one."""
    found = completed_runs(roots)
    for config, run_dir in zip(configs, dirs):
        source = found.get(json.dumps(canonical(config), sort_keys=True))
        if source is not None and source.resolve() != run_dir.resolve() and completed(run_dir, config) is None:
            copy_run(source, run_dir)
            if log:
                log(f"{run_dir.name}: copied from {source}")
