"""docs/papers.md from the papers' suite: each published finding beside its analogue on the toy, under two
regimes (from scratch, ``model.pretrain=none``; pretrained on digits no scene holds, ``model.pretrain=digits``),
checked.

Reads the benchmark directories of ``csslab benchmark --suite papers`` (overlap: every split; disjoint: at
least 6-1), with or without ``--set model.pretrain=digits`` / ``--grid model.pretrain=none,digits``: a row's regime
is its variant's ``model.pretrain`` part, else its runs' ``model.pretrain``. It fills the page's generated blocks
(``<!-- make_docs: papers-* -->``) and checks every claim the page's prose makes per regime: the script exits 1,
naming the claim, when a number contradicts one; a claim whose rows were not run is listed as not checked.

    python scripts/papers_doc.py SUITE_DIR [SUITE_DIR ...] --page docs/papers.md
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path
from typing import Callable

from csslab.core.files import atomic_write
from csslab.reports.benchmark_table import benchmark_markdown
from csslab.store.results import Results, split_mious
from csslab.store.rundir import BenchmarkDir


BLOCKS = ("papers-suite", "papers-findings", "papers-summary", "papers-claims")  # the page's generated parts


def _script(name: str):
    """A module beside this script, imported by its path (scripts/ is no package)."""
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_findings = _script("papers_findings")
Rows, Finding, FINDINGS, REGIMES, PRETRAIN = (_findings.Rows, _findings.Finding, _findings.FINDINGS, _findings.REGIMES,
                                              _findings.PRETRAIN)


def regime_of(variant: str, pretrain: str | None) -> tuple[str, str]:
    """(regime, variant less its ``model.pretrain`` part): the variant's ``model.pretrain=R`` names the regime, else
    the runs' configured ``pretrain`` (``--set model.pretrain=R``), else none."""
    parts = [p for p in (variant or "").split(",") if p]
    named = [p.split("=", 1)[1] for p in parts if p.startswith(PRETRAIN + "=")]
    rest = ",".join(p for p in parts if not p.startswith(PRETRAIN + "="))
    return (named[0] if named else pretrain or "none"), rest


def load_suites(folders: list[Path]) -> tuple[list[dict], dict[tuple[Path, str], dict]]:
    """Every row of the benchmark directories with its ``regime`` and variant less the regime, the first task's
    mean mIoU all (``first_mean``), and the results.json of every run by (folder, run). A row met in two folders
    (same method, split, setting, variant, regime) is kept once: the one with more runs, else the later folder's."""
    kept: dict[tuple, dict] = {}
    results_of: dict[tuple[Path, str], dict] = {}
    for folder in folders:
        bench = BenchmarkDir(folder)
        if not bench.json.is_file():
            raise SystemExit(f"papers_doc: {folder} holds no {bench.json.name}: give the directory of a finished "
                             f"csslab benchmark (its --out)")
        for row in json.loads(bench.json.read_text())["rows"]:
            runs = row.get("runs", [])
            for run in runs:
                try:
                    results_of[(folder, run)] = Results.load(folder / run).data
                except (OSError, ValueError) as error:  # a run deleted or damaged since its benchmark was written
                    raise SystemExit(f"papers_doc: run {run} of {folder}: {error}") from None
            configs = [results_of[(folder, run)]["config"] for run in runs]
            pretrain = configs[0].get("model", {}).get("pretrain") if configs else None
            regime, variant = regime_of(row.get("variant") or "", pretrain)
            firsts = [results_of[(folder, run)]["tasks"][0]["miou_all"] for run in runs]
            row = row | {"regime": regime, "variant": variant, "folder": folder,
                         "first_mean": sum(firsts) / len(firsts) if firsts else None}
            key = (row["method"], row["tasks"], row["setting"], variant, regime)
            if key in kept and len(kept[key].get("runs", [])) > len(runs):
                print(f"papers_doc: {key} in {kept[key]['folder']} and {folder}: the one with more runs is kept")
                continue
            kept[key] = row
    return list(kept.values()), results_of


