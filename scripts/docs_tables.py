"""Fill docs/*.md from the runs of scripts/make_docs.sh, copy their figures, and check the docs' claims.

Each generated part of a page sits between ``<!-- make_docs: NAME -->`` and ``<!-- /make_docs -->``
and is replaced by ``BLOCKS[NAME]``; the prose around it is written by hand and must agree with the
claims checked at the end (the script exits 1, naming the claim, when a number contradicts one).
The README's one table, ``README_BLOCK``, is the table of the README's benchmark (3 seeds at the default
budget, run apart from the docs' runs): filled from that benchmark's directory when ``--readme-bench`` names it.

    python scripts/docs_tables.py RUNS DOCS [--steps N --tasks SPLIT] [--readme-bench runs/bench5]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import shutil
import sys
from pathlib import Path

from csslab.core.config import Config
from csslab.core.files import atomic_write
from csslab.reports import write_run_report
from csslab.reports.benchmark_table import benchmark_markdown
from csslab.reports.tables import MISSING
from csslab.store.results import Results
from csslab.store.rundir import BenchmarkDir, RunDir
from csslab.store.runstore import setting_name

MARKER = re.compile(r"(<!-- make_docs: (?P<name>[\w:-]+) -->\n)(?P<body>.*?)(<!-- /make_docs -->)", re.S)
BLOCKS = ("budget", "scenario:overlap", "scenario:disjoint", "scenario:sequential", "scenario:clean", "settings",
          "memory-size", "memory-refresh", "memory-recall", "memory-mib", "methods", "claims")
OTHER_PAGES = {"papers.md": "scripts/papers_doc.py"}  # pages another script fills, from the papers' suite
README_BLOCK = "readme-benchmark"  # the README's benchmark table (``readme_table``)


def fill(text: str, blocks: dict) -> str:
    """``text`` with every generated block replaced by ``blocks[name]``; the prose around is kept."""
    missing = [m["name"] for m in MARKER.finditer(text) if m["name"] not in blocks]
    if missing:
        raise SystemExit(f"make_docs: unknown block(s) {', '.join(missing)}; known: {', '.join(sorted(blocks))}")
    return MARKER.sub(lambda m: m[1] + blocks[m["name"]] + "\n" + m[4], text)


def load_runs(bench: Path) -> list[dict]:
    """Every run of a benchmark directory: method, setting name, variant, final mIoUs, diagnostic."""
    data = json.loads(BenchmarkDir(bench).json.read_text())
    runs = []
    for rel in data["runs"]:
        results = Results.load(bench / rel)
        config = Config.from_dict(results["config"])
        runs.append({"dir": bench / rel, "method": config.method, "setting": setting_name(config),
                     "steps": config.train.steps,
                     "params": results["config"].get("params", {}), **results.split_mious(),
                     "shift": results["tasks"][-1].get("background_shift") or {}})
    return runs


def rows_of(bench: Path) -> str:
    return benchmark_markdown(json.loads(BenchmarkDir(bench).json.read_text())["rows"])


def table_only(markdown: str) -> str:
    """The table of ``benchmark_markdown``'s text, without the budget paragraphs before it or the notes after
    it (the README states its budget in the prose above the table)."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| method"))
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    return "\n".join(lines[start:end])


def readme_table(bench: Path) -> str:
    """The README's benchmark: one row per method, its regimes side by side when the benchmark ran a
    ``--grid model.pretrain=...`` (from scratch, then each pretraining), else the benchmark's own table."""
    return rows_table(json.loads(BenchmarkDir(bench).json.read_text())["rows"])


def _regime(row: dict) -> str | None:
    """The pretraining a row's ``--grid model.pretrain=...`` variant names (None: the row has no such variant)."""
    variant = row.get("variant") or ""
    return variant.split("=", 1)[1] if variant.startswith("model.pretrain=") else None


