"""A small W3C WebDriver client for Debian's `chromium` + `chromium-driver`: enough to open pages,
click, read the rendered text and take screenshots, with no Python package beyond the standard
library. Every wait is bounded; chromedriver runs on 127.0.0.1 and is stopped by PID."""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.serving.processes import _default_signals, free_port, stop

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C element reference key


def chromium_or_skip() -> tuple[str, str]:
    """Chromium and its driver, or skip with how to install them."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        pytest.skip("chromium and chromium-driver are not installed here "
                    "(apt-get install -y chromium chromium-driver; .ci/run does it)")
    return browser, driver


class Browser:
    """One headless Chromium session."""

    def __init__(self, url: str, session: str) -> None:
        self.url, self.session = url, session

    def _call(self, method: str, path: str, body: dict | None = None, timeout: float = 60) -> object:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}/session/{self.session}{path}", data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return json.loads(response.read())["value"]
        except urllib.error.HTTPError as error:
            raise AssertionError(f"webdriver {method} {path}: {error.read()[:500]!r}") from None

    def open(self, url: str) -> None:
        self._call("POST", "/url", {"url": url})

    def text(self) -> str:
        """The page's visible text."""
        return str(self._call("POST", "/execute/sync", {"script": "return document.body.innerText", "args": []}))

    def html(self) -> str:
        return str(self._call("GET", "/source"))

    def wait_for_text(self, *needles: str, timeout: float = 45) -> str:
        """The page text once every needle shows, else fail naming the missing ones."""
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.text()
            if all(n in text for n in needles):
                return text
            time.sleep(0.5)
        missing = [n for n in needles if n not in text]
        raise AssertionError(f"page never showed {missing}; it shows: {text[:1500]!r}")

    def click_text(self, label: str, timeout: float = 30, index: int = 0) -> None:
        """Click the element whose own text is exactly `label` (the `index`-th of them; -1: the last)."""
        xpath = f"//*[normalize-space(text())='{label}']"
        deadline = time.monotonic() + timeout
        while True:
            found = self._call("POST", "/elements", {"using": "xpath", "value": xpath})
            if found:
                self._call("POST", f"/element/{found[index][ELEMENT]}/click", {})
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"no element with text {label!r}; page: {self.text()[:1000]!r}")
            time.sleep(0.5)

    def count(self, css: str) -> int:
        return len(self._call("POST", "/elements", {"using": "css selector", "value": css}))

    def script(self, source: str) -> object:
        return self._call("POST", "/execute/sync", {"script": source, "args": []})

    def resize(self, width: int, height: int) -> None:
        self._call("POST", "/window/rect", {"width": width, "height": height})

    def screenshot(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(str(self._call("GET", "/screenshot"))))
        return path


@contextlib.contextmanager
def browser(width: int = 1400, height: int = 1000) -> Iterator[Browser]:
    """A headless Chromium driven through chromedriver on a free port; both stopped afterwards."""
    binary, driver = chromium_or_skip()
    port = free_port()
    process = subprocess.Popen([driver, f"--port={port}", "--allowed-ips=127.0.0.1"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, preexec_fn=_default_signals)
    url = f"http://127.0.0.1:{port}"
    profile = tempfile.mkdtemp(prefix="chromium-")
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"{url}/status", timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError("chromedriver did not answer within 20 s") from None
                time.sleep(0.2)
        capabilities = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": binary,
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage",
                     "--disable-background-networking", f"--user-data-dir={profile}",
                     f"--window-size={width},{height}"]}}}}
        request = urllib.request.Request(f"{url}/session", data=json.dumps(capabilities).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            session = json.loads(response.read())["value"]["sessionId"]
        session_browser = Browser(url, session)
        try:
            yield session_browser
        finally:
            with contextlib.suppress(Exception):
                urllib.request.urlopen(urllib.request.Request(f"{url}/session/{session}", method="DELETE"), timeout=10)
    finally:
        stop(process)
        shutil.rmtree(profile, ignore_errors=True)