def seed_rows(rows: list[dict], results_of: dict[tuple[Path, str], dict]) -> dict[int, Rows]:
    """Rows of each seed alone (every row's run of that seed): a finding's verdict seed by seed."""
    by_seed: dict[int, list[dict]] = {}
    for row in rows:
        for run in row.get("runs", []):
            results = results_of[(row["folder"], run)]
            one = {k: row[k] for k in ("method", "tasks", "setting", "variant", "regime")}
            one |= {f"{k}_mean": v for k, v in split_mious(results).items()}
            one["first_mean"] = results["tasks"][0]["miou_all"]
            by_seed.setdefault(results["config"]["seed"], []).append(one)
    return {seed: Rows(seed_rows) for seed, seed_rows in sorted(by_seed.items())}


def verdict(finding: Finding, rows: Rows) -> tuple[str, bool | None]:
    """The toy analogue's text and verdict in ``rows``' regime; (what is missing, None) when its rows were not run
    (or predate a column it reads, e.g. base / added)."""
    missing = [need for need in finding.needs if not rows.has(*need)]
    if missing:
        return "not run (" + ", ".join(" ".join(need) for need in missing[:2]) + (", ..." if len(missing) > 2
                                                                                   else "") + ")", None
    try:
        text, agrees = finding.toy(rows)
    except KeyError as error:
        return f"not run (the rows lack {error.args[0]})", None
    return text, bool(agrees)


def seeds_agreeing(finding: Finding, per_seed: dict[int, Rows], regime: str = "none") -> str:
    """'k of n': the seeds on whose runs alone the finding holds (n: the seeds that ran every row it reads)."""
    verdicts = [verdict(finding, rows.of(regime))[1] for rows in per_seed.values()]
    verdicts = [v for v in verdicts if v is not None]
    return f"{sum(verdicts)} of {len(verdicts)}"


def findings_table(rows: Rows, per_seed: dict[int, Rows] | None = None,
                   regimes=tuple(REGIMES)) -> tuple[str, list[dict[str, bool | None]]]:
    """The findings table, one toy / verdict / seeds column group per regime; the verdicts by finding and regime
    (None: not run)."""
    per_seed = per_seed or {}
    header = "| # | paper | published finding | their numbers (VOC, mIoU %) | " + " | ".join(
        f"{REGIMES.get(g, g)}: toy analogue (mIoU, mean ± std) | | seeds where it holds" for g in regimes) + " |"
    lines = [header, "|" + "---|" * (4 + 3 * len(regimes))]
    verdicts = []
    for i, finding in enumerate(FINDINGS, 1):
        cells, found = [], {}
        for regime in regimes:
            text, agrees = verdict(finding, rows.of(regime))
            found[regime] = agrees
            cells += [text, "not run", ""] if agrees is None else [
                text, "agrees" if agrees else "**disagrees**", seeds_agreeing(finding, per_seed, regime)]
        verdicts.append(found)
        lines.append(f"| {i} | {finding.paper} | {finding.claim} | {finding.theirs} | " + " | ".join(cells) + " |")
    return "\n".join(lines), verdicts


def _holds(check, rows: Rows) -> bool | None:
    try:
        return bool(check(rows))
    except KeyError:  # a row (or column) the claim reads was not run
        return None


def prose_checked(rows: Rows, per_seed: dict[int, Rows]) -> list[tuple[str, bool | None]]:
    """The prose's claims, each with whether it holds (None: its rows were not run): ``PROSE_CLAIMS`` on the means
    over seeds, ``SEED_CLAIMS`` on every seed's runs alone (not checked when no seed ran its rows)."""
    checked = [(text, _holds(check, rows)) for text, check in PROSE_CLAIMS]
    for text, check in SEED_CLAIMS:
        seeds = [v for v in (_holds(check, seed) for seed in per_seed.values()) if v is not None]
        checked.append((text, all(seeds) if seeds else None))
    return checked


