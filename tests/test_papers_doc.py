"""scripts/papers_doc.py on tiny synthetic benchmark directories (laid out as csslab.store.rundir.BenchmarkDir
says): the findings read per regime, a regime not run reads "not run", a contradicted claim exits 1."""

import json
import statistics

import pytest

from conftest import SCRIPTS, load_module
from csslab.store.rundir import BenchmarkDir

PAGE = "\n".join(f"<!-- make_docs: {name} -->\nold\n<!-- /make_docs -->" for name in
                 ("papers-suite", "papers-findings", "papers-summary", "papers-claims")) + "\n"
DKD_BEATS = 15  # the finding "DKD beats MiB and PLOP on a long split" (6-1, mIoU all)


@pytest.fixture
def papers():
    return load_module(SCRIPTS / "papers_doc.py")


def write_bench(folder, runs: dict) -> BenchmarkDir:
    """A benchmark directory of 6-1 overlap runs: ``runs`` maps (method, variant, pretrain) to {seed: mIoU}; every
    class of a run ends at that mIoU, so old, new, base, added and all are it."""
    bench = BenchmarkDir(folder)
    rows = []
    for (method, variant, pretrain), by_seed in runs.items():
        names = []
        for seed, value in by_seed.items():
            name = f"runs/{method}-{variant or 'plain'}-seed{seed}"
            config = {"method": method, "seed": seed, "scenario": {"tasks": "6-1", "class_order": "natural"},
                      "model": {"pretrain": pretrain}, "train": {}, "params": {}}
            iou = {str(c): value for c in range(11)}
            task = {"task": 4, "iou": iou, "miou_all": value}
            results = {"config": config, "tasks": [task | {"task": 0}, task], "miou_avg": value,
                       "timings": {"total_s": 1.0}}
            bench.run(name.split("/")[1]).path.mkdir(parents=True)
            (bench.path / name / "results.json").write_text(json.dumps(results))
            names.append(name)
        mean, std = statistics.mean(by_seed.values()), statistics.stdev(by_seed.values()) if len(by_seed) > 1 else None
        rows.append({"method": method, "variant": variant, "setting": "overlap", "tasks": "6-1", "n_runs": len(names),
                     "runs": names} | {f"{k}_{stat}": value for k in ("old", "new", "hiou", "all", "avg", "base", "added")
                                       for stat, value in (("mean", mean), ("std", std))})
    bench.json.write_text(json.dumps({"rows": rows, "runs": [n for r in rows for n in r["runs"]]}))
    return bench


def fill(papers, monkeypatch, tmp_path, claims, *benches):
    monkeypatch.setattr(papers, "PAGE_CLAIMS", claims)
    monkeypatch.setattr(papers, "PROSE_CLAIMS", [])  # the page's other sentences read rows these tests do not hold
    monkeypatch.setattr(papers, "SEED_CLAIMS", [])
    page = tmp_path / "papers.md"
    page.write_text(PAGE)
    code = papers.main([str(b.path) for b in benches] + ["--page", str(page)])
    return code, page.read_text()


def finding_row(text: str, number: int) -> list[str]:
    row = next(line for line in text.splitlines() if line.startswith(f"| {number} |"))
    return [cell.strip() for cell in row.strip("|").split("|")]


def test_each_regime_gets_its_own_verdict_and_seeds(papers, monkeypatch, tmp_path):
    bench = write_bench(tmp_path / "grid", {  # as --grid model.pretrain=none,digits names them
        ("dkd", "model.pretrain=none", "none"): {0: 0.2, 1: 0.3}, ("mib", "model.pretrain=none", "none"): {0: 0.7, 1: 0.8},
        ("plop", "model.pretrain=none", "none"): {0: 0.6, 1: 0.6},
        ("dkd", "model.pretrain=digits", "digits"): {0: 0.9, 1: 0.5}, ("mib", "model.pretrain=digits", "digits"):
            {0: 0.6, 1: 0.6}, ("plop", "model.pretrain=digits", "digits"): {0: 0.5, 1: 0.55}})
    code, text = fill(papers, monkeypatch, tmp_path, {DKD_BEATS: {"none": False, "digits": True}}, bench)
    assert code == 0
    cells = finding_row(text, DKD_BEATS)
    assert cells[5:7] == ["**disagrees**", "0 of 2"]  # scratch: DKD below both on every seed
    assert cells[8:10] == ["agrees", "1 of 2"] and "dkd 0.70 ± 0.28" in cells[7]  # pretrained: the mean, seed 0 only
    assert "not run" in finding_row(text, 1)[4] and finding_row(text, 1)[5] == "not run"  # no finetune rows
    assert "- ✓ finding 15 (from scratch): disagrees" in text and "- ✓ finding 15 (pretrained (digits)): agrees" in text
    assert ("from scratch: 0 of the 2 findings run hold on the toy (19 not run); pretrained (digits): 1 of the 2 "
            "findings run hold on the toy (19 not run).") in text  # 15 and 5 (PLOP beats MiB) read these rows


