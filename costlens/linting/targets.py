"""The models a lint run checks: a TARGET with its inputs and budgets, as a configuration lists
it (a string, a setup.cfg line with `--input`/`--dtype`, or a table)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ..errors import CostlensError
from .budget import read_budgets
from .values import kebab_keys, parse_list, parse_strings, parse_table

TARGET_KEYS = ("target", "name", "input", "dtype", "budgets")


@dataclass(frozen=True)
class TargetConfig:
    """A TARGET with its inputs and budgets; `base` is the directory relative paths start from;
    `name` what reports call it (default: the TARGET as written, with its inputs)."""

    spec: str
    inputs: tuple[str, ...] = ()
    dtype: str | None = None
    budgets: Mapping[str, float] = field(default_factory=dict)
    base: Path | None = None
    name: str | None = None

    @property
    def label(self) -> str:
        """The name, or the TARGET with its `--input` and `--dtype`: two configured targets of
        one factory on different inputs are told apart."""
        if self.name:
            return self.name
        shapes = "".join(f" --input {shape}" for shape in self.inputs)
        return f"{self.spec}{shapes}{f' --dtype {self.dtype}' if self.dtype else ''}"


def read_targets(value: Any, where: str, base: Path) -> tuple[TargetConfig, ...]:
    return tuple(_target(item, base, where)
                 for item in parse_list(value, where, separators="\n"))


def _target(item: Any, base: Path, where: str) -> TargetConfig:
    if isinstance(item, str):
        return _target_line(item, base, where)
    table = kebab_keys(parse_table(item, where), where)
    for key in table:
        if key not in TARGET_KEYS:
            raise CostlensError(f"{where}: unknown key {key!r} in a target; known keys: "
                                f"{', '.join(TARGET_KEYS)}")
    if not isinstance(table.get("target"), str):
        raise CostlensError(f"{where}: a target table needs target = \"file.py:factory\"")
    for key in ("dtype", "name"):
        if table.get(key) is not None and not isinstance(table[key], str):
            raise CostlensError(f"{where} {key}: expected a string, got {table[key]!r}")
    inputs = tuple(parse_strings(table.get("input", ()), f"{where} input"))
    return TargetConfig(table["target"], inputs, table.get("dtype"),
                        read_budgets(table.get("budgets", {}), f"{where} budgets"), base,
                        table.get("name"))


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
