"""Every setting of a lint run, declared once.

One table, OPTIONS, says for each setting its configuration key, its command-line flag (if it
has one), how a value is read and checked, its default and how a command-line value combines
with the configuration's. The command line (add_arguments), the `[tool.costlens]` /
`[costlens]` reader (config.py), the Python API (api.lint) and the merge (resolve) all work
from it, as flake8 declares an option once for both: adding a setting is one entry here.

Values read the same way wherever they come from: a list may be written as a list or as a
comma-separated string, a table as a table or as `KEY=VALUE` items (the command line's form),
a relative path is relative to the configuration file (the working directory for the command
line and the API), and a mistake is one line naming where the value came from.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from ..errors import CostlensError
from ..latency.profile import Profile, builtin_profiles
from .budget import read_budgets
from .context import View
from .finding import Severity
from .rule import Rule
from .rulebook import check_codes
from .targets import read_targets
from .values import kebab_keys, parse_assignments, parse_strings, parse_table


@dataclass(frozen=True)
class Reading:
    """Where a value comes from: what errors call it, the folder relative paths start from
    (the configuration file's; `Path()`, the working directory, for the command line and the
    API), and the rules that codes and rule options are checked against."""

    where: str
    base: Path
    rules: Mapping[str, type[Rule]]


Reader = Callable[[Any, Reading], Any]
Merge = Callable[[Any, Any], Any]


def _replace(_configured: Any, given: Any) -> Any:
    return given


def _update(configured: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    return {**configured, **given}


def _update_each(configured: Mapping[str, Mapping[str, Any]],
                 given: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    merged = {code: dict(values) for code, values in configured.items()}
    for code, values in given.items():
        merged.setdefault(code, {}).update(values)
    return merged


@dataclass(frozen=True)
class LintOption:
    """One setting. `flag` is its command-line form (None: configuration only); `in_config`
    whether a configuration file may set it; `repeat` whether the flag may be given several
    times, its values joined; `merge(configured, given)` what a command-line value makes of
    the configuration's."""

    key: str
    read: Reader
    default: Any
    help: str
    flag: str | None = None
    in_config: bool = True
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    repeat: bool = False
    merge: Merge = _replace

    @property
    def dest(self) -> str:
        return self.key.replace("-", "_")


def _codes(value: Any, reading: Reading) -> tuple[str, ...]:
    codes = tuple(code.strip() for item in parse_strings(value, reading.where)
                  for code in item.split(",") if code.strip())
    try:
        check_codes(codes, reading.rules)
    except CostlensError as error:
        raise CostlensError(f"{reading.where}: {error}") from None
    return codes


def _severity(value: Any, reading: Reading) -> Severity:
    try:
        return Severity.parse(value)
    except CostlensError as error:
        raise CostlensError(f"{reading.where}: {error}") from None


def _view(value: Any, reading: Reading) -> View:
    try:
        return View(value)
    except ValueError:
        choices = " or ".join(view.value for view in View)
        raise CostlensError(f"{reading.where}: expected {choices}, got {value!r}") from None


def _path(value: Any, reading: Reading) -> Path | None:
    if value is None:
        return None
    if not isinstance(value, (str, Path)):
        raise CostlensError(f"{reading.where}: expected a file name, got {value!r}")
    return reading.base / value


def _platform(value: Any, reading: Reading) -> str | Profile | None:
    """A built-in profile name, a profile file (relative to `base`), or (Python API) a
    Profile."""
    if value is None or isinstance(value, Profile):
        return value
    if not isinstance(value, str):
        raise CostlensError(f"{reading.where}: expected a profile file or built-in name, got "
                            f"{value!r}")
    return value if value in builtin_profiles() else str(reading.base / value)


def _per_module_ignores(value: Any, reading: Reading) -> tuple[tuple[str, tuple[str, ...]], ...]:
    table = parse_assignments(value, reading.where)
    return tuple((pattern, _codes(codes, Reading(f"{reading.where} {pattern!r}", reading.base,
                                                 reading.rules)))
                 for pattern, codes in table.items())


def _rule_options(value: Any, reading: Reading) -> dict[str, dict[str, Any]]:
    """`{code: {option: value}}`, from tables or `CODE.option=value` items; option names in
    kebab or snake case, values checked against the rule's Option."""
    if isinstance(value, (str, list, tuple)):
        table: dict[str, dict[str, Any]] = {}
        for dotted, text in parse_assignments(value, reading.where).items():
            code, dot, name = dotted.partition(".")
            if not dot or not name:
                raise CostlensError(f"{reading.where}: expected CODE.OPTION=VALUE, got "
                                    f"{dotted}={text}")
            table.setdefault(code, {})[name] = text
        value = table
    options: dict[str, dict[str, Any]] = {}
    for code, settings in parse_table(value, reading.where).items():
        if code not in reading.rules:
            raise CostlensError(f"{reading.where}: unknown rule code {code!r}; known codes: "
                                f"{', '.join(reading.rules)}")
        where = f"{reading.where}.{code}"
        values = {}
        for key, raw in kebab_keys(parse_table(settings, where), where).items():
            try:
                option = reading.rules[code].option(key.replace("-", "_"))
            except CostlensError as error:
                raise CostlensError(f"{where}: {error}") from None
            values[option.name] = option.parse(raw, f"{where}.{key}")
        options[code] = values
    return options


