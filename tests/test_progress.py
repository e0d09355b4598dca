"""Progress and animation frames: a live bar only on a terminal (a redirected log holds no carriage
returns), and frames a short run is not spent on, timed in results.json."""

import io
import json
import subprocess
import sys

from csslab.store.frames import frame_interval
from csslab.core.progress import Progress

TINY = ["--tasks", "5-5", "--steps", "12", "--no-report", "--set", "scenario.train_scenes=16",
        "--set", "scenario.test_scenes=20", "--set", "train.batch_size=8", "--set", "train.threads=1",
        "--set", "train.frame_scenes=8"]


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_redirected_run_logs_lines_without_carriage_returns(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "csslab", "run", *TINY, "--out", str(out)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    log = proc.stdout.decode()
    assert proc.returncode == 0, log
    assert "\r" not in log
    for task in (0, 1):  # a line at every quarter of each task, the last at its end
        lines = [line for line in log.splitlines() if line.startswith(f"finetune task {task} of 0..1: step")]
        assert [line.split(",")[0] for line in lines] == [f"finetune task {task} of 0..1: step {s}/12"
                                                          for s in (3, 6, 9, 12)]
    timings = json.loads((out / "results.json").read_text())["timings"]
    assert timings["frames_s"] > 0  # 24 steps: frames at steps 10 and 20
    parts = timings["train_s"] + timings["eval_s"] + timings["data_s"] + timings["frames_s"]
    assert parts <= timings["total_s"]  # the parts are apart from one another


def test_progress_is_a_live_bar_on_a_terminal_and_silent_without_a_label():
    terminal, log, quiet = Terminal(), io.StringIO(), Terminal()
    for stream, label in ((terminal, "task 1/1"), (log, "task 1/1"), (quiet, "")):
        bar = Progress(3, label, stream)
        for step in range(3):
            bar.update(step, 0.5)
        bar.close()
    assert "\r" in terminal.getvalue()
    assert log.getvalue().splitlines() == [f"task 1/1: step {s}/3, loss 0.500" for s in (1, 2, 3)]
    assert quiet.getvalue() == ""


def test_frames_are_at_least_ten_steps_apart_unless_asked_for():
    assert frame_interval(0, 1250) == 25  # the default run: 50 frames, as before
    assert frame_interval(0, 150) == 10  # --steps 30: 15 frames, not 50
    assert frame_interval(0, 8) == 8  # a run shorter than that: a frame at its last step
    assert frame_interval(1, 150) == 1  # train.frame_every is kept as given