def claims_checked(verdicts: list[dict[str, bool | None]]) -> list[tuple[str, bool | None]]:
    """``PAGE_CLAIMS`` against the verdicts: (sentence, holds; None when its rows were not run). A claim the page
    does not make yet (None) fails once its rows are run: the prose must then be written for the verdict."""
    checked = []
    for i, wants in PAGE_CLAIMS.items():
        for regime, want in wants.items():
            got = verdicts[i - 1].get(regime)
            word = {True: "agrees", False: "disagrees", None: "no verdict stated yet"}[want]
            checked.append((f"finding {i} ({REGIMES.get(regime, regime)}): {word}",
                            None if got is None else want is got))
    return checked


def summary(verdicts: list[dict[str, bool | None]], regimes=tuple(REGIMES)) -> str:
    parts = []
    for regime in regimes:
        found = [v[regime] for v in verdicts]
        ran = [v for v in found if v is not None]
        parts.append(f"{REGIMES.get(regime, regime)}: {sum(ran)} of the {len(ran)} findings run hold on the toy"
                     + (f" ({len(found) - len(ran)} not run)" if len(ran) < len(found) else ""))
    return "; ".join(parts) + "."


def _mark(ok: bool | None) -> str:
    return {True: "✓", False: "✗", None: "not checked (not run):"}[ok]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suites", nargs="+", type=Path, help="benchmark directories of the papers' suite")
    parser.add_argument("--page", type=Path, default=Path("docs/papers.md"))
    args = parser.parse_args(argv)
    if not args.page.is_file():
        raise SystemExit(f"papers_doc: no page {args.page} to fill (--page names docs/papers.md)")
    all_rows, results_of = load_suites(args.suites)
    rows, per_seed = Rows(all_rows), seed_rows(all_rows, results_of)
    table, verdicts = findings_table(rows, per_seed)
    checked = claims_checked(verdicts) + prose_checked(rows, per_seed)
    data = [json.loads(BenchmarkDir(d).json.read_text()) for d in args.suites]
    blocks = {
        "papers-suite": "\n\n".join(benchmark_markdown(d["rows"]) for d in data),
        "papers-findings": table,
        "papers-summary": summary(verdicts),
        "papers-claims": "\n".join(f"- {_mark(ok)} {text}" for text, ok in checked),
    }
    assert set(blocks) == set(BLOCKS), sorted(set(blocks) ^ set(BLOCKS))
    page = args.page.read_text()
    atomic_write(args.page, _script("docs_tables").fill(page, blocks))
    for text, ok in checked:
        print({True: "ok    ", False: "FAILS ", None: "not run "}[ok] + text)
    failing = [text for text, ok in checked if ok is False]
    unchecked = sum(ok is None for _, ok in checked)
    print(f"{len(checked) - len(failing) - unchecked} claims hold, {len(failing)} fail, "
          f"{unchecked} not checked (not run)")
    return 1 if failing else 0


# What the page's prose says of each finding under each regime (its number: {regime: agrees True / disagrees
# False / None, no verdict stated yet}): the explanations are written for these verdicts, so a regeneration that
# changes one fails until the prose is rewritten, and one whose rows were not run is listed as not checked. The
# scratch verdicts were read from the earlier suite (3 seeds, before the scenes changed; its run directories are
# gone), but for the default split's findings (13, 20, 21), read with the pretrained ones from one benchmark over
# both regimes; a finding whose rows no run had yet says None, and fails once they are run until the page states it.
_SCRATCH = {1: True, 2: True, 3: True, 4: False, 5: False, 6: False, 7: True, 8: False, 9: True, 10: True, 11: False,
            12: True, 13: False, 14: False, 15: False, 16: True, 17: False, 18: False, 19: False, 20: False, 21: False}
_DIGITS = {1: True, 2: True, 3: True, 4: True, 5: False, 6: False, 7: True, 8: False, 9: True, 10: False, 11: False,
           12: True, 13: False, 14: False, 15: False, 16: True, 17: False, 18: False, 19: False, 20: False, 21: False}
PAGE_CLAIMS: dict[int, dict[str, bool | None]] = {i: {"none": _SCRATCH[i], "digits": _DIGITS.get(i)}
                                                   for i in range(1, len(FINDINGS) + 1)}
