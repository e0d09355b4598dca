"""The claims docs/papers.md's prose makes, which ``scripts/papers_doc.py`` checks against the papers' suite.

``PAGE_CLAIMS``: each finding's verdict per regime as the prose states it; ``PROSE_CLAIMS``: the other numbers the
prose states, checked on the means over seeds; ``SEED_CLAIMS``: what it says holds on every seed. A regeneration that
contradicts one exits 1 until the prose is rewritten for the new numbers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from papers_findings import Rows


# What the page's prose says of each finding under each regime (its number: {regime: agrees True / disagrees
# False / None, no verdict stated yet}): the explanations are written for these verdicts, so a regeneration that
# changes one fails until the prose is rewritten, and one whose rows were not run is listed as not checked; a
# finding whose rows no run had yet says None, and fails once they are run until the page states it.
_SCRATCH = {1: True, 2: True, 3: True, 4: False, 5: False, 6: False, 7: True, 8: False, 9: True, 10: True, 11: False,
            12: True, 13: False, 14: False, 15: False, 16: True, 17: False, 18: False, 19: False, 20: False, 21: False}
_DIGITS = {1: True, 2: True, 3: True, 4: True, 5: False, 6: False, 7: True, 8: False, 9: True, 10: False, 11: False,
           12: True, 13: False, 14: False, 15: False, 16: True, 17: False, 18: False, 19: False, 20: False, 21: False}
PAGE_CLAIMS: dict[int, dict[str, bool | None]] = {i: {"none": _SCRATCH[i], "digits": _DIGITS.get(i)}
                                                   for i in _SCRATCH}
NOPOD, MEDIAN = "pod_factor=0,pod_logits_factor=0", "threshold_rule=median"
SHAPES = "shapes"  # the regime of the ablation on a backbone pretrained on procedural shapes
D = "digits"  # the pretrained regime (docs/papers.md#the-pretrained-regime-on-the-papers-splits-3-seeds)


def in_digits(check: Callable[[Rows], bool]) -> Callable[[Rows], bool]:
    """``check`` reading the pretrained regime's rows where it names none (its claims are prefixed "digits:")."""
    return lambda rows: check(rows.of(D))


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
    ("MiB in disjoint ends 6-1 more than 0.1 below MiB in overlap, its base and its added classes both lower",
     lambda r: r.get("mib", "6-1", "all", "disjoint") < r.get("mib", "6-1", "all") - 0.1
     and all(r.get("mib", "6-1", k, "disjoint") < r.get("mib", "6-1", k) for k in ("base", "added"))),
    ("on 6-1 and 6-4 SDR ends within 0.02 mIoU all of MiB",
     lambda r: all(abs(r.get("sdr", s, "all") - r.get("mib", s, "all")) < 0.02 for s in ("6-1", "6-4"))),
    ("EIR trails MiB by 0.03-0.09 on 6-1 and 6-4",
     lambda r: all(0.03 <= r.get("mib", s, "all") - r.get("eir", s, "all") <= 0.09 for s in ("6-1", "6-4"))),
    ("DKD and EWF learn 6-4's new task (new > 0.3) but no single digit of 6-1 (new < 0.01)",
     lambda r: all(r.get(m, "6-4", "new") > 0.3 and r.get(m, "6-1", "new") < 0.01 for m in ("dkd", "ewf"))),
    ("MicroSeg ends below SSUL on 6-1 and 6-4, and none of SDR, DKD, EWF, MicroSeg, EIR beats MiB by 0.02 there",
     lambda r: all(r.get("microseg", s, "all") < r.get("ssul", s, "all") for s in ("6-1", "6-4"))
     and all(r.get(m, s, "all") < r.get("mib", s, "all") + 0.02
             for m in ("sdr", "dkd", "ewf", "microseg", "eir") for s in ("6-1", "6-4"))),
    ("MicroSeg's first task of 6-1 ends below SSUL's; DKD ends 6-1 above SSUL, both below PLOP and MiB",
     lambda r: r.get("microseg", "6-1", "first") < r.get("ssul", "6-1", "first")
     and r.get("ssul", "6-1", "all") < r.get("dkd", "6-1", "all") < r.get("plop", "6-1", "all")
     < r.get("mib", "6-1", "all")),
    ("DKD learns no class of the last task of 2-2-2-2-2 and ends far below MiB",
     lambda r: r.get("dkd", "2-2-2-2-2", "new") < 0.01
     and r.get("dkd", "2-2-2-2-2", "all") < r.get("mib", "2-2-2-2-2", "all") - 0.3),
    # the pretrained regime's section
    ("digits: 6-4 ends above 6-1 for finetune, LwF, MiB and PLOP; SSUL's two splits are within 0.01",
     in_digits(lambda r: all(r.get(m, "6-4", "all") > r.get(m, "6-1", "all")
                             for m in ("finetune", "lwf", "mib", "plop"))
               and abs(r.get("ssul", "6-4", "all") - r.get("ssul", "6-1", "all")) < 0.01)),
    ("digits: on 6-1 SSUL's new classes end above its old ones, its base below its added classes, MiB's and PLOP's "
     "new below their old",
     in_digits(lambda r: r.get("ssul", "6-1", "new") > r.get("ssul", "6-1", "old")
               and r.get("ssul", "6-1", "base") < r.get("ssul", "6-1", "added")
               and all(r.get(m, "6-1", "new") < r.get(m, "6-1", "old") for m in ("mib", "plop")))),
    ("digits: SSUL ends 2-1 above PLOP and below MiB, and 6-1 below PLOP",
     in_digits(lambda r: r.get("plop", "2-1", "all") < r.get("ssul", "2-1", "all") < r.get("mib", "2-1", "all")
               and r.get("ssul", "6-1", "all") < r.get("plop", "6-1", "all"))),
    ("digits: SSUL's first task of 6-1 ends more than 0.2 mIoU all below the plain-CE base, and its base ends lower "
     "than its first task and below PLOP's and MiB's",
     in_digits(lambda r: r.get("ssul", "6-1", "first") < r.get("finetune", "6-1", "first") - 0.2
               and r.get("ssul", "6-1", "base") < r.get("ssul", "6-1", "first")
               and r.get("ssul", "6-1", "base") < min(r.get(m, "6-1", "base") for m in ("plop", "mib")))),
    ("digits: DKD's base on 6-1 ends within 0.01 of MiB's, its added classes more than 0.3 below",
     in_digits(lambda r: abs(r.get("dkd", "6-1", "base") - r.get("mib", "6-1", "base")) < 0.01
               and r.get("dkd", "6-1", "added") < r.get("mib", "6-1", "added") - 0.3)),
    ("digits: MicroSeg ends 6-1 below SSUL and 6-4 above it; its 6-1 base ends more than 0.3 below its first task",
     in_digits(lambda r: r.get("microseg", "6-1", "all") < r.get("ssul", "6-1", "all")
               and r.get("microseg", "6-4", "all") > r.get("ssul", "6-4", "all")
               and r.get("microseg", "6-1", "base") < r.get("microseg", "6-1", "first") - 0.3)),
    ("digits: without POD PLOP ends 6-1 higher than with it, by less than 0.05, and still more than 0.05 below MiB",
     in_digits(lambda r: 0 < r.get("plop", "6-1", "all", variant=NOPOD) - r.get("plop", "6-1", "all") < 0.05
               and r.get("plop", "6-1", "all", variant=NOPOD) < r.get("mib", "6-1", "all") - 0.05)),
    ("digits: with the paper's median threshold rule PLOP ends 6-1 more than 0.05 mIoU all below its code's rule",
     in_digits(lambda r: r.get("plop", "6-1", "all", variant=MEDIAN) < r.get("plop", "6-1", "all") - 0.05)),
    ("digits: EWF learns no digit of 6-1's last task (new < 0.01); without its fusion it ends within 0.005 of MiB, "
     "new above 0.5",
     in_digits(lambda r: r.get("ewf", "6-1", "new") < 0.01
               and abs(r.get("ewf", "6-1", "all", variant="fuse=false") - r.get("mib", "6-1", "all")) < 0.005
               and r.get("ewf", "6-1", "new", variant="fuse=false") > 0.5)),
    ("digits: DKD without the auxiliary classifier's copies learns 6-1's last digit better and stays more than 0.1 "
     "below MiB; with frozen BatchNorm affine parameters it ends within 0.005 of its default",
     in_digits(lambda r: r.get("dkd", "6-1", "new", variant="ac=0") > r.get("dkd", "6-1", "new")
               and r.get("dkd", "6-1", "all", variant="ac=0") < r.get("mib", "6-1", "all") - 0.1
               and abs(r.get("dkd", "6-1", "all", variant="freeze_bn_affine=true")
                       - r.get("dkd", "6-1", "all")) < 0.005)),
    ("digits: MicroSeg at pixel level ends 6-1 lower than at region level and its base ends more than 0.2 below its "
     "first task",
     in_digits(lambda r: r.get("microseg", "6-1", "all", variant="region_level=false")
               < r.get("microseg", "6-1", "all")
               and r.get("microseg", "6-1", "base", variant="region_level=false")
               < r.get("microseg", "6-1", "first", variant="region_level=false") - 0.2)),
    ("digits: MiB in disjoint ends 6-1 more than 0.1 below MiB in overlap, its base and its added classes both lower",
     in_digits(lambda r: r.get("mib", "6-1", "all", "disjoint") < r.get("mib", "6-1", "all") - 0.1
               and all(r.get("mib", "6-1", k, "disjoint") < r.get("mib", "6-1", k) for k in ("base", "added")))),
]

