"""report.html and benchmark.html in a real headless browser: render offline, no console error, every
image loads, and what each figure must show is in the screenshot (legible, not empty, the budget
above the figures, its warning, the background row, the old-classes line, the bounds' lines, the
numbers of the heat maps).

Drives Debian's ``chromium`` over the Chrome DevTools protocol on a pipe (``--remote-debugging-pipe``:
JSON messages separated by NUL bytes on file descriptors 3 and 4), so no driver and no websocket
library is needed. Saves a screenshot to tests/artifacts/. Skipped only when chromium is missing and
CI is unset; under CI a missing browser fails the test.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest


ARTIFACTS = Path(__file__).parent / "artifacts"
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--remote-debugging-pipe", "--window-size=1280,900"]


@pytest.fixture(scope="session")
def browser() -> str:
    found = next((shutil.which(name) for name in BROWSERS if shutil.which(name)), None)
    if found is None:
        if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
            pytest.fail("CI is set but no chromium is installed (.ci/run must apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium); under CI this test fails instead")
    return found


class DevTools:
    """A minimal Chrome DevTools protocol client over the browser's debugging pipe."""

    def __init__(self, browser: str, profile: str):
        to_browser_r, self._write = os.pipe()
        self._read, from_browser_w = os.pipe()
        # the browser reads commands on fd 3 and writes replies and events on fd 4; copies above 10
        # first, so that moving one end onto 3 cannot overwrite the other
        high_r, high_w = (fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (to_browser_r, from_browser_w))

        def child_fds():
            os.dup2(high_r, 3)
            os.dup2(high_w, 4)

        self.process = subprocess.Popen(
            [browser, *FLAGS, f"--user-data-dir={profile}", "about:blank"], preexec_fn=child_fds, close_fds=False,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for fd in (to_browser_r, from_browser_w, high_r, high_w):
            os.close(fd)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []

    def _message(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._read], [], [], left)[0]:
                raise TimeoutError("no reply from chromium")
            chunk = os.read(self._read, 1 << 20)
            if not chunk:
                raise RuntimeError(f"chromium closed its debugging pipe (exit code {self.process.poll()})")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def send(self, method: str, session: str | None = None, timeout: float = 60, **params) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._message(timeout)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, since: int = 0, timeout: float = 60) -> dict:
        """The first event ``method`` from ``self.events[since]`` on, waiting for it if need be."""
        for event in self.events[since:]:
            if event.get("method") == method:
                return event
        while True:
            event = self._message(timeout)
            self.events.append(event)
            if event.get("method") == method:
                return event

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=10)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._read)
        os.close(self._write)


@pytest.fixture(scope="session")
def run_dir(browser, tmp_path_factory) -> Path:
    """The tiny run of test_reports.py (same directory: trained once when both files run)."""
    from test_reports import tiny_run

    return tiny_run(tmp_path_factory)


@pytest.fixture(scope="session")
def report(run_dir) -> Path:
    return run_dir / "report.html"


# what a page tells about each of its images, and about the elements the tests look for
PAGE_FACTS = """({
  images: Array.from(document.images).map(i => {
    const r = i.getBoundingClientRect();
    return {alt: i.alt, src: i.src.slice(0, 30), complete: i.complete, width: i.naturalWidth, shown: r.width,
            x: r.left + window.scrollX, y: r.top + window.scrollY, h: r.height};
  }),
  headings: document.querySelectorAll('h2, table').length,
  budget: (document.getElementById('budget') || {}).innerText || '',
  budgetY: document.getElementById('budget') ? document.getElementById('budget').getBoundingClientRect().top
           + window.scrollY : -1,
  warnings: Array.from(document.querySelectorAll('.warning')).map(e => e.innerText),
  cards: Array.from(document.querySelectorAll('.card')).map(e => e.innerText),
  text: document.body.innerText,
})"""


def render(browser: str, page: Path, name: str) -> tuple[dict, Path]:
    """Load ``page`` in chromium, check it loads offline without errors, screenshot it to tests/artifacts/NAME;
    returns the page's facts (PAGE_FACTS) and the screenshot."""
    with tempfile.TemporaryDirectory() as profile:
        tools = DevTools(browser, profile)
        try:
            target = tools.send("Target.createTarget", url="about:blank")["targetId"]
            session = tools.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
            for domain in ("Page", "Runtime", "Log", "Network"):
                tools.send(f"{domain}.enable", session)
            since = len(tools.events)  # not a load event of about:blank
            tools.send("Page.navigate", session, url=page.as_uri())
            tools.wait_for("Page.loadEventFired", since)
            facts = tools.send("Runtime.evaluate", session, returnByValue=True,
                               expression=PAGE_FACTS)["result"]["value"]
            size = tools.send("Page.getLayoutMetrics", session)["cssContentSize"]
            shot = tools.send("Page.captureScreenshot", session, format="png", captureBeyondViewport=True,
                              clip={"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 12000),
                                    "scale": 1})
        finally:
            tools.close()

    ARTIFACTS.mkdir(exist_ok=True)
    import base64

    screenshot = ARTIFACTS / name
    screenshot.write_bytes(base64.b64decode(shot["data"]))

    events = tools.events
    errors = [e["params"] for e in events if e.get("method") == "Runtime.exceptionThrown"]
    errors += [e["params"] for e in events if e.get("method") == "Runtime.consoleAPICalled"
               and e["params"].get("type") in ("error", "assert")]
    errors += [e["params"]["entry"] for e in events if e.get("method") == "Log.entryAdded"
               and e["params"]["entry"].get("level") == "error"]
    assert not errors, f"console errors: {errors}"
    failed = [e["params"] for e in events if e.get("method") == "Network.loadingFailed"]
    assert not failed, f"failed requests: {failed}"
    urls = [e["params"]["request"]["url"] for e in events if e.get("method") == "Network.requestWillBeSent"]
    remote = [u for u in urls if not u.startswith(("file:", "data:", "about:"))]
    assert not remote, f"the page requested non-local resources: {remote}"
    assert all(i["complete"] and i["width"] > 0 for i in facts["images"]), facts["images"]
    return facts, screenshot


