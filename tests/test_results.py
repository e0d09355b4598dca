"""Results, the one owner of results.json: a record created, filled task by task, saved, loaded back."""

import json

import numpy as np
import pytest

from conftest import SCRIPTS, load_module
from csslab.core.config import Config
from csslab.reports.tables import MISSING
from csslab.store.results import Results, task_entry
from csslab.scenarios.tasks import Task
from csslab.training.train import run

CONFIG = {"method": "finetune", "scenario": {"tasks": "2-8", "class_order": "natural"}}


def confusion(pairs) -> np.ndarray:
    """An 11 x 11 confusion matrix (rows: truth, columns: prediction) from {(truth, pred): pixels}."""
    cm = np.zeros((11, 11), dtype=np.int64)
    for (truth, pred), n in pairs.items():
        cm[truth, pred] = n
    return cm


def two_tasks() -> Results:
    """Digits 0, 1 learnt at task 0 (IoU 0.75 and 1); at task 1 (digits 2-9) digit 0 is forgotten, 2 learnt,
    3-9 absent from the test scenes."""
    results = Results.new(CONFIG, {"csslab": "test"})
    first = confusion({(0, 0): 8, (1, 1): 3, (1, 0): 1, (2, 2): 4})  # IoU: bg 8/9, digit 0 3/4, digit 1 1
    results.add_task(task_entry(Task(0, (0, 1), ()), first, 5, {"ce": 0.5}, 1.0, 2.0, 3.0), complete=False)
    results.add_timings(1.0, 2.0, 3.0, 6.5)
    second = confusion({(0, 0): 8, (1, 0): 4, (2, 2): 4, (3, 3): 2})  # digit 0 now all background
    results.add_task(task_entry(Task(1, tuple(range(2, 10)), (0, 1)), second, 5, {"ce": 0.25}, 1.0, 2.0, 3.0), complete=True)
    results.add_timings(1.0, 2.0, 3.0, 13.0, frames_s=0.5)
    return results


def test_a_record_sums_up_its_tasks_with_none_for_what_is_absent():
    results = two_tasks()
    assert results.tasks[0]["miou_old"] is None and results.tasks[0]["miou_all"] == pytest.approx((8 / 9 + 0.75 + 1) / 3)
    assert results.tasks[1]["iou"]["0"] == 0.0 and results.tasks[1]["iou"]["3"] is None
    matrix = results.iou_matrix
    assert matrix.shape == (2, 11) and np.isnan(matrix[0, 3:]).all() and matrix[0, 1] == 0.75
    assert results["forgetting"]["0"] == 0.75 and results["forgetting"]["1"] == 0.0
    assert results["forgetting"]["2"] is None  # not seen before the last task
    assert results["miou_avg"] == pytest.approx((results.tasks[0]["miou_all"] + results.tasks[1]["miou_all"]) / 2)
    assert results["miou_old"] == pytest.approx(0.5) and results.complete
    assert results["timings"] == {"train_s": 2.0, "eval_s": 4.0, "data_s": 6.0, "frames_s": 0.5, "total_s": 13.0}
    split = results.split_mious()
    assert split["old"] == pytest.approx(0.5) and split["new"] == 1.0 and split["seconds"] == 13.0


def test_a_saved_record_loads_back_equal_as_strict_json(tmp_path):
    results = two_tasks()
    results.save(tmp_path)
    text = (tmp_path / "results.json").read_text()
    assert "NaN" not in text and json.loads(text) == results.data
    assert Results.load(tmp_path).data == results.data and Results.load(tmp_path / "results.json").path == tmp_path


