"""Configuration in pyproject.toml or setup.cfg: found upward, parsed, validated, and every
mistake named."""
from __future__ import annotations

import argparse
import re
import textwrap
from pathlib import Path

import pytest

from costlens import CostlensError
from costlens.linting import options
from costlens.linting.config import find_config, load_config
from costlens.linting.finding import Severity
from costlens.linting.options import LintOption, add_arguments, over_config
from costlens.linting.rulebook import all_rules

RULES = all_rules()


def _write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


PYPROJECT = """
    [project]
    name = "demo"

    [tool.costlens]
    targets = [
        "models/net.py:build",
        {target = "models/big.py:build", input = ["1x3x64x64"], budgets = {flops = "4.1G"}},
    ]
    select = ["G", "B"]
    ignore = ["G4"]
    fail-on = "error"
    baseline = "baseline.json"

    [tool.costlens.per-module-ignores]
    "features.*" = ["G1", "G2"]

    [tool.costlens.rules.G1]
    max-mac-ratio = 1.4

    [tool.costlens.rules.G3]
    block-types = ["Tower"]

    [tool.costlens.budgets]
    flops = "600M"
    params = 5000000
"""


def test_pyproject_is_found_from_below_and_parsed(tmp_path: Path) -> None:
    _write(tmp_path / "pyproject.toml", PYPROJECT)
    below = tmp_path / "models" / "deep"
    below.mkdir(parents=True)
    assert find_config(below) == tmp_path / "pyproject.toml"
    config = load_config(RULES, start=below)
    assert [t.spec for t in config.targets] == ["models/net.py:build", "models/big.py:build"]
    big = config.targets[1]
    assert (big.inputs, big.dtype, big.budgets, big.base) == (
        ("1x3x64x64",), None, {"flops": 4.1e9}, tmp_path)
    assert (config.select, config.ignore, config.fail_on) == (("G", "B"), ("G4",), Severity.ERROR)
    assert config.baseline == tmp_path / "baseline.json"
    assert config.per_module_ignores == (("features.*", ("G1", "G2")),)
    assert config.rules == {"G1": {"max_mac_ratio": 1.4}, "G3": {"block_types": ("Tower",)}}
    assert config.budgets == {"flops": 600e6, "params": 5e6}


def test_setup_cfg_takes_the_same_settings(tmp_path: Path) -> None:
    _write(tmp_path / "setup.cfg", """
        [metadata]
        name = demo

        [costlens]
        targets =
            models/net.py:build
            models/big.py:build --input 1x3x64x64 --dtype float16
        select = G, B
        fail-on = note

        [costlens.per-module-ignores]
        features.* = G4

        [costlens.rules.G2]
        max-mac-ratio = 2

        [costlens.budgets]
        mac = 20M
    """)
    config = load_config(RULES, start=tmp_path)
    assert [(t.spec, t.inputs, t.dtype) for t in config.targets] == [
        ("models/net.py:build", (), None),
        ("models/big.py:build", ("1x3x64x64",), "float16")]
    assert (config.select, config.fail_on) == (("G", "B"), Severity.NOTE)
    assert config.per_module_ignores == (("features.*", ("G4",)),)
    assert config.rules == {"G2": {"max_mac_ratio": 2.0}}
    assert config.budgets == {"mac": 20e6}


def test_pyproject_without_a_costlens_section_is_passed_over(tmp_path: Path) -> None:
    _write(tmp_path / "setup.cfg", "[costlens]\nselect = G1\n")
    inner = tmp_path / "inner"
    inner.mkdir()
    _write(inner / "pyproject.toml", "[project]\nname = 'x'\n")
    assert find_config(inner) == tmp_path / "setup.cfg"
    assert load_config(RULES, start=inner).select == ("G1",)


def test_target_lines_keep_factory_arguments_whole(tmp_path: Path) -> None:
    _write(tmp_path / "setup.cfg", """
        [DEFAULT]
        project = demo

        [costlens]
        targets =
            models/net.py:build(width=0.5, name='a b') --input 1x3x8x8 --dtype float16
        fail_on = error
    """)
    config = load_config(RULES, start=tmp_path)
    (target,) = config.targets
    assert (target.spec, target.inputs, target.dtype) == (
        "models/net.py:build(width=0.5, name='a b')", ("1x3x8x8",), "float16")
    assert config.fail_on == Severity.ERROR  # fail_on spelled in snake case


def test_a_key_set_in_both_spellings_is_an_error(tmp_path: Path) -> None:
    _write(tmp_path / "pyproject.toml",
           "[tool.costlens.rules.G1]\nmax-mac-ratio = 2\nmax_mac_ratio = 1.1\n")
    with pytest.raises(CostlensError, match="'max_mac_ratio' is set twice"):
        load_config(RULES, start=tmp_path)


def test_no_configuration_is_an_empty_one(tmp_path: Path) -> None:
    config = load_config(RULES, start=tmp_path)
    assert (config.path, config.targets, config.select, config.fail_on) == (
        None, (), (), Severity.WARNING)


