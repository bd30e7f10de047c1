"""Predicted latency of an analysed model on a profiled platform.

Per op, a roofline: the larger of FLOPs over the kernel class's FLOP rate and MAC bytes over
its byte rate (bytes beyond the cache over the memory bandwidth), slowed by 1 / utilization
when the op exposes fewer work items than the device needs to fill up; plus (CPU) or
overlapped with (GPU) the fixed cost of issuing the op. Every
nn.Module call adds its own fixed cost. With `fuse`, the model is costed as an inference
engine runs it: batch norm folded into the conv before it, an activation fused into the conv,
linear, folded norm or add that feeds it, and no Python-side cost for views or module calls.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Sequence

from ..analysis import Analysis
from ..graph import OpGraph, OpNode, module_ancestors
from .classes import UNSUPPORTED, VIEW, kernel_class, shape_features
from .profile import Profile

COMPUTE, MEMORY, OVERHEAD, FUSED = "compute", "memory", "overhead", "fused"

_FOLDABLE_NORMS = ("aten.native_batch_norm", "aten._native_batch_norm_legit_no_training",
                   "aten.batch_norm", "aten.cudnn_batch_norm", "aten.miopen_batch_norm")
_FUSIBLE_ACTIVATIONS = ("aten.relu", "aten.relu_", "aten.relu6", "aten.hardtanh",
                        "aten.hardtanh_", "aten.silu", "aten.silu_", "aten.gelu", "aten.gelu_",
                        "aten.sigmoid", "aten.sigmoid_", "aten.hardswish", "aten.hardswish_",
                        "aten.hardsigmoid", "aten.leaky_relu", "aten.leaky_relu_", "aten.clamp",
                        "aten.clamp_", "aten.clamp_min", "aten.clamp_min_", "aten.tanh",
                        "aten.elu", "aten.mish")
_ACTIVATION_HOSTS = ("conv", "matmul")


@dataclass(frozen=True)
class OpTime:
    """One op's predicted time. `bound` is compute, memory, overhead (the fixed cost exceeds
    the kernel's work) or fused (absorbed by the op `fused_into`)."""

    index: int
    kernel_class: str
    seconds: float
    bound: str
    fused_into: int | None = None


@dataclass(frozen=True)
class LayerTime:
    name: str
    seconds: float
    share: float
    bound: str


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

    def to_dict(self) -> dict[str, Any]:
        return {"profile": self.profile, "device": self.device, "threads": self.threads,
                "fused": self.fused, "latency_ms": rounded_ms(self.seconds),
                "module_call_ms": rounded_ms(self.module_call_seconds)}


def op_seconds(profile: Profile, kernel_class: str, flops: int, mac_bytes: int,
               parallelism: int, coldness: float = 1.0,
               features: tuple[float, ...] = ()) -> tuple[float, str]:
    """Predicted time of one op of `kernel_class` in a network of the given coldness (see
    Profile.coldness), and what bounds it: the warm and cold rooflines, each corrected by how
    far the calibration samples of the class nearest in size and shape (`features`:
    classes.shape_features) ran from theirs, blended."""
    if kernel_class in (VIEW, UNSUPPORTED):
        return roofline_seconds(profile, kernel_class, flops, mac_bytes, parallelism)
    seconds, bound = 0.0, OVERHEAD
    for warm, weight in ((False, coldness), (True, 1.0 - coldness)):
        if weight:
            time, regime_bound = roofline_seconds(profile, kernel_class, flops, mac_bytes,
                                                  parallelism, warm)
            seconds += weight * time * profile.correction(kernel_class, flops, mac_bytes, warm,
                                                          features)
            bound = regime_bound if weight >= 0.5 else bound
    return seconds, bound


def roofline_seconds(profile: Profile, kernel_class: str, flops: int, mac_bytes: int,
                     parallelism: int, warm: bool = False) -> tuple[float, str]:
    """The roofline time of one op of `kernel_class` with its fixed cost, and what bounds it."""
    if kernel_class == VIEW:
        return profile.view_overhead_s, OVERHEAD
    if kernel_class == UNSUPPORTED:  # no figures: only its fixed cost is known
        return profile.op_overhead_s, OVERHEAD
    rate = profile.rate(kernel_class, warm)
    compute = flops / rate.flops_per_s if rate.flops_per_s else 0.0
    in_cache = min(mac_bytes, profile.cache_bytes)
    memory = ((in_cache / rate.bytes_per_s if rate.bytes_per_s else 0.0)
              + (mac_bytes - in_cache) / profile.bandwidth_bytes_per_s)
    utilization = min(1.0, max(parallelism, 1) / profile.saturation)
    work = max(compute, memory) / utilization
    overhead = rate.overhead_s
    seconds = max(overhead, work) if profile.overlap else overhead + work
    if overhead >= work:
        return seconds, OVERHEAD
    return seconds, COMPUTE if compute >= memory else MEMORY


