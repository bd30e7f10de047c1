"""Measured beside estimated beside FLOPs, per op, per layer and per op class.

The measured ops (a real run) and the analysed ops (the meta trace) are the same aten calls in
the same order almost everywhere; where they differ (a fused kernel on the real device, a copy
the meta layout needed) the sequences are aligned by (module, op) and an unmatched real op is
classed by its name. A layer's measured time is its module's, timed per module where the
measurement has it (timed_modules says which modules to time), else the sum of its ops.
"""
from __future__ import annotations

import difflib
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass

from ..analysis import Analysis, LayerRecord
from ..costs import Category
from ..graph import module_ancestors
from ..latency.classes import KernelClass
from ..latency.estimate import LatencyEstimate
from .op_times import Measurement

GROUP_ORDER = ("conv", "element-wise", "data movement", "other")


def figure2_group(kernel_class: KernelClass) -> str:
    """The paper's Figure 2 group of run time a kernel class falls in, by its category's
    groups: element-wise (depthwise convolutions and normalization included, as in G4), data
    movement (views too), conv, or other."""
    category = kernel_class.category
    if category is None:
        return "other"
    if category.is_elementwise:
        return "element-wise"
    if category.is_movement or not category.launches_kernel:
        return "data movement"
    return "conv" if category is Category.CONV else "other"


@dataclass(frozen=True)
class Compared:
    """One row of the comparison: measured and estimated seconds and FLOPs, with shares."""

    name: str
    measured: float
    estimated: float
    flops: int


@dataclass(frozen=True)
class Comparison:
    layers: tuple[Compared, ...]
    groups: tuple[Compared, ...]
    classes: tuple[Compared, ...]
    measured_total: float  # sum of the per-op times (instrumented)
    layers_total: float  # the forward the layers' times are parts of (see compare)
    estimated_total: float  # sum of the per-op estimates (module calls apart)
    flops_total: int
    forward_seconds: float  # the plain, uninstrumented forward: median over repeats
    best_seconds: float  # and its best case (timing.best_of), as calibration's figures are
    estimated_forward: float  # the estimate of the whole forward, module calls included
    layers_per_module: bool = False  # whether the layers were timed per module, not per op


def compare(analysis: Analysis, estimate: LatencyEstimate, measurement: Measurement,
            depth: int) -> Comparison:
    analysed = [(op.module, op.op) for op in analysis.ops]
    timed = [(op.module, op.op) for op in measurement.ops]
    class_of_name: dict[str, KernelClass] = {}
    for op, time in zip(analysis.ops, estimate.ops):
        class_of_name.setdefault(op.op, time.kernel_class)
    matcher = difflib.SequenceMatcher(None, analysed, timed, autojunk=False)
    real_class = [_name_class(op.op, class_of_name) for op in measurement.ops]
    for block in matcher.get_matching_blocks():
        for offset in range(block.size):
            real_class[block.b + offset] = estimate.ops[block.a + offset].kernel_class
    shown = [layer for layer in analysis.layers if 0 < layer.depth <= depth]
    per_module = measurement.modules
    if not timed_modules(analysis, depth) <= per_module.keys():
        per_module = {}  # not timed per module (a training step), or not these modules
    layer_seconds = (_per_module(shown, per_module) if per_module
                     else _per_op(shown, measurement))
    layers = tuple(Compared(layer.name, seconds, estimate.layers[layer.name].seconds,
                            layer.flops) for layer, seconds in zip(shown, layer_seconds))
    measured_class: dict[KernelClass, float] = defaultdict(float)
    for op, cls in zip(measurement.ops, real_class):
        measured_class[cls] += op.seconds
    estimated_class: dict[KernelClass, float] = defaultdict(float)
    flops_class: dict[KernelClass, int] = defaultdict(int)
    for op, time in zip(analysis.ops, estimate.ops):
        estimated_class[time.kernel_class] += time.seconds
        flops_class[time.kernel_class] += op.flops or 0
    class_names = sorted(set(measured_class) | set(estimated_class),
                         key=lambda c: -measured_class.get(c, 0.0))
    classes = tuple(Compared(c.value, measured_class.get(c, 0.0), estimated_class.get(c, 0.0),
                             flops_class.get(c, 0)) for c in class_names)
    grouped: dict[str, list[float]] = {g: [0.0, 0.0, 0] for g in GROUP_ORDER}
    for cls, row in zip(class_names, classes):
        group = grouped[figure2_group(cls)]
        group[0] += row.measured
        group[1] += row.estimated
        group[2] += row.flops
    groups = tuple(Compared(g, v[0], v[1], int(v[2])) for g, v in grouped.items())
    op_total = sum(op.seconds for op in measurement.ops)
    return Comparison(layers, groups, classes, op_total, per_module.get("", op_total),
                      estimate.seconds - estimate.module_call_seconds, analysis.totals.flops,
                      measurement.seconds, measurement.best, estimate.seconds,
                      bool(per_module))


