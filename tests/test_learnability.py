"""One learnability test: on a tiny 2-task scenario fine-tuning forgets, MiB and replay do not."""

from csslab.core.config import Config
from csslab.training.train import run


def final_old_miou(method: str, base) -> float:
    """mIoU of task 0's classes after task 1, on "2-8" (2 classes, then the 8 others) at 40x40.

    Under overlap, task 1's scenes label task 0's digits background, so fine-tuning unlearns
    them. 150 steps of 16 scenes at lr 5e-3 learn task 0 to mIoU ~0.78 (measured) in ~13 s. ``base``: the
    shared base models' directory (finetune and replay start from the same plain-CE task 0, trained once:
    bit for bit what each would train, tests/test_shared_base.py).
    """
    config = Config(method=method, seed=0)
    config.scenario.tasks = "2-8"
    config.scenario.size = 40
    config.scenario.max_digits = 3
    config.scenario.train_scenes = 300
    config.scenario.test_scenes = 100
    config.train.steps = 150
    config.train.batch_size = 16
    config.train.lr = 5e-3
    config.train.checkpoints = False
    config.train.frame_every = 10**6
    results = run(config, progress=False, log=None, base=base)
    assert results.data["tasks"][0]["miou_all"] > 0.5, "task 0 was not learnt"
    return results.data["tasks"][-1]["miou_old"]


def test_finetune_forgets_while_mib_and_replay_remember(tmp_path):
    # measured (seed 0): finetune 0.000, mib 0.204, replay 0.724
    finetune = final_old_miou("finetune", tmp_path)
    assert finetune < 0.05
    assert final_old_miou("mib", tmp_path) > finetune + 0.1
    assert final_old_miou("replay", tmp_path) > finetune + 0.3
    assert len(list(tmp_path.glob("ce-seed0-*.pt"))) == 1  # replay loaded the task 0 finetune trained
