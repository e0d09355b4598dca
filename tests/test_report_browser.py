"""report.html in a real headless browser: renders offline, no console error, every image loads.

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
def report(browser, tmp_path_factory) -> Path:
    """The tiny run of test_reports.py (same directory: trained once when both files run)."""
    from test_reports import tiny_run

    return tiny_run(tmp_path_factory) / "report.html"


def test_report_html_renders_offline_in_chromium(browser, report):
    with tempfile.TemporaryDirectory() as profile:
        tools = DevTools(browser, profile)
        try:
            target = tools.send("Target.createTarget", url="about:blank")["targetId"]
            session = tools.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
            for domain in ("Page", "Runtime", "Log", "Network"):
                tools.send(f"{domain}.enable", session)
            since = len(tools.events)  # not a load event of about:blank
            tools.send("Page.navigate", session, url=report.as_uri())
            tools.wait_for("Page.loadEventFired", since)
            images = tools.send("Runtime.evaluate", session, returnByValue=True, expression=(
                "Array.from(document.images).map(i => ({src: i.src.slice(0, 30), complete: i.complete, "
                "width: i.naturalWidth}))"))["result"]["value"]
            headings = tools.send("Runtime.evaluate", session, returnByValue=True,
                                  expression="document.querySelectorAll('h2, table').length")["result"]["value"]
            size = tools.send("Page.getLayoutMetrics", session)["cssContentSize"]
            shot = tools.send("Page.captureScreenshot", session, format="png", captureBeyondViewport=True,
                              clip={"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 12000),
                                    "scale": 1})
        finally:
            tools.close()

    ARTIFACTS.mkdir(exist_ok=True)
    import base64

    screenshot = ARTIFACTS / "report_html.png"
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
    assert all(i["complete"] and i["width"] > 0 for i in images), images
    assert len(images) >= 7, images  # heatmap, mIoU, shift, curves, 2 GIFs, prediction grid
    assert headings >= 4
    from PIL import Image

    with Image.open(screenshot) as shot_image:
        assert shot_image.width >= 800 and shot_image.height >= 900
