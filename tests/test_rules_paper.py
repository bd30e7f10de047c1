"""The guideline rules reach the paper's verdicts: on its benchmark networks (Tables 1-4) and on
whole models (Section 3's discussion of ShuffleNet v1, MobileNet v2, Inception and ResNet)."""
from __future__ import annotations

import pytest
from costlens.rules.g4_elementwise import elementwise_share
from helpers import example

import costlens
from costlens.linting.context import RuleContext
from costlens.linting.finding import Severity

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
    """Run eagerly, as the paper measured, the share falls as the ReLUs or the shortcut go; as
    an inference engine runs it (the default), the ReLUs fuse and the shortcut add is what
    G4 finds, on the bottleneck with both."""
    shares = {}
    for row in paper.TABLE4_ROWS:
        model, x = paper.g4_network(**paper.table4_kwargs(row))
        found = costlens.lint(model, x, select=["G4"], options={"G4": {"max_share": 0.0}},
                              view="eager")
        shares[(row.relu, row.shortcut)] = max((d.figures["share"] for d in found), default=0.0)
        fired = costlens.lint(model, x, select=["G4"])
        if row.relu and row.shortcut:
            assert fired and fired[0].severity.rank >= 1  # a warning at the default limit
        if not row.shortcut:
            assert fired == []
    assert shares[(True, True)] > shares[(True, False)] > shares[(False, False)]
    assert shares[(True, True)] > shares[(False, True)] > shares[(False, False)]


def _failing(model_and_inputs) -> set[str]:
    """Codes found at warning or above: what fails CI at the default --fail-on."""
    return {d.code for d in costlens.lint(*model_and_inputs, select=["G"])
            if d.severity is not Severity.NOTE}


@pytest.fixture(scope="module")
def verdicts() -> dict[str, set[str]]:
    return {
        "shufflenet_v1": _failing(example("shufflenet_v1").shufflenet_v1(groups=3)),
        "mobilenet_v2": _failing(example("mobilenet_v2").mobilenet_v2()),
        "inception": _codes(example("inception").inception_net()),
        "resnet50": _codes(example("resnet").resnet50()),
        "resnext50": _failing(example("resnet").resnext50_32x4d()),
        "resnext_block": _codes(example("resnet").resnext_block(groups=32)),
    }


def test_whole_model_verdicts(verdicts: dict[str, set[str]]) -> None:
    assert "G2" in verdicts["shufflenet_v1"]
    assert {"G1", "G4"} <= verdicts["mobilenet_v2"]
    assert "G3" in verdicts["inception"]
    assert not {"G2", "G3"} & verdicts["resnet50"]
    assert "G2" in verdicts["resnext50"]
    assert "G2" in verdicts["resnext_block"]


@pytest.mark.parametrize("width", [0.5, 1.0, 1.5, 2.0])
def test_the_papers_shufflenet_v2_lints_clean(width: float) -> None:
    """The design the guidelines produced gets nothing at warning or above: lint exits 0.
    Its 2x downsampling units' 1:5 expansions get G1, as notes: they would save 0.4% of the
    model's memory traffic."""
    model_and_inputs = example("shufflenet_v2").shufflenet_v2(width=width)
    found = costlens.lint(*model_and_inputs, select=["G"])
    assert all(d.severity is Severity.NOTE for d in found), [d.message for d in found]
    assert not {"G2", "G3", "G4"} & {d.code for d in found}


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


def test_every_example_lints_to_a_screen_of_distinct_causes() -> None:
    """benchmarks/bench_lint.py's checks: no rule on a block and a block inside it, at most 10
    lines of findings per network, the paper's ShuffleNet V2 clean at every width."""
    import contextlib
    import io
    import runpy

    from helpers import ROOT

    bench = runpy.run_path(str(ROOT / "benchmarks" / "bench_lint.py"))
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert bench["main"]() == 0, printed.getvalue()
    assert "mobilenet_v2.py:mobilenet_v2" in printed.getvalue()
