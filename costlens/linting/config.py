"""Project configuration: `[tool.costlens]` in pyproject.toml or `[costlens]` in setup.cfg, the
first found from the working directory upward. The command line overrides it.

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

setup.cfg takes the same keys in `[costlens]`, `[costlens.per-module-ignores]`,
`[costlens.rules.G1]` and `[costlens.budgets]`; lists are comma or line separated, and a target
line may carry `--input SHAPE` and `--dtype DTYPE` as on the command line.

Relative paths (targets, the baseline) are relative to the configuration file. An unknown key,
rule code or option, or a value of the wrong type, is an error that names it.
"""
from __future__ import annotations

import configparser
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ..errors import CostlensError, first_line
from ..latency.profile import builtin_profiles
from .finding import Severity
from .rule import Rule
from .rulebook import check_codes
from .values import parse_quantity

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

BUDGET_KEYS = ("flops", "mac", "params")
_KEYS = ("targets", "select", "ignore", "fail-on", "baseline", "per-module-ignores", "rules",
         "budgets", "platform")
_TARGET_KEYS = ("target", "input", "dtype", "budgets")


@dataclass(frozen=True)
class TargetConfig:
    """A TARGET with its inputs and budgets; `base` is the directory relative paths start from."""

    spec: str
    inputs: tuple[str, ...] = ()
    dtype: str | None = None
    budgets: Mapping[str, float] = field(default_factory=dict)
    base: Path | None = None


@dataclass(frozen=True)
class Config:
    """Settings from a configuration file, validated against the known rules."""

    path: Path | None = None
    targets: tuple[TargetConfig, ...] = ()
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    fail_on: Severity = Severity.WARNING
    baseline: Path | None = None
    per_module_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()
    rule_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    budgets: Mapping[str, float] = field(default_factory=dict)
    platform: str | None = None  # a built-in profile name, or a path (relative to the file)


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
                start: Path | None = None) -> Config:
    """The configuration at `path`, or the one found from `start` (the working directory)
    upward, or an empty one."""
    path = path or find_config(start or Path.cwd())
    if path is None:
        return Config()
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
    return _parse(raw, rules, path, where)


def _parse(raw: Mapping[str, Any], rules: Mapping[str, type[Rule]], path: Path,
           where: str) -> Config:
    raw = _kebab_keys(_table(raw, where), where)
    for key in raw:
        if key not in _KEYS:
            raise CostlensError(f"{where}: unknown key {key!r}; known keys: {', '.join(_KEYS)}")
    base = path.parent
    select = _codes(raw.get("select", ()), f"{where} select", rules)
    ignore = _codes(raw.get("ignore", ()), f"{where} ignore", rules)
    ignores = []
    for pattern, codes in _table(raw.get("per-module-ignores", {}),
                                 f"{where} per-module-ignores").items():
        ignores.append((pattern, _codes(codes, f"{where} per-module-ignores {pattern!r}", rules)))
    baseline = raw.get("baseline")
    if baseline is not None and not isinstance(baseline, str):
        raise CostlensError(f"{where} baseline: expected a file name, got {baseline!r}")
    platform = raw.get("platform")
    if platform is not None and not isinstance(platform, str):
        raise CostlensError(f"{where} platform: expected a profile file or built-in name, got "
                            f"{platform!r}")
    if platform is not None and platform not in builtin_profiles():
        platform = str(base / platform)
    return Config(
        path=path,
        targets=tuple(_target(item, base, f"{where} targets") for item in
                      _list(raw.get("targets", ()), f"{where} targets", separators="\n")),
        select=select, ignore=ignore,
        fail_on=_severity(raw.get("fail-on", "warning"), f"{where} fail-on"),
        baseline=None if baseline is None else base / baseline, platform=platform,
        per_module_ignores=tuple(ignores),
        rule_options=parse_rule_options(_table(raw.get("rules", {}), f"{where} rules"), rules,
                                        where),
        budgets=parse_budgets(raw.get("budgets", {}), f"{where} budgets"),
    )


def _target(item: Any, base: Path, where: str) -> TargetConfig:
    if isinstance(item, str):
        return _target_line(item, base, where)
    table = _kebab_keys(_table(item, where), where)
    for key in table:
        if key not in _TARGET_KEYS:
            raise CostlensError(f"{where}: unknown key {key!r} in a target; known keys: "
                                f"{', '.join(_TARGET_KEYS)}")
    if not isinstance(table.get("target"), str):
        raise CostlensError(f"{where}: a target table needs target = \"file.py:factory\"")
    dtype = table.get("dtype")
    if dtype is not None and not isinstance(dtype, str):
        raise CostlensError(f"{where} dtype: expected a string, got {dtype!r}")
    inputs = tuple(_strings(table.get("input", ()), f"{where} input"))
    return TargetConfig(table["target"], inputs, dtype,
                        parse_budgets(table.get("budgets", {}), f"{where} budgets"), base)


