"""Reporters: the table states its units and ends with totals; JSON follows the documented
schema; CSV and markdown list the same rows."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import jsonschema
import pytest
import torch
from helpers import example
from torch import nn

import costlens
from costlens.report import RowSelection, render
from costlens.units import human

SCHEMA = json.loads((Path(costlens.__file__).parent / "schemas" / "report.json").read_text())


@pytest.fixture(scope="module")
def shufflenet() -> costlens.Analysis:
    return costlens.analyze(*example("shufflenet_v2").shufflenet_v2())


def test_human_units() -> None:
    assert [human(v) for v in (0, 999, 1000, 9_999, 40_476_448, 4_089_184_256, 2.5e13)] == [
        "0", "999", "1.00K", "10.0K", "40.5M", "4.09G", "25.0T"]
    assert [human(v) for v in (999_499, 999_999, 999_999_999)] == ["999K", "1.00M", "1.00G"]
    assert human(68_000_000, "B") == "68.0MB"


def test_table_states_units_and_ends_with_totals(shufflenet) -> None:
    text = render(shufflenet, "table", RowSelection(depth=1))
    assert "FLOPs: multiply-adds" in text and "MAC: memory access cost" in text
    assert "K/M/G/T = 10^3/10^6/10^9/10^12" in text
    rows = [line.split()[0] for line in text.splitlines() if line and line.split()[0] in
            {"conv1", "maxpool", "stage2", "stage3", "stage4", "conv5", "fc", "total"}]
    assert rows == ["conv1", "maxpool", "stage2", "stage3", "stage4", "conv5", "fc", "total"]
    assert "All 302 ops have cost formulas." in text


def _header(text: str) -> list[str]:
    """The table's header cells: the line above the dashes, which must be the only one."""
    lines = text.splitlines()
    rule = next(i for i, line in enumerate(lines) if line.startswith("---"))
    assert lines[rule - 1].startswith("module") and lines[rule - 2] == "", "a one-line header"
    return lines[rule - 1].split("  ")


@pytest.mark.parametrize("name", ["shufflenet_v2", "resnet", "gpt", "inception"])
@pytest.mark.parametrize("depth", [1, 3])
@pytest.mark.parametrize("platform", [None, "epyc-cpu-1t"])
def test_the_table_fits_120_characters_with_one_line_headers(name, depth, platform) -> None:
    from costlens.latency.estimate import estimate
    from costlens.latency.profile import load_profile
    from costlens.report.table import COLUMNS
    module = example(name)
    factory = {"shufflenet_v2": "shufflenet_v2", "resnet": "resnet50", "gpt": "gpt",
               "inception": "inception_net"}[name]
    analysis = costlens.analyze(*getattr(module, factory)())
    latency = estimate(analysis, load_profile(platform)) if platform else None
    text = render(analysis, "table", RowSelection(depth=depth), latency)
    assert max(len(line) for line in text.splitlines()) <= 120
    shown = {cell.strip() for cell in _header(text) if cell.strip()}
    assert {"module", "type", "FLOPs", "MAC"} <= shown
    every = {c.header for c in COLUMNS if c.shown(bool(platform), frozenset())}
    left_out = every - shown
    assert not left_out or "(--wide shows them)" in text.replace("\n", " ")
    wide = render(analysis, "table", RowSelection(depth=depth), latency, wide=True)
    assert {cell.strip() for cell in _header(wide) if cell.strip()} == every
    markdown = render(analysis, "markdown", RowSelection(depth=depth), latency)
    header = next(line for line in markdown.splitlines() if line.startswith("| module"))
    assert [cell.strip() for cell in header.strip("|").split("|")] == [
        c.markdown for c in COLUMNS if c.shown(bool(platform), frozenset())]


