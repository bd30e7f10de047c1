"""`report --format html`: one self-contained file that renders in a real browser (headless
Chromium) with its charts, the layer tree and the lint findings, and asks for nothing outside
itself."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterator

import pytest
from browser import Browser, browser_session
from helpers import example_factories

import costlens
from costlens.cli import main

PLATFORM = "epyc-cpu-1t"


def _target(stem: str, factory: str) -> str:
    return f"costlens.examples.{stem}:{factory}" + ("(size='tiny')" if factory == "llama" else "")


NETWORKS = [_target(stem, factory) for stem, factory in example_factories()]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from browser_session()


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pages")


def _page(folder: Path, target: str, *options: str) -> Path:
    path = folder / (re.sub(r"\W+", "_", target + "".join(options)) + ".html")
    if not path.exists():
        assert main(["report", target, "--format", "html", "-o", str(path), *options]) == 0
    return path


def _findings(folder: Path, target: str, *options: str) -> int:
    path = folder / "lint.json"
    main(["lint", target, "--format", "json", "-o", str(path), *options])
    return len(json.loads(path.read_text())["diagnostics"])


def test_the_page_is_one_file_that_fetches_nothing(pages: Path) -> None:
    html = _page(pages, _target("resnet", "resnet50"), "--platform", PLATFORM).read_text()
    assert len(html.encode()) <= 3_000_000
    assert not re.search(r"<(link|img|iframe|object|embed)\b", html)
    assert not re.search(r"""\b(src|href)\s*=\s*["']?(https?:|//|data:)""", html)
    assert not re.search(r"@import|url\(|@font-face", html)
    addresses = set(re.findall(r"https?://[^\s\"'<>]+", html))
    assert addresses <= {"http://www.w3.org/2000/svg"}  # SVG's namespace, never fetched


def test_the_same_model_gives_the_same_bytes(pages: Path, tmp_path: Path) -> None:
    target = _target("shufflenet_v2", "shufflenet_v2")
    first = _page(pages, target, "--platform", PLATFORM)
    again = tmp_path / "again.html"
    assert main(["report", target, "--format", "html", "--platform", PLATFORM,
                 "-o", str(again)]) == 0
    assert first.read_bytes() == again.read_bytes()


@pytest.mark.parametrize("target", NETWORKS)
def test_every_example_network_renders_in_chromium(browser: Browser, pages: Path,
                                                   target: str) -> None:
    path = _page(pages, target, "--platform", PLATFORM)
    opened = browser.open(path)
    page = opened.page
    analysis = _analysis(target)
    # the charts: bars of every kind present, a point per op that does arithmetic, two roofs
    assert page.locator("#breakdown svg.bar rect").count() > 0
    points = page.locator("#roofline-chart circle.point")
    arithmetic = sum(1 for op in analysis.ops if op.flops and op.mac_bytes)
    assert points.count() == arithmetic > 0
    box = page.locator("#roofline-chart").bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 200
    assert page.locator("#roofline-chart polyline.roof").count() == 2
    # every depth-1 layer is a visible row of the table, named
    top = [layer for layer in analysis.layers if layer.depth == 1]
    for layer in top:
        row = page.locator(f'#layers tr[data-name="{layer.name}"]')
        assert row.is_visible(), layer.name
        assert row.locator("td").first.inner_text().strip()
    assert page.locator("#layers tbody tr:visible").count() == len(top)
    assert page.locator("#layers tfoot tr.total").is_visible()
    # the findings: as many as `costlens lint` reports, each shown, counted at the top
    expected = _findings(pages, target, "--platform", PLATFORM)
    assert page.locator("#findings .finding").count() == expected
    if expected:
        assert f"Lint: {expected} finding" in page.locator("#finding-counts").inner_text()
        assert page.locator("#findings .finding").first.is_visible()
    assert opened.errors == []
    assert opened.requests_elsewhere == []
    page.close()


def _analysis(target: str) -> costlens.Analysis:
    from costlens.tracing.load import load, model_inputs

    loaded = load(target)
    return costlens.analyze(loaded.model, model_inputs(loaded))


