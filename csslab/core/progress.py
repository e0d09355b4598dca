"""Progress of a task's training: a live bar on a terminal; elsewhere (a log file, a pipe, CI) a plain line
at every quarter of the task, so redirected output holds no carriage-return updates."""

from __future__ import annotations

import sys

from tqdm import tqdm

LINES_PER_TASK = 4  # off a terminal: a line after each quarter of a task's steps


class Progress:
    """``update(step, loss)`` after every step of ``steps``, ``close()`` at the end; silent without a label."""

    def __init__(self, steps: int, label: str, stream=None):
        self.steps, self.label = steps, label
        self.stream = stream or sys.stderr
        live = bool(label) and _is_terminal(self.stream)
        self.bar = tqdm(total=steps, desc=label, leave=False, file=self.stream, dynamic_ncols=True) if live else None

    def update(self, step: int, loss: float) -> None:
        if self.bar is not None:
            self.bar.update(1)
            if step % 10 == 0:
                self.bar.set_postfix(loss=f"{loss:.3f}")
        elif self.label and (step + 1) * LINES_PER_TASK // self.steps > step * LINES_PER_TASK // self.steps:
            print(f"{self.label}: step {step + 1}/{self.steps}, loss {loss:.3f}", file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False
