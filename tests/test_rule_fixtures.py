"""Per-rule functional tests, as pylint keeps them: for each built-in rule a fixture model,
tests/fixtures/rules/<code>.py, whose docstring says what must fire and what must not, and
beside it <code>.json, the exact diagnostics `costlens lint --format json` gives for it with
only that rule selected.

The fixture goes through the real command line (loader, tracer, lint engine, JSON reporter),
run from the fixtures folder so that targets and file names in the output are the same on
every machine. A fixture may set `OPTIONS = {...}` (passed as `--rule-option CODE.NAME=VALUE`)
and `BUDGETS = {...}` (passed as `--budget KEY=COUNT`), literals read without running it.

When a rule's output changes on purpose, rewrite the expected files and review the diff:

    COSTLENS_UPDATE_FIXTURES=1 pytest -q -p no:cacheprovider tests/test_rule_fixtures.py
"""
from __future__ import annotations

import ast
import json
import os
from pathlib import Path
from typing import Any

import pytest
from helpers import ROOT

from costlens.cli import main
from costlens.linting.rulebook import builtin_rules

FIXTURES = ROOT / "tests" / "fixtures" / "rules"
CODES = [rule.code for rule in builtin_rules()]
UPDATE = os.environ.get("COSTLENS_UPDATE_FIXTURES") == "1"


def _literals(path: Path) -> dict[str, Any]:
    """The fixture's module-level `NAME = literal` assignments (OPTIONS, BUDGETS)."""
    found = {}
    for statement in ast.parse(path.read_text(), str(path)).body:
        if (isinstance(statement, ast.Assign) and len(statement.targets) == 1
                and isinstance(statement.targets[0], ast.Name)
                and statement.targets[0].id in ("OPTIONS", "BUDGETS")):
            found[statement.targets[0].id] = ast.literal_eval(statement.value)
    return found


def _flag_value(value: Any) -> str:
    """A value as the command line writes it: lists comma separated."""
    return ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def _arguments(code: str, path: Path, config: Path) -> list[str]:
    literals = _literals(path)
    arguments = ["lint", f"{path.name}:build", "--select", code, "--format", "json",
                 "--config", str(config)]
    for name, value in literals.get("OPTIONS", {}).items():
        arguments += ["--rule-option", f"{code}.{name}={_flag_value(value)}"]
    for key, count in literals.get("BUDGETS", {}).items():
        arguments += ["--budget", f"{key}={_flag_value(count)}"]
    return arguments


def test_every_builtin_rule_has_a_fixture_and_nothing_else_does() -> None:
    assert CODES == ["B1", "B2", "B3", "G1", "G2", "G3", "G4"]
    models = sorted(path.stem.upper() for path in FIXTURES.glob("*.py"))
    assert models == sorted(CODES)
    # a missing .json fails its rule's test below (and is written by an update run)
    assert {path.stem.upper() for path in FIXTURES.glob("*.json")} <= set(models)


@pytest.mark.parametrize("code", CODES)
def test_fixture_gets_exactly_the_expected_findings(
        code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    source = FIXTURES / f"{code.lower()}.py"
    expected_path = source.with_suffix(".json")
    # An empty configuration of our own: a [tool.costlens] the repository may gain later
    # (budgets, rule options, ignores) must not change what the fixtures get.
    config = tmp_path / "pyproject.toml"
    config.write_text("[tool.costlens]\n")
    monkeypatch.chdir(FIXTURES)
    exit_code = main(_arguments(code, source, config))
    captured = capsys.readouterr()
    assert captured.err == ""
    diagnostics = json.loads(captured.out)["diagnostics"]
    assert diagnostics, f"{source.name} must make {code} fire at least once"
    assert exit_code == 1
    assert {d["code"] for d in diagnostics} == {code}
    if UPDATE:
        expected_path.write_text(json.dumps(diagnostics, indent=2, sort_keys=True) + "\n")
    assert expected_path.is_file(), (f"no {expected_path.name}: write it with "
                                     "COSTLENS_UPDATE_FIXTURES=1 (see this module's docstring)")
    expected = json.loads(expected_path.read_text())
    assert expected, f"{expected_path.name} must record at least one finding"
    assert diagnostics == expected
