"""Parsing the values a user writes, in a configuration file or on the command line alike:
counts such as `600M`, lists written as lists or as comma-separated strings. Every error names
where the value came from."""
from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, Mapping

from ..errors import CostlensError

_QUANTITY = re.compile(r"^\s*([0-9][0-9_]*\.?[0-9]*(?:e[+-]?[0-9]+)?)\s*([kmgt]?)\s*$", re.I)
_SCALES = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}


def parse_quantity(value: Any, where: str) -> float:
    """`600M`, `4.1G`, `25e6`, `1_000_000` or a number: a count in plain units."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    else:
        match = _QUANTITY.match(str(value))
        if not match:
            raise CostlensError(f"{where}: expected a count like 600M or 4.1G, got {value!r}")
        number = float(Decimal(match.group(1).replace("_", "")) * _SCALES[match.group(2).lower()])
    if number < 0:
        raise CostlensError(f"{where}: expected a count of 0 or more, got {value!r}")
    return number


def parse_list(value: Any, where: str, separators: str = ",\n") -> list[Any]:
    """A list as written, or a string of items split on the separators (setup.cfg and
    command-line style); None is the empty list."""
    if value is None:
        return []
    if isinstance(value, str):
        return [item.strip() for item in re.split(f"[{re.escape(separators)}]", value)
                if item.strip()]
    if not isinstance(value, (list, tuple)):
        raise CostlensError(f"{where}: expected a list, got {value!r}")
    return list(value)


def parse_strings(value: Any, where: str) -> list[str]:
    items = parse_list(value, where)
    if not all(isinstance(item, str) for item in items):
        raise CostlensError(f"{where}: expected a list of strings, got {value!r}")
    return items


def parse_table(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise CostlensError(f"{where}: expected a table, got {value!r}")
    return value


def parse_assignments(value: Any, where: str) -> dict[str, str]:
    """A table as written, or command-line items `KEY=VALUE` (later items win)."""
    if not isinstance(value, (str, list, tuple)):
        return dict(parse_table(value, where))
    table: dict[str, str] = {}
    for item in parse_strings(value, where):
        key, equals, text = item.partition("=")
        if not equals or not key.strip():
            raise CostlensError(f"{where}: expected KEY=VALUE, got {item!r}")
        table[key.strip()] = text.strip()
    return table


def kebab_keys(table: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Keys as `fail-on`, whether written so or `fail_on`; both spellings at once is an error."""
    spelled: dict[str, Any] = {}
    for key, value in table.items():
        kebab = str(key).replace("_", "-")
        if kebab in spelled:
            raise CostlensError(f"{where}: {key!r} is set twice (as {kebab!r} too)")
        spelled[kebab] = value
    return spelled