NOPOD, MEDIAN = "pod_factor=0,pod_logits_factor=0", "threshold_rule=median"
SHAPES = "shapes"  # the regime of the ablation on a backbone pretrained on procedural shapes
D = "digits"  # the pretrained regime (docs/papers.md#the-pretrained-regime-on-the-papers-splits-3-seeds)
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
     lambda r: r.get("mib", "6-1", "all") > r.get("ssul", "6-1", "all", regime=SHAPES) > r.get("ssul", "6-1", "all")),
    ("SSUL's first task of 6-1 ends more than 0.15 mIoU all below the shared plain-CE base, the pretrained SSUL's "
     "in between",
     lambda r: r.get("ssul", "6-1", "first") < r.get("ssul", "6-1", "first", regime=SHAPES)
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
    # the pretrained regime's section
    ("digits: 6-4 ends above 6-1 for finetune, LwF, MiB and PLOP; SSUL's two splits are within 0.01",
     lambda r: all(r.get(m, "6-4", "all", regime=D) > r.get(m, "6-1", "all", regime=D)
                   for m in ("finetune", "lwf", "mib", "plop"))
     and abs(r.get("ssul", "6-4", "all", regime=D) - r.get("ssul", "6-1", "all", regime=D)) < 0.01),
    ("digits: on 6-1 SSUL's new classes end above its old ones, its base below its added classes, MiB's and PLOP's "
     "new below their old",
     lambda r: r.get("ssul", "6-1", "new", regime=D) > r.get("ssul", "6-1", "old", regime=D)
     and r.get("ssul", "6-1", "base", regime=D) < r.get("ssul", "6-1", "added", regime=D)
     and all(r.get(m, "6-1", "new", regime=D) < r.get(m, "6-1", "old", regime=D) for m in ("mib", "plop"))),
    ("digits: SSUL ends 2-1 above PLOP and below MiB, and 6-1 below PLOP",
     lambda r: r.get("plop", "2-1", "all", regime=D) < r.get("ssul", "2-1", "all", regime=D)
     < r.get("mib", "2-1", "all", regime=D) and r.get("ssul", "6-1", "all", regime=D) < r.get("plop", "6-1", "all",
                                                                                             regime=D)),
    ("digits: SSUL's first task of 6-1 ends more than 0.2 mIoU all below the plain-CE base, and its base ends lower "
     "than its first task and below PLOP's and MiB's",
     lambda r: r.get("ssul", "6-1", "first", regime=D) < r.get("finetune", "6-1", "first", regime=D) - 0.2
     and r.get("ssul", "6-1", "base", regime=D) < r.get("ssul", "6-1", "first", regime=D)
     and r.get("ssul", "6-1", "base", regime=D) < min(r.get(m, "6-1", "base", regime=D) for m in ("plop", "mib"))),
    ("digits: DKD's base on 6-1 ends within 0.01 of MiB's, its added classes more than 0.3 below",
     lambda r: abs(r.get("dkd", "6-1", "base", regime=D) - r.get("mib", "6-1", "base", regime=D)) < 0.01
     and r.get("dkd", "6-1", "added", regime=D) < r.get("mib", "6-1", "added", regime=D) - 0.3),
    ("digits: MicroSeg ends 6-1 below SSUL and 6-4 above it; its 6-1 base ends more than 0.3 below its first task",
     lambda r: r.get("microseg", "6-1", "all", regime=D) < r.get("ssul", "6-1", "all", regime=D)
     and r.get("microseg", "6-4", "all", regime=D) > r.get("ssul", "6-4", "all", regime=D)
     and r.get("microseg", "6-1", "base", regime=D) < r.get("microseg", "6-1", "first", regime=D) - 0.3),
    ("digits: without POD PLOP ends 6-1 higher than with it, by less than 0.05, and still more than 0.05 below MiB",
     lambda r: 0 < r.get("plop", "6-1", "all", variant=NOPOD, regime=D) - r.get("plop", "6-1", "all", regime=D) < 0.05
     and r.get("plop", "6-1", "all", variant=NOPOD, regime=D) < r.get("mib", "6-1", "all", regime=D) - 0.05),
    ("digits: with the paper's median threshold rule PLOP ends 6-1 more than 0.05 mIoU all below its code's rule",
     lambda r: r.get("plop", "6-1", "all", variant=MEDIAN, regime=D) < r.get("plop", "6-1", "all", regime=D) - 0.05),
    ("digits: EWF learns no digit of 6-1's last task (new < 0.01); without its fusion it ends within 0.005 of MiB, "
     "new above 0.5",
     lambda r: r.get("ewf", "6-1", "new", regime=D) < 0.01
     and abs(r.get("ewf", "6-1", "all", variant="fuse=false", regime=D) - r.get("mib", "6-1", "all", regime=D)) < 0.005
     and r.get("ewf", "6-1", "new", variant="fuse=false", regime=D) > 0.5),
    ("digits: DKD without the auxiliary classifier's copies learns 6-1's last digit better and stays more than 0.1 "
     "below MiB; with frozen BatchNorm affine parameters it ends within 0.005 of its default",
     lambda r: r.get("dkd", "6-1", "new", variant="ac=0", regime=D) > r.get("dkd", "6-1", "new", regime=D)
     and r.get("dkd", "6-1", "all", variant="ac=0", regime=D) < r.get("mib", "6-1", "all", regime=D) - 0.1
     and abs(r.get("dkd", "6-1", "all", variant="freeze_bn_affine=true", regime=D)
             - r.get("dkd", "6-1", "all", regime=D)) < 0.005),
    ("digits: MicroSeg at pixel level ends 6-1 lower than at region level and its base ends more than 0.2 below its "
     "first task",
     lambda r: r.get("microseg", "6-1", "all", variant="region_level=false", regime=D)
     < r.get("microseg", "6-1", "all", regime=D)
     and r.get("microseg", "6-1", "base", variant="region_level=false", regime=D)
     < r.get("microseg", "6-1", "first", variant="region_level=false", regime=D) - 0.2),
    ("digits: MiB in disjoint ends 6-1 more than 0.1 below MiB in overlap, its base and its added classes both lower",
     lambda r: r.get("mib", "6-1", "all", "disjoint", regime=D) < r.get("mib", "6-1", "all", regime=D) - 0.1
     and all(r.get("mib", "6-1", k, "disjoint", regime=D) < r.get("mib", "6-1", k, regime=D) for k in ("base", "added"))),
]

