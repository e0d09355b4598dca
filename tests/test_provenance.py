"""A run records the code that made it (``versions.code``), and says so when it is copied or resumed by other code."""

import json
import shutil
from pathlib import Path

import pytest

import csslab
from csslab.store import runstore
from csslab.training import pretrain, train
from csslab.cli.main import main
from csslab.core.config import Config
from csslab.training.train import run
from csslab.core.version import code_digest
from conftest import load_module
from test_resume import StopAfter


def _copied_package(tmp_path) -> Path:
    package = tmp_path / "csslab"
    shutil.copytree(Path(csslab.__file__).parent, package, ignore=shutil.ignore_patterns("__pycache__"))
    return package


def _version_of(package: Path):
    """The copied package's ``csslab.core.version`` module, loaded from its files."""
    return load_module(package / "core" / "version.py", "copied_version")


def _digest_of(package: Path) -> str:
    return _version_of(package).code_digest()


def test_the_code_digest_follows_every_source_file_and_nothing_else(tmp_path):
    package = _copied_package(tmp_path)
    first = _digest_of(package)
    assert first == code_digest() and len(first) == 16 and int(first, 16) >= 0
    (package / "notes.txt").write_text("not code")
    assert _digest_of(package) == first
    losses = package / "losses" / "softmax.py"
    losses.write_text(losses.read_text() + "\n# an edit\n")
    assert _digest_of(package) != first  # a subpackage's module counts too


def test_the_pretrained_cache_follows_the_network_code(tmp_path):
    package = _copied_package(tmp_path)
    module = _version_of(package)
    files = [package / "training" / "pretrain.py", package / "training" / "optim.py", package / "data" / "shapes.py",
             package / "model" / "network.py"]
    first = module.files_digest(files, package)
    assert first == pretrain.CODE_DIGEST  # what keys the cache of pretrained backbones
    models = package / "model" / "network.py"
    models.write_text(models.read_text() + "\n# an edit\n")
    assert module.files_digest(files, package) != first
    assert module.files_digest([package / "missing.py"], package) == ""  # no digest over part of the code


def tiny():
    config = Config(method="finetune")
    config.scenario.tasks, config.scenario.train_scenes, config.scenario.test_scenes = "5-5", 16, 20
    config.train.steps, config.train.batch_size, config.train.threads = 2, 8, 1
    return config


def test_a_run_records_its_code_and_a_resume_by_other_code_is_recorded(tmp_path, monkeypatch):
    with pytest.raises(KeyboardInterrupt):
        run(tiny(), out=tmp_path / "r", progress=False, log=None, on_task=StopAfter(1))
    saved = json.loads((tmp_path / "r" / "results.json").read_text())["versions"]
    assert saved["code"] == code_digest() and "code_resumed" not in saved
    monkeypatch.setattr(train, "code_digest", lambda: "0123456789abcdef")
    said = []
    run(out=tmp_path / "r", progress=False, log=said.append, resume=True)
    versions = json.loads((tmp_path / "r" / "results.json").read_text())["versions"]
    assert versions["code"] == code_digest()  # what began the run
    assert versions["code_resumed"] == ["0123456789abcdef from task 1"]
    assert any("other code" in line and "0123456789abcdef" in line for line in said)


def test_a_second_resume_by_the_same_other_code_is_not_recorded_again(tmp_path, monkeypatch):
    config = tiny()
    config.scenario.tasks = "4-3-3"
    with pytest.raises(KeyboardInterrupt):
        run(config, out=tmp_path / "r", progress=False, log=None, on_task=StopAfter(1))
    monkeypatch.setattr(train, "code_digest", lambda: "0123456789abcdef")
    with pytest.raises(KeyboardInterrupt):  # task 2 of 3 by the other code, then interrupted again
        run(out=tmp_path / "r", progress=False, log=None, resume=True, on_task=StopAfter(1))
    run(out=tmp_path / "r", progress=False, log=None, resume=True)
    versions = json.loads((tmp_path / "r" / "results.json").read_text())["versions"]
    assert versions["code_resumed"] == ["0123456789abcdef from task 1"]


def test_reuse_says_when_other_code_made_the_copied_run(tmp_path, capsys, monkeypatch):
    small = ["--steps", "2", "--no-report", "--set", "scenario.train_scenes=32", "--set", "scenario.test_scenes=30",
             "--set", "train.batch_size=8", "--set", "train.threads=1", "--tasks", "8-2"]
    assert main(["run", "--method", "finetune", "--out", str(tmp_path / "old" / "r"), "--quiet"] + small) == 0
    bench = ["benchmark", "--methods", "finetune", "--seeds", "1", "--reuse", str(tmp_path / "old")] + small
    assert main(bench + ["--out", str(tmp_path / "same")]) == 0
    printed = capsys.readouterr().out
    assert "copied from" in printed and "other code" not in printed
    monkeypatch.setattr(runstore, "code_digest", lambda: "fedcba9876543210")
    assert main(bench + ["--out", str(tmp_path / "other")]) == 0
    printed = capsys.readouterr().out
    assert f"made by other code: csslab code {code_digest()}, this is fedcba9876543210" in printed
