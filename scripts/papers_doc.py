"""docs/papers.md from the papers' suite: each published finding beside its analogue on the toy, checked.

Reads the benchmark directories of ``csslab benchmark --suite papers`` (overlap: every split; disjoint: at
least 6-1), fills the page's generated blocks (``<!-- make_docs: papers-* -->``) and checks every claim the
page's prose makes (the script exits 1, naming the claim, when a number contradicts one).

    python scripts/papers_doc.py SUITE_DIR [SUITE_DIR ...] --page docs/papers.md
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path
from typing import Callable, NamedTuple

from csslab.core.files import atomic_write
from csslab.reports.benchmark_table import benchmark_markdown
from csslab.store.results import Results, split_mious
from csslab.store.rundir import BenchmarkDir


BLOCKS = ("papers-suite", "papers-findings", "papers-summary", "papers-claims")  # the page's generated parts


def _docs_tables():
    spec = importlib.util.spec_from_file_location("docs_tables", Path(__file__).with_name("docs_tables.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Rows:
    """The suite's rows by (method, split, setting): mean and std of old / new / hIoU / all / avg."""

    def __init__(self, rows: list[dict]):
        self.rows = {(r["method"], r["tasks"], r["setting"], r.get("variant") or ""): r for r in rows}

    def has(self, method, tasks, setting="overlap", variant="") -> bool:
        return (method, tasks, setting, variant) in self.rows

    def get(self, method, tasks, key, setting="overlap", variant="") -> float:
        return self.rows[(method, tasks, setting, variant)][f"{key}_mean"]

    def text(self, method, tasks, key, setting="overlap", variant="") -> str:
        row = self.rows[(method, tasks, setting, variant)]
        mean, std = row[f"{key}_mean"], row.get(f"{key}_std")
        return f"{mean:.2f}" + (f" ± {std:.2f}" if std is not None and row.get("n_runs", 1) > 1 else "")


class Finding(NamedTuple):
    paper: str  # and where in it
    claim: str  # the published finding, in words
    theirs: str  # their numbers (mIoU %, Pascal-VOC), as printed
    toy: Callable[[Rows], tuple[str, bool]]  # the toy analogue's numbers (mIoU, 0-1) and whether they agree
    needs: tuple[tuple[str, str, str], ...]  # (method, split, setting) rows the analogue reads


def _all(r: Rows, method, tasks, setting="overlap"):
    return f"{method} {r.text(method, tasks, 'all', setting)}"


