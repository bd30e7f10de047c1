"""What a lint rule is, what it sees and what it reports.

A rule is one file: a module that defines one `Rule` subclass and whose docstring is the rule's
documentation, under fixed headings (What it does / Why is this bad / Example / Use instead /
Options). The Example and Use instead sections each hold a Python block defining `build()`
(a factory, as for a TARGET) and optionally `OPTIONS`; the Example must fire and the Use instead
must not, and the tests run both. Built-in rules live in `rules/` (installed as
`costlens.rules`); other packages add rules through the `costlens.rules` entry-point group.

Rules read only the Analysis (plain data), through a RuleContext, and yield Findings; the lint
engine adds the code, severity, target and source location.
"""
from __future__ import annotations

import math
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from functools import cached_property
from typing import Any, ClassVar, Iterator, Mapping

from ..analysis import Analysis, LayerRecord, OpRecord
from ..costs import Category
from ..errors import CostlensError
from ..graph import OpNode, SourceLocation, module_ancestors
from ..latency.estimate import LatencyEstimate, fixed_cost, op_seconds
from ..latency.profile import Profile

DOC_HEADINGS = ("What it does", "Why is this bad", "Example", "Use instead", "Options")

_COMPUTE = {Category.CONV.value, Category.MATMUL.value, Category.ATTENTION.value}
_QUANTITY = re.compile(r"^\s*([0-9][0-9_]*\.?[0-9]*(?:e[+-]?[0-9]+)?)\s*([kmgt]?)\s*$", re.I)
_SCALES = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}


class Severity(str, Enum):
    """How much a finding matters; `--fail-on` sets the least that fails a run."""

    NOTE = "note"
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return ("note", "warning", "error").index(self.value)

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls(str(text).lower())
        except ValueError:
            raise CostlensError(f"unknown severity {text!r}; use note, warning or error") from None


@dataclass(frozen=True)
class Option:
    """A rule setting, documented under its rule's Options heading. The default fixes its type
    (float, int, bool or tuple of str); a `quantity` takes counts like `600M` and may be unset
    (None); numbers must lie within [minimum, maximum]; a str option takes one of `choices`."""

    name: str
    default: Any
    minimum: float | None = None
    maximum: float | None = None
    quantity: bool = False
    choices: tuple[str, ...] = ()  # the values a str option may take

    def parse(self, value: Any, where: str) -> Any:
        """The value from a config file or the command line, or CostlensError naming `where`."""
        parsed = parse_quantity(value, where) if self.quantity else self._typed(value, where)
        if isinstance(parsed, (int, float)) and not isinstance(parsed, bool):
            low = -math.inf if self.minimum is None else self.minimum
            high = math.inf if self.maximum is None else self.maximum
            if not low <= parsed <= high:
                bounds = (f"from {self.minimum:g} to {self.maximum:g}" if self.maximum is not None
                          else f"of {self.minimum:g} or more")
                raise CostlensError(f"{where}: expected a number {bounds}, got {value!r}")
        return parsed

    def _typed(self, value: Any, where: str) -> Any:
        kind = type(self.default)
        if kind is bool:
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("true", "yes", "1", "false", "no", "0"):
                return str(value).lower() in ("true", "yes", "1")
        elif kind is tuple:
            items = value if isinstance(value, (list, tuple)) \
                else str(value).replace(",", " ").split()
            if all(isinstance(item, str) for item in items):
                return tuple(items)
        elif kind is str:
            if isinstance(value, str) and value in self.choices:
                return value
            raise CostlensError(f"{where}: expected one of {', '.join(self.choices)}, got "
                                f"{value!r}")
        elif kind in (int, float) and not isinstance(value, bool):
            try:
                number = float(value)
            except (TypeError, ValueError):
                number = None
            if number is not None and math.isfinite(number) and (kind is float
                                                                  or number.is_integer()):
                return kind(number)
        raise CostlensError(f"{where}: expected {_kind_name(kind)}, got {value!r}")


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


def _kind_name(kind: type) -> str:
    return {bool: "true or false", int: "an integer", float: "a number",
            tuple: "a list of strings"}[kind]


@dataclass(frozen=True)
class Finding:
    """What a rule reports: the module at fault, a message with the measured value, the limit,
    the fix and what it would save, and those figures as numbers."""

    module: str
    message: str
    figures: Mapping[str, float | int | str] = field(default_factory=dict)
    seconds: float | None = None  # with a platform: the estimated time the violation costs


@dataclass(frozen=True)
class Diagnostic:
    """A finding as the lint engine reports it."""

    code: str
    name: str
    severity: Severity
    target: str
    module: str
    message: str
    location: SourceLocation
    figures: Mapping[str, float | int | str] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, str]:
        """What a baseline matches on: stable while the figures move."""
        return (self.target, self.code, self.module)

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "name": self.name, "severity": self.severity.value,
                "target": self.target, "module": self.module, "message": self.message,
                "location": self.location.to_dict(), "figures": dict(self.figures)}


