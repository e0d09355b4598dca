"""The papers' published findings and their toy analogues, read by scripts/papers_doc.py.

A finding reads the rows of one regime at a time (``Rows``: by method, split, setting, variant and regime): the
backbone from scratch (``model.pretrain=none``) or pretrained with image-level labels on digits no scene holds
(``model.pretrain=digits``, ImageNet's analogue). The published numbers are Pascal-VOC mIoU in percent, as
printed; the toy's are fractions (0-1).
"""

from __future__ import annotations

from typing import Callable, NamedTuple

REGIMES = {"none": "from scratch", "digits": "pretrained (digits)"}  # the findings table's regimes, in its order
PRETRAIN = "model.pretrain"  # the grid key whose value names a row's regime


class Rows:
    """The suite's rows by (method, split, setting, variant, regime): mean and std of old / new / hIoU / all / avg /
    base / added. ``regime`` is the one read when a call names none; ``variant`` is the grid point less its
    ``model.pretrain`` part (e.g. "threshold_rule=median")."""

    def __init__(self, rows: list[dict], regime: str = "none"):
        self.rows = {(r["method"], r["tasks"], r["setting"], r.get("variant") or "", r.get("regime") or "none"): r
                     for r in rows}
        self.regime = regime

    def of(self, regime: str) -> Rows:
        """The same rows, read in ``regime`` by default."""
        view = Rows([], regime)
        view.rows = self.rows
        return view

    def regimes(self) -> set[str]:
        return {key[-1] for key in self.rows}

    def _row(self, method, tasks, setting, variant, regime) -> dict:
        return self.rows[(method, tasks, setting, variant, regime or self.regime)]

    def has(self, method, tasks, setting="overlap", variant="", regime=None) -> bool:
        return (method, tasks, setting, variant, regime or self.regime) in self.rows

    def get(self, method, tasks, key, setting="overlap", variant="", regime=None) -> float:
        return self._row(method, tasks, setting, variant, regime)[f"{key}_mean"]

    def text(self, method, tasks, key, setting="overlap", variant="", regime=None) -> str:
        row = self._row(method, tasks, setting, variant, regime)
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


def _beats(method: str, others: tuple[str, ...], tasks: str, key: str = "all") -> Callable[[Rows], tuple[str, bool]]:
    """``method`` ends ``tasks`` above every one of ``others`` in ``key``."""
    return lambda r: (f"{tasks} {key}: {method} {r.text(method, tasks, key)}, " + ", ".join(
        f"{m} {r.text(m, tasks, key)}" for m in others), r.get(method, tasks, key) > max(r.get(m, tasks, key)
                                                                                         for m in others))


def _needs(methods, splits, setting="overlap"):
    return tuple((m, s, setting) for m in methods for s in splits)