def fixed_cost(profile: Profile, kernel_class: str) -> float:
    """What one op of the class costs however little it does."""
    if kernel_class == VIEW:
        return profile.view_overhead_s
    if kernel_class == UNSUPPORTED:
        return profile.op_overhead_s
    return profile.rate(kernel_class).overhead_s


def estimate(analysis: Analysis, profile: Profile, fuse: bool = False) -> LatencyEstimate:
    graph = analysis.graph
    coldness = profile.coldness(working_set_bytes(analysis))
    classes = [kernel_class(node, op.category) for node, op in zip(graph.nodes, analysis.ops)]
    absorbed = fused_ops(graph, [op.category for op in analysis.ops]) if fuse else {}
    times = []
    for op, node, cls in zip(analysis.ops, graph.nodes, classes):
        if node.index in absorbed:
            times.append(OpTime(node.index, cls, 0.0, FUSED, absorbed[node.index]))
            continue
        if fuse and cls == VIEW:
            times.append(OpTime(node.index, cls, 0.0, OVERHEAD))
            continue
        seconds, bound = op_seconds(profile, cls, op.flops or 0, op.mac_bytes or 0,
                                    op.parallelism or 0, coldness,
                                    shape_features(node, cls, op.flops or 0, op.parallelism or 0))
        times.append(OpTime(node.index, cls, seconds, bound))
    call_cost = 0.0 if fuse else profile.module_call_overhead_s
    layer_seconds: dict[str, float] = defaultdict(float)
    layer_bound: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for op, time in zip(analysis.ops, times):
        for path in module_ancestors(op.module):
            layer_seconds[path] += time.seconds
            layer_bound[path][time.bound] += time.seconds
    for call in graph.calls:
        for path in module_ancestors(call.module):
            layer_seconds[path] += call_cost
            layer_bound[path][OVERHEAD] += call_cost
    total = sum(time.seconds for time in times) + call_cost * len(graph.calls)
    layers = {
        layer.name: LayerTime(layer.name, layer_seconds[layer.name],
                              layer_seconds[layer.name] / total if total else 0.0,
                              _dominant(layer_bound[layer.name]))
        for layer in analysis.layers
    }
    return LatencyEstimate(profile.name, profile.device, profile.threads, fuse, total,
                           call_cost * len(graph.calls), tuple(times), layers, coldness)


def working_set_bytes(analysis: Analysis) -> int:
    """The bytes a forward must find again in the cache for its ops to run warm: every weight
    and buffer, once each. This decides between the cold and warm calibration regimes, which
    differ in just that (a layer's weights and code last used a whole round of other layers
    ago, or just now); both find their input just written, as a network's ops find the
    activations they read, so neither activations nor the model's inputs count here."""
    held: dict[str, int] = {}
    for node in analysis.graph.nodes:
        for item in node.inputs:
            if item.origin is not None and item.origin.startswith(_HELD):
                held[item.origin] = item.tensor.footprint * item.tensor.itemsize
    return sum(held.values())


_HELD = ("param:", "buffer:")  # origins (trace.py) of what a model keeps between forwards


def fused_ops(graph: OpGraph, categories: Sequence[str | None]) -> dict[int, int]:
    """Ops an inference engine absorbs into the op before them: {absorbed: host}.

    A batch norm is folded into the conv that alone feeds it; an activation is fused into the
    conv, linear, folded norm or tensor add that alone feeds it. "Alone" matters: if anything
    else reads the host's output, the unfused value must still be written.
    """
    readers: dict[int, int] = defaultdict(int)
    for node in graph.nodes:
        for item in node.inputs:
            if item.producer is not None:
                readers[item.producer] += 1
    absorbed: dict[int, int] = {}
    for node in graph.nodes:
        host = _sole_producer(node, readers)
        if host is None:
            continue
        host_node = graph.nodes[host]
        if node.packet in _FOLDABLE_NORMS and categories[host] == "conv":
            absorbed[node.index] = host
        elif node.packet in _FUSIBLE_ACTIVATIONS and (
                categories[host] in _ACTIVATION_HOSTS or host in absorbed
                or _is_tensor_add(host_node)):
            absorbed[node.index] = absorbed.get(host, host)
    return absorbed


def _sole_producer(node: OpNode, readers: dict[int, int]) -> int | None:
    if not node.inputs:
        return None
    producer = node.inputs[0].producer
    if producer is None or readers[producer] != 1:
        return None
    return producer


def _is_tensor_add(node: OpNode) -> bool:
    return node.packet in ("aten.add", "aten.add_") and sum(
        1 for item in node.inputs if item.tensor.numel > 1) == 2


def _dominant(bounds: dict[str, float]) -> str:
    return max(sorted(bounds), key=lambda bound: bounds[bound]) if bounds else OVERHEAD


def rounded_ms(seconds: float) -> float:
    return round(seconds * 1e3, 6)
