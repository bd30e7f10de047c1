"""Predicted latency of an analysed model on a profiled platform.

Every op is timed by the roofline model (roofline.py) at the network's coldness; every
nn.Module call adds its own fixed cost. That is the best case, the lower quartile of many runs
with freed memory kept, as calibration measures. The typical case, the median a plain Python
process gives, is it times the profile's typical_spread, plus the page faults each op takes
there (allocator.py) at the profile's page_fault_s, where the profile has them. With
`fuse`, the model is costed as an inference engine runs it (fusion.py): batch norm folded
into the conv before it, an activation fused into the conv, linear, folded norm or add that
feeds it, and no Python-side cost for views or module calls. A layer's time is the time of
exactly the ops its figures count.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Iterable

from ..analysis import Analysis
from ..graph import OpGraph, OpNode, module_ancestors
from .allocator import faulted_pages
from .attention_path import PathOp, math_path
from .classes import KernelClass, kernel_class, op_features, shape_features
from .coldness import (
    kernel_state_coldness,
    op_coldness,
    splits_cold_excess,
    weight_bytes,
    working_set_bytes,
)
from .fusion import fused_ops
from .profile import Profile
from .roofline import Bound, op_seconds, split_cold_seconds
from .subnormals import subnormal_mask

TYPICAL, BEST = "typical", "best"
CASE_WORDS = {TYPICAL: "typical: the median of a plain Python process",
              BEST: "best: the lower quartile of repeated runs, freed memory kept"}


@dataclass(frozen=True)
class OpTime:
    """One op's predicted time. `bound` is compute, memory, overhead (the fixed cost exceeds
    the kernel's work) or fused (absorbed by the op `fused_into`); `coldness`, how far its time
    lies from its warm figure to its cold one (latency/coldness.py)."""

    index: int
    kernel_class: KernelClass
    seconds: float
    bound: Bound
    fused_into: int | None = None
    coldness: float = 1.0


@dataclass(frozen=True)
class LayerTime:
    name: str
    seconds: float
    share: float
    bound: Bound


@dataclass(frozen=True)
class LatencyEstimate:
    """A model's predicted time on one platform, per op, per layer and in total."""

    profile: str
    device: str
    threads: int
    fused: bool
    seconds: float
    module_call_seconds: float
    ops: tuple[OpTime, ...]
    layers: dict[str, LayerTime]
    coldness: float = 1.0  # how far the network's data misses the cache (Profile.coldness)
    case: str = BEST  # TYPICAL or BEST

    @property
    def case_words(self) -> str:
        """Which time it is, in words a report prints beside it."""
        return CASE_WORDS[self.case]

    def to_dict(self) -> dict[str, Any]:
        return {"profile": self.profile, "device": self.device, "threads": self.threads,
                "fused": self.fused, "case": self.case, "latency_ms": rounded_ms(self.seconds),
                "module_call_ms": rounded_ms(self.module_call_seconds)}


