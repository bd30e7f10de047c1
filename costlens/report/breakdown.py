"""Where the cost goes, by op kind: the paper's Figure 2 view, with the FLOPs share beside it.

The paper's Figure 2 splits a network's run time into convolutions, data movement, element-wise
ops and the rest, and shows that FLOPs (convolutions only) are a fraction of it. Here the split is
by the kinds a model author changes one at a time, and what is split is the estimated time with
a platform profile, else the MAC bytes, memory traffic being the best static stand-in for time.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Mapping

from ..analysis import Analysis
from ..costs import Category
from ..latency.estimate import LatencyEstimate

#: The kinds in drawing order; "other" holds views, ops with no formula and, with a platform,
#: the cost of nn.Module calls.
KINDS = ("conv", "depthwise conv", "matmul / attention", "element-wise", "data movement",
         "pooling", "normalization", "reduction", "other")

_KIND_OF = {
    Category.CONV: "conv", Category.DEPTHWISE: "depthwise conv",
    Category.MATMUL: "matmul / attention", Category.ATTENTION: "matmul / attention",
    Category.ELEMENTWISE: "element-wise", Category.MOVEMENT: "data movement",
    Category.POOLING: "pooling", Category.NORMALIZATION: "normalization",
    Category.REDUCTION: "reduction", Category.VIEW: "other",
}


def kind_of(category: Category | None) -> str:
    return "other" if category is None else _KIND_OF[category]


@dataclass(frozen=True)
class Split:
    """One layer's (or the model's) cost and FLOPs per kind, in KINDS order; `cost` is seconds
    with a platform, MAC bytes without."""

    name: str
    cost: Mapping[str, float]
    flops: Mapping[str, float]

    @property
    def total_cost(self) -> float:
        return sum(self.cost.values())

    @property
    def total_flops(self) -> float:
        return sum(self.flops.values())


def split(analysis: Analysis, layer: str, latency: LatencyEstimate | None = None) -> Split:
    """The split of the ops `layer` counts ("" for the whole model). With a latency estimate,
    what the layer's time holds beyond its ops (its module calls) is "other", so the split
    adds up to the layer's estimated time."""
    cost: dict[str, float] = defaultdict(float)
    flops: dict[str, float] = defaultdict(float)
    for index in analysis.members[layer]:
        op = analysis.ops[index]
        kind = kind_of(op.category)
        cost[kind] += latency.ops[index].seconds if latency is not None else op.mac_bytes or 0
        flops[kind] += op.flops or 0
    if latency is not None:
        cost["other"] += max(0.0, latency.layers[layer].seconds - sum(cost.values()))
    return Split(layer, _ordered(cost), _ordered(flops))


def _ordered(values: Mapping[str, float]) -> dict[str, float]:
    return {kind: values.get(kind, 0.0) for kind in KINDS}
