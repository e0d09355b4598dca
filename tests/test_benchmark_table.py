"""The benchmark table's one renderer: columns, the variant, mean ± std, and missing values."""

import csv
import io

from csslab.reports.benchmark_table import (BenchmarkRows, benchmark_csv, benchmark_markdown, benchmark_table,
                                            method_label, ranking_markdown)
from csslab.reports.tables import MISSING

ROW = {"method": "lwf", "variant": "lam=10", "setting": "overlap", "tasks": "5-5", "n_orders": 1, "n_seeds": 2, "n_runs": 2,
       "old_mean": 0.1234, "old_std": 0.0101, "new_mean": 0.5, "new_std": 0.05, "all_mean": None, "all_std": None,
       "avg_mean": 0.4, "avg_std": 0.03, "seconds_mean": 61.7, "runs": ["runs/a", "runs/b"]}


def test_human_cells_carry_the_variant_and_one_spelling_of_missing():
    head, cells = benchmark_table([ROW, ROW | {"variant": "", "n_seeds": 1, "n_runs": 1, "old_std": None}])
    assert head == ["method", "setting", "tasks", "orders", "seeds", "mIoU old", "mIoU new", "hIoU", "mIoU all",
                    "mIoU avg", "s / run"]
    assert cells[0] == ["lwf (lam=10)", "overlap", "5-5", "1", "2", "0.123 ± 0.010", "0.500 ± 0.050", MISSING, MISSING,
                        "0.400 ± 0.030", "62"]  # hIoU: a row written before it
    assert cells[1][:6] == ["lwf", "overlap", "5-5", "1", "1", "0.123"]  # one run: no std
    # a row of an older file: one class order (there was no other), the rest missing
    assert benchmark_table([{"method": "old"}])[1] == [["old", MISSING, MISSING, "1"] + [MISSING] * 7]
    old = {"method": "old", "n_seeds": 3, "old_mean": 0.5, "old_std": 0.1}  # before the orders axis: runs = seeds
    assert benchmark_table([old])[1][0][5] == "0.500 ± 0.100"
    orders = ROW | {"n_orders": 3, "n_seeds": 1, "n_runs": 3}  # one seed, three orders: a spread over orders
    assert benchmark_table([orders])[1][0][3:6] == ["3", "1", "0.123 ± 0.010"]
    assert method_label({"method": "mib", "variant": ""}) == "mib"


def test_markdown_and_csv_come_from_the_same_columns():
    text = benchmark_markdown([ROW])
    assert text.splitlines() == [
        "| method | setting | tasks | orders | seeds | mIoU old | mIoU new | hIoU | mIoU all | mIoU avg | s / run |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        f"| lwf (lam=10) | overlap | 5-5 | 1 | 2 | 0.123 ± 0.010 | 0.500 ± 0.050 | {MISSING} | {MISSING} | 0.400 ± 0.030 | 62 |"]
    (data,) = csv.DictReader(io.StringIO(benchmark_csv([ROW])))
    head, _ = benchmark_table([ROW], data=True)
    assert list(data) == head and "runs" not in data
    assert data["method"] == "lwf" and data["variant"] == "lam=10" and data["n_seeds"] == "2"
    assert float(data["old_mean"]) == 0.1234 and data["all_mean"] == "" and data["all_std"] == ""
    assert data["n_runs"] == "2" and data["n_orders"] == "1"


def test_the_csv_carries_plops_averages_and_the_human_table_does_not():
    row = ROW | {"plop_first_mean": 61.5, "plop_first_std": 2.5, "plop_last_mean": None}
    (data,) = csv.DictReader(io.StringIO(benchmark_csv([row])))
    for key in ("final", "average", "first", "last"):
        assert f"plop_{key}_mean" in data and f"plop_{key}_std" in data
    assert float(data["plop_first_mean"]) == 61.5 and data["plop_last_mean"] == ""
    assert not any("plop" in h.lower() for h in benchmark_table([row])[0])


def ranking(order, *methods):
    return {"setting": "overlap", "tasks": "5-5", "order": order, "class_order": "natural",
            "ranking": [{"method": m, "variant": "", "all_mean": v, "n_seeds": 2} for m, v in methods]}


def test_the_ranking_per_order_is_shown_only_with_several_orders_and_says_when_it_changes():
    assert ranking_markdown([ranking("natural", ("mib", 0.6), ("finetune", 0.3))]) == ""
    same = [ranking("natural", ("mib", 0.6), ("finetune", 0.3)), ranking("random:1", ("mib", 0.5), ("finetune", 0.2))]
    text = ranking_markdown(same)
    assert "same in every class order" in text and "| overlap | 5-5 | random:1 | natural | mib 0.500 > finetune 0.200 |" in text
    changed = same + [ranking("random:2", ("finetune", 0.4), ("mib", 0.35))]
    assert "changes with the class order in 5-5 (overlap)" in ranking_markdown(changed)


def test_rows_render_themselves_as_html_for_jupyter():
    rows = BenchmarkRows([ROW], [ranking("natural", ("lwf", 0.5)), ranking("random:1", ("lwf", 0.4))])
    page = rows._repr_html_()
    assert page.count("<table>") == 2 and "<th>mIoU old</th>" in page and "<td>0.123 ± 0.010</td>" in page
    assert "lwf (lam=10)" in page and "random:1" in page and "lwf 0.400" in page
    assert "Ranking per class order" in str(rows) and str(rows) == benchmark_markdown(rows, rows.rankings)
    assert "Ranking" not in benchmark_markdown(rows)
    assert BenchmarkRows([ROW])._repr_html_().count("<table>") == 1 and rows == [ROW]  # still the list of rows