class Rule:
    """A lint rule. Subclasses set the class attributes and implement `check`."""

    code: ClassVar[str]
    name: ClassVar[str]
    severity: ClassVar[Severity] = Severity.WARNING
    options: ClassVar[tuple[Option, ...]] = ()

    def check(self, context: RuleContext) -> Iterator[Finding]:
        raise NotImplementedError

    @classmethod
    def documentation(cls) -> str:
        return (sys.modules[cls.__module__].__doc__ or "").strip()

    @classmethod
    def summary(cls) -> str:
        """The first line of the documentation, without the code and name it starts with."""
        first = cls.documentation().splitlines()[0] if cls.documentation() else ""
        return first.removeprefix(f"{cls.code} {cls.name}:").strip()

    @classmethod
    def option(cls, name: str) -> Option:
        for option in cls.options:
            if option.name == name:
                return option
        known = ", ".join(option.name for option in cls.options) or "none"
        raise CostlensError(f"rule {cls.code} has no option {name!r} (its options: {known})")

    @classmethod
    def section(cls, heading: str) -> str:
        """The text under one `## heading` of the documentation."""
        pattern = rf"^## {re.escape(heading)}\s*$(.*?)(?=^## |\Z)"
        match = re.search(pattern, cls.documentation(), re.M | re.S)
        return match.group(1).strip() if match else ""

    @classmethod
    def code_block(cls, heading: str) -> str:
        """The Python block under a heading (Example, Use instead)."""
        match = re.search(r"```python\n(.*?)```", cls.section(heading), re.S)
        return match.group(1) if match else ""


@dataclass(frozen=True)
class RuleContext:
    """What a rule sees: one target's Analysis and the rule's option values; with a platform
    profile, the latency estimate on it."""

    analysis: Analysis
    options: Mapping[str, Any]
    latency: LatencyEstimate | None = None
    profile: Profile | None = None

    def seconds(self, ops: list[OpRecord]) -> float:
        """The estimated time of the ops (0 without a platform)."""
        if self.latency is None:
            return 0.0
        return sum(self.latency.ops[op.index].seconds for op in ops)

    def time_saved(self, op: OpRecord, mac_bytes: int, features: tuple[float, ...],
                   kernel_class: str | None = None) -> float | None:
        """How much less estimated time `op` would take moving `mac_bytes` in the shape
        `features` describe (classes.shape_features of the layer proposed instead), run as
        `kernel_class` (default: its own); None without a platform."""
        if self.latency is None or self.profile is None:
            return None
        timed = self.latency.ops[op.index]
        changed = op_seconds(self.profile, kernel_class or timed.kernel_class, op.flops or 0,
                             mac_bytes, op.parallelism or 0, self.latency.coldness, features)[0]
        return timed.seconds - changed

    def fixed_seconds(self, op: OpRecord) -> float:
        """The part of the op's estimated time that is its fixed cost per op."""
        if self.latency is None or self.profile is None:
            return 0.0
        seconds = self.latency.ops[op.index].seconds
        return min(seconds, fixed_cost(self.profile, self.latency.ops[op.index].kernel_class))

    def node(self, op: OpRecord) -> OpNode:
        """The traced op behind a record: its arguments (stride, groups) and tensor shapes."""
        return self.analysis.graph.nodes[op.index]

    def ops(self, category: str) -> Iterator[tuple[OpRecord, OpNode]]:
        for op in self.analysis.ops:
            if op.category == category:
                yield op, self.node(op)

    def ops_in(self, layer: str) -> list[OpRecord]:
        """The ops of a module and its descendants (by path), as its figures count them."""
        return self._members.get(layer, [])

    def ops_per_call(self, layer: LayerRecord) -> list[list[OpRecord]]:
        """The ops that ran during each call of a module (a container never called: one group
        of everything in it)."""
        calls = [call.index for call in self.analysis.graph.calls if call.module == layer.name]
        if not calls:
            return [self.ops_in(layer.name)]
        return [self._per_call.get(call, []) for call in calls]

    def feeds_compute(self, op: OpRecord) -> bool:
        """Whether a conv, matmul or attention op uses this op's output, directly or through
        other ops; False for the layer that makes the model's output (a classifier head)."""
        return self._downstream_compute[op.index]

    def blocks(self, block_types: tuple[str, ...] = ()) -> list[LayerRecord]:
        """The model's building blocks: modules of a class of the user's that the model uses
        at least twice (a ResNet Bottleneck, an Inception block), and modules of the classes
        named in `block_types`, that run compute ops (conv, matmul, attention)."""
        named = set(block_types)
        return [layer for layer in self.analysis.layers
                if layer.depth > 0 and (layer.type in named or layer.name in self._repeated)
                and any(op.category in _COMPUTE for op in self.ops_in(layer.name))]

    @cached_property
    def _members(self) -> dict[str, list[OpRecord]]:
        members: dict[str, list[OpRecord]] = {}
        for op in self.analysis.ops:
            for path in module_ancestors(op.module):
                members.setdefault(path, []).append(op)
        return members

    @cached_property
    def _per_call(self) -> dict[int, list[OpRecord]]:
        graph = self.analysis.graph
        per_call: dict[int, list[OpRecord]] = {}
        for op in self.analysis.ops:
            for call in graph.call_chain(graph.nodes[op.index].call):
                per_call.setdefault(call.index, []).append(op)
        return per_call

    @cached_property
    def _downstream_compute(self) -> list[bool]:
        nodes = self.analysis.graph.nodes
        consumers: list[list[int]] = [[] for _ in nodes]
        for node in nodes:
            for item in node.inputs:
                if item.producer is not None:
                    consumers[item.producer].append(node.index)
        downstream = [False] * len(nodes)
        for index in range(len(nodes) - 1, -1, -1):  # consumers come later in execution order
            downstream[index] = any(self.analysis.ops[c].category in _COMPUTE or downstream[c]
                                    for c in consumers[index])
        return downstream

    @cached_property
    def _repeated(self) -> frozenset[str]:
        """Paths of modules whose (user-defined) class the model instantiates twice or more."""
        modules = [m for m in self.analysis.graph.modules if m.path and not m.library_type]
        counts = Counter((m.type_module, m.type) for m in modules)
        return frozenset(m.path for m in modules if counts[(m.type_module, m.type)] >= 2)
