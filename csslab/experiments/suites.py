"""Named benchmark suites: the published protocols' analogues on 10 digits, one command each
(``csslab benchmark --suite papers``; docs/papers.md compares their numbers with the papers')."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Suite:
    """Defaults a suite gives ``csslab benchmark``; a flag given on the command line wins over each."""

    name: str
    tasks: tuple[str, ...]  # the splits, each run in every setting
    settings: str
    methods: str
    seeds: int
    overrides: tuple[str, ...]  # --set values, before the command line's own
    about: str


SUITES = {
    "papers": Suite(
        name="papers",
        # 15-1 / 10-1 style (a big base, then one class per task), 15-5 style (a big base, one big task), and
        # SSUL's small-base 2-1 / 5-3 style (2-1: nine tasks; 2-2-2-2-2: csslab's default split)
        tasks=("6-1", "6-4", "2-1", "2-2-2-2-2"),
        settings="overlap,disjoint",
        # the 2019-21 canon and the newer methods (issue 16) between the bounds
        methods="finetune,lwf,ilt,mib,plop,ssul,sdr,dkd,ewf,microseg,eir,joint",
        seeds=3,
        # each task gets 125 steps per class (MiB's and PLOP's epochs give a bigger task more iterations):
        # every split then trains 1,250 steps in all, as the default run
        overrides=("train.steps_per_class=125",),
        about="MiB's, PLOP's and SSUL's protocols on 10 digits: 6-1, 6-4, 2-1 and 2-2-2-2-2 in overlap and "
              "disjoint, 125 steps per class, 3 seeds, the canon's methods and the newer ones",
    ),
}


def get_suite(name: str) -> Suite:
    if name not in SUITES:
        raise ValueError(f"unknown --suite {name!r}: valid suites are {', '.join(SUITES)}")
    return SUITES[name]


def parse_splits(text: str) -> list[str]:
    """``--tasks 6-1,6-4`` -> ``["6-1", "6-4"]`` (each split is checked when its runs are configured)."""
    splits = list(dict.fromkeys(s.strip() for s in str(text).split(",") if s.strip()))
    if not splits:
        raise ValueError(f"invalid --tasks {text!r}: give a split such as 2-2-2-2-2, or several separated by commas")
    return splits
