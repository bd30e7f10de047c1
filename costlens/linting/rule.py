"""What a lint rule is, what it sees and what it reports.

A rule is one file: a module that defines one `Rule` subclass and whose docstring is the rule's
documentation, under fixed headings (What it does / Why is this bad / Example / Use instead /
Options). The Example and Use instead sections each hold a Python block defining `build()`
(a factory, as for a TARGET) and optionally `OPTIONS`; the Example must fire and the Use instead
must not, and the tests run both. Built-in rules live in `rules/` (installed as
`costlens.rules`); other packages add rules through the `costlens.rules` entry-point group.

Rules read only the Analysis (plain data), through a RuleContext (context.py), and yield
typed Findings (finding.py); the lint engine adds the code, severity, target and source
location.
"""
from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass
from typing import Any, ClassVar, Iterator, Mapping

from ..errors import CostlensError
from .context import RuleContext
from .finding import Finding, Severity
from .values import parse_quantity

DOC_HEADINGS = ("What it does", "Why is this bad", "Example", "Use instead", "Options")


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


def _kind_name(kind: type) -> str:
    return {bool: "true or false", int: "an integer", float: "a number",
            tuple: "a list of strings"}[kind]


#: The options every graded rule has: below `note_below` of the model's cost (its estimated
#: time with a platform, else its MAC bytes) a cause is a note, from `error_from` on an error,
#: in between the rule's own severity.
GRADING_OPTIONS = (Option("note_below", 0.01, minimum=0.0, maximum=1.0),
                   Option("error_from", 0.10, minimum=0.0, maximum=1.0))


class Rule:
    """A lint rule. Subclasses set the class attributes and implement `check`.

    A graded rule's severity follows what fixing a cause would save (GRADING_OPTIONS); an
    ungraded one (a budget) always reports at its own severity."""

    code: ClassVar[str]
    name: ClassVar[str]
    severity: ClassVar[Severity] = Severity.WARNING
    options: ClassVar[tuple[Option, ...]] = ()
    graded: ClassVar[bool] = True

    def check(self, context: RuleContext) -> Iterator[Finding]:
        raise NotImplementedError

    @classmethod
    def validate(cls, options: Mapping[str, Any], has_platform: bool) -> None:
        """Raise CostlensError for settings the rule cannot run with, before any model is
        traced (a rule that needs a platform profile, say)."""

    @classmethod
    def all_options(cls) -> tuple[Option, ...]:
        return cls.options + (GRADING_OPTIONS if cls.graded else ())

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
        for option in cls.all_options():
            if option.name == name:
                return option
        known = ", ".join(option.name for option in cls.all_options()) or "none"
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
