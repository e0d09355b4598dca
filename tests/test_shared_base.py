"""The shared base model: methods whose first task trains alike (Method.base_task) reuse one base per
configuration, with final metrics, losses and frames bit-identical to training their base themselves."""

from __future__ import annotations

from conftest import SCRIPTS, load_module

from csslab.training import shared_base
from csslab.core.config import Config, apply_overrides
from csslab.methods import METHODS
from csslab.training.train import run

SMALL = ["scenario.tasks=5-5", "scenario.train_scenes=16", "scenario.test_scenes=20", "train.steps=3",
         "train.batch_size=8", "train.frame_every=2", "train.frame_scenes=10", "params.memory_size=4"]
# replay, eir: their memory is filled from the shared base; mib-augm: a base of unbiased CE, as mib's
METHODS_SHARING = ["finetune", "lwf", "replay", "plop", "eir", "mib-augm"]


def _config(method: str) -> Config:
    overrides = [o for o in SMALL if not o.startswith("params.") or METHODS[method].memory_param]
    return apply_overrides(Config(), [f"method={method}", *overrides])


def test_a_shared_base_gives_the_results_of_training_it_again(tmp_path):
    compare = load_module(SCRIPTS / "compare_runs.py").compare
    base = tmp_path / "base"
    for method in METHODS_SHARING:
        run(_config(method), out=tmp_path / f"{method}-own", progress=False, log=None)
        run(_config(method), out=tmp_path / f"{method}-shared", progress=False, log=None, base=base)
        assert compare(tmp_path / f"{method}-own", tmp_path / f"{method}-shared") is None, method
    assert len(list(base.glob("ce-seed0-*.pt"))) == 1  # trained once, by finetune, for all five


def test_only_methods_with_a_plain_first_task_share_it():
    assert {name for name, cls in METHODS.items() if cls.base_task == "ce"} == \
        {"finetune", "lwf", "ilt", "pseudo", "replay", "plop", "sdr", "eir"}
    assert METHODS["mib-augm"].base_task == METHODS["mib"].base_task  # its first task is MiB's
    assert METHODS["ssul"].base_task is None and METHODS["joint"].base_task is None
    assert METHODS["mib"].base_task not in (None, "ce")  # unbiased CE: a base of its own


def test_a_base_saved_by_other_code_is_not_served(monkeypatch):
    config, method = _config("finetune"), METHODS["finetune"]()
    here = shared_base.base_path("b", config, method)
    monkeypatch.setattr(shared_base, "code_digest", lambda: "0123456789abcdef")
    assert shared_base.base_path("b", config, method) != here  # an edit to csslab trains the base again
