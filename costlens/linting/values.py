"""Parsing the values a user writes, in a configuration file or on the command line alike:
counts such as `600M`, lists written as lists or as comma-separated strings. Every error names
where the value came from."""
from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

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
