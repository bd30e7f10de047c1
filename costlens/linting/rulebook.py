"""Which rules exist and which ones run: built-in rules found in `costlens.rules`, third-party
rules from the `costlens.rules` entry-point group, selected by code prefix (longest match wins,
as in flake8 and ruff: `--select G --ignore G4` runs G1-G3; `--select G4 --ignore G` runs G4)."""
from __future__ import annotations

import importlib
import inspect
import pkgutil
from importlib.metadata import entry_points
from types import ModuleType
from typing import Iterable

from ..errors import CostlensError
from .rule import Rule

ENTRY_POINT_GROUP = "costlens.rules"


def all_rules() -> dict[str, type[Rule]]:
    """Every rule by code, in code order; two rules with one code is an error."""
    found: dict[str, type[Rule]] = {}
    for rule in [*builtin_rules(), *_plugin_rules()]:
        other = found.get(rule.code)
        if other is not None and other is not rule:
            raise CostlensError(f"two rules have the code {rule.code}: "
                                f"{other.__module__}.{other.__name__} and "
                                f"{rule.__module__}.{rule.__name__}")
        found[rule.code] = rule
    return dict(sorted(found.items()))


def select_rules(rules: dict[str, type[Rule]], select: Iterable[str] = (),
                 ignore: Iterable[str] = ()) -> list[type[Rule]]:
    """The rules whose code the longest matching prefix selects; with no `select`, all are
    selected. A prefix that matches no rule is an error naming it."""
    select, ignore = tuple(select), tuple(ignore)
    check_codes([*select, *ignore], rules)
    chosen = []
    for code, rule in rules.items():
        selected = max((len(p) for p in select if code.startswith(p)), default=-1 if select else 0)
        ignored = max((len(p) for p in ignore if code.startswith(p)), default=-1)
        if selected >= 0 and selected > ignored:
            chosen.append(rule)
    return chosen


def check_codes(prefixes: Iterable[str], rules: dict[str, type[Rule]]) -> None:
    for prefix in prefixes:
        if not any(code.startswith(prefix) for code in rules) or not prefix:
            raise CostlensError(f"unknown rule code {prefix!r}; known codes: "
                                f"{', '.join(rules)}")


def builtin_rules() -> list[type[Rule]]:
    """The rules costlens ships (rules/, installed as costlens.rules), in file order."""
    package = importlib.import_module("costlens.rules")
    rules = []
    for info in pkgutil.iter_modules(package.__path__):
        rules.extend(_rules_in(importlib.import_module(f"{package.__name__}.{info.name}")))
    return rules


def _plugin_rules() -> list[type[Rule]]:
    rules = []
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = entry.load()
        except Exception as error:  # noqa: BLE001 - a broken plugin is the user's to fix
            raise CostlensError(f"cannot load rule plugin {entry.name} ({entry.value}): "
                                f"{type(error).__name__}: {error}") from error
        found = _rules_in(loaded) if isinstance(loaded, ModuleType) else [loaded]
        if not found or not all(inspect.isclass(rule) and issubclass(rule, Rule)
                                for rule in found):
            raise CostlensError(f"rule plugin {entry.name} ({entry.value}) is not a "
                                "costlens.rule.Rule subclass or a module defining one")
        rules.extend(found)
    return rules


def _rules_in(module: ModuleType) -> list[type[Rule]]:
    return [value for value in vars(module).values()
            if inspect.isclass(value) and issubclass(value, Rule) and value is not Rule
            and value.__module__ == module.__name__ and hasattr(value, "code")]