def timed_modules(analysis: Analysis, depth: int) -> set[str]:
    """The modules to time per module for the layer rows down to `depth`: each row's module,
    or for a container that is never called (a ModuleList) the called modules nearest below
    it; an own-forward row's module too, whose own time is its time less theirs."""
    rows = [layer for layer in analysis.layers if 0 < layer.depth <= depth]
    called = {layer.name for layer in analysis.layers
              if layer.forward_of is None and layer.calls > 0}
    wanted = {row.forward_of for row in rows if row.forward_of is not None}
    for row in rows:
        if row.forward_of is None:
            wanted |= {row.name} if row.name in called else _nearest_below(row.name, called)
    return wanted


def _per_module(rows: list[LayerRecord], timed: dict[str, float]) -> list[float]:
    """Each row's time from modules timed per module (see timed_modules)."""
    seconds = []
    for row in rows:
        if row.forward_of is not None:
            inner = _nearest_below(row.forward_of, timed)
            seconds.append(max(timed[row.forward_of] - sum(timed[p] for p in inner), 0.0))
        elif row.name in timed:
            seconds.append(timed[row.name])
        else:
            seconds.append(sum(timed[p] for p in _nearest_below(row.name, timed)))
    return seconds


def _per_op(rows: list[LayerRecord], measurement: Measurement) -> list[float]:
    """Each row's time as the sum of its ops' (a training step's backward has no module
    calls to time)."""
    subtree = measurement.by_module()
    own: dict[str, float] = defaultdict(float)  # ops a module ran itself, for own-forward rows
    for timed_op in measurement.ops:
        own[timed_op.module] += timed_op.seconds
    return [own[row.forward_of] if row.forward_of is not None else subtree.get(row.name, 0.0)
            for row in rows]


def _nearest_below(path: str, modules: Collection[str]) -> set[str]:
    """The modules of `modules` strictly inside `path` with none of `modules` between."""
    prefix = f"{path}." if path else ""
    inside = {m for m in modules if m.startswith(prefix) and m != path}
    return {m for m in inside
            if not any(a in inside for a in module_ancestors(m)[:-1])}


def _name_class(op: str, known: dict[str, KernelClass]) -> KernelClass:
    """The class of a real op the trace did not record (a device's own kernel, such as
    cudnn_batch_norm): by the analysed op of the same name, else by its name."""
    if op in known:
        return known[op]
    for part, cls in _NAME_PARTS:
        if part in op:
            return cls
    return KernelClass.UNSUPPORTED


_NAME_PARTS = (("attention", KernelClass.ATTENTION), ("norm", KernelClass.NORMALIZATION),
               ("conv", KernelClass.CONV_DENSE), ("pool", KernelClass.POOL_AVG),
               ("softmax", KernelClass.REDUCTION), ("mm", KernelClass.MATMUL),
               ("copy", KernelClass.MOVEMENT), ("cat", KernelClass.MOVEMENT))