def test_load_and_save_name_what_they_cannot_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="no results.json"):
        Results.load(tmp_path)
    (tmp_path / "results.json").write_text("{not json")
    with pytest.raises(ValueError, match="unreadable results file"):
        Results.load(tmp_path)
    (tmp_path / "results.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="expected a JSON object"):
        Results.load(tmp_path)
    with pytest.raises(ValueError, match="needs a run directory"):
        Results.new(CONFIG, {}).save()


def test_run_takes_a_config_not_untyped_overrides():
    with pytest.raises(TypeError, match="steps"):
        run(Config(), steps=5)


def test_compare_runs_names_the_first_different_metric_and_ignores_times(tmp_path, capsys):
    compare = load_module(SCRIPTS / "compare_runs.py")
    before, after = tmp_path / "before", tmp_path / "after"
    two_tasks().save(before)
    changed = two_tasks()
    changed.tasks[1]["train_s"] = 99.0  # wall-clock times are not metrics
    changed.save(after)
    assert compare.main([str(before), str(after)]) == 0
    changed.tasks[1]["iou"]["2"] = 0.999
    changed.save(after)
    assert compare.main([str(before), str(after)]) == 1
    assert "results.tasks[1].iou.2" in capsys.readouterr().out
    for folder, value in ((before, 0), (after, 1)):
        changed.tasks[1]["iou"]["2"] = 1.0
        np.savez(folder / "frames.npz", step=np.arange(3), confusion=np.full((3, 2, 2), value))
    changed.save(after)
    assert compare.main([str(before), str(after)]) == 1
    assert "frames.npz[confusion]" in capsys.readouterr().out
    assert compare.main([str(before), str(tmp_path / "nowhere")]) == 2


def test_compare_runs_accepts_a_metric_only_the_after_run_has_when_asked(tmp_path, capsys):
    compare = load_module(SCRIPTS / "compare_runs.py")
    before, after = tmp_path / "before", tmp_path / "after"
    two_tasks().save(before)
    changed = two_tasks()
    changed.tasks[1]["miou_new_metric"] = 0.5
    changed.save(after)
    assert compare.main([str(before), str(after)]) == 1  # a new key is a difference unless asked
    assert "only in after" in capsys.readouterr().out
    assert compare.main([str(before), str(after), "--new-keys"]) == 0
    assert "new in after: miou_new_metric" in capsys.readouterr().out
    changed.tasks[1]["iou"]["2"] = 0.999  # a changed shared metric is still a difference
    changed.save(after)
    assert compare.main([str(before), str(after), "--new-keys"]) == 1


def test_a_record_renders_itself_as_an_html_table_for_jupyter():
    page = two_tasks()._repr_html_()
    assert page.startswith("<p>finetune on 2-8") and "2 tasks: mIoU all" in page and page.count("<table>") == 1
    header, first, second = page.split("<tr>")[1:4]
    assert "<th>bg</th>" in header and "<th>9</th>" in header and "<th>mIoU old</th>" in header
    assert "<th>mIoU base</th><th>mIoU added</th>" in header  # the papers' old and new, after old and new
    cells = first.replace("</tr>", "").replace("</table>", "").split("</td>")
    assert "0.875" in cells[5] and MISSING in cells[6]  # task 0: base = digits 0, 1 (0.75, 1); nothing added yet
    assert "0.750" in cells[8] and "1.000" in cells[9] and all(MISSING in c for c in cells[10:18])  # 2-9 unseen
    assert ">2 3 4 5 6 7 8 9</td>" in second and f"<td>{MISSING}</td>" in second  # digits 3-9: no test pixels


def test_the_papers_base_and_added_classes_beside_old_and_new():
    """2-2-6: after task 2, old is digits 0-3 and new 4-9 (the last task's), where the papers' base is task 0's
    digits 0, 1 and added every digit after them, 2-9."""
    config = {"method": "finetune", "scenario": {"tasks": "2-2-6", "class_order": "natural"}, "seed": 0}
    results = Results.new(config, {"csslab": "test"})
    tasks = [Task(0, (0, 1), ()), Task(1, (2, 3), (0, 1)), Task(2, tuple(range(4, 10)), (0, 1, 2, 3))]
    perfect = confusion({(k, k): 4 for k in range(11)})
    results.add_task(task_entry(tasks[0], perfect, 5, {"ce": 0.5}, 1.0, 1.0, 1.0), complete=False)
    assert results.final["miou_base"] == 1.0 and results.final["miou_added"] is None  # nothing added yet
    results.add_task(task_entry(tasks[1], perfect, 5, {"ce": 0.5}, 1.0, 1.0, 1.0), complete=False)
    # digit 0 forgotten (all background), digit 2 half right, the others perfect (index = digit + 1)
    last = confusion({(0, 0): 4, (1, 0): 4, (2, 2): 4, (3, 3): 2, (3, 0): 2, **{(k, k): 4 for k in range(4, 11)}})
    results.add_task(task_entry(tasks[2], last, 5, {"ce": 0.5}, 1.0, 1.0, 1.0), complete=True)
    results.add_timings(1.0, 1.0, 1.0, 3.0)
    final = results.final
    digit_iou = {d: final["iou"][str(d)] for d in range(4)}
    assert digit_iou == {0: 0.0, 1: 1.0, 2: 0.5, 3: 1.0}
    assert final["miou_base"] == pytest.approx(0.5)  # digits 0, 1
    assert final["miou_added"] == pytest.approx((1.0 + 0.5 + 6) / 8)  # digits 2-9
    assert final["miou_old"] == pytest.approx((0 + 1 + 0.5 + 1) / 4) and final["miou_new"] == pytest.approx(1.0)
    assert results["miou_base"] == final["miou_base"] and results["miou_added"] == final["miou_added"]
    split = results.split_mious()
    assert split["base"] == pytest.approx(0.5) and split["added"] == pytest.approx(7.5 / 8)
    from csslab.reports.benchmark_table import benchmark_table
    from csslab.experiments.sweep import table_rows

    rows = table_rows([(Config.from_dict(config), results.data, "r")])
    header, cells = benchmark_table(rows)
    assert cells[0][header.index("mIoU base")] == "0.500" and cells[0][header.index("mIoU added")] == "0.938"
    data_header, data_cells = benchmark_table(rows, data=True)
    assert data_cells[0][data_header.index("added_mean")] == pytest.approx(7.5 / 8)  # the CSV's column