# What the prose says holds on every seed: each check holds on each seed's runs alone.
SEED_CLAIMS: list[tuple[str, Callable[[Rows], bool]]] = [
    ("on every seed, 6-4 ends above 6-1 for finetune, LwF, MiB and PLOP",
     lambda r: all(r.get(m, "6-4", "all") > r.get(m, "6-1", "all") for m in ("finetune", "lwf", "mib", "plop"))),
    ("on every seed, PLOP ends 6-1 lower with the paper's median threshold rule than with its code's",
     lambda r: r.get("plop", "6-1", "all", variant=MEDIAN) < r.get("plop", "6-1", "all")),
    ("on every seed, PLOP's new classes end 6-1 below its old ones",
     lambda r: r.get("plop", "6-1", "new") < r.get("plop", "6-1", "old")),
    ("digits: on every seed, 6-4 ends above 6-1 for finetune, LwF, MiB and PLOP",
     in_digits(lambda r: all(r.get(m, "6-4", "all") > r.get(m, "6-1", "all")
                             for m in ("finetune", "lwf", "mib", "plop")))),
    ("digits: on every seed, PLOP ends 6-1 higher without POD and lower with the paper's median rule",
     in_digits(lambda r: r.get("plop", "6-1", "all", variant=MEDIAN) < r.get("plop", "6-1", "all")
               < r.get("plop", "6-1", "all", variant=NOPOD))),
    ("digits: on every seed, DKD without the auxiliary classifier's copies learns 6-1's last digit better",
     in_digits(lambda r: r.get("dkd", "6-1", "new", variant="ac=0") > r.get("dkd", "6-1", "new"))),
    ("digits: on every seed, SSUL ends 2-1 above PLOP",
     in_digits(lambda r: r.get("ssul", "2-1", "all") > r.get("plop", "2-1", "all"))),
]
