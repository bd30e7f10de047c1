"""From an op graph to per-op, per-layer and total figures: the Analysis every reporter reads."""
from __future__ import annotations

from collections import defaultdict
from typing import Iterable, Sequence

from ..costs import Category, OpCost, cost_of, is_kernel
from ..graph import OpGraph, module_ancestors, module_depth
from .blocks import block_figures, call_figures, compute_sources
from .result import (
    Analysis,
    BlockFigures,
    CategoryTotals,
    LayerRecord,
    OpRecord,
    Totals,
    UnsupportedOp,
)

__all__ = ["Analysis", "BlockFigures", "LayerRecord", "OpRecord", "Totals", "UnsupportedOp",
           "analyze_graph"]


def analyze_graph(graph: OpGraph) -> Analysis:
    costs = [cost_of(node) for node in graph.nodes]
    ops = tuple(_op_record(graph, index, cost) for index, cost in enumerate(costs))
    layers = _layers(graph, costs)
    called = {layer.name for layer in layers}
    return Analysis(
        graph=graph, totals=_totals(graph, costs), layers=layers, ops=ops,
        unsupported_ops=_unsupported(ops),
        uncalled_modules=tuple(m.path for m in graph.modules if m.path not in called),
    )


def _op_record(graph: OpGraph, index: int, cost: OpCost | None) -> OpRecord:
    node = graph.nodes[index]
    return OpRecord(
        index=index, op=node.op, module=graph.module_of(node),
        category=None if cost is None else cost.category.value,
        flops=None if cost is None else cost.flops, mac=None if cost is None else cost.mac,
        mac_bytes=None if cost is None else cost.mac_bytes,
        parallelism=None if cost is None else cost.parallelism,
        inputs=tuple(item.tensor.shape for item in node.inputs),
        outputs=tuple(tensor.shape for tensor in node.outputs), source=node.source,
    )


def _layers(graph: OpGraph, costs: Sequence[OpCost | None]) -> tuple[LayerRecord, ...]:
    """Every module that ran, in execution order, with its descendants' ops included.

    An op belongs to the module whose call it ran in and to that module's ancestors by path, so
    the rows of one depth never count an op twice, a shared module's ops land in its own row,
    and a ModuleList (never called itself) still sums up the layers in it. Block figures are
    per call, over every op that ran while the call was on the stack.
    """
    module_members: dict[str, list[int]] = {}
    for call in graph.calls:  # calls are numbered in execution order
        for path in module_ancestors(call.module):
            module_members.setdefault(path, [])
    call_members: list[list[int]] = [[] for _ in graph.calls]
    for node in graph.nodes:
        for call in graph.call_chain(node.call):
            call_members[call.index].append(node.index)
        for path in module_ancestors(graph.module_of(node)):
            module_members[path].append(node.index)
    sources = compute_sources(graph, costs)
    calls_of: dict[str, list[int]] = defaultdict(list)
    for call in graph.calls:
        calls_of[call.module].append(call.index)
    params = graph.subtree_params()
    types = {module.path: module.type for module in graph.modules}
    layers = []
    for name, members in module_members.items():
        calls = calls_of.get(name, [])
        # A container that is never called is one block made of everything inside it.
        blocks = [call_members[c] for c in calls] if calls else [members]
        per_call = [call_figures(block, costs, sources) for block in blocks]
        member_costs = [costs[i] for i in members]
        flops, mac, mac_bytes = _sum_costs(member_costs)
        layers.append(LayerRecord(
            name=name, type=types[name], depth=module_depth(name), calls=len(calls),
            params=params[name], flops=flops, mac=mac, mac_bytes=mac_bytes,
            parallelism=_mean_parallelism(member_costs),
            block=block_figures(per_call, members, costs),
            source=graph.calls[calls[0]].source if calls else None,
        ))
    return tuple(layers)


def _mean_parallelism(costs: Sequence[OpCost | None]) -> int:
    """Work items per kernel launched: how well, on average, one launch can fill a device."""
    kernels = [cost.parallelism for cost in costs if cost is not None and cost.kernel]
    return round(sum(kernels) / len(kernels)) if kernels else 0


def _sum_costs(costs: Iterable[OpCost | None]) -> tuple[int, int, int]:
    flops = mac = mac_bytes = 0
    for cost in costs:
        if cost is not None:
            flops += cost.flops
            mac += cost.mac
            mac_bytes += cost.mac_bytes
    return flops, mac, mac_bytes


def _totals(graph: OpGraph, costs: Sequence[OpCost | None]) -> Totals:
    flops, mac, mac_bytes = _sum_costs(costs)
    kernels = sum(1 for cost in costs if is_kernel(cost))
    by_category = []
    for category in Category:
        members = [cost for cost in costs if cost is not None and cost.category is category]
        if members:
            f, m, b = _sum_costs(members)
            by_category.append(CategoryTotals(category.value, len(members), f, m, b))
    return Totals(
        flops=flops, mac=mac, mac_bytes=mac_bytes, params=graph.params, kernels=kernels,
        parallelism=_mean_parallelism(costs), by_category=tuple(by_category),
    )


def _unsupported(ops: Sequence[OpRecord]) -> tuple[UnsupportedOp, ...]:
    calls: dict[str, int] = defaultdict(int)
    modules: dict[str, dict[str, None]] = defaultdict(dict)
    for op in ops:
        if not op.supported:
            calls[op.op] += 1
            modules[op.op][op.module] = None
    return tuple(UnsupportedOp(op, calls[op], tuple(modules[op])) for op in calls)