# What the prose says holds on every seed: each check holds on each seed's runs alone.
SEED_CLAIMS: list[tuple[str, Callable[[Rows], bool]]] = [
    ("on every seed, 6-4 ends above 6-1 for finetune, LwF, MiB and PLOP",
     lambda r: all(r.get(m, "6-4", "all") > r.get(m, "6-1", "all") for m in ("finetune", "lwf", "mib", "plop"))),
    ("on every seed, PLOP ends 6-1 lower with the paper's median threshold rule than with its code's",
     lambda r: r.get("plop", "6-1", "all", variant=MEDIAN) < r.get("plop", "6-1", "all")),
    ("on every seed, PLOP without POD ends 6-1 higher than with it",
     lambda r: r.get("plop", "6-1", "all", variant=NOPOD) > r.get("plop", "6-1", "all")),
    ("digits: on every seed, 6-4 ends above 6-1 for finetune, LwF, MiB and PLOP",
     lambda r: all(r.get(m, "6-4", "all", regime=D) > r.get(m, "6-1", "all", regime=D)
                   for m in ("finetune", "lwf", "mib", "plop"))),
    ("digits: on every seed, PLOP ends 6-1 higher without POD and lower with the paper's median rule",
     lambda r: r.get("plop", "6-1", "all", variant=MEDIAN, regime=D) < r.get("plop", "6-1", "all", regime=D)
     < r.get("plop", "6-1", "all", variant=NOPOD, regime=D)),
    ("digits: on every seed, DKD without the auxiliary classifier's copies learns 6-1's last digit better",
     lambda r: r.get("dkd", "6-1", "new", variant="ac=0", regime=D) > r.get("dkd", "6-1", "new", regime=D)),
    ("digits: on every seed, SSUL ends 2-1 above PLOP",
     lambda r: r.get("ssul", "2-1", "all", regime=D) > r.get("plop", "2-1", "all", regime=D)),
]


if __name__ == "__main__":
    sys.exit(main())