OPTIONS: tuple[LintOption, ...] = (
    LintOption("targets", lambda value, r: read_targets(value, r.where, r.base), (),
               "models to lint when the command line names none: TARGET strings, setup.cfg "
               "lines with --input/--dtype, or tables {target, input, dtype, budgets}"),
    LintOption("select", _codes, (), "rule codes or prefixes to run, comma separated "
               "(default: all)", flag="--select", metavar="CODES", repeat=True),
    LintOption("ignore", _codes, (), "rule codes or prefixes to skip; the longest matching "
               "prefix wins", flag="--ignore", metavar="CODES", repeat=True),
    LintOption("fail-on", _severity, Severity.WARNING, "the least severity that fails the run "
               "(default warning)", flag="--fail-on", choices=tuple(s.value for s in Severity)),
    LintOption("baseline", _path, None, "report only findings that FILE does not record",
               flag="--baseline", metavar="FILE"),
    LintOption("write-baseline", _path, None, "record the current findings in FILE and exit 0",
               flag="--write-baseline", in_config=False, metavar="FILE"),
    LintOption("view", _view, View.FUSED, "judge the network as an inference engine or "
               "torch.compile runs it (fused: batch norm folded, activations fused into the op "
               "before them; the default) or as PyTorch runs it op by op (eager)",
               flag="--view", choices=tuple(view.value for view in View)),
    LintOption("platform", _platform, None, "a platform profile (file or built-in name): "
               "findings carry the estimated time they cost, and their severity follows it",
               flag="--platform", metavar="PROFILE"),
    LintOption("per-module-ignores", _per_module_ignores, (), "module-path globs whose "
               "findings of some codes are dropped", flag="--per-module-ignore",
               metavar="GLOB=CODES", repeat=True, merge=lambda configured, given: (
                   *configured, *given)),
    LintOption("rules", _rule_options, {}, "rule options (see `costlens rules CODE`)",
               flag="--rule-option", metavar="CODE.OPTION=VALUE", repeat=True,
               merge=_update_each),
    LintOption("budgets", lambda value, r: read_budgets(value, r.where), {},
               "limits for the budget rules B1-B3: flops, mac, params (counts such as 600M)",
               flag="--budget", metavar="KEY=COUNT", repeat=True, merge=_update),
)


def config_keys() -> tuple[str, ...]:
    """The keys a configuration file may set."""
    return tuple(option.key for option in OPTIONS if option.in_config)


@dataclass(frozen=True)
class Settings:
    """Resolved values of every option by key; attributes in snake case read them too
    (`settings.fail_on`). `path` is the configuration file they came from, if any."""

    values: Mapping[str, Any]
    path: Path | None = None

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name.replace("_", "-")]
        except KeyError:
            raise AttributeError(name) from None


def defaults() -> Settings:
    return Settings({option.key: option.default for option in OPTIONS})


def read_settings(raw: Mapping[str, Any], rules: Mapping[str, type[Rule]], base: Path,
                  where: Callable[[LintOption], str], start: Settings | None = None,
                  path: Path | None = None) -> Settings:
    """`start` (default: the defaults) with the values in `raw` read and merged in; `raw` maps
    option keys to values as written, `where(option)` says what an error calls it."""
    values = dict((start or defaults()).values)
    options = {option.key: option for option in OPTIONS}
    for key, value in raw.items():
        if key not in options:
            raise CostlensError(f"unknown lint setting {key.replace('-', '_')!r}; known: "
                                f"{', '.join(sorted(o.dest for o in OPTIONS))}")
        option = options[key]
        read = option.read(value, Reading(where(option), base, rules))
        values[key] = option.merge(values[key], read) if start is not None else read
    return Settings(values, path if path is not None else (start.path if start else None))


def read_config_table(table: Mapping[str, Any], rules: Mapping[str, type[Rule]], path: Path,
                      where: str) -> Settings:
    """A configuration file's `[tool.costlens]` table: every key known, every value checked."""
    raw = kebab_keys(parse_table(table, where), where)
    known = config_keys()
    for key in raw:
        if key not in known:
            raise CostlensError(f"{where}: unknown key {key!r}; known keys: "
                                f"{', '.join(known)}")
    return read_settings(raw, rules, path.parent, lambda option: f"{where} {option.key}",
                         path=path)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """A flag for every option that has one."""
    for option in OPTIONS:
        if option.flag is None:
            continue
        parser.add_argument(option.flag, dest=option.dest, metavar=option.metavar,
                            choices=option.choices, action="append" if option.repeat else "store",
                            help=option.help + ("; may be repeated" if option.repeat else ""))


def given(namespace: argparse.Namespace) -> dict[str, Any]:
    """The options the command line set, as written."""
    return {option.key: getattr(namespace, option.dest) for option in OPTIONS
            if option.flag is not None and getattr(namespace, option.dest, None) is not None}


def over_config(configured: Settings, namespace: argparse.Namespace,
                rules: Mapping[str, type[Rule]]) -> Settings:
    """The configuration's settings with the command line's over them."""
    return read_settings(given(namespace), rules, Path(),
                         lambda option: option.flag or option.key, start=configured)


def from_arguments(arguments: Mapping[str, Any], rules: Mapping[str, type[Rule]],
                   names: Mapping[str, str] | None = None) -> Settings:
    """Settings from Python API arguments by option key (None: not given); `names` maps a key
    to the argument's name in errors."""
    names = names or {}
    present = {key: value for key, value in arguments.items() if value is not None}
    return read_settings(present, rules, Path(),
                         lambda option: names.get(option.key, option.dest), start=defaults())

