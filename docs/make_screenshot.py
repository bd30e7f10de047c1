"""Render the README's picture of the HTML report: docs/report.png, the top of the page of the
bundled ShuffleNet V2 1x on the built-in profile, in headless Chromium.

    python docs/make_screenshot.py            # rewrite docs/report.png
    python docs/make_screenshot.py --full     # the whole page, to look at (not committed)

Needs Debian's chromium (apt-get install -y chromium) and the test extras (Playwright's Python
package, which is told to use that chromium and downloads no browser).
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from costlens.cli import main as costlens

PICTURE = Path(__file__).resolve().parent / "report.png"
TARGET = "costlens.examples.shufflenet_v2:shufflenet_v2"
PLATFORM = "epyc-cpu-1t"
WIDTH, HEIGHT = 1240, 1480  # the totals, the cost split by block and the top of the roofline
ARGUMENTS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def render(output: Path, full: bool) -> None:
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        sys.exit("no chromium on PATH: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as folder:
        page_file = Path(folder) / "report.html"
        code = costlens(["report", TARGET, "--platform", PLATFORM, "--format", "html",
                         "-o", str(page_file)])
        if code:
            sys.exit(code)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, args=ARGUMENTS)
            page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
            page.goto(page_file.as_uri())
            page.screenshot(path=str(output), full_page=full)
            browser.close()
    print(f"wrote {output}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--full", action="store_true", help="the whole page, to full.png")
    options = parser.parse_args()
    render(PICTURE.with_name("full.png") if options.full else PICTURE, options.full)


if __name__ == "__main__":
    main()
