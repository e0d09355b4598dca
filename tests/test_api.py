import numpy as np
import pytest

import csslab
from csslab.cli.main import main


def test_python_api_as_in_the_readme(tmp_path):
    scenario = csslab.make_scenario(tasks="5-5", setting="sequential", seed=2, train_scenes=16, test_scenes=20)
    results = csslab.run(method="finetune", scenario=scenario, steps=2, out=tmp_path / "r",
                         overrides=["train.batch_size=8"])
    assert isinstance(results, csslab.Results) and len(results.tasks) == 2 and results.complete
    s = results["config"]["scenario"]
    assert (s["tasks"], s["old_labels"], s["future_in_images"], results["config"]["seed"]) == ("5-5", "keep", False, 2)
    assert results.iou_matrix.shape == (2, 11) and np.isnan(results.iou_matrix[0, 6:]).all()
    assert csslab.Results.load(tmp_path / "r").data == results.data
    assert "finetune" in repr(results)


@pytest.mark.parametrize("cli_args, api_kwargs, needle", [
    (["--set", "train.batch_size=64"], {"overrides": ["train.batch_size=64"]},
     "train.batch_size=64 is larger than scenario.train_scenes=16"),
    (["--tasks", "10", "--method", "lwf"], {"method": "lwf", "tasks": "10"},
     "split '10' is a single task: continual method 'lwf' has nothing to remember; use --method finetune or joint"),
    (["--method", "replay", "--set", "params.memory_size=17"], {"method": "replay", "memory_size": 17},
     "invalid params.memory_size=17: must be 0..16"),
    (["--set", "train.lr=0"], {"overrides": ["train.lr=0"]}, "invalid lr 0.0 (train.lr)"),
])
def test_python_api_refuses_what_the_cli_refuses_with_the_same_line(tmp_path, capsys, cli_args, api_kwargs, needle):
    """The checks live below the command line (csslab.training.checks): ``csslab.run`` makes them too."""
    small = ["--set", "scenario.train_scenes=16", "--set", "scenario.test_scenes=20", "--set", "train.batch_size=8",
             "--steps", "1", "--quiet"]
    assert main(["run", "--tasks", "5-5", *small, *cli_args, "--out", str(tmp_path / "cli")]) == 2
    cli_error = capsys.readouterr().err.strip().removeprefix("csslab: error: ")
    assert needle in cli_error
    api_kwargs = dict(api_kwargs)
    scenario = csslab.make_scenario(tasks=api_kwargs.pop("tasks", "5-5"), train_scenes=16, test_scenes=20)
    overrides = ["train.batch_size=8", *api_kwargs.pop("overrides", [])]
    with pytest.raises(ValueError) as error:
        csslab.run(scenario=scenario, steps=1, out=tmp_path / "api", overrides=overrides, **api_kwargs)
    assert str(error.value) == cli_error
    assert not (tmp_path / "cli").exists() and not (tmp_path / "api").exists()


def test_a_scenario_round_trips_through_the_saved_configuration(tmp_path):
    """``csslab.run(scenario=...)`` trains the scenario given, and saves it in a form that rebuilds it."""
    from csslab.data.scenes import SceneConfig

    scenario = csslab.make_scenario(tasks="5-5", setting="disjoint", class_order="random:1", seed=3, train_scenes=16,
                                    test_scenes=20, test_future="background", scene=SceneConfig(size=48, max_tries=5))
    results = csslab.run(scenario=scenario, steps=1, out=tmp_path / "r", overrides=["train.batch_size=8"])
    config = csslab.Config.from_yaml((tmp_path / "r" / "config.yaml").read_text())
    assert csslab.Scenario.from_config(config.scenario, config.seed) == scenario
    assert config.scenario.setting == "old=yes,future=no,labels=background,test=background"
    assert results["config"]["scenario"]["class_order"] == ",".join(map(str, scenario.class_order))