def estimate(analysis: Analysis, profile: Profile, fuse: bool = False,
             typical: bool = True) -> LatencyEstimate:
    """The model's time on the profile: the typical case where asked and the profile has it,
    else the best case (LatencyEstimate.case says which)."""
    typical = typical and profile.has_typical
    scale = profile.typical_spread if typical else 1.0
    faults = faulted_pages(analysis) if typical else [0] * len(analysis.graph.nodes)
    graph = analysis.graph
    coldness = profile.coldness(working_set_bytes(analysis))
    op_cold = op_coldness(analysis, profile, coldness)
    kernel = kernel_state_coldness(analysis, profile)
    absorbed = fused_ops(graph, [op.category for op in analysis.ops]) if fuse else {}
    cpu_threads = profile.threads if profile.device == "cpu" else None
    times = []
    for op, node in zip(analysis.ops, graph.nodes):
        cls = kernel_class(node, op.category)
        if node.index in absorbed:
            times.append(OpTime(node.index, cls, 0.0, Bound.FUSED, absorbed[node.index]))
            continue
        if fuse and cls is KernelClass.VIEW:
            times.append(OpTime(node.index, cls, 0.0, Bound.OVERHEAD))
            continue
        cold = op_cold[node.index]
        path = _math_path_time(profile, graph, node, cold) \
            if cls is KernelClass.ATTENTION and profile.device == "cpu" else None
        if path is not None:
            seconds, bound = path
        else:
            features = shape_features(node, cls, op.flops or 0, op.parallelism or 0,
                                      cpu_threads)
            if kernel is not None and splits_cold_excess(node, cls):
                seconds, bound, cold = split_cold_seconds(
                    profile, cls, op.flops or 0, op.mac_bytes or 0, op.parallelism or 0,
                    features, cold, kernel, weight_bytes(node))
            else:
                seconds, bound = op_seconds(profile, cls, op.flops or 0, op.mac_bytes or 0,
                                            op.parallelism or 0, cold, features)
        times.append(OpTime(node.index, cls,
                            seconds * scale + faults[node.index] * (profile.page_fault_s or 0.0),
                            bound, coldness=cold))
    call_cost = 0.0 if fuse else profile.module_call_overhead_s * scale
    own_rows = {layer.forward_of: layer.name for layer in analysis.layers
                if layer.forward_of is not None}
    calls: dict[str, int] = defaultdict(int)  # module calls each layer pays for
    for call in graph.calls:
        for path in module_ancestors(call.module):
            calls[path] += 1
        if call.module in own_rows:
            calls[own_rows[call.module]] += 1
    total = sum(time.seconds for time in times) + call_cost * len(graph.calls)
    layers = {}
    for layer in analysis.layers:
        spent = _by_bound(times[index] for index in analysis.members[layer.name])
        spent[Bound.OVERHEAD] += call_cost * calls[layer.name]
        seconds = sum(spent.values())
        layers[layer.name] = LayerTime(layer.name, seconds, seconds / total if total else 0.0,
                                       dominant_bound(spent))
    return LatencyEstimate(profile.name, profile.device, profile.threads, fuse, total,
                           call_cost * len(graph.calls), tuple(times), layers, coldness,
                           TYPICAL if typical else BEST)


def _math_path_time(profile: Profile, graph: OpGraph, node: OpNode,
                    coldness: float) -> tuple[float, Bound] | None:
    """An attention's time where a CPU runs it on the math path (None where its fused kernel
    takes it), with the subnormal weights its mask leaves, as unevenly as the threads get
    them."""
    mask = subnormal_mask(graph, node.input("attn_mask"))
    parts = math_path(node, mask.share)
    if not parts:
        return None
    query = node.arg("query")
    imbalance = mask.imbalance(profile.threads, query.shape[0] if query is not None else 1)
    return _math_path_seconds(profile, parts, coldness, imbalance)


def _math_path_seconds(profile: Profile, parts: list[PathOp], coldness: float,
                       imbalance: float = 1.0) -> tuple[float, Bound]:
    """The time of an attention run op by op (attention_path.py): each op on its own class's
    roofline, plus the assists its subnormal numbers take where the profile measured them,
    times how unevenly the threads share them (SubnormalMask.imbalance); bound by what bounds
    most of it."""
    spent: defaultdict[Bound, float] = defaultdict(float)
    for part in parts:
        seconds, bound = op_seconds(profile, part.kernel_class, part.flops, part.mac_bytes,
                                    part.parallelism, coldness,
                                    op_features(part.kernel_class, part.flops,
                                                part.parallelism, logical=part.logical))
        spent[bound] += seconds
        assists = imbalance * (part.subnormal_exps * (profile.subnormal_exp_s or 0.0)
                               + part.subnormal_macs * (profile.subnormal_mac_s or 0.0))
        if assists:
            spent[Bound.COMPUTE] += assists
    return sum(spent.values()), dominant_bound(spent)


def _by_bound(times: Iterable[OpTime]) -> defaultdict[Bound, float]:
    spent: defaultdict[Bound, float] = defaultdict(float)
    for time in times:
        spent[time.bound] += time.seconds
    return spent


def dominant_bound(spent: dict[Bound, float]) -> Bound:
    """What a set of ops spends most of its time on (ties: by name; nothing: overhead)."""
    if not spent:
        return Bound.OVERHEAD
    return max(sorted(spent, key=lambda bound: bound.value), key=spent.__getitem__)


def rounded_ms(seconds: float) -> float:
    return round(seconds * 1e3, 6)