def test_a_regime_not_run_reads_not_run_and_is_not_checked(papers, monkeypatch, tmp_path):
    bench = write_bench(tmp_path / "scratch", {(m, "", "none"): {0: v} for m, v in
                                               (("dkd", 0.9), ("mib", 0.5), ("plop", 0.4))})
    code, text = fill(papers, monkeypatch, tmp_path, {DKD_BEATS: {"none": True, "digits": False}}, bench)
    assert code == 0  # the digits claim is not run: listed, not failing
    cells = finding_row(text, DKD_BEATS)
    assert cells[5] == "agrees" and cells[7].startswith("not run (dkd 6-1 overlap") and cells[8] == "not run"
    assert "- not checked (not run): finding 15 (pretrained (digits)): disagrees" in text
    assert "(21 not run)" in text  # the summary counts per regime: no digits row at all


def test_a_run_pretrained_by_set_counts_in_its_regime_and_a_contradicted_claim_exits_1(papers, monkeypatch, tmp_path):
    bench = write_bench(tmp_path / "digits", {(m, "", "digits"): {0: v} for m, v in  # --set model.pretrain=digits
                                              (("dkd", 0.3), ("mib", 0.5), ("plop", 0.4))})
    code, text = fill(papers, monkeypatch, tmp_path, {DKD_BEATS: {"none": None, "digits": True}}, bench)
    assert code == 1
    assert "- ✗ finding 15 (pretrained (digits)): agrees" in text
    assert "- not checked (not run): finding 15 (from scratch): no verdict stated yet" in text
    assert finding_row(text, DKD_BEATS)[8] == "**disagrees**"


def test_each_table_is_titled_with_its_regime_the_scratch_ones_first(papers, monkeypatch, tmp_path):
    digits = write_bench(tmp_path / "papers-digits", {("mib", "", "digits"): {0: 0.8}})  # --set: no variant says it
    grid = write_bench(tmp_path / "papers-default", {("mib", "model.pretrain=none", "none"): {0: 0.7},
                                                     ("mib", "model.pretrain=digits", "digits"): {0: 0.8}})
    scratch = write_bench(tmp_path / "papers", {("mib", "", "none"): {0: 0.7}})
    code, text = fill(papers, monkeypatch, tmp_path, {DKD_BEATS: {"none": None, "digits": None}}, digits, grid, scratch)
    titles = [line for line in text.splitlines() if line.startswith("*") and line.endswith("):")]
    assert titles == ["*From scratch* (papers):", "*From scratch and pretrained (digits)* (papers-default):",
                      "*Pretrained (digits)* (papers-digits):"]


def test_a_finding_the_page_states_no_verdict_for_fails_once_its_rows_run(papers, monkeypatch, tmp_path):
    bench = write_bench(tmp_path / "b", {(m, "", "none"): {0: v} for m, v in (("dkd", 0.9), ("mib", 0.5), ("plop", 0.4))})
    code, text = fill(papers, monkeypatch, tmp_path, {DKD_BEATS: {"none": None, "digits": None}}, bench)
    assert code == 1 and "- ✗ finding 15 (from scratch): no verdict stated yet" in text