def rows_table(rows: list[dict]) -> str:
    """``readme_table`` of a benchmark's rows."""
    by = {(r["method"], _regime(r)): r for r in rows if _regime(r)}
    regimes = list(dict.fromkeys(regime for _, regime in by))
    if not regimes:
        return table_only(benchmark_markdown(rows))

    def cell(row, key):
        if row is None:
            return MISSING
        std = row.get(f"{key}_std")
        return f"{row[f'{key}_mean']:.3f}" + (f" ± {std:.3f}" if std is not None and row["n_runs"] > 1 else "")

    names = {"none": "from scratch", "digits": "digits-pretrained", "shapes": "shapes-pretrained", "joint": "joint (bound)"}
    head = " | ".join(f"{names.get(g, g)}: {k}" for g in regimes for k in ("all", "base", "added"))
    lines = [f"| method | seeds | {head} |", "|---|---|" + "---|" * (3 * len(regimes))]
    for method in dict.fromkeys(method for method, _ in by):
        cells = " | ".join(cell(by.get((method, g)), k) for g in regimes for k in ("all", "base", "added"))
        seeds = max(by[(method, g)]["n_seeds"] for g in regimes if (method, g) in by)
        lines.append(f"| {method} | {seeds} | {cells} |")
    return "\n".join(lines)


def pct(value) -> str:
    return MISSING if value is None else f"{value:.0%}"


