"""The benchmark table's one renderer: columns, the variant, mean ± std, and missing values."""

import csv
import io

from csslab.reports.benchmark_table import benchmark_csv, benchmark_markdown, benchmark_table, method_label
from csslab.reports.tables import MISSING

ROW = {"method": "lwf", "variant": "lam=10", "setting": "overlap", "tasks": "5-5", "n_seeds": 2,
       "old_mean": 0.1234, "old_std": 0.0101, "new_mean": 0.5, "new_std": 0.05, "all_mean": None, "all_std": None,
       "avg_mean": 0.4, "avg_std": 0.03, "seconds_mean": 61.7, "runs": ["runs/a", "runs/b"]}


def test_human_cells_carry_the_variant_and_one_spelling_of_missing():
    head, cells = benchmark_table([ROW, ROW | {"variant": "", "n_seeds": 1, "old_std": None}])
    assert head == ["method", "setting", "tasks", "seeds", "mIoU old", "mIoU new", "mIoU all", "mIoU avg", "s / run"]
    assert cells[0] == ["lwf (lam=10)", "overlap", "5-5", "2", "0.123 ± 0.010", "0.500 ± 0.050", MISSING,
                        "0.400 ± 0.030", "62"]
    assert cells[1][:5] == ["lwf", "overlap", "5-5", "1", "0.123"]  # one seed: no std
    assert benchmark_table([{"method": "old"}])[1] == [["old"] + [MISSING] * 8]  # a row of an older file
    assert method_label({"method": "mib", "variant": ""}) == "mib"


def test_markdown_and_csv_come_from_the_same_columns():
    text = benchmark_markdown([ROW])
    assert text.splitlines() == [
        "| method | setting | tasks | seeds | mIoU old | mIoU new | mIoU all | mIoU avg | s / run |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| lwf (lam=10) | overlap | 5-5 | 2 | 0.123 ± 0.010 | 0.500 ± 0.050 | {MISSING} | 0.400 ± 0.030 | 62 |"]
    (data,) = csv.DictReader(io.StringIO(benchmark_csv([ROW])))
    head, _ = benchmark_table([ROW], data=True)
    assert list(data) == head and "runs" not in data
    assert data["method"] == "lwf" and data["variant"] == "lam=10" and data["n_seeds"] == "2"
    assert float(data["old_mean"]) == 0.1234 and data["all_mean"] == "" and data["all_std"] == ""