def test_a_row_in_two_directories_is_kept_once_with_more_runs(papers, monkeypatch, tmp_path):
    three = write_bench(tmp_path / "three", {("mib", "", "none"): {0: 0.2, 1: 0.2, 2: 0.2},
                                             ("plop", "", "none"): {0: 0.1}, ("dkd", "", "none"): {0: 0.5}})
    one = write_bench(tmp_path / "one", {("mib", "", "none"): {0: 0.9}})
    code, text = fill(papers, monkeypatch, tmp_path, {DKD_BEATS: {"none": True, "digits": None}}, three, one)
    assert code == 0 and "mib 0.20 ± 0.00" in finding_row(text, DKD_BEATS)[4]


def test_a_directory_without_a_benchmark_leaves_the_page_alone(papers, monkeypatch, tmp_path):
    page = tmp_path / "papers.md"
    page.write_text(PAGE)
    with pytest.raises(SystemExit, match="holds no benchmark.json"):
        papers.main([str(tmp_path / "nothing"), "--page", str(page)])
    assert page.read_text() == PAGE


def test_a_rows_regime_is_its_variants_pretrain_part_else_its_configs(papers):
    assert papers.regime_of("model.pretrain=digits,threshold_rule=median", "digits") == ("digits", "threshold_rule=median")
    assert papers.regime_of("threshold_rule=median", None) == ("none", "threshold_rule=median")
    assert papers.regime_of("", "digits") == ("digits", "")  # --set model.pretrain=digits: no variant
    assert papers.regime_of("model.pretrain_steps=10", "shapes") == ("shapes", "model.pretrain_steps=10")


def test_a_missing_run_is_one_line_naming_it(papers, tmp_path):
    bench = write_bench(tmp_path / "b", {("mib", "", "none"): {0: 0.5}})
    (bench.path / "runs" / "mib-plain-seed0" / "results.json").unlink()
    with pytest.raises(SystemExit, match=r"run runs/mib-plain-seed0 of .*: no results.json"):
        papers.load_suites([bench.path])


def test_a_finding_is_counted_seed_by_seed_over_the_seeds_that_ran_its_rows(papers, monkeypatch):
    finding = papers.Finding("paper", "A beats B", "", lambda r: ("", r.get("a", "6-1", "all") > r.get("b", "6-1", "all")),
                             (("a", "6-1", "overlap"), ("b", "6-1", "overlap")))

    def rows(a, b, regime="none"):
        return papers.Rows([{"method": m, "tasks": "6-1", "setting": "overlap", "all_mean": v, "regime": regime}
                            for m, v in (("a", a), ("b", b)) if v is not None])

    per_seed = {0: rows(0.6, 0.5), 1: rows(0.4, 0.5), 2: rows(0.7, 0.1), 3: rows(0.9, None)}
    assert papers.seeds_agreeing(finding, per_seed) == "2 of 3"  # seed 3 lacks B's run: not counted
    assert papers.seeds_agreeing(finding, per_seed, "digits") == "0 of 0"
    monkeypatch.setattr(papers, "FINDINGS", [finding])
    table, verdicts = papers.findings_table(rows(0.55, 0.5), per_seed)
    assert verdicts == [{"none": True, "digits": None}]
    assert table.splitlines()[-1].endswith("| agrees | 2 of 3 | not run (a 6-1 overlap, b 6-1 overlap) | not run |  |")


def test_a_seed_claim_holds_only_when_every_seed_holds_it(papers, monkeypatch):
    monkeypatch.setattr(papers, "PROSE_CLAIMS", [("A above B in the mean", lambda r: r.get("a", "6-1", "all") > 0.5)])
    monkeypatch.setattr(papers, "SEED_CLAIMS", [("A above 0.5 on every seed", lambda r: r.get("a", "6-1", "all") > 0.5)])

    def rows(a):
        return papers.Rows([{"method": "a", "tasks": "6-1", "setting": "overlap", "all_mean": a}])

    assert papers.prose_checked(rows(0.6), {0: rows(0.7), 1: rows(0.4), 2: rows(0.7)}) == [
        ("A above B in the mean", True), ("A above 0.5 on every seed", False)]
    assert papers.prose_checked(rows(0.6), {0: rows(0.7), 1: rows(0.55)})[1] == ("A above 0.5 on every seed", True)
    empty = papers.Rows([])
    assert papers.prose_checked(empty, {0: empty}) == [("A above B in the mean", None),
                                                       ("A above 0.5 on every seed", None)]
