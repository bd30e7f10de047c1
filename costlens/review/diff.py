"""What changed between two report dicts: the totals, every layer matched by module path, and
the --fail-above limits they are held to. Plain data, for the renderers and the exit code.

A layer's status follows its counted figures (params, FLOPs, MAC, MAC bytes, kernels), not its
peak memory (everything held by then counts in it) or its estimated latency: a layer's estimate
moves when the whole model's weights move (they decide how cold its caches run,
Profile.coldness), so either alone would mark every layer changed.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any, Mapping

from ..analysis.result import CONVENTIONS, SCHEMA_VERSION
from ..errors import CostlensError
from ..units import human
from .sources import Side

FORMAT = "costlens-diff/1"
#: What a diff's own figures are, beside the report's conventions.
CONVENTIONS_DIFF = {
    "latency_ms": "with a platform profile: estimated time of one forward pass or training "
                  "step (trace.step)",
    "change": "relative change, new / base - 1; null where base is 0 or a side is missing",
}


@dataclass(frozen=True)
class Figure:
    """One figure a diff compares: its key in a report's totals and layers, its name in
    --fail-above, and what the output calls it."""

    key: str
    name: str
    label: str


FIGURES = (
    Figure("params", "params", "params"),
    Figure("flops", "flops", "FLOPs"),
    Figure("mac", "mac", "MAC"),
    Figure("mac_bytes", "mac_bytes", "MAC bytes"),
    Figure("kernels", "kernels", "kernels"),
    Figure("peak_bytes", "peak", "peak memory"),
    Figure("latency_ms", "latency", "est. latency"),
)
COUNTED = FIGURES[:-1]
#: What a layer's status follows: its own figures. Its peak memory, like its latency, moves
#: with what the rest of the model holds.
OWN = tuple(f for f in COUNTED if f.key != "peak_bytes")
LATENCY = FIGURES[-1]
#: The order of the changed layers: the largest change of the first figure first, and so on.
SORT_KEYS = ("flops", "mac", "mac_bytes", "params", "kernels", "peak_bytes", "latency_ms")


@dataclass(frozen=True)
class Change:
    """One figure on both sides; None where a side lacks it (an added or removed layer)."""

    base: float | None
    new: float | None

    @property
    def relative(self) -> float | None:
        """new / base - 1; None where a side is missing or base is 0 (no ratio to take)."""
        if self.base is None or self.new is None or self.base == 0:
            return None
        return self.new / self.base - 1

    @property
    def difference(self) -> float:
        """new - base, a missing side counting 0."""
        return (self.new or 0) - (self.base or 0)

    @property
    def changed(self) -> bool:
        return self.base != self.new

    def to_dict(self) -> dict[str, Any]:
        relative = self.relative
        return {"base": self.base, "new": self.new,
                "change": None if relative is None else float(f"{relative:.6g}")}


@dataclass(frozen=True)
class LayerChange:
    """A layer, by module path, on both sides: its type and depth are the new side's, or the
    base side's for a removed layer."""

    name: str
    type: str
    depth: int
    status: str  # changed, unchanged (in the counted figures), added or removed
    figures: Mapping[str, Change]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "depth": self.depth,
                "status": self.status,
                **{key: change.to_dict() for key, change in self.figures.items()}}


@dataclass(frozen=True)
class Diff:
    """Two sides' totals and layers. `figures` are those both sides hold (latency only when
    both carry an estimate from one profile, `platform`); `layers` every layer but the whole
    model (the totals), in the new side's execution order, a removed layer after the layer it
    followed in the base."""

    base: Side
    new: Side
    figures: tuple[Figure, ...]
    totals: Mapping[str, Change]
    layers: tuple[LayerChange, ...]
    platform: Mapping[str, Any] | None

    @property
    def totals_changed(self) -> bool:
        return any(change.changed for change in self.totals.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "schema_version": SCHEMA_VERSION,
            "conventions": {**CONVENTIONS, **CONVENTIONS_DIFF},
            "base": self.base.description(),
            "new": self.new.description(),
            "platform": self.platform,
            "totals": {key: change.to_dict() for key, change in self.totals.items()},
            "layers": [layer.to_dict() for layer in self.layers],
        }