def shown(facts: dict, screenshot: Path, alt: str):
    """The image of ``alt`` as the screenshot shows it (RGB array), after checking it is legible: drawn at
    80% of its size or more (so an 8-point label stays at 9 px or more), and not empty."""
    import numpy as np
    from PIL import Image

    (image,) = [i for i in facts["images"] if i["alt"] == alt]
    assert image["shown"] >= 0.8 * image["width"], f"{alt} shrunk to {image['shown'] / image['width']:.0%}"
    with Image.open(screenshot) as shot:
        box = (round(image["x"]), round(image["y"]), round(image["x"] + image["shown"]), round(image["y"] + image["h"]))
        pixels = np.asarray(shot.convert("RGB").crop(box)).astype(int)
    ink = (np.abs(pixels - 255).sum(-1) > 30).mean()
    levels = pixels // 8  # 32 levels a channel, one integer a colour (np.unique over rows took ~0.5 s a figure)
    colours = np.count_nonzero(np.bincount(((levels[..., 0] * 32 + levels[..., 1]) * 32 + levels[..., 2]).ravel()))
    assert ink > 0.03 and colours >= 8, f"{alt} looks empty: {ink:.1%} ink, {colours} colours"
    return pixels


def count(pixels, color, tolerance: int = 24) -> int:
    """Pixels within ``tolerance`` (summed over R, G, B) of ``color`` ('#rrggbb')."""
    import numpy as np

    rgb = np.array([int(color[i:i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(pixels - rgb).sum(-1) <= tolerance).sum())


RUN_FIGURES = ("IoU heatmap, task by class", "mean IoU per task", "training loss per task", "background shift per task",
               "training labels of each task", "per-class IoU over training", "confusion matrix animation",
               "prediction animation", "predictions after each task")


def test_report_html_renders_offline_in_chromium(browser, report):
    facts, screenshot = render(browser, report, "report_html.png")
    assert sorted(i["alt"] for i in facts["images"]) == sorted(RUN_FIGURES)
    figures = {alt: shown(facts, screenshot, alt) for alt in RUN_FIGURES}
    assert facts["headings"] >= 4
    # the budget above every figure, its warning (the tiny run trains 5 steps per task), forgetting in the cards
    assert "5 steps per task" in facts["budget"] and "batch 8" in facts["budget"]
    assert 0 < facts["budgetY"] < min(i["y"] for i in facts["images"])
    assert any("under the 125 measured as needed" in w for w in facts["warnings"])
    assert any(card.startswith("forgetting") for card in facts["cards"])
    # the background row: its bars are mostly "predicted as background" (dark) in the right half
    shift = figures["background shift per task"]
    half = shift.shape[1] // 2
    assert count(shift[:, half:], "#333333", 6) > 5 * count(shift[:, :half], "#333333", 6)
    # the old-classes line (red squares), at 0 for fine-tuning, is drawn, not hidden in the axis
    assert count(figures["mean IoU per task"], "#d62728") >= 150
    assert count(figures["training loss per task"], "#1f77b4") >= 150  # the loss line
    labels = figures["training labels of each task"]
    assert count(labels, "#7fff00", 40) >= 20 and count(labels, "#1f77b4", 40) >= 20  # digits 7 and 0 coloured
    from PIL import Image

    with Image.open(screenshot) as shot_image:
        assert shot_image.width >= 800 and shot_image.height >= 900


@pytest.fixture(scope="session")
def benchmark_page(run_dir, tmp_path_factory) -> Path:
    from test_reports import fake_benchmark

    from csslab.reports import write_benchmark_report

    out = fake_benchmark(run_dir, tmp_path_factory.mktemp("browser_benchmark"))
    write_benchmark_report(out, run_reports="none")
    return out / "benchmark.html"


def test_benchmark_html_shows_the_budget_the_bounds_and_the_heat_maps(browser, benchmark_page):
    facts, screenshot = render(browser, benchmark_page, "benchmark_html.png")
    assert {i["alt"] for i in facts["images"]} == {"mIoU per method", "IoU heatmaps per method"}
    bars, heatmaps = (shown(facts, screenshot, alt) for alt in ("mIoU per method", "IoU heatmaps per method"))
    assert "5 steps per task" in facts["budget"] and "seeds 0, 1" in facts["budget"]
    assert any("under the 125 measured as needed" in w for w in facts["warnings"])
    assert "mean ± standard deviation over seeds" in facts["text"]  # these rows have 2 seeds
    assert count(bars, "#6a3d9a", 60) >= 100 and count(bars, "#b15928", 60) >= 60  # joint's and finetune's lines
    assert white_text_on_dark_cells(heatmaps) >= 150  # every cell's IoU written in it


def white_text_on_dark_cells(pixels) -> int:
    """White pixels between the first and last dark (IoU ~ 0, viridis #440154) cell of each row of the first
    heat map: the numbers written in them."""
    import numpy as np

    left = pixels[:, : pixels.shape[1] * 45 // 100]
    dark = np.abs(left - np.array([0x44, 0x01, 0x54])).sum(-1) <= 40
    white = 0
    for row, where in zip(left, dark):
        if where.sum() > 50:
            cols = np.flatnonzero(where)
            white += int((np.abs(row[cols[0]:cols[-1]] - 255).sum(-1) <= 30).sum())
    return white
