"""The JSON of `diff` and `compare` follows the schemas shipped beside report.json, with and
without latency, across added and removed layers."""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from helpers import EXAMPLES

import costlens
from costlens.cli import main

SCHEMAS = Path(costlens.__file__).parent / "schemas"
HALF = f"{EXAMPLES}/shufflenet_v2.py:shufflenet_v2(width=0.5)"
RESNET = f"{EXAMPLES}/resnet.py:resnet50"


def _validated(name: str, output: str) -> dict:
    schema = json.loads((SCHEMAS / f"{name}.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    document = json.loads(output)
    jsonschema.validate(document, schema)
    return document


@pytest.mark.parametrize("platform", [[], ["--platform", "epyc-cpu-1t"]])
def test_a_diff_follows_its_schema(platform: list[str],
                                   capsys: pytest.CaptureFixture[str]) -> None:
    main(["diff", HALF, RESNET, "--format", "json", *platform])
    document = _validated("diff", capsys.readouterr().out)
    statuses = {layer["status"] for layer in document["layers"]}
    assert {"added", "removed"} <= statuses  # two networks: layers on one side only
    assert ("latency_ms" in document["totals"]) == bool(platform)


@pytest.mark.parametrize("platform", [[], ["--platform", "epyc-cpu-1t"]])
def test_a_comparison_follows_its_schema(platform: list[str],
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", HALF, RESNET, "--format", "json", "--jobs", "1", *platform]) == 0
    document = _validated("compare", capsys.readouterr().out)
    assert [row["target"] for row in document["rows"]] == [HALF, RESNET]
