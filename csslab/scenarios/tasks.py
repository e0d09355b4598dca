"""Task splits as the CSS literature writes them ("2-2-2-2-2", "15-1", ...) and class orders."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from csslab.core.constants import N_DIGITS


@dataclass(frozen=True)
class Task:
    """One task of a scenario: the classes it introduces and those learnt before it."""

    index: int
    classes: tuple[int, ...]
    old_classes: tuple[int, ...]

    @property
    def seen_classes(self) -> tuple[int, ...]:
        return self.old_classes + self.classes

    @property
    def n_old(self) -> int:
        """Channels of the previous model: background + old classes."""
        return 1 + len(self.old_classes)

    @property
    def n_seen(self) -> int:
        return len(self.old_classes) + len(self.classes)


_SPLIT_RE = re.compile(r"^[0-9]+(-[0-9]+)*$")


def parse_split(split: str, n_classes: int = N_DIGITS) -> tuple[int, ...]:
    """Task sizes of a split string.

    "2-2-2-2-2" lists every size; "a-b" with two numbers that do not sum to n_classes means
    a classes, then b per task until all are seen (MiB's "15-1"); "10" is one joint task.
    """
    text = str(split).strip()
    if not _SPLIT_RE.match(text):
        raise ValueError(
            f"invalid split {split!r}: expected sizes joined by '-', e.g. '2-2-2-2-2', '5-5', '6-1' or '{n_classes}'"
        )
    sizes = [int(s) for s in text.split("-")]
    if any(s <= 0 for s in sizes):
        raise ValueError(f"invalid split {split!r}: every task needs at least one class")
    if sum(sizes) == n_classes:
        return tuple(sizes)
    if len(sizes) == 2 and sizes[0] < n_classes:
        first, step = sizes
        rest = n_classes - first
        if rest % step:
            raise ValueError(
                f"invalid split {split!r}: after {first} classes, the remaining {rest} cannot be split in tasks of {step}"
            )
        return (first,) + (step,) * (rest // step)
    raise ValueError(
        f"invalid split {split!r}: sizes sum to {sum(sizes)}, expected {n_classes} "
        f"(or 'FIRST-STEP' with FIRST < {n_classes})"
    )


def parse_class_order(order, n_classes: int = N_DIGITS) -> tuple[int, ...]:
    """A permutation of the classes: None/"natural", an explicit sequence or "a,b,c", or "random:SEED"."""
    if order is None or order == "natural":
        return tuple(range(n_classes))
    if isinstance(order, str):
        text = order.strip()
        if text.startswith("random:"):
            seed = text.split(":", 1)[1]
            if not seed.isdigit():
                raise ValueError(f"invalid class order {order!r}: 'random:SEED' needs a non-negative integer seed")
            return tuple(int(c) for c in np.random.default_rng(int(seed)).permutation(n_classes))
        try:
            order = [int(c) for c in text.replace(" ", "").split(",") if c != ""]
        except ValueError:
            raise ValueError(
                f"invalid class order {order!r}: expected 'natural', 'random:SEED' or a permutation like '9,8,...,0'"
            ) from None
    classes = tuple(int(c) for c in order)
    if sorted(classes) != list(range(n_classes)):
        raise ValueError(
            f"invalid class order {list(classes)}: must be a permutation of 0..{n_classes - 1} "
            "(background is not a class of the order)"
        )
    return classes


def make_tasks(split: str, class_order=None, n_classes: int = N_DIGITS) -> tuple[Task, ...]:
    sizes = parse_split(split, n_classes)
    order = parse_class_order(class_order, n_classes)
    tasks, start = [], 0
    for index, size in enumerate(sizes):
        tasks.append(Task(index, order[start:start + size], order[:start]))
        start += size
    return tuple(tasks)