def memory_recall(run_dir: Path, task: int = 1) -> tuple[float, float]:
    """After ``task``: the share of task 0's class pixels the model labels correctly on the scenes
    stored in the memory and on the test scenes (learnt by heart when the first is far above);
    ``scripts/memory_recall.py`` computes them, with two more sets of scenes."""
    spec = importlib.util.spec_from_file_location("memory_recall", Path(__file__).with_name("memory_recall.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    recalls = module.memory_recall(run_dir, task)
    return recalls["stored"][0], recalls["test"][0]


def settings_table(runs: list[dict]) -> str:
    lines = ["| setting | method | mIoU old | mIoU new | mIoU all | old pixels → background | old pixels kept |",
             "|---|---|---|---|---|---|---|"]
    for r in runs:
        lines.append(f"| {r['setting']} | {r['method']} | {r['old']:.3f} | {r['new']:.3f} | {r['all']:.3f} | "
                     f"{pct(r['shift'].get('to_background'))} | {pct(r['shift'].get('correct'))} |")
    return "\n".join(lines)


KEEP = "old=yes,future=yes,labels=keep,test=ignore"


def find(runs, method, setting):
    for r in runs:
        if r["method"] == method and r["setting"] == setting:
            return r
    raise SystemExit(f"make_docs: no {method} run under {setting}")


def claims(runs_settings, runs_memory, runs_methods) -> list[tuple[str, bool]]:
    """The statements the prose makes, each with whether the numbers support it."""
    ft_over, ft_seq = find(runs_settings, "finetune", "overlap"), find(runs_settings, "finetune", "sequential")
    bg_over, bg_seq = ft_over["shift"]["to_background"], ft_seq["shift"]["to_background"]
    out = [(f"finetune: old→background under overlap ({bg_over:.0%}) is at least 3× that under sequential "
            f"({bg_seq:.0%})", bg_over >= 3 * bg_seq)]
    for method in ("mib", "plop"):
        r = find(runs_settings, method, "overlap")
        out.append((f"{method} under overlap sends fewer old pixels to background than finetune "
                    f"({r['shift']['to_background']:.0%} vs {bg_over:.0%})", r["shift"]["to_background"] < bg_over))
        out.append((f"{method} keeps more of the old classes than finetune under overlap (mIoU old {r['old']:.3f} vs "
                    f"{ft_over['old']:.3f})", r["old"] > ft_over["old"]))
    mib_over, mib_keep = find(runs_settings, "mib", "overlap"), find(runs_settings, "mib", KEEP)
    out.append((f"mib gives the same final mIoU with old labels kept ({mib_keep['all']:.3f}) as under overlap "
                f"({mib_over['all']:.3f})", abs(mib_keep["all"] - mib_over["all"]) < 1e-9))
    out.append((f"mib sends at most 10% of old pixels to background in every setting (largest: "
                f"{max(r['shift']['to_background'] for r in runs_settings if r['method'] == 'mib'):.0%})",
                all(r["shift"]["to_background"] <= 0.10 for r in runs_settings if r["method"] == "mib")))
    clean = find(runs_settings, "finetune", "clean")
    out.append((f"finetune under clean loses old classes (mIoU old {clean['old']:.3f}) mostly to new classes "
                f"({clean['shift']['to_new']:.0%}) rather than to background ({clean['shift']['to_background']:.0%})",
                clean["old"] < 0.05 and clean["shift"]["to_new"] > clean["shift"]["to_background"]))
    plop = find(runs_settings, "plop", "overlap")
    out.append((f"plop at least halves the old→background share of finetune under overlap "
                f"({plop['shift']['to_background']:.0%} vs {bg_over:.0%})", plop["shift"]["to_background"] <= bg_over / 2))
    lwf = find(runs_settings, "lwf", "overlap")
    out.append((f"lwf lowers it too ({lwf['shift']['to_background']:.0%})", lwf["shift"]["to_background"] < bg_over))
    seq = find(runs_settings, "finetune", "sequential")
    out.append((f"finetune is the best method under sequential (all {seq['all']:.3f})",
                all(r["all"] <= seq["all"] for r in runs_settings if r["setting"] == "sequential")))
    out.append((f"finetune under sequential keeps old classes better than under overlap (mIoU old {seq['old']:.3f} "
                f"vs {ft_over['old']:.3f})", seq["old"] > ft_over["old"]))
    by_size = {r["params"]["memory_size"]: r for r in runs_memory}
    out.append((f"replay: a memory of 100 scenes keeps more of the old classes than none (mIoU old "
                f"{by_size[100]['old']:.3f} vs {by_size[0]['old']:.3f})", by_size[100]["old"] > by_size[0]["old"]))
    top = max(r["old"] for r in runs_memory)
    out.append((f"replay at every memory size keeps less of the old classes (best mIoU old {top:.3f}) than finetune "
                f"under sequential ({seq['old']:.3f})", top < seq["old"]))
    best = max((r for r in runs_methods if r["method"] not in ("joint",)), key=lambda r: r["all"])
    out.append((f"the best continual method ({best['method']}, {best['all']:.3f}) beats finetune "
                f"({find(runs_methods, 'finetune', 'overlap')['all']:.3f})",
                best["method"] != "finetune"))
    return out


def fill_readme(docs: Path, bench: Path) -> None:
    readme = docs.resolve().parent / "README.md"
    text = readme.read_text()
    new = fill(text, {README_BLOCK: readme_table(bench)})
    if new != text:
        atomic_write(readme, new)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path)
    parser.add_argument("docs", type=Path)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--tasks", default="2-2-2-2-2")
    parser.add_argument("--readme-bench", type=Path, help="the README's benchmark directory (its table is refilled)")
    parser.add_argument("--readme-only", action="store_true", help="refill the README's table only (no docs runs)")
    args = parser.parse_args(argv)
    if args.readme_only:
        fill_readme(args.docs, args.readme_bench)
        return 0
    runs, docs, fig = args.runs, args.docs, args.docs / "figures"
    fig.mkdir(parents=True, exist_ok=True)

    settings = load_runs(runs / "settings")
    memory = load_runs(runs / "memory-size")
    methods = load_runs(runs / "methods")
    blocks = {f"scenario:{s}": (runs / f"scenario-{s}.md").read_text().strip()
              for s in ("overlap", "disjoint", "sequential", "clean")}
    blocks |= {
        "budget": (f"*Numbers and figures on this page come from `scripts/make_docs.sh` (embedded data; "
                   f"the {args.tasks} split at {args.steps} steps per task, seed 0; the README's benchmark runs the "
                   "default 250 steps over 3 seeds); rerun it to reproduce them.*"),
        "settings": settings_table(settings),
        "memory-size": rows_of(runs / "memory-size"),
        "memory-refresh": rows_of(runs / "memory-refresh"),
        "memory-mib": rows_of(runs / "memory-mib"),
        "methods": rows_of(runs / "methods"),
    }
    refresh = load_runs(runs / "memory-refresh")
    lines = ["| refresh | augment | task 0's pixels recalled on the stored scenes | on the test scenes |",
             "|---|---|---|---|"]
    recalls = {}
    for r in refresh:
        on_memory, on_test = memory_recall(r["dir"])
        recalls[(r["params"]["refresh"], r["params"]["augment"])] = (on_memory, on_test)
        lines.append(f"| {r['params']['refresh']} | {str(r['params']['augment']).lower()} | {on_memory:.0%} | "
                     f"{on_test:.0%} |")
    default = load_runs(runs / "replay-default")[0]  # the same, at the default budget
    on_memory, on_test = memory_recall(default["dir"])
    recalls["default"] = (on_memory, on_test)
    lines.append(f"| pseudo | false (default run, {default['steps']} steps per task) | {on_memory:.0%} | "
                 f"{on_test:.0%} |")
    blocks["memory-recall"] = "\n".join(lines)
    checked = claims(settings, memory, methods)
    plain = recalls[("pseudo", False)]
    checked.append((f"replay (refresh=pseudo, no augmentation) recalls the stored scenes better than the test "
                    f"scenes after task 1 ({plain[0]:.0%} vs {plain[1]:.0%})", plain[0] > plain[1]))
    full = recalls["default"]
    checked.append((f"at the default budget it recalls the stored scenes far better ({full[0]:.0%} vs "
                    f"{full[1]:.0%} on test)", full[0] > 2 * full[1]))
    mib_runs = load_runs(runs / "memory-mib")
    plain_mib = [r for r in mib_runs if r["params"]["memory_size"] == 0][0]
    with_memory = [r for r in mib_runs if r["params"]["memory_size"] == 100][0]
    checked.append((f"mib with a memory of 100 scenes keeps more of the old classes than mib without at this budget "
                    f"(old {with_memory['old']:.3f} vs {plain_mib['old']:.3f}) and learns the new ones within 0.05 "
                    f"(new {with_memory['new']:.3f} vs {plain_mib['new']:.3f})",
                    with_memory["old"] > plain_mib["old"] and with_memory["new"] >= plain_mib["new"] - 0.05))
    warped = recalls[("pseudo", True)]
    checked.append((f"augmenting replayed scenes does not raise test recall after task 1 ({warped[1]:.0%} vs "
                    f"{plain[1]:.0%} without)", warped[1] <= plain[1]))
    blocks["claims"] = "\n".join(f"- {'✓' if ok else '✗'} {text}" for text, ok in checked)

    copies = {runs / "settings/benchmark_miou.png": "settings-miou.png",
              runs / "settings/benchmark_shift.png": "settings-shift.png",
              runs / "memory-size/benchmark_miou.png": "memory-size.png",
              runs / "memory-refresh/benchmark_miou.png": "memory-refresh.png",
              runs / "memory-mib/benchmark_miou.png": "memory-mib.png",
              runs / "methods/benchmark_miou.png": "methods-miou.png",
              runs / "methods/benchmark_iou.png": "methods-iou.png"}
    for method, setting in (("finetune", "overlap"), ("finetune", "sequential"), ("mib", "overlap"),
                            ("plop", "overlap")):
        copies[find(settings, method, setting)["dir"] / "background_shift.png"] = f"shift-{method}-{setting}.png"
    copies[find(settings, "finetune", "overlap")["dir"] / "iou_heatmap.png"] = "iou-finetune-overlap.png"
    for source, name in copies.items():
        if not source.exists() and RunDir(source.parent).has_results():  # benchmarks ran --no-run-reports
            write_run_report(source.parent)
        shutil.copyfile(source, fig / name)

    assert set(blocks) == set(BLOCKS), sorted(set(blocks) ^ set(BLOCKS))
    for page in sorted(docs.glob("*.md")):
        if page.name in OTHER_PAGES:
            continue
        text = page.read_text()
        new = fill(text, blocks)
        if new != text:
            atomic_write(page, new)
    if args.readme_bench is not None:
        fill_readme(docs, args.readme_bench)
    for text, ok in checked:
        print(("ok    " if ok else "FAILS ") + text)
    return 0 if all(ok for _, ok in checked) else 1


if __name__ == "__main__":
    sys.exit(main())
