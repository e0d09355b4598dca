"""Faults and bad input: a non-finite loss, a corrupt checkpoint, contradictory options and devices
each stop with one clear line and a non-zero exit, keeping completed work and leaving nothing partial."""

import json
from dataclasses import dataclass, fields

import pytest
import torch

from conftest import copy_run, finetune_with_params

from csslab.cli.main import main
from csslab.methods import METHODS
from csslab.methods.finetune import FineTune

TINY = ["--tasks", "5-5", "--steps", "2", "--quiet", "--no-report", "--set", "scenario.train_scenes=16",
        "--set", "scenario.test_scenes=20", "--set", "train.batch_size=8", "--set", "train.threads=1",
        "--set", "train.frame_scenes=8"]


class Explodes(FineTune):
    """Fine-tuning whose extra term is NaN from the second task on (a test-only method)."""

    name = "explodes"

    def loss(self, model, images, masks):
        terms = super().loss(model, images, masks)
        terms["boom"] = terms["ce"] * (float("nan") if self.task.index == 1 else 0.0)
        return terms


@dataclass
class MemoryParams:
    memory_size: int = 10


@pytest.fixture
def extra_methods(monkeypatch):
    """Registers the test-only methods: one whose loss explodes, one with a memory_size parameter."""
    monkeypatch.setitem(METHODS, "explodes", Explodes)
    monkeypatch.setitem(METHODS, "with-memory", finetune_with_params("with-memory", MemoryParams,
                                                                     memory_param="memory_size"))


def leftovers(folder):
    return [p.name for p in folder.rglob("*") if p.name.endswith((".tmp", ".part"))]


def test_nan_loss_names_task_step_and_term_and_keeps_completed_tasks(tmp_path, capsys, extra_methods):
    out = tmp_path / "r"
    assert main(["run", "--method", "explodes", "--out", str(out), *TINY]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "non-finite loss at task 1, step 0" in err and "boom=nan" in err and "ce=" not in err
    data = json.loads((out / "results.json").read_text())
    assert len(data["tasks"]) == 1 and not data["complete"]
    assert (out / "checkpoints" / "task-0.pt").is_file() and not (out / "checkpoints" / "task-1.pt").exists()
    assert leftovers(out) == []


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished run at TINY's budget, trained once for the module (tests change copies of it)."""
    out = tmp_path_factory.mktemp("finished") / "run"
    assert main(["run", "--out", str(out), *TINY]) == 0
    return out


@pytest.fixture
def interrupted(finished, tmp_path, capsys):
    """A run directory holding task 1 of 2 (stopped as a crash would leave it): a copy of ``finished``, cut."""
    out = copy_run(finished, tmp_path / "cut")
    data = json.loads((out / "results.json").read_text())
    data["tasks"], data["iou_matrix"], data["acc_matrix"] = data["tasks"][:1], data["iou_matrix"][:1], data["acc_matrix"][:1]
    data["complete"] = False
    (out / "results.json").write_text(json.dumps(data))
    capsys.readouterr()
    return out


@pytest.mark.parametrize("damage, needle", [
    (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), "corrupt checkpoint"),
    (lambda p: p.write_bytes(b"not a checkpoint at all"), "corrupt checkpoint"),
    (lambda p: p.unlink(), "task-0.pt is missing"),
    (lambda p: torch.save({"task": 0}, p), "it has no 'heads'"),
])
def test_corrupt_checkpoint_on_resume_is_one_clear_line(interrupted, capsys, damage, needle):
    checkpoint = interrupted / "checkpoints" / "task-0.pt"
    damage(checkpoint)
    before = (interrupted / "results.json").read_bytes()
    assert main(["run", "--resume", str(interrupted), "--quiet", "--no-report"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and needle in err
    assert "weights_only" not in err and "without --resume" not in err  # no torch advice, no refused remedy
    assert (interrupted / "results.json").read_bytes() == before  # nothing was overwritten


def test_resume_refuses_results_of_another_configuration(interrupted, capsys):
    config = (interrupted / "config.yaml").read_text()
    (interrupted / "config.yaml").write_text(config.replace("seed: 0", "seed: 5"))
    assert main(["run", "--resume", str(interrupted), "--quiet"]) == 2
    assert "another configuration" in capsys.readouterr().err


def test_what_methods_need_is_declared_on_their_classes():
    """The checks read the declarations (csslab.training.checks): the bounds run on one task, a memory is sized
    by the field its method names."""
    assert {name: cls.bound for name, cls in METHODS.items() if cls.bound} == {"finetune": "lower", "joint": "upper"}
    with_memory = {name: cls.memory_param for name, cls in METHODS.items() if cls.memory_param}
    assert with_memory == {name: "memory_size" for name in ("replay", "mib", "ssul", "dkd", "dkd-m", "ewf", "microseg",
                                                            "mib-augm", "eir")}
    assert all(field in {f.name for f in fields(METHODS[name].Params)} for name, field in with_memory.items())


def test_benchmark_validates_every_configuration(tmp_path, capsys, extra_methods):
    bench = ["benchmark", "--seeds", "1", "--steps", "1", "--no-report", "--out", str(tmp_path / "b"),
             "--set", "scenario.train_scenes=16", "--set", "scenario.test_scenes=20", "--set", "train.batch_size=8"]
    assert main(bench + ["--methods", "finetune,with-memory", "--tasks", "10"]) == 2
    assert "'with-memory' has nothing to remember" in capsys.readouterr().err
    assert main(bench + ["--methods", "finetune,with-memory", "--grid", "params.memory_size=1,100"]) == 2
    assert "invalid params.memory_size=100: must be 0..64" in capsys.readouterr().err
    assert main(bench + ["--methods", "finetune", "--grid", "params.lam=1,10"]) == 2
    assert "none of the methods (finetune) has a parameter 'lam'" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on machines without CUDA")
def test_cuda_without_cuda_is_one_line(tmp_path, capsys):
    assert main(["run", *TINY, "--device", "cuda", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "csslab: error: invalid device 'cuda': CUDA is not available here (valid: cpu)"


def test_explicit_cpu_device_runs_everything_on_it(tmp_path, capsys):
    """Device plumbing: model, teacher-free method state, metrics and checkpoints follow train.device."""
    out = tmp_path / "r"
    assert main(["run", *TINY, "--device", "cpu", "--out", str(out)]) == 0
    data = json.loads((out / "results.json").read_text())
    assert data["config"]["train"]["device"] == "cpu" and data["complete"]
    state = torch.load(out / "checkpoints" / "task-1.pt", weights_only=True)
    assert {t.device.type for t in state["model"].values()} == {"cpu"}
    assert state["heads"] == [6, 5]  # background + 5 classes, then 5 new classes