def _target_line(line: str, base: Path, where: str) -> TargetConfig:
    """`file.py:factory(width=0.5, name='a') --input 1x3x8x8 --dtype float16`: the TARGET as
    written, then the options a setup.cfg line may add."""
    spec, *options = re.split(r"\s+(?=--(?:input|dtype)\b)", line.strip())
    if not spec:
        raise CostlensError(f"{where}: empty target")
    inputs, dtype = [], None
    for option in options:
        name, _, value = option.partition(" ")
        if not value.strip() or " " in value.strip():
            raise CostlensError(f"{where}: cannot read {line!r}; write TARGET [--input SHAPE]... "
                                "[--dtype DTYPE]")
        if name == "--input":
            inputs.append(value.strip())
        else:
            dtype = value.strip()
    return TargetConfig(spec, tuple(inputs), dtype, {}, base)


def parse_rule_options(table: Mapping[str, Any], rules: Mapping[str, type[Rule]],
                       where: str) -> dict[str, dict[str, Any]]:
    """`{code: {option: value}}`, option names in kebab or snake case, values checked."""
    options: dict[str, dict[str, Any]] = {}
    for code, settings in table.items():
        if code not in rules:
            raise CostlensError(f"{where} rules: unknown rule code {code!r}; known codes: "
                                f"{', '.join(rules)}")
        values = {}
        for key, value in _kebab_keys(_table(settings, f"{where} rules.{code}"),
                                      f"{where} rules.{code}").items():
            try:
                option = rules[code].option(key.replace("-", "_"))
            except CostlensError as error:
                raise CostlensError(f"{where} rules.{code}: {error}") from None
            values[option.name] = option.parse(value, f"{where} rules.{code}.{key}")
        options[code] = values
    return options


def parse_budgets(table: Any, where: str) -> dict[str, float]:
    """`{flops | mac | params: count}`, counts such as `600M` checked."""
    budgets = {}
    for key, value in _kebab_keys(_table(table, where), where).items():
        if key not in BUDGET_KEYS:
            raise CostlensError(f"{where}: unknown budget {key!r}; known budgets: "
                                f"{', '.join(BUDGET_KEYS)}")
        budgets[key] = parse_quantity(value, f"{where}.{key}")
    return budgets


def _codes(value: Any, where: str, rules: Mapping[str, type[Rule]]) -> tuple[str, ...]:
    codes = tuple(_strings(value, where))
    try:
        check_codes(codes, rules)
    except CostlensError as error:
        raise CostlensError(f"{where}: {error}") from None
    return codes


def _severity(value: Any, where: str) -> Severity:
    try:
        return Severity.parse(value)
    except CostlensError as error:
        raise CostlensError(f"{where}: {error}") from None


def _strings(value: Any, where: str) -> list[str]:
    items = _list(value, where)
    if not all(isinstance(item, str) for item in items):
        raise CostlensError(f"{where}: expected a list of strings, got {value!r}")
    return items


def _list(value: Any, where: str, separators: str = ",\n") -> list[Any]:
    """A list as written, or a string of items split on the separators (setup.cfg style)."""
    if isinstance(value, str):
        return [item.strip() for item in re.split(f"[{re.escape(separators)}]", value)
                if item.strip()]
    if not isinstance(value, (list, tuple)):
        raise CostlensError(f"{where}: expected a list, got {value!r}")
    return list(value)


def _kebab_keys(table: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Keys as `fail-on`, whether written so or `fail_on`; both spellings at once is an error."""
    spelled: dict[str, Any] = {}
    for key, value in table.items():
        kebab = str(key).replace("_", "-")
        if kebab in spelled:
            raise CostlensError(f"{where}: {key!r} is set twice (as {kebab!r} too)")
        spelled[kebab] = value
    return spelled


def _table(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise CostlensError(f"{where}: expected a table, got {value!r}")
    return value


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
    """The [costlens] sections of a setup.cfg as the table pyproject.toml would give; target
    lines are kept whole, other lists split on commas and lines."""
    if not parser.has_section("costlens"):
        return None
    table: dict[str, Any] = {}
    defaults = parser.defaults()
    for key, value in parser.items("costlens"):
        if key in defaults:  # [DEFAULT] keys show up in every section; they are not ours
            continue
        table[key] = [line.strip() for line in value.splitlines() if line.strip()] \
            if key == "targets" else value
    for section in parser.sections():
        if not section.startswith("costlens."):
            continue
        name = section.removeprefix("costlens.")
        values = {key: value for key, value in parser.items(section) if key not in defaults}
        if name.startswith("rules."):
            table.setdefault("rules", {})[name.removeprefix("rules.")] = values
        elif name in ("per-module-ignores", "budgets"):
            table[name] = values
        else:
            raise CostlensError(f"{path}: unknown section [{section}]; known: "
                                "[costlens.per-module-ignores], [costlens.rules.CODE], "
                                "[costlens.budgets]")
    return table
