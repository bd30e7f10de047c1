"""The ShuffleNet V2 paper's Table 8 for the user's candidates: one row per model, its counted
figures beside its estimated latency, the FLOP rate that latency means and what bounds it.
Plain data, for the renderers."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from ..analysis.result import CONVENTIONS, SCHEMA_VERSION
from .sources import Side

FORMAT = "costlens-compare/1"
#: What the latency figures are, beside the report's conventions.
CONVENTIONS_LATENCY = {
    "latency_ms": "estimated time of one forward pass or training step (trace.step) on the "
                  "platform profile",
    "flops_per_second": "attained FLOPs (multiply-adds) per second: flops / estimated seconds",
    "bound": "what limits the whole model's estimated time most: compute, memory or overhead",
}


@dataclass(frozen=True)
class Row:
    """One candidate. The latency figures are None without an estimate."""

    target: str
    model: str
    inputs: tuple[Mapping[str, Any], ...]
    params: int
    flops: int
    mac: int
    kernels: int
    latency_ms: float | None
    bound: str | None

    @property
    def flops_per_second(self) -> float | None:
        """FLOPs (multiply-adds) per estimated second: how much of the platform a model puts
        to work, which is why fewer FLOPs need not mean less time (the paper's Table 8)."""
        if not self.latency_ms:
            return None
        return float(f"{self.flops / (self.latency_ms / 1e3):.6g}")

    def to_dict(self, latency: bool) -> dict[str, Any]:
        row = {"target": self.target, "model": self.model, "inputs": list(self.inputs),
               "params": self.params, "flops": self.flops, "mac": self.mac,
               "kernels": self.kernels}
        if latency:
            row.update(latency_ms=self.latency_ms, flops_per_second=self.flops_per_second,
                       bound=self.bound)
        return row


@dataclass(frozen=True)
class Comparison:
    """The rows in the order the targets were given; `platform` the profile every row's
    latency comes from (sources.shared_platform), None when there is no latency to show."""

    rows: tuple[Row, ...]
    platform: Mapping[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        latency = self.platform is not None
        return {"format": FORMAT, "schema_version": SCHEMA_VERSION,
                "conventions": {**CONVENTIONS, **(CONVENTIONS_LATENCY if latency else {})},
                "platform": self.platform,
                "rows": [row.to_dict(latency) for row in self.rows]}


def compare(sides: Sequence[Side], platform: Mapping[str, Any] | None) -> Comparison:
    return Comparison(tuple(_row(side, platform is not None) for side in sides), platform)


def _row(side: Side, latency: bool) -> Row:
    totals = side.report["totals"]
    root = side.layers()[""]
    return Row(side.label, side.model_type, tuple(side.report["model"]["inputs"]),
               totals["params"], totals["flops"], totals["mac"], totals["kernels"],
               totals["latency_ms"] if latency else None, root["bound"] if latency else None)
