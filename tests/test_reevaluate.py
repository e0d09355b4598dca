"""scripts/reevaluate.py: metrics recomputed from a run's checkpoints equal those its training wrote."""

import json

import pytest

from conftest import SCRIPTS, copy_run, load_module


@pytest.fixture(scope="module")
def reevaluate():
    return load_module(SCRIPTS / "reevaluate.py")


@pytest.mark.parametrize("method", ["finetune", "ssul", "joint"])  # 1x1 heads, MLP heads, one joint task
def test_reevaluation_reproduces_the_metrics_training_wrote(tmp_path, reevaluate, method, method_run):
    run = copy_run(method_run(method), tmp_path / method)  # the session's shared run (a pretrained backbone)
    before = json.loads((run / "results.json").read_text())
    assert (run / "frames.npz").exists()
    assert reevaluate.main([str(run), "--compare", str(run)]) == 0
    after = json.loads((run / "results.json").read_text())
    assert len(after["tasks"]) == len(before["tasks"]) == (1 if method == "joint" else 5)
    for old, new in zip(before["tasks"], after["tasks"]):
        assert {k: new[k] for k in reevaluate.METRICS} == {k: old[k] for k in reevaluate.METRICS}
        assert new["loss"] == old["loss"] and new["train_s"] == old["train_s"]
    assert after["iou_matrix"] == before["iou_matrix"] and after["miou_avg"] == before["miou_avg"]
    assert not (run / "frames.npz").exists() and (run / "report.md").exists()  # frames were of the old test set


def test_reevaluation_refuses_an_unfinished_run(tmp_path, reevaluate, method_run):
    run = copy_run(method_run("finetune"), tmp_path / "run")
    data = json.loads((run / "results.json").read_text())
    data["complete"] = False
    (run / "results.json").write_text(json.dumps(data))
    with pytest.raises(SystemExit, match="not a finished run"):
        reevaluate.main([str(run)])
