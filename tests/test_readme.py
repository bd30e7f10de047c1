"""The README shows what the commands print: its sample outputs and rules table are rerun and
compared, so the documentation cannot drift from the behaviour."""
from __future__ import annotations

import re
import shlex

import pytest
from helpers import ROOT

from costlens.cli import main

README = (ROOT / "README.md").read_text()


def _samples() -> list[tuple[str, str]]:
    """(command, printed output) of each ``` block in the README that starts with `$ costlens`."""
    return re.findall(r"```\n\$ (costlens .*?)\n(.*?)```", README, re.S)


@pytest.mark.parametrize("command, expected", _samples(), ids=lambda v: v[:60])
def test_readme_samples_are_what_the_command_prints(command: str, expected: str, capsys,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    arguments = shlex.split(command)[1:]
    main(arguments)
    assert capsys.readouterr().out == expected


def test_readme_rules_table_is_generated_from_the_rules(capsys) -> None:
    table = re.search(r"<!-- rules table: costlens rules --format markdown -->\n(.*?)"
                      r"<!-- end of rules table -->", README, re.S).group(1)
    assert main(["rules", "--format", "markdown"]) == 0
    assert capsys.readouterr().out == table


def test_readme_starts_with_install_and_test_commands() -> None:
    commands = re.search(r"```bash\n(.*?)```", README, re.S).group(1).splitlines()
    assert commands == [
        "pip install torch==2.13.0 && pip install . && costlens report "
        "examples/shufflenet_v2.py:shufflenet_v2",
        'pip install ".[test]" && pytest']


def test_readme_names_every_lint_flag_and_configuration_key() -> None:
    from costlens.linting.options import OPTIONS, config_keys

    lint_section = README.split("## Lint in CI", 1)[1].split("\n## pre-commit", 1)[0]
    for option in OPTIONS:
        if option.flag is not None:
            assert f"`{option.flag}" in lint_section, option.flag
    configuration = README.split("## Configuration", 1)[1].split("\n## Rules", 1)[0]
    for key in config_keys():
        assert f"{key} =" in configuration or f"costlens.{key}" in configuration, key
