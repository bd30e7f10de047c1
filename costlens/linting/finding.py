"""What a rule reports (a typed Finding) and what the lint engine makes of it (a Diagnostic).

A finding is a frozen dataclass: its fields are the measured figures, the limit and the
alternative, and its message is made from those fields, so the text and the JSON `figures`
(the same fields) cannot drift apart. A rule file defines its own Finding subclass next to its
Rule, as ruff keeps a violation struct beside its check.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, ClassVar

from ..errors import CostlensError
from ..graph import SourceLocation


class Severity(str, Enum):
    """How much a finding matters; `--fail-on` sets the least that fails a run."""

    NOTE = "note"
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return list(Severity).index(self)

    @classmethod
    def parse(cls, text: Any) -> Severity:
        try:
            return cls(str(text).lower())
        except ValueError:
            raise CostlensError(f"unknown severity {text!r}; use note, warning or error") from None


@dataclass(frozen=True)
class Finding:
    """One cause a rule found in one module ("" for the model as a whole).

    Subclasses add their figures as fields and define `message`. `seconds` is, with a platform
    profile, the estimated time the cause costs (what fixing it would save); it is the lint
    engine's, not a figure of the rule's.
    """

    module: str
    seconds: float | None = field(default=None, kw_only=True, compare=False)

    BASE_FIELDS: ClassVar[frozenset[str]] = frozenset({"module", "seconds"})

    @property
    def message(self) -> str:
        raise NotImplementedError(f"{type(self).__name__} must define message")

    def figures(self) -> dict[str, Any]:
        """The subclass's fields, as JSON values."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)
                if f.name not in self.BASE_FIELDS}


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (tuple, list)):
        return [_plain(item) for item in value]
    if isinstance(value, Enum):
        return value.value
    return value


@dataclass(frozen=True)
class TimeCost:
    """With a platform: what a finding costs in estimated time, and the model's estimate."""

    seconds: float
    share: float
    profile: str
    model_seconds: float

    def describe(self) -> str:
        return (f"on {self.profile} it costs about {self.seconds * 1e3:.3g} ms, {self.share:.1%} "
                f"of the model's estimated {self.model_seconds * 1e3:.3g} ms")


@dataclass(frozen=True)
class Diagnostic:
    """A finding as the lint engine reports it: with its rule, severity, target and the line of
    the user's code it points at."""

    code: str
    name: str
    severity: Severity
    target: str
    location: SourceLocation
    finding: Finding
    cost: TimeCost | None = None

    @property
    def module(self) -> str:
        return self.finding.module

    @property
    def message(self) -> str:
        if self.cost is None:
            return self.finding.message
        return f"{self.finding.message}; {self.cost.describe()}"

    @property
    def figures(self) -> dict[str, Any]:
        figures = self.finding.figures()
        if self.cost is not None:
            figures.update(time_ms=round(self.cost.seconds * 1e3, 6),
                           time_share=round(self.cost.share, 6))
        return figures

    @property
    def key(self) -> tuple[str, str, str]:
        """What a baseline matches on: stable while the figures move."""
        return (self.target, self.code, self.module)

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "name": self.name, "severity": self.severity.value,
                "target": self.target, "module": self.module, "message": self.message,
                "location": self.location.to_dict(), "figures": self.figures}
