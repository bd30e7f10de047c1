"""The guideline rules reach the paper's verdicts: on its benchmark networks (Tables 1-4) and on
whole models (Section 3's discussion of ShuffleNet v1, MobileNet v2, Inception and ResNet)."""
from __future__ import annotations

import pytest
from costlens.rules.g4_elementwise import elementwise_share
from helpers import example

import costlens
from costlens.linting.context import RuleContext

paper = example("paper_benchmarks")


def _codes(model_and_inputs, **options) -> set[str]:
    return {d.code for d in costlens.lint(*model_and_inputs, select=["G"], **options)}


@pytest.mark.parametrize("row, fires", list(zip(paper.TABLE1_ROWS, (False, False, True, True))),
                         ids=lambda v: getattr(v, "ratio", str(v)))
def test_g1_on_table1(row, fires: bool) -> None:
    for platform in ("gpu", "cpu"):
        assert ("G1" in _codes(paper.g1_network(**paper.table1_kwargs(row, platform)))) is fires


@pytest.mark.parametrize("row, fires", list(zip(paper.TABLE2_ROWS, (False, False, True, True))),
                         ids=lambda v: f"g{v.groups}" if hasattr(v, "groups") else str(v))
def test_g2_on_table2(row, fires: bool) -> None:
    for platform in ("gpu", "cpu"):
        assert ("G2" in _codes(paper.g2_network(**paper.table2_kwargs(row, platform)))) is fires


def test_g3_on_table3() -> None:
    verdicts = {row.label: "G3" in _codes(paper.g3_network(**paper.table3_kwargs(row)))
                for row in paper.TABLE3_ROWS}
    assert verdicts["4-fragment-parallel"] and not verdicts["1-fragment"]


def test_g4_on_table4_and_its_share_falls_as_relu_and_shortcut_go() -> None:
    shares = {}
    for row in paper.TABLE4_ROWS:
        model, x = paper.g4_network(**paper.table4_kwargs(row))
        found = costlens.lint(model, x, select=["G4"], options={"G4": {"max_share": 0.0}})
        shares[(row.relu, row.shortcut)] = max((d.figures["share"] for d in found), default=0.0)
        if row.relu and row.shortcut:
            assert costlens.lint(model, x, select=["G4"])  # fires at the default limit
    assert shares[(True, True)] > shares[(True, False)] > shares[(False, False)]
    assert shares[(True, True)] > shares[(False, True)] > shares[(False, False)]


@pytest.fixture(scope="module")
def verdicts() -> dict[str, set[str]]:
    return {
        "shufflenet_v1": _codes(example("shufflenet_v1").shufflenet_v1(groups=3)),
        "shufflenet_v2": _codes(example("shufflenet_v2").shufflenet_v2()),
        "mobilenet_v2": _codes(example("mobilenet_v2").mobilenet_v2()),
        "inception": _codes(example("inception").inception_net()),
        "resnet50": _codes(example("resnet").resnet50()),
        "resnext_block": _codes(example("resnet").resnext_block(groups=32)),
    }


def test_whole_model_verdicts(verdicts: dict[str, set[str]]) -> None:
    assert "G2" in verdicts["shufflenet_v1"]
    assert {"G1", "G4"} <= verdicts["mobilenet_v2"]
    assert "G3" in verdicts["inception"]
    assert not {"G2", "G3"} & verdicts["resnet50"]
    assert not {"G1", "G2", "G3"} & verdicts["shufflenet_v2"]
    assert "G2" in verdicts["resnext_block"]


def test_depthwise_convolutions_never_get_g2() -> None:
    for model_and_inputs in (example("mobilenet_v2").mobilenet_v2(),
                             example("shufflenet_v2").shufflenet_v2()):
        found = costlens.lint(*model_and_inputs, select=["G2"],
                              options={"G2": {"max_mac_ratio": 1.0}})
        assert found == []


def test_shufflenet_v2_spends_less_on_elementwise_ops_than_mobilenet_v2() -> None:
    def share(model_and_inputs) -> float:
        analysis = costlens.analyze(*model_and_inputs)
        context = RuleContext(analysis, {})
        return elementwise_share(context, list(analysis.ops))

    assert share(example("shufflenet_v2").shufflenet_v2()) < share(
        example("mobilenet_v2").mobilenet_v2())
