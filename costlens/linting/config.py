"""Project configuration: `[tool.costlens]` in pyproject.toml or `[costlens]` in setup.cfg, the
first found from the working directory upward. The command line overrides it. The keys and
how each value is read are options.py's table; this module finds and reads the files.

pyproject.toml:

    [tool.costlens]
    targets = [
        "models/net.py:build",
        {target = "models/big.py:build", input = ["1x3x224x224"], budgets = {flops = "4G"}},
    ]
    select = ["G", "B"]
    ignore = ["G4"]
    fail-on = "warning"
    baseline = "costlens-baseline.json"

    [tool.costlens.per-module-ignores]
    "features.*" = ["G4"]

    [tool.costlens.rules.G1]
    max-mac-ratio = 1.4

    [tool.costlens.budgets]
    flops = "600M"
    params = "5M"

setup.cfg takes the same keys in `[costlens]`, and tables in `[costlens.KEY]` sections
(`[costlens.per-module-ignores]`, `[costlens.rules.G1]`, `[costlens.budgets]`); lists are
comma or line separated, and a target line may carry `--input SHAPE` and `--dtype DTYPE` as on
the command line.

Relative paths (targets, the baseline, a platform file) are relative to the configuration file.
An unknown key, rule code or option, or a value of the wrong type, is an error that names it.
"""
from __future__ import annotations

import configparser
import sys
from pathlib import Path
from typing import Any, Mapping

from ..errors import CostlensError, first_line
from .options import Settings, config_keys, defaults, read_config_table
from .rule import Rule

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib


def find_config(start: Path) -> Path | None:
    """The nearest pyproject.toml with [tool.costlens] or setup.cfg with [costlens]."""
    for directory in (start.resolve(), *start.resolve().parents):
        pyproject = directory / "pyproject.toml"
        if pyproject.is_file() and "costlens" in _read_toml(pyproject).get("tool", {}):
            return pyproject
        setup = directory / "setup.cfg"
        if setup.is_file() and _read_ini(setup).has_section("costlens"):
            return setup
    return None


def load_config(rules: Mapping[str, type[Rule]], path: Path | None = None,
                start: Path | None = None) -> Settings:
    """The settings of the configuration at `path`, or of the one found from `start` (the
    working directory) upward; the defaults where there is none."""
    path = path or find_config(start or Path.cwd())
    if path is None:
        return defaults()
    if not path.is_file():
        raise CostlensError(f"configuration file not found: {path}")
    if path.name.endswith(".toml"):
        raw = _read_toml(path).get("tool", {}).get("costlens")
        where = f"{path} [tool.costlens]"
    else:
        raw = _ini_as_table(_read_ini(path), path)
        where = f"{path} [costlens]"
    if raw is None:
        raise CostlensError(f"{path} has no costlens section")
    return read_config_table(raw, rules, path, where)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise CostlensError(f"{path}: not valid TOML: {first_line(error)}") from None


def _read_ini(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign] - keep keys as written
    try:
        parser.read(path, encoding="utf-8")
    except configparser.Error as error:
        raise CostlensError(f"{path}: not a valid setup.cfg: {first_line(error)}") from None
    return parser


def _ini_as_table(parser: configparser.ConfigParser, path: Path) -> dict[str, Any] | None:
    """The [costlens] sections of a setup.cfg as the table pyproject.toml would give:
    `[costlens.KEY]` is the table of KEY, `[costlens.KEY.NAME]` its entry NAME (rules.G1).
    Target lines are kept whole, other lists split on commas and lines by the readers."""
    if not parser.has_section("costlens"):
        return None
    table: dict[str, Any] = {}
    defaults_ = parser.defaults()
    for key, value in parser.items("costlens"):
        if key in defaults_:  # [DEFAULT] keys show up in every section; they are not ours
            continue
        table[key] = [line.strip() for line in value.splitlines() if line.strip()] \
            if key == "targets" else value
    for section in parser.sections():
        if not section.startswith("costlens."):
            continue
        key, _, name = section.removeprefix("costlens.").partition(".")
        if key.replace("_", "-") not in config_keys():
            raise CostlensError(f"{path}: unknown section [{section}]; a section is "
                                "[costlens.KEY] or [costlens.KEY.NAME] for a table KEY of "
                                f"[costlens]: {', '.join(config_keys())}")
        values = {k: v for k, v in parser.items(section) if k not in defaults_}
        if name:
            table.setdefault(key, {})[name] = values
        else:
            table[key] = values
    return table