def diff_reports(base: Side, new: Side, platform: Mapping[str, Any] | None) -> Diff:
    """`platform`: the profile both sides' latency comes from (sources.shared_platform), None
    to leave latency out."""
    figures = COUNTED + ((LATENCY,) if platform is not None else ())
    totals = {f.key: Change(base.report["totals"][f.key], new.report["totals"][f.key])
              for f in figures}
    before, after = base.layers(), new.layers()
    layers = []
    for name in _merged_order(list(before), list(after)):
        if not name:
            continue  # the whole model: the totals
        old, now = before.get(name), after.get(name)
        changes = {f.key: Change(None if old is None else old[f.key],
                                 None if now is None else now[f.key]) for f in figures}
        if old is None or now is None:
            status = "added" if old is None else "removed"
        else:
            status = "changed" if any(changes[f.key].changed for f in OWN) else "unchanged"
        shown = now if now is not None else old
        assert shown is not None
        layers.append(LayerChange(name, shown["type"], shown["depth"], status, changes))
    return Diff(base, new, figures, totals, tuple(layers), platform)


def _merged_order(base: list[str], new: list[str]) -> list[str]:
    """The new side's order, each layer only the base has placed after the last layer before
    it that both have (or first): where it was."""
    present = set(new)
    removed_after: defaultdict[str | None, list[str]] = defaultdict(list)
    anchor: str | None = None
    for name in base:
        if name in present:
            anchor = name
        else:
            removed_after[anchor].append(name)
    order = list(removed_after[None])
    for name in new:
        order.append(name)
        order.extend(removed_after[name])
    return order


def changed_first(layers: list[LayerChange]) -> list[LayerChange]:
    """Largest absolute change first: by FLOPs, then MAC, MAC bytes, params, kernels, peak
    memory and latency, then by name, so that the order is the same on every run."""
    return sorted(layers, key=lambda layer: (
        *(-abs(layer.figures[key].difference) for key in SORT_KEYS if key in layer.figures),
        layer.name))


# --fail-above

NO_LATENCY = ("--fail-above latency: this diff has no latency figures: give --platform PROFILE "
              "(or two JSON reports that carry latency from one profile)")


@dataclass(frozen=True)
class Breach:
    """A total that grew past its --fail-above limit."""

    figure: Figure
    change: Change
    limit: Fraction

    @property
    def message(self) -> str:
        relative = self.change.relative
        if relative is None:
            return (f"{self.figure.name} grew from 0 to {human(self.change.new)}, past any limit "
                    "(--fail-above)")
        limit = float(self.limit * 100)
        digits = next(digits for digits in range(1, 7)  # enough to tell it from the limit
                      if round(100 * relative, digits) != limit or digits == 6)
        return (f"{self.figure.name} grew {100 * relative:+.{digits}f}%, past its limit of "
                f"{limit:g}% (--fail-above)")


def parse_limits(text: str) -> dict[str, Fraction]:
    """`flops=5%,latency=3%` -> {"flops": 1/20, "latency": 3/100}, refusing anything else: an
    unknown figure, a limit not written as a percentage, a negative one, a figure twice."""
    names = [f.name for f in FIGURES]
    limits: dict[str, Fraction] = {}
    for item in text.split(","):
        name, equals, value = (part.strip() for part in item.partition("="))
        if not equals or not name:
            raise CostlensError(f"--fail-above: expected FIGURE=PERCENT items separated by "
                                f"commas, e.g. flops=5%,latency=3%; not {item.strip()!r}")
        if name not in names:
            raise CostlensError(f"--fail-above: unknown figure {name!r}; figures: "
                                f"{', '.join(names)}")
        if not value.endswith("%"):
            raise CostlensError(f"--fail-above {name}={value}: write the limit as a "
                                f"percentage, e.g. {name}=5%")
        try:
            number = Decimal(value[:-1].strip())
        except InvalidOperation:
            number = Decimal("nan")
        if not number.is_finite():
            raise CostlensError(f"--fail-above {name}={value}: not a number")
        if number < 0:
            raise CostlensError(f"--fail-above {name}={value}: a limit is 0% or more")
        if name in limits:
            raise CostlensError(f"--fail-above: {name} given twice")
        limits[name] = Fraction(number) / 100
    return limits


def breaches(diff: Diff, limits: Mapping[str, Fraction]) -> list[Breach]:
    """The totals that grew past their limits, in FIGURES order. Growing from 0 is past any
    limit; compared exactly (in fractions), so 5% passes a limit of 5%."""
    if LATENCY.name in limits and LATENCY not in diff.figures:
        raise CostlensError(NO_LATENCY)
    found = []
    for figure in FIGURES:
        if figure.name not in limits:
            continue
        change = diff.totals[figure.key]
        base, new = Fraction(change.base or 0), Fraction(change.new or 0)
        grown = new > 0 if base == 0 else new / base - 1 > limits[figure.name]
        if grown:
            found.append(Breach(figure, change, limits[figure.name]))
    return found