NEWER = ("ssul", "dkd", "microseg", "ewf")  # the methods designed for a pretrained backbone's regime
# Where the newer methods' numbers were read. SSUL's README prints mIoU all; DKD's README holds, commented out,
# its Tab. 1 (hIoU / mIoU all, means of five runs; the released checkpoints' are printed beside: 15-1 57.46 /
# 70.50). The papers' old and new are base (classes 0-15, background included) and added (16-20): SSUL's
# 77.3 / 36.6 and DKD's 78.1 / 42.7 solve 16·base + 5·added = 21·all and hIoU = 2·base·added / (base + added)
# from their printed hIoU and all. MicroSeg's README prints no numbers: 71.3 is the mIoU all of 15-1 as
# wizwand.com indexes the paper, not checked against the PDF. EWF_official's README prints none either.
SSUL_SRC, DKD_SRC = "SSUL README (15-1)", "DKD Tab. 1 (15-1, in its README)"
MICROSEG_SRC, EWF_SRC = "MicroSeg, NeurIPS 2022 (15-1)", "EWF, CVPR 2023 (15-1)"

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
            _needs(("finetune", "lwf", "mib", "plop", "ssul"), ("6-1", "6-4"))),
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
            _needs(("ssul", "plop", "mib"), ("6-1", "2-1"))),
    Finding("SSUL README (19-1 to 2-1)", "Longer sequences with smaller bases degrade MiB", "all: 15-1 29.29, "
            "10-1 12.65, 2-1 9.88",
            lambda r: (f"mib all 6-4 {r.text('mib', '6-4', 'all')}, 6-1 {r.text('mib', '6-1', 'all')}, 2-1 "
                       f"{r.text('mib', '2-1', 'all')}",
                       r.get("mib", "6-4", "all") > r.get("mib", "6-1", "all") > r.get("mib", "2-1", "all")),
            _needs(("mib",), ("6-4", "6-1", "2-1"))),
    Finding("MiB, Tab. 1; PLOP, Tab. 1 (15-1)", "New classes are the weak part, even for the best methods",
            "new vs old: MiB 13.5 vs 35.1, PLOP 21.11 vs 65.12; joint's new 72.6",
            lambda r: ("6-1 new / old: " + ", ".join(f"{m} {r.text(m, '6-1', 'new')} / {r.text(m, '6-1', 'old')}"
                                                     for m in ("mib", "plop", "ssul"))
                       + f"; joint new {r.text('joint', '6-1', 'new')}",
                       all(r.get(m, "6-1", "new") < min(r.get(m, "6-1", "old"), r.get("joint", "6-1", "new"))
                           for m in ("mib", "plop", "ssul"))),
            _needs(("mib", "plop", "ssul", "joint"), ("6-1",))),
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
            _needs(("finetune", "lwf", "mib", "plop", "ssul"), ("6-1", "6-4", "2-1")) + (("joint", "6-1", "overlap"),)),
    Finding("DKD README; SSUL README (15-1)", "DKD is ahead of MiB on a long split", "all: DKD 70.50, MiB 29.29",
            lambda r: (f"2-2-2-2-2: {_all(r, 'dkd', '2-2-2-2-2')}, {_all(r, 'mib', '2-2-2-2-2')}",
                       r.get("dkd", "2-2-2-2-2", "all") > r.get("mib", "2-2-2-2-2", "all")),
            (("dkd", "2-2-2-2-2", "overlap"), ("mib", "2-2-2-2-2", "overlap"))),
    # the newer methods' own findings (issue 27): base / added are the papers' old / new (classes of the first
    # task / every class added after it), as their tables report them
    Finding(f"{SSUL_SRC}; {DKD_SRC}", "SSUL's frozen backbone keeps the base classes best on a long split",
            "base (0-15): SSUL 77.3, PLOP 65.12, MiB 35.1 (SSUL's from its hIoU 49.67 and all 67.61)",
            _beats("ssul", ("plop", "mib"), "6-1", "base"), _needs(("ssul", "plop", "mib"), ("6-1",))),
    Finding(DKD_SRC, "DKD beats MiB and PLOP on a long split",
            "all: DKD 69.67, PLOP 54.64, MiB 29.70 (hIoU 55.21, 31.88, 19.50)",
            _beats("dkd", ("plop", "mib"), "6-1"), _needs(("dkd", "plop", "mib"), ("6-1",))),
    Finding(DKD_SRC, "DKD is ahead of SSUL on a long split", "all: DKD 69.67, SSUL 67.61 (hIoU 55.21, 49.67)",
            _beats("dkd", ("ssul",), "6-1"), _needs(("dkd", "ssul"), ("6-1",))),
    Finding(MICROSEG_SRC, "MicroSeg beats MiB and PLOP on a long split",
            "all: MicroSeg 71.3 (as indexed; its README prints none), PLOP 54.64, MiB 29.29",
            _beats("microseg", ("plop", "mib"), "6-1"), _needs(("microseg", "plop", "mib"), ("6-1",))),
    Finding(MICROSEG_SRC, "MicroSeg is ahead of SSUL, whose frozen backbone and unknown class it builds on",
            "all: MicroSeg 71.3 (as indexed), SSUL 67.61",
            _beats("microseg", ("ssul",), "6-1"), _needs(("microseg", "ssul"), ("6-1",))),
    Finding(EWF_SRC, "EWF beats MiB and PLOP on a long split",
            "not read here: EWF_official's README prints no table; the abstract claims the state of the art",
            _beats("ewf", ("plop", "mib"), "6-1"), _needs(("ewf", "plop", "mib"), ("6-1",))),
    Finding(f"{SSUL_SRC}; {DKD_SRC}; {MICROSEG_SRC}", "Each newer method beats MiB and PLOP on a long split "
            "(csslab's default split)", "15-1 all: SSUL 67.61, DKD 69.67, MicroSeg 71.3, EWF not read; PLOP 54.64, "
            "MiB 29.70",
            lambda r: ("2-2-2-2-2 all: " + ", ".join(f"{m} {r.text(m, '2-2-2-2-2', 'all')}"
                                                     for m in (*NEWER, "plop", "mib")),
                       all(r.get(m, "2-2-2-2-2", "all") > max(r.get("plop", "2-2-2-2-2", "all"),
                                                              r.get("mib", "2-2-2-2-2", "all")) for m in NEWER)),
            _needs((*NEWER, "plop", "mib"), ("2-2-2-2-2",))),
    Finding(f"{SSUL_SRC}; {DKD_SRC}", "SSUL's frozen backbone keeps the base classes best (csslab's default split)",
            "base (0-15): SSUL 77.3, PLOP 65.12, MiB 35.1",
            _beats("ssul", ("plop", "mib"), "2-2-2-2-2", "base"), _needs(("ssul", "plop", "mib"), ("2-2-2-2-2",))),
]
