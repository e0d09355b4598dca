import numpy as np

import csslab


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