FINDINGS = [
    Finding("MiB, Tab. 1 (15-1, both settings)", "Fine-tuning forgets the old classes on a long split",
            "FT old 0.2, new 1.8, all 0.6",
            lambda r: (f"6-1: finetune old {r.text('finetune', '6-1', 'old')}, new {r.text('finetune', '6-1', 'new')}",
                       r.get("finetune", "6-1", "old") < 0.05),
            (("finetune", "6-1", "overlap"),)),
    Finding("MiB, Tab. 1 (15-5)", "Fine-tuning forgets even after one big step, while it learns the new classes",
            "FT old 2.1, new 33.1 (overlapped)",
            lambda r: (f"6-4: finetune old {r.text('finetune', '6-4', 'old')}, new {r.text('finetune', '6-4', 'new')}",
                       r.get("finetune", "6-4", "old") < 0.05 and r.get("finetune", "6-4", "new") > 0.3),
            (("finetune", "6-4", "overlap"),)),
    Finding("MiB, Tab. 1 (15-1)", "MiB is far ahead of output distillation without a background model (LwF)",
            "overlapped all: MiB 29.7, LwF 1.8 (disjoint 37.9 vs 1.5)",
            lambda r: (f"6-1: {_all(r, 'mib', '6-1')}, {_all(r, 'lwf', '6-1')}",
                       r.get("mib", "6-1", "all") > r.get("lwf", "6-1", "all") + 0.1),
            (("mib", "6-1", "overlap"), ("lwf", "6-1", "overlap"))),
    Finding("MiB, Tab. 1; PLOP, Tab. 1", "15-5 (one big step) is easier than 15-1 (five steps) for every method",
            "all, overlapped: MiB 69.0 vs 29.7; PLOP 70.09 vs 54.64",
            lambda r: ("all 6-4 vs 6-1: " + ", ".join(
                f"{m} {r.get(m, '6-4', 'all'):.2f} vs {r.get(m, '6-1', 'all'):.2f}" for m in ("finetune", "lwf", "mib", "plop", "ssul")),
                all(r.get(m, "6-4", "all") > r.get(m, "6-1", "all") for m in ("finetune", "lwf", "mib", "plop", "ssul"))),
            tuple((m, s, "overlap") for m in ("finetune", "lwf", "mib", "plop", "ssul") for s in ("6-1", "6-4"))),
    Finding("PLOP, Tab. 1 (15-1)", "PLOP beats MiB on a long split",
            "all 54.64 vs 29.29; old 65.12 vs 34.22; new 21.11 vs 13.50",
            lambda r: (f"6-1: {_all(r, 'plop', '6-1')}, {_all(r, 'mib', '6-1')}; old {r.text('plop', '6-1', 'old')} "
                       f"vs {r.text('mib', '6-1', 'old')}; new {r.text('plop', '6-1', 'new')} vs "
                       f"{r.text('mib', '6-1', 'new')}",
                       r.get("plop", "6-1", "all") > r.get("mib", "6-1", "all")),
            (("plop", "6-1", "overlap"), ("mib", "6-1", "overlap"))),
    Finding("PLOP, Tab. 1 (15-5)", "PLOP and MiB tie on a short split", "all 70.09 vs 70.08",
            lambda r: (f"6-4: {_all(r, 'plop', '6-4')}, {_all(r, 'mib', '6-4')}",
                       abs(r.get("plop", "6-4", "all") - r.get("mib", "6-4", "all")) < 0.03),
            (("plop", "6-4", "overlap"), ("mib", "6-4", "overlap"))),
    Finding("SSUL README (2-1, 5-3)", "With a small base, PLOP falls below MiB", "2-1 all: PLOP 4.47, MiB 9.88 "
            "(5-3: 18.68 vs 46.71)",
            lambda r: (f"2-1: {_all(r, 'plop', '2-1')}, {_all(r, 'mib', '2-1')}",
                       r.get("plop", "2-1", "all") < r.get("mib", "2-1", "all")),
            (("plop", "2-1", "overlap"), ("mib", "2-1", "overlap"))),
    Finding("SSUL README (15-1, 2-1)", "SSUL beats PLOP and MiB on long splits", "15-1 all: SSUL 67.61, PLOP 54.64, "
            "MiB 29.29; 2-1: 38.32, 4.47, 9.88",
            lambda r: (f"6-1: {_all(r, 'ssul', '6-1')}, {_all(r, 'plop', '6-1')}; 2-1: {_all(r, 'ssul', '2-1')}, "
                       f"{_all(r, 'plop', '2-1')}",
                       all(r.get("ssul", s, "all") > max(r.get("plop", s, "all"), r.get("mib", s, "all"))
                           for s in ("6-1", "2-1"))),
            tuple((m, s, "overlap") for m in ("ssul", "plop", "mib") for s in ("6-1", "2-1"))),
    Finding("SSUL README (19-1 to 2-1)", "Longer sequences with smaller bases degrade MiB", "all: 15-1 29.29, "
            "10-1 12.65, 2-1 9.88",
            lambda r: (f"mib all 6-4 {r.text('mib', '6-4', 'all')}, 6-1 {r.text('mib', '6-1', 'all')}, 2-1 "
                       f"{r.text('mib', '2-1', 'all')}",
                       r.get("mib", "6-4", "all") > r.get("mib", "6-1", "all") > r.get("mib", "2-1", "all")),
            tuple(("mib", s, "overlap") for s in ("6-4", "6-1", "2-1"))),
    Finding("MiB, Tab. 1; PLOP, Tab. 1 (15-1)", "New classes are the weak part, even for the best methods",
            "new vs old: MiB 13.5 vs 35.1, PLOP 21.11 vs 65.12; joint's new 72.6",
            lambda r: ("6-1 new / old: " + ", ".join(f"{m} {r.text(m, '6-1', 'new')} / {r.text(m, '6-1', 'old')}"
                                                     for m in ("mib", "plop", "ssul"))
                       + f"; joint new {r.text('joint', '6-1', 'new')}",
                       all(r.get(m, "6-1", "new") < min(r.get(m, "6-1", "old"), r.get("joint", "6-1", "new"))
                           for m in ("mib", "plop", "ssul"))),
            tuple((m, "6-1", "overlap") for m in ("mib", "plop", "ssul", "joint"))),
    Finding("MiB, Tab. 1 (15-1)", "MiB does better in disjoint than in overlapped on a long split",
            "MiB all 37.9 disjoint vs 29.7 overlapped",
            lambda r: (f"6-1 mib all: disjoint {r.text('mib', '6-1', 'all', 'disjoint')}, overlap "
                       f"{r.text('mib', '6-1', 'all')}",
                       r.get("mib", "6-1", "all", "disjoint") > r.get("mib", "6-1", "all")),
            (("mib", "6-1", "disjoint"), ("mib", "6-1", "overlap"))),
    Finding("MiB, Tab. 1", "Joint training is the ceiling of every method", "joint 77.4; the best 15-1 method 37.9",
            lambda r: (f"joint all {r.text('joint', '6-1', 'all')}; the best method per split: " + ", ".join(
                f"{s} {max(r.get(m, s, 'all') for m in ('finetune', 'lwf', 'mib', 'plop', 'ssul')):.2f}"
                for s in ("6-1", "6-4", "2-1")),
                all(r.get("joint", "6-1", "all") > max(r.get(m, s, "all") for m in ("finetune", "lwf", "mib", "plop",
                                                                                      "ssul"))
                    for s in ("6-1", "6-4", "2-1"))),
            tuple((m, s, "overlap") for m in ("finetune", "lwf", "mib", "plop", "ssul")
                  for s in ("6-1", "6-4", "2-1")) + (("joint", "6-1", "overlap"),)),
    Finding("DKD README; SSUL README (15-1)", "DKD is ahead of MiB on a long split", "all: DKD 70.50, MiB 29.29",
            lambda r: (f"2-2-2-2-2: {_all(r, 'dkd', '2-2-2-2-2')}, {_all(r, 'mib', '2-2-2-2-2')}",
                       r.get("dkd", "2-2-2-2-2", "all") > r.get("mib", "2-2-2-2-2", "all")),
            (("dkd", "2-2-2-2-2", "overlap"), ("mib", "2-2-2-2-2", "overlap"))),
]


