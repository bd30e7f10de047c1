"""What a rule reports (a typed Finding) and what the lint engine makes of it (a Diagnostic).

A finding is a frozen dataclass: its fields are the measured figures, the limit and the
alternative, and its message is made from those fields, so the text and the JSON `figures`
(the same fields) cannot drift apart. A rule file defines its own Finding subclass next to its
Rule, as ruff keeps a violation struct beside its check.

The engine groups the findings of one cause (one rule on the instances of a block class built
at one line of code, or on one layer role inside them) into one Diagnostic, which names the
worst instance, lists them all and says what fixing the cause would save.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, ClassVar, Iterable

from ..errors import CostlensError
from ..graph import SourceLocation
from ..units import human


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

    Subclasses add their figures as fields and define `message`. `saved_bytes` is the MAC (in
    bytes) the fix would save; `seconds`, with a platform profile, the estimated time it would
    save. Both are the engine's measure of the finding's cost, not figures of the rule's.
    """

    module: str
    saved_bytes: int = field(default=0, kw_only=True)
    seconds: float | None = field(default=None, kw_only=True, compare=False)

    BASE_FIELDS: ClassVar[frozenset[str]] = frozenset({"module", "saved_bytes", "seconds"})

    @property
    def message(self) -> str:
        raise NotImplementedError(f"{type(self).__name__} must define message")

    def figures(self) -> dict[str, Any]:
        """The subclass's fields, as JSON values."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)
                if f.name not in self.BASE_FIELDS}


def one_per_module(findings: Iterable[Finding]) -> list[Finding]:
    """A layer called several times is one finding: its first call's figures, and what fixing
    it would save in all its calls together."""
    merged: dict[str, Finding] = {}
    for finding in findings:
        first = merged.get(finding.module)
        if first is None:
            merged[finding.module] = finding
            continue
        seconds = first.seconds if finding.seconds is None else (
            (first.seconds or 0.0) + finding.seconds)
        merged[finding.module] = dataclasses.replace(
            first, saved_bytes=first.saved_bytes + finding.saved_bytes, seconds=seconds)
    return list(merged.values())


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (tuple, list)):
        return [_plain(item) for item in value]
    if isinstance(value, Enum):
        return value.value
    return value


@dataclass(frozen=True)
class Saving:
    """What fixing a cause would save, over all its instances: MAC bytes and their share of
    the model's; with a platform, estimated seconds and their share of the model's latency."""

    mac_bytes: int
    share: float
    seconds: float | None = None
    time_share: float | None = None
    profile: str | None = None

    @property
    def cost_share(self) -> float:
        """The share that grades and ranks: of the estimated time with a platform, else of
        the MAC."""
        return self.time_share if self.time_share is not None else self.share

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"mac_bytes": self.mac_bytes, "share": round(self.share, 6)}
        if self.seconds is not None:
            data.update(time_ms=round(self.seconds * 1e3, 6),
                        time_share=round(self.time_share or 0.0, 6))
        return data


@dataclass(frozen=True)
class CauseKey:
    """What a baseline matches a finding on, stable while its figures move and however the
    target was spelled: the target (its file, absolute, for a file target; the rest as
    written, inputs included, or its configured name), the rule, and the cause: the block class
    and the line that builds it, with the layer's role inside the block, or else the module."""

    target_file: str | None
    target: str
    code: str
    site_file: str | None
    site_line: int | None
    cause: str


@dataclass(frozen=True)
class Group:
    """The repeated block a cause's instances sit in: its class, the role of the flagged
    module inside it ("" when the blocks themselves are flagged), the instances of the block
    in execution order, and the flagged modules' paths as one glob."""

    block_type: str
    role: str
    roots: tuple[str, ...]
    pattern: str

    def subject(self) -> str:
        """`InvertedResidual x16 (features.1 ... features.17)`."""
        return f"{self.block_type} x{len(self.roots)} ({self.roots[0]} ... {self.roots[-1]})"


@dataclass(frozen=True)
class Diagnostic:
    """A cause as the lint engine reports it: the worst instance's finding, every instance
    (in execution order; just the one when the cause is not repeated), the rule, severity,
    target, the line of the user's code it points at, and what fixing it would save."""

    code: str
    name: str
    severity: Severity
    target: str
    location: SourceLocation
    finding: Finding
    instances: tuple[Finding, ...]
    saving: Saving
    key: CauseKey
    group: Group | None = None  # None: one instance

    @property
    def module(self) -> str:
        return self.finding.module

    @property
    def pattern(self) -> str:
        """What the text output names: the glob of the instances, or the module."""
        return self.group.pattern if self.group is not None else self.module

    @property
    def message(self) -> str:
        text = self.finding.message
        if self.group is not None:
            count = len(self.instances)
            text = f"{self.group.subject()}, worst {self.module}: {text}"
            if self.saving.mac_bytes:
                text += (f"; fixing all {count} saves {human(self.saving.mac_bytes, 'B')} of "
                         "memory traffic")
        if self.saving.seconds is not None:
            text += (f"; on {self.saving.profile} it costs about "
                     f"{self.saving.seconds * 1e3:.3g} ms, {self.saving.time_share:.1%} of the "
                     "model's estimated time")
        return text

    @property
    def figures(self) -> dict[str, Any]:
        return self.finding.figures()

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "name": self.name, "severity": self.severity.value,
                "target": self.target, "module": self.module, "message": self.message,
                "location": self.location.to_dict(), "figures": self.figures,
                "pattern": self.pattern,
                "instances": [{"module": f.module, "figures": f.figures()}
                              for f in self.instances],
                "saving": self.saving.to_dict()}
