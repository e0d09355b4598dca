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
_claims = _script("papers_claims")  # what the page's prose says, checked below (tests replace these per test)
PAGE_CLAIMS, PROSE_CLAIMS, SEED_CLAIMS = _claims.PAGE_CLAIMS, _claims.PROSE_CLAIMS, _claims.SEED_CLAIMS
assert sorted(PAGE_CLAIMS) == list(range(1, len(FINDINGS) + 1)), "a verdict per finding in papers_claims.PAGE_CLAIMS"


def regime_of(variant: str, pretrain: str | None) -> tuple[str, str]:
    """(regime, variant less its ``model.pretrain`` part): the variant's ``model.pretrain=R`` names the regime, else
    the runs' configured ``pretrain`` (``--set model.pretrain=R``), else none."""
    parts = [p for p in (variant or "").split(",") if p]
    named = [p.split("=", 1)[1] for p in parts if p.startswith(PRETRAIN + "=")]
    rest = ",".join(p for p in parts if not p.startswith(PRETRAIN + "="))
    return (named[0] if named else pretrain or "none"), rest


def load_suites(folders: list[Path]) -> tuple[list[dict], dict[tuple[Path, str], dict], dict[Path, tuple[list, set]]]:
    """Every row of the benchmark directories with its ``regime`` and variant less the regime, the first task's
    mean mIoU all (``first_mean``), the results.json of every run by (folder, run), and each folder's rows as its
    benchmark.json holds them with the regimes they ran in (its table). A row met in two folders (same method,
    split, setting, variant, regime) is kept once: the one with more runs, else the later folder's."""
    kept: dict[tuple, dict] = {}
    results_of: dict[tuple[Path, str], dict] = {}
    tables: dict[Path, tuple[list, set]] = {}
    for folder in folders:
        bench = BenchmarkDir(folder)
        if not bench.json.is_file():
            raise SystemExit(f"papers_doc: {folder} holds no {bench.json.name}: give the directory of a finished "
                             f"csslab benchmark (its --out)")
        rows, regimes = json.loads(bench.json.read_text())["rows"], set()
        tables[folder] = (rows, regimes)
        for row in rows:
            runs = row.get("runs", [])
            for run in runs:
                try:
                    results_of[(folder, run)] = Results.load(folder / run).data
                except (OSError, ValueError) as error:  # a run deleted or damaged since its benchmark was written
                    raise SystemExit(f"papers_doc: run {run} of {folder}: {error}") from None
            configs = [results_of[(folder, run)]["config"] for run in runs]
            pretrain = configs[0].get("model", {}).get("pretrain") if configs else None
            regime, variant = regime_of(row.get("variant") or "", pretrain)
            regimes.add(regime)
            firsts = [results_of[(folder, run)]["tasks"][0]["miou_all"] for run in runs]
            row = row | {"regime": regime, "variant": variant, "folder": folder,
                         "first_mean": sum(firsts) / len(firsts) if firsts else None}
            key = (row["method"], row["tasks"], row["setting"], variant, regime)
            if key in kept and len(kept[key].get("runs", [])) > len(runs):
                print(f"papers_doc: {key} in {kept[key]['folder']} and {folder}: the one with more runs is kept")
                continue
            kept[key] = row
    return list(kept.values()), results_of, tables


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


def suite_tables(tables: dict[Path, tuple[list, set]]) -> str:
    """Each benchmark directory's table (``load_suites``) under the regimes its rows ran in (a table's budget line
    does not name the backbone's pretraining), the scratch regime's first."""
    order = list(REGIMES)

    def rank(regime: str) -> int:  # the findings table's order, any other regime (an ablation's) after
        return order.index(regime) if regime in order else len(order)

    titled = []
    for folder, (rows, regimes) in tables.items():
        regimes = sorted(regimes, key=rank)
        title = " and ".join(REGIMES.get(r, f"pretrained ({r})") for r in regimes)
        titled.append(((min(map(rank, regimes), default=len(order)), len(regimes)),
                       f"*{title[:1].upper() + title[1:]}* ({folder.name}):\n\n{benchmark_markdown(rows)}"))
    return "\n\n".join(text for _, text in sorted(titled, key=lambda table: table[0]))


def _mark(ok: bool | None) -> str:
    return {True: "✓", False: "✗", None: "not checked (not run):"}[ok]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suites", nargs="+", type=Path, help="benchmark directories of the papers' suite")
    parser.add_argument("--page", type=Path, default=Path("docs/papers.md"))
    args = parser.parse_args(argv)
    if not args.page.is_file():
        raise SystemExit(f"papers_doc: no page {args.page} to fill (--page names docs/papers.md)")
    all_rows, results_of, tables = load_suites(args.suites)
    rows, per_seed = Rows(all_rows), seed_rows(all_rows, results_of)
    table, verdicts = findings_table(rows, per_seed)
    checked = claims_checked(verdicts) + prose_checked(rows, per_seed)
    blocks = {
        "papers-suite": suite_tables(tables),
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


if __name__ == "__main__":
    sys.exit(main())