def run_results(folders: list[Path], data: list[dict]) -> dict[tuple[Path, str], dict]:
    """The results.json of every row's runs, read once, by (benchmark folder, run)."""
    return {(folder, run): Results.load(folder / run).data
            for folder, bench in zip(folders, data) for row in bench["rows"] for run in row.get("runs", [])}


def seed_rows(folders: list[Path], data: list[dict], results_of: dict[tuple[Path, str], dict]) -> dict[int, Rows]:
    """Rows of each seed alone (every row's run of that seed): a finding's verdict seed by seed."""
    by_seed: dict[int, list[dict]] = {}
    for folder, bench in zip(folders, data):
        for row in bench["rows"]:
            for run in row.get("runs", []):
                results = results_of[(folder, run)]
                one = {k: row[k] for k in ("method", "tasks", "setting")} | {"variant": row.get("variant") or ""}
                one |= {f"{k}_mean": v for k, v in split_mious(results).items()}
                one["first_mean"] = results["tasks"][0]["miou_all"]
                by_seed.setdefault(results["config"]["seed"], []).append(one)
    return {seed: Rows(rows) for seed, rows in sorted(by_seed.items())}


def seeds_agreeing(finding: Finding, per_seed: dict[int, Rows]) -> str:
    """'k of n': the seeds on whose runs alone the finding holds (n: the seeds that ran every row it reads)."""
    verdicts = [finding.toy(rows)[1] for rows in per_seed.values() if all(rows.has(*need) for need in finding.needs)]
    return f"{sum(verdicts)} of {len(verdicts)}"


def findings_table(rows: Rows, per_seed: dict[int, Rows] | None = None) -> tuple[str, list[bool]]:
    per_seed = per_seed or {}
    lines = ["| # | paper | published finding | their numbers (VOC, mIoU %) | toy analogue (mIoU, mean ± std) | | "
             "seeds where it holds |",
             "|---|---|---|---|---|---|---|"]
    verdicts = []
    for i, finding in enumerate(FINDINGS, 1):
        missing = [need for need in finding.needs if not rows.has(*need)]
        if missing:
            lines.append(f"| {i} | {finding.paper} | {finding.claim} | {finding.theirs} | not run ({missing[0]}) | X | |")
            verdicts.append(None)
            continue
        text, agrees = finding.toy(rows)
        verdicts.append(agrees)
        lines.append(f"| {i} | {finding.paper} | {finding.claim} | {finding.theirs} | {text} | "
                     f"{'agrees' if agrees else '**disagrees**'} | {seeds_agreeing(finding, per_seed)} |")
    return "\n".join(lines), verdicts