def test_without_a_platform_the_page_splits_the_mac(browser: Browser, pages: Path) -> None:
    opened = browser.open(_page(pages, _target("mobilenet_v2", "mobilenet_v2")))
    page = opened.page
    assert "MAC bytes (memory traffic" in page.locator("#breakdown").inner_text()
    assert page.locator("#roofline-chart circle.point").count() > 0
    assert page.locator("#roofline-chart polyline.roof").count() == 0
    assert "MAC bytes" in page.locator("#roofline-chart").inner_html()
    assert opened.errors == [] and opened.requests_elsewhere == []
    page.close()


def test_the_tree_opens_sorts_and_shows_a_finding_layer(browser: Browser, pages: Path) -> None:
    target = _target("resnet", "resnet50")
    page = browser.open(_page(pages, target, "--platform", PLATFORM)).page
    child = page.locator('#layers tr[data-name="layer1.0"]')
    assert not child.is_visible()
    page.locator('#layers tr[data-name="layer1"] button.toggle').click()
    assert child.is_visible()
    page.locator('#layers tr[data-name="layer1"] button.toggle').click()
    assert not child.is_visible()
    page.select_option("#depth", "3")
    assert page.locator('#layers tr[data-name="layer1.0.conv1"]').is_visible()
    page.select_option("#depth", "1")
    page.locator('#layers th[data-key="flops"]').click()  # largest first
    names = page.locator("#layers tbody tr:visible").evaluate_all(
        "rows => rows.map(r => r.dataset.name)")
    flops = {layer.name: layer.flops for layer in _analysis(target).layers}
    assert [flops[n] for n in names] == sorted((flops[n] for n in names), reverse=True)
    assert names[0] == "layer3"
    assert page.locator('#breakdown a[href="#layer-layer3.5"]').count() == 1  # blocks, opened
    link = page.locator('#findings a[href="#layer-layer2.1"]')
    link.click()
    assert page.locator('#layers tr[data-name="layer2.1"]').is_visible()
    page.close()


def test_html_keeps_every_layer_so_row_options_are_refused(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", _target("resnet", "resnet50"), "--format", "html",
                 "--depth", "1"]) == 2
    assert "html report always holds every layer" in capsys.readouterr().err


def test_the_readme_figures_of_shufflenet(browser: Browser, pages: Path) -> None:
    """The README: its convolutions 92% of the FLOPs, 35% of the estimated time; its max pool
    0.4% of the FLOPs, 17% of the time."""
    page = browser.open(_page(pages, _target("shufflenet_v2", "shufflenet_v2"), "--platform",
                              PLATFORM)).page
    shares = {row[0]: row[1:] for row in page.locator("#kind-shares tbody tr").evaluate_all(
        "rows => rows.map(r => Array.from(r.cells, c => c.innerText.trim()))")}
    assert [round(float(v.rstrip("%"))) for v in shares["conv"]] == [35, 92]
    maxpool = page.locator('#breakdown tr:has(a[href="#layer-maxpool"]) td').evaluate_all(
        "cells => cells.map(c => c.innerText.trim())")
    assert (round(float(maxpool[2].rstrip("%"))), maxpool[4]) == (17, "0.4%")
    page.close()



def test_the_fused_view_leaves_absorbed_ops_off_the_roofline(browser: Browser,
                                                             pages: Path) -> None:
    """--fuse: the ops an inference engine folds into the one before them take no time, so
    they have no attained rate to draw; the caption says so."""
    target = _target("resnet", "resnet50")
    page = browser.open(_page(pages, target, "--platform", PLATFORM, "--fuse")).page
    eager = browser.open(_page(pages, target, "--platform", PLATFORM)).page
    fused_points = page.locator("#roofline-chart circle.point").count()
    assert 0 < fused_points < eager.locator("#roofline-chart circle.point").count()
    assert "fused into the op before them" in page.locator("#roofline").inner_text()
    assert "fused as an inference engine runs it" in page.locator(".sub").all_inner_texts()[1]
    page.close()
    eager.close()