@pytest.mark.parametrize("body, message", [
    ("colour = 'red'", "unknown key 'colour'"),
    ("select = ['G9']", "select: unknown rule code 'G9'"),
    ("ignore = 3", "ignore: expected a list"),
    ("fail-on = 'fatal'", "fail-on: unknown severity 'fatal'"),
    ("targets = [{target = 'a.py:b', inputs = ['1x3']}]", "unknown key 'inputs' in a target"),
    ("targets = [{input = ['1x3']}]", "a target table needs target"),
    ("[tool.costlens.rules.G1]\nmax-mac-ratio = 'high'",
     "rules.G1.max-mac-ratio: expected a number"),
    ("[tool.costlens.rules.G1]\nlimit = 2", "rule G1 has no option 'limit'"),
    ("[tool.costlens.rules.Q1]\nlimit = 2", "unknown rule code 'Q1'"),
    ("[tool.costlens.budgets]\nlatency = '3ms'", "unknown budget 'latency'"),
    ("[tool.costlens.budgets]\nflops = 'lots'", "budgets.flops: expected a count"),
    ("[tool.costlens.rules.G4]\nmax-share = 60", "max-share: expected a number from 0 to 1"),
    ("[tool.costlens.rules.G1]\nmax-mac-ratio = 'nan'", "max-mac-ratio: expected a number"),
    ("[tool.costlens.per-module-ignores]\n'a.*' = ['Z']", "unknown rule code 'Z'"),
])
def test_mistakes_are_named(tmp_path: Path, body: str, message: str) -> None:
    _write(tmp_path / "pyproject.toml", "[tool.costlens]\n" + body + "\n")
    with pytest.raises(CostlensError, match=re.escape(message)) as caught:
        load_config(RULES, start=tmp_path)
    assert str(tmp_path / "pyproject.toml") in str(caught.value)


def test_broken_files_are_errors(tmp_path: Path) -> None:
    _write(tmp_path / "pyproject.toml", "[tool.costlens\n")
    with pytest.raises(CostlensError, match="not valid TOML"):
        load_config(RULES, start=tmp_path)
    with pytest.raises(CostlensError, match="configuration file not found"):
        load_config(RULES, tmp_path / "missing.toml")
    _write(tmp_path / "other.cfg", "[costlens.colours]\nred = 1\n[costlens]\n")
    with pytest.raises(CostlensError, match=r"unknown section \[costlens.colours\]"):
        load_config(RULES, tmp_path / "other.cfg")


def test_the_command_line_overrides_and_extends_the_configuration(tmp_path: Path,
                                                                   monkeypatch) -> None:
    """Lists are replaced, tables updated key by key, as each option's table entry says."""
    _write(tmp_path / "pyproject.toml", PYPROJECT)
    monkeypatch.chdir(tmp_path)
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    namespace = parser.parse_args(["--select", "G1,G2", "--select", "B", "--budget",
                                   "flops=1K", "--rule-option", "G1.max_mac_ratio=2",
                                   "--rule-option", "G4.max-share=0.7", "--fail-on", "note"])
    settings = over_config(load_config(RULES), namespace, RULES)
    assert settings.select == ("G1", "G2", "B") and settings.ignore == ("G4",)
    assert settings.budgets == {"flops": 1000.0, "params": 5e6}
    assert settings.rules == {"G1": {"max_mac_ratio": 2.0}, "G3": {"block_types": ("Tower",)},
                              "G4": {"max_share": 0.7}}
    assert settings.fail_on is Severity.NOTE
    assert settings.baseline == tmp_path / "baseline.json"  # from the file, relative to it
    bad = parser.parse_args(["--budget", "latency=3"])
    with pytest.raises(CostlensError, match="^--budget: unknown budget 'latency'"):
        over_config(load_config(RULES), bad, RULES)


def test_an_option_declared_once_reaches_the_flags_the_files_and_the_api(
        tmp_path: Path, monkeypatch) -> None:
    """Adding a setting is one entry in the table: here a made-up `colour`."""
    colour = LintOption("colour", lambda value, reading: str(value).upper(), "NONE",
                        "a made-up setting", flag="--colour")
    monkeypatch.setattr(options, "OPTIONS", (*options.OPTIONS, colour))
    _write(tmp_path / "pyproject.toml", "[tool.costlens]\ncolour = 'red'\n")
    assert load_config(RULES, start=tmp_path).colour == "RED"
    _write(tmp_path / "setup.cfg", "[costlens]\ncolour = blue\n")
    assert load_config(RULES, tmp_path / "setup.cfg").colour == "BLUE"
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    namespace = parser.parse_args(["--colour", "green"])
    assert over_config(load_config(RULES, start=tmp_path), namespace, RULES).colour == "GREEN"
    assert options.from_arguments({"colour": "grey"}, RULES).colour == "GREY"


def test_the_api_reads_its_arguments_as_the_command_line_does() -> None:
    import torch
    from torch import nn

    import costlens
    model = nn.Sequential(*(nn.Conv2d(360, 360, 1, groups=8, bias=False) for _ in range(2)))
    x = torch.randn(1, 360, 56, 56)
    assert {d.code for d in costlens.lint(model, x, select="G2", ignore=None)} == {"G2"}
    assert costlens.lint(model, x, select="G1, G3") == []
    with pytest.raises(CostlensError, match="^select: unknown rule code"):
        costlens.lint(model, x, select="Z")
    with pytest.raises(CostlensError, match="^options.G2: rule G2 has no option"):
        costlens.lint(model, x, options={"G2": {"limit": 3}})