def prose_checked(rows: Rows, per_seed: dict[int, Rows]) -> list[tuple[str, bool]]:
    """The prose's claims, each with whether it holds: ``PROSE_CLAIMS`` on the means over seeds, ``SEED_CLAIMS`` on
    every seed's runs alone."""
    return ([(text, bool(check(rows))) for text, check in PROSE_CLAIMS]
            + [(text, all(bool(check(seed)) for seed in per_seed.values())) for text, check in SEED_CLAIMS])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suites", nargs="+", type=Path, help="benchmark directories of the papers' suite")
    parser.add_argument("--page", type=Path, default=Path("docs/papers.md"))
    args = parser.parse_args(argv)
    data = [json.loads(BenchmarkDir(d).json.read_text()) for d in args.suites]
    results_of = run_results(args.suites, data)
    for folder, bench in zip(args.suites, data):  # the first task's mIoU all of each row (the base it starts from)
        for row in bench["rows"]:
            firsts = [results_of[(folder, run)]["tasks"][0]["miou_all"] for run in row.get("runs", [])]
            row["first_mean"] = sum(firsts) / len(firsts) if firsts else None
    all_rows = [row for d in data for row in d["rows"]]
    rows = Rows(all_rows)
    per_seed = seed_rows(args.suites, data, results_of)
    table, verdicts = findings_table(rows, per_seed)
    expected = PAGE_CLAIMS
    checked = [(f"finding {i}: {'agrees' if want else 'disagrees'}", verdicts[i - 1] is want)
               for i, want in expected.items()]
    checked += prose_checked(rows, per_seed)
    agree = sum(v is True for v in verdicts)
    blocks = {
        "papers-suite": "\n\n".join(benchmark_markdown(d["rows"]) for d in data),
        "papers-findings": table,
        "papers-summary": f"{agree} of the {sum(v is not None for v in verdicts)} findings hold on the toy.",
        "papers-claims": "\n".join(f"- {'✓' if ok else '✗'} {text}" for text, ok in checked),
    }
    assert set(blocks) == set(BLOCKS), sorted(set(blocks) ^ set(BLOCKS))
    page = args.page.read_text()
    atomic_write(args.page, _docs_tables().fill(page, blocks))
    for text, ok in checked:
        print(("ok    " if ok else "FAILS ") + text)
    return 0 if all(ok for _, ok in checked) else 1


# What the page's prose says of each finding (its number: agrees True / disagrees False): the explanations
# are written for these verdicts, so a regeneration that changes one fails until the prose is rewritten.
PAGE_CLAIMS: dict[int, bool] = {1: True, 2: True, 3: True, 4: False, 5: False, 6: False, 7: True, 8: False,
                                 9: True, 10: True, 11: False, 12: True, 13: False}
