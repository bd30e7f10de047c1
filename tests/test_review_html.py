"""`diff --format html` and `compare --format html`: one file each, rendered in headless
Chromium with their charts and tables, asking for nothing outside themselves."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from browser import Browser, browser_session
from helpers import EXAMPLES

from costlens.cli import main

PLATFORM = "epyc-cpu-1t"
CANDIDATES = [f"{EXAMPLES}/resnet.py:resnet50", f"{EXAMPLES}/resnet.py:resnext50_32x4d",
              f"{EXAMPLES}/shufflenet_v2.py:shufflenet_v2",
              f"{EXAMPLES}/mobilenet_v2.py:mobilenet_v2"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from browser_session()


def test_the_diff_page_shows_the_totals_and_each_changed_layer(browser: Browser,
                                                               tmp_path: Path) -> None:
    page_file = tmp_path / "diff.html"
    assert main(["diff", *CANDIDATES[:2], "--platform", PLATFORM, "--format", "html",
                 "-o", str(page_file)]) == 0
    opened = browser.open(page_file)
    page = opened.page
    assert page.locator("#headline").inner_text().startswith("params -2.1%, FLOPs +3.7%")
    assert page.locator("#totals tbody tr").count() == 7  # params ... peak memory, latency
    changed = page.locator("#changed tbody tr")
    assert changed.count() > 0
    assert changed.first.locator("svg.bar rect").count() == 1
    assert page.locator("#changed code").all_inner_texts()[0] == "layer3"
    assert opened.errors == [] and opened.requests_elsewhere == []
    page.close()


def test_the_compare_page_draws_each_candidate_at_its_flops_and_latency(
        browser: Browser, tmp_path: Path) -> None:
    page_file = tmp_path / "compare.html"
    assert main(["compare", *CANDIDATES, "--platform", PLATFORM, "--format", "html", "--jobs",
                 "1", "-o", str(page_file)]) == 0
    opened = browser.open(page_file)
    page = opened.page
    assert page.locator("#candidates tbody tr").count() == len(CANDIDATES)
    assert page.locator("#candidates-chart circle.point").count() == len(CANDIDATES)
    labels = page.locator("#candidates-chart text.point-label").all_text_contents()
    assert labels == [target.rsplit("/", 1)[1] for target in CANDIDATES]
    assert opened.errors == [] and opened.requests_elsewhere == []
    page.close()
