"""How counts and tasks are written for people, the same in every log line, report and figure: plurals ("1 run",
"2 runs") and task numbers, 0-based as results.json and the scenario count them (docs/architecture.md)."""

from __future__ import annotations


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``plural(1, "run")`` -> "1 run", ``plural(51, "run")`` -> "51 runs" (``nouns``: an irregular plural)."""
    return f"{count:,} {noun if count == 1 else nouns or noun + 's'}"


def task_of(index: int, n_tasks: int) -> str:
    """Task ``index`` of a run of ``n_tasks``, 0-based: "task 0 of 0..4" (results.json's "task" is ``index``)."""
    return f"task {index} of 0..{n_tasks - 1}"