NOPOD, MEDIAN, PRETRAINED = "pod_factor=0,pod_logits_factor=0", "threshold_rule=median", "model.pretrain=shapes"
# Other numbers the prose states, as (sentence, check on the rows).
PROSE_CLAIMS: list[tuple[str, Callable[[Rows], bool]]] = [
    ("PLOP keeps more than 0.1 fewer old and new classes than MiB on 6-1",
     lambda r: r.get("plop", "6-1", "old") < r.get("mib", "6-1", "old") - 0.1
     and r.get("plop", "6-1", "new") < r.get("mib", "6-1", "new") - 0.1),
    ("with the paper's median threshold rule PLOP ends 6-1 more than 0.05 mIoU all below its code's rule (the default)",
     lambda r: r.get("plop", "6-1", "all", variant=MEDIAN) < r.get("plop", "6-1", "all") - 0.05),
    ("without POD PLOP ends 6-1 higher than with it, by less than 0.05 mIoU all",
     lambda r: 0 < r.get("plop", "6-1", "all", variant=NOPOD) - r.get("plop", "6-1", "all") < 0.05),
    ("on 6-4 PLOP ends less than 0.05 mIoU all below MiB",
     lambda r: 0 < r.get("mib", "6-4", "all") - r.get("plop", "6-4", "all") < 0.05),
    ("without POD, PLOP still keeps fewer old classes than MiB on 6-1",
     lambda r: r.get("plop", "6-1", "old", variant=NOPOD) < r.get("mib", "6-1", "old")),
    ("a pretrained backbone raises SSUL's final mIoU all on 6-1, which stays below MiB's",
     lambda r: r.get("mib", "6-1", "all") > r.get("ssul", "6-1", "all", variant=PRETRAINED) > r.get("ssul", "6-1", "all")),
    ("SSUL's first task of 6-1 ends more than 0.15 mIoU all below the shared plain-CE base, the pretrained SSUL's "
     "in between",
     lambda r: r.get("ssul", "6-1", "first") < r.get("ssul", "6-1", "first", variant=PRETRAINED)
     < r.get("finetune", "6-1", "first") - 0.15),
    ("on 2-1 PLOP ends above SSUL, both more than 0.2 mIoU all below MiB",
     lambda r: r.get("plop", "2-1", "all") > r.get("ssul", "2-1", "all")
     and r.get("plop", "2-1", "all") < r.get("mib", "2-1", "all") - 0.2),
    ("6-4 ends above 6-1 for finetune, LwF, MiB and PLOP by at least 0.04; SSUL's two splits are within 0.05, its new "
     "classes below 0.2 on both",
     lambda r: all(r.get(m, "6-4", "all") > r.get(m, "6-1", "all") + 0.04 for m in ("finetune", "lwf", "mib", "plop"))
     and abs(r.get("ssul", "6-4", "all") - r.get("ssul", "6-1", "all")) < 0.05
     and max(r.get("ssul", "6-4", "new"), r.get("ssul", "6-1", "new")) < 0.2),
    ("MiB in disjoint ends 6-1 more than 0.1 below MiB in overlap",
     lambda r: r.get("mib", "6-1", "all", "disjoint") < r.get("mib", "6-1", "all") - 0.1),
    ("on 6-1 and 6-4 SDR ends within 0.02 mIoU all of MiB",
     lambda r: all(abs(r.get("sdr", s, "all") - r.get("mib", s, "all")) < 0.02 for s in ("6-1", "6-4"))),
    ("EIR trails MiB by 0.02-0.07 on 6-1 and 6-4",
     lambda r: all(0.02 <= r.get("mib", s, "all") - r.get("eir", s, "all") <= 0.07 for s in ("6-1", "6-4"))),
    ("DKD and EWF learn 6-4's new task (new > 0.3) but no single digit of 6-1 (new < 0.01)",
     lambda r: all(r.get(m, "6-4", "new") > 0.3 and r.get(m, "6-1", "new") < 0.01 for m in ("dkd", "ewf"))),
    ("MicroSeg ends below SSUL on 6-1 and 6-4, and none of SDR, DKD, EWF, MicroSeg, EIR beats MiB by 0.02 there",
     lambda r: all(r.get("microseg", s, "all") < r.get("ssul", s, "all") for s in ("6-1", "6-4"))
     and all(r.get(m, s, "all") < r.get("mib", s, "all") + 0.02
             for m in ("sdr", "dkd", "ewf", "microseg", "eir") for s in ("6-1", "6-4"))),
    ("DKD learns no class of the last task of 2-2-2-2-2 and ends far below MiB",
     lambda r: r.get("dkd", "2-2-2-2-2", "new") < 0.01
     and r.get("dkd", "2-2-2-2-2", "all") < r.get("mib", "2-2-2-2-2", "all") - 0.3),
]

# What the prose says holds on every seed: each check holds on each seed's runs alone.
SEED_CLAIMS: list[tuple[str, Callable[[Rows], bool]]] = [
    ("on every seed, 6-4 ends above 6-1 for finetune, LwF, MiB and PLOP",
     lambda r: all(r.get(m, "6-4", "all") > r.get(m, "6-1", "all") for m in ("finetune", "lwf", "mib", "plop"))),
    ("on every seed, PLOP ends 6-1 lower with the paper's median threshold rule than with its code's",
     lambda r: r.get("plop", "6-1", "all", variant=MEDIAN) < r.get("plop", "6-1", "all")),
    ("on every seed, PLOP without POD ends 6-1 higher than with it",
     lambda r: r.get("plop", "6-1", "all", variant=NOPOD) > r.get("plop", "6-1", "all")),
]


if __name__ == "__main__":
    sys.exit(main())
