"""The rule framework: every rule documents itself under the fixed headings, its Example fires
and its Use instead does not; options parse; rules are found, built in and from plugins."""
from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

import costlens
from costlens import CostlensError
from costlens.linting.rule import DOC_HEADINGS, Option
from costlens.linting.rulebook import all_rules, select_rules
from costlens.linting.values import parse_quantity

RULES = all_rules()


def _factory(rule, heading: str):
    namespace: dict = {"__name__": f"costlens_doc_{rule.code}"}
    exec(compile(rule.code_block(heading), f"<{rule.code} {heading}>", "exec"), namespace)
    model, inputs = namespace["build"]()
    return model, inputs, namespace.get("OPTIONS", {})


@pytest.mark.parametrize("code", RULES)
def test_documentation_has_the_fixed_headings_in_order(code: str) -> None:
    rule = RULES[code]
    documentation = rule.documentation()
    assert documentation.startswith(f"{code} {rule.name}: ")
    positions = [documentation.find(f"\n## {heading}\n") for heading in DOC_HEADINGS]
    assert all(position > 0 for position in positions), positions
    assert positions == sorted(positions)
    for option in rule.all_options():
        assert f"`{option.name}`" in rule.section("Options"), option.name


@pytest.mark.parametrize("code", RULES)
def test_example_fires_and_use_instead_does_not(code: str) -> None:
    rule = RULES[code]
    for heading, fires in (("Example", True), ("Use instead", False)):
        model, inputs, options = _factory(rule, heading)
        found = costlens.lint(model, inputs, select=[code], options={code: options})
        assert bool(found) is fires, (heading, [d.message for d in found])
        assert all(d.code == code for d in found)


def test_codes_are_unique_and_named() -> None:
    assert list(RULES) == ["B1", "B2", "B3", "G1", "G2", "G3", "G4"]
    assert len({rule.name for rule in RULES.values()}) == len(RULES)


def test_longest_matching_prefix_wins() -> None:
    def codes(select=(), ignore=()):
        return [rule.code for rule in select_rules(RULES, select, ignore)]

    assert codes() == list(RULES)
    assert codes(["G"], ["G4"]) == ["G1", "G2", "G3"]
    assert codes(["G4"], ["G"]) == ["G4"]
    assert codes(["G4"], ["G4"]) == []
    with pytest.raises(CostlensError, match="unknown rule code 'X9'"):
        codes(["X9"])


@pytest.mark.parametrize("text, value", [
    ("600M", 600e6), ("4.1G", 4.1e9), ("25e6", 25e6), ("1_000", 1000.0), (12, 12.0),
    ("3k", 3000.0)])
def test_quantities(text, value) -> None:
    assert parse_quantity(text, "here") == value


@pytest.mark.parametrize("bad", ["many", "-3", "1.2.3", True])
def test_bad_quantities(bad) -> None:
    with pytest.raises(CostlensError, match="^here: "):
        parse_quantity(bad, "here")


def test_option_types_and_bounds() -> None:
    assert Option("ratio", 1.3, minimum=1.0).parse("1.5", "x") == 1.5
    assert Option("count", 6).parse(7.0, "x") == 7
    assert Option("types", ()).parse(["A", "B"], "x") == ("A", "B")
    assert Option("types", ()).parse("A, B", "x") == ("A", "B")
    assert Option("flag", False).parse("yes", "x") is True
    for option, value in ((Option("count", 6), 6.5), (Option("ratio", 1.3), "high"),
                          (Option("ratio", 1.3), "nan"), (Option("types", ()), [1]),
                          (Option("flag", False), "maybe"),
                          (Option("share", 0.6, minimum=0.0, maximum=1.0), 60),
                          (Option("ratio", 1.3, minimum=1.0), 0.5)):
        with pytest.raises(CostlensError, match="^x: expected"):
            option.parse(value, "x")


def test_a_plugin_rule_from_an_entry_point(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "widerules.py").write_text(textwrap.dedent('''
        """X1 no-linear: the model uses a linear layer.

        ## What it does
        Reports linear layers.
        """
        from dataclasses import dataclass

        from costlens.costs import Category
        from costlens.linting import Finding, Rule


        @dataclass(frozen=True)
        class LinearLayer(Finding):
            features: int

            @property
            def message(self):
                return f"a linear layer to {self.features} features"


        class NoLinear(Rule):
            code = "X1"
            name = "no-linear"

            def check(self, context):
                for op, node in context.ops(Category.MATMUL):
                    yield LinearLayer(op.module, node.outputs[0].shape[-1])
    '''))
    info = tmp_path / "widerules-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: widerules\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[costlens.rules]\nX1 = widerules:NoLinear\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        rules = all_rules()
        assert "X1" in rules and rules["X1"].summary() == "the model uses a linear layer."
        found = costlens.lint(nn.Linear(2, 2), torch.randn(1, 2), select=["X1"])
        assert [(d.code, d.module, d.message, d.figures) for d in found] == [
            ("X1", "", "a linear layer to 2 features", {"features": 2})]
    finally:
        sys.modules.pop("widerules", None)
