"""Headless Chromium for the tests of HTML pages: Debian's `chromium`, driven by Playwright's
Python package (which downloads no browser when given the executable).

Without a chromium on the machine the page tests skip, saying why, so `pytest` works on a fresh
machine; `.ci/run` installs chromium and sets COSTLENS_REQUIRE_BROWSER=1, under which a missing
browser fails instead.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pytest

#: What Chromium needs here: no sandbox as root, and none of its background connections,
#: which a closed network refuses (each a console error otherwise).
ARGUMENTS = ("--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync")


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class OpenedPage:
    """A page loaded from a file, with what it logged and every request it made."""

    page: Any
    url: str
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    @property
    def requests_elsewhere(self) -> list[str]:
        return [url for url in self.requests if url != self.url]


class Browser:
    def __init__(self, browser: Any) -> None:
        self._browser = browser

    def open(self, path: Path, width: int = 1280) -> OpenedPage:
        page = self._browser.new_page(viewport={"width": width, "height": 900})
        opened = OpenedPage(page, path.resolve().as_uri())
        page.on("console", lambda message: opened.errors.append(message.text)
                if message.type == "error" else None)
        page.on("pageerror", lambda error: opened.errors.append(str(error)))
        page.on("request", lambda request: opened.requests.append(request.url))
        page.goto(opened.url)
        page.wait_for_load_state("load")
        return opened


def require_chromium() -> str:
    """Its path; else the test skips (fails under COSTLENS_REQUIRE_BROWSER)."""
    executable = chromium_path()
    if executable is None:
        if os.environ.get("COSTLENS_REQUIRE_BROWSER"):
            pytest.fail("no chromium on PATH (apt-get install -y chromium)")
        pytest.skip("no chromium on PATH: apt-get install -y chromium to test the HTML pages")
    return executable


def browser_session() -> Iterator[Browser]:
    """A fixture body: one browser for a test module (Playwright allows one per thread)."""
    executable = require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=list(ARGUMENTS))
        try:
            yield Browser(browser)
        finally:
            browser.close()