def test_depth_sort_and_top(shufflenet) -> None:
    text = render(shufflenet, "csv", RowSelection(depth=2, sort="flops", top=3))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 4 and rows[-1]["name"] == "total"
    flops = [int(row["flops"]) for row in rows[:3]]
    assert flops == sorted(flops, reverse=True)
    depth2 = [layer for layer in shufflenet.layers if 1 <= layer.depth <= 2]
    assert flops[0] == max(layer.flops for layer in depth2)
    names = list(csv.DictReader(io.StringIO(
        render(shufflenet, "csv", RowSelection(depth=1, sort="name")))))
    assert [row["name"] for row in names][:-1] == sorted(row["name"] for row in names[:-1])


def test_json_follows_the_schema_and_is_complete(shufflenet) -> None:
    document = json.loads(render(shufflenet, "json", RowSelection(depth=1, top=1)))
    jsonschema.validate(document, SCHEMA)
    assert document["schema_version"] == 3
    assert set(document["totals"]) >= {"flops", "mac", "mac_bytes", "params"}
    assert len(document["layers"]) == len(shufflenet.layers)  # depth/top do not cut JSON
    assert len(document["ops"]) == 302
    assert document["totals"]["flops"] == sum(op["flops"] for op in document["ops"])


def test_json_of_an_unsupported_op_validates() -> None:
    class Spectral(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.fft.rfft(x).abs()

    document = json.loads(costlens.analyze(Spectral(), torch.randn(2, 8)).to_json())
    jsonschema.validate(document, SCHEMA)
    assert document["unsupported_ops"] == [{"op": "aten._fft_r2c.default", "calls": 1,
                                            "modules": [""]}]


def test_markdown_is_a_pipe_table(shufflenet) -> None:
    text = render(shufflenet, "markdown", RowSelection(depth=1))
    table = [line for line in text.splitlines() if line.startswith("|")]
    assert table[0].startswith("| module") and "FLOPs (mult-adds)" in table[0]
    assert " fragments |" in table[0] and " branches |" in table[0]
    assert table[-1].startswith("| total")


def _add_up(rows: list[dict], total: dict) -> int:
    """Check that under every row the rows one level deeper add up to it, and the depth-1
    rows to the total; return how many parents were checked."""
    checked = 0
    for parent in [{**total, "name": "", "depth": 0}, *rows]:
        prefix = f"{parent['name']}." if parent["name"] else ""
        children = [row for row in rows if int(row["depth"]) == int(parent["depth"]) + 1
                    and row["name"].startswith(prefix)]
        if children:
            checked += 1
            for figure in ("flops", "mac", "mac_bytes", "params"):
                assert sum(int(row[figure]) for row in children) == int(parent[figure]), \
                    (parent["name"], figure)
    return checked


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_rows_add_up_at_every_depth_in_every_format(depth: int) -> None:
    gpt = costlens.analyze(*example("gpt").gpt())
    rows = list(csv.DictReader(io.StringIO(render(gpt, "csv", RowSelection(depth=depth)))))
    assert rows[-1]["name"] == "total"
    assert _add_up(rows[:-1], rows[-1]) >= depth
    document = json.loads(render(gpt, "json", RowSelection(depth=depth)))
    layers = [layer for layer in document["layers"] if 1 <= layer["depth"] <= depth]
    assert _add_up(layers, document["totals"]) >= depth
    names = [row["name"] for row in rows[:-1]]
    assert names == [layer["name"] for layer in layers]
    for output_format in ("table", "markdown"):
        text = render(gpt, output_format, RowSelection(depth=depth))
        shown = [line.strip("| ").split()[0] for line in text.splitlines()
                 if line.strip("| ").split()[:1] and line.strip("| ").split()[0] in names]
        assert shown == names, output_format
    if depth >= 3:  # a block's residual adds: the row the issue found missing
        assert "blocks.0.(Block.forward)" in names


def test_same_model_twice_gives_identical_output() -> None:
    first = costlens.analyze(*example("mobilenet_v2").mobilenet_v2()).to_json()
    second = costlens.analyze(*example("mobilenet_v2").mobilenet_v2()).to_json()
    assert first == second
