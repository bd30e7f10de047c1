"""From an op graph to per-op, per-layer and total figures: the Analysis every reporter reads."""
from __future__ import annotations

from collections import defaultdict
from typing import Iterable, Sequence

from ..costs import Category, OpCost, cost_of, is_kernel
from ..graph import OpGraph, module_ancestors, module_depth
from .blocks import OpTable, compute_sources
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
           "analyze_graph", "own_row_name"]


def analyze_graph(graph: OpGraph) -> Analysis:
    costs = [cost_of(node) for node in graph.nodes]
    ops = tuple(_op_record(graph, index, cost) for index, cost in enumerate(costs))
    builder = _Layers(graph, costs)
    layers, members, per_call = builder.build()
    called = {layer.name for layer in layers}
    return Analysis(
        graph=graph, totals=_totals(graph, costs), layers=layers, ops=ops,
        unsupported_ops=_unsupported(ops),
        uncalled_modules=tuple(m.path for m in graph.modules if m.path not in called),
        members=members, members_per_call=per_call, sources=builder.sources,
    )


def own_row_name(module: str, module_type: str) -> str:
    """`stage2.0.(ShuffleUnit.forward)`; the whole model's: `(ShuffleNetV2.forward)`."""
    own = f"({module_type}.forward)"
    return f"{module}.{own}" if module else own


def _op_record(graph: OpGraph, index: int, cost: OpCost | None) -> OpRecord:
    node = graph.nodes[index]
    return OpRecord(
        index=index, op=node.op, module=graph.module_of(node),
        category=None if cost is None else cost.category,
        flops=None if cost is None else cost.flops, mac=None if cost is None else cost.mac,
        mac_bytes=None if cost is None else cost.mac_bytes,
        parallelism=None if cost is None else cost.parallelism,
        inputs=tuple(item.tensor.shape for item in node.inputs),
        outputs=tuple(tensor.shape for tensor in node.outputs), source=node.source,
    )


class _Layers:
    """Every module that ran, in execution order, with its descendants' ops included; after a
    module's rows, the row of the ops its own forward ran outside its children, if any.

    An op belongs to the module whose call it ran in and to that module's ancestors by path, so
    the rows of one depth never count an op twice, a shared module's ops land in its own row,
    and a ModuleList (never called itself) still sums up the layers in it. Block figures are
    per call, over every op that ran while the call was on the stack.
    """

    def __init__(self, graph: OpGraph, costs: Sequence[OpCost | None]) -> None:
        self.graph = graph
        self.costs = costs
        self.categories = [None if cost is None else cost.category for cost in costs]
        self.macs = [None if cost is None else cost.mac for cost in costs]
        self.sources = compute_sources(graph, self.categories)
        self.table = OpTable(self.categories, self.macs, self.sources)
        self.module_members: dict[str, list[int]] = {}
        for call in graph.calls:  # calls are numbered in execution order
            for path in module_ancestors(call.module):
                self.module_members.setdefault(path, [])
        self.own: dict[str, list[int]] = defaultdict(list)
        for node in graph.nodes:
            module = graph.module_of(node)
            self.own[module].append(node.index)
            for path in module_ancestors(module):
                self.module_members[path].append(node.index)
        self.calls_of: dict[str, list[int]] = defaultdict(list)
        for call in graph.calls:
            self.calls_of[call.module].append(call.index)
        self.params = graph.subtree_params()
        self.modules = {module.path: module for module in graph.modules}
        self.parents = {path.rpartition(".")[0] for path in self.module_members if path}

    def build(self) -> tuple[tuple[LayerRecord, ...], dict[str, tuple[int, ...]],
                             dict[str, tuple[tuple[int, ...], ...]]]:
        layers: list[LayerRecord] = []
        members: dict[str, tuple[int, ...]] = {}
        per_call: dict[str, tuple[tuple[int, ...], ...]] = {}
        for name, indices in self.module_members.items():
            calls = self.calls_of.get(name, [])
            # A container that is never called is one block made of everything inside it.
            blocks = [self.graph.call_members[c] for c in calls] if calls else [indices]
            layers.append(self._record(name, indices, blocks, module_depth(name),
                                       self.params[name]))
            members[name], per_call[name] = tuple(indices), tuple(map(tuple, blocks))
        for name in reversed(list(self.module_members)):
            own = self.own.get(name, [])
            if not own or name not in self.parents or not any(
                    is_kernel(self.costs[i]) for i in own):
                continue
            row = own_row_name(name, self.modules[name].type)
            in_call = {index: call for call in self.calls_of[name]
                       for index in self.graph.call_members[call]}
            blocks = [[i for i in own if in_call.get(i) == call] for call in self.calls_of[name]]
            record = self._record(row, own, blocks, module_depth(name) + 1,
                                  self.modules[name].params, forward_of=name)
            layers.insert(self._after_subtree(layers, name), record)
            members[row], per_call[row] = tuple(own), tuple(map(tuple, blocks))
        return tuple(layers), members, per_call

    def _record(self, name: str, indices: Sequence[int], blocks: Sequence[Sequence[int]],
                depth: int, params: int, forward_of: str | None = None) -> LayerRecord:
        module = forward_of if forward_of is not None else name
        calls = self.calls_of.get(module, [])
        member_costs = [self.costs[i] for i in indices]
        flops, mac, mac_bytes, parallelism = _roll_up(member_costs)
        return LayerRecord(
            name=name, type=self.modules[module].type, depth=depth, calls=len(calls),
            params=params, flops=flops, mac=mac, mac_bytes=mac_bytes,
            parallelism=parallelism,
            block=self.table.figures(blocks),
            source=self.graph.calls[calls[0]].source if calls else None, forward_of=forward_of)

    @staticmethod
    def _after_subtree(layers: list[LayerRecord], name: str) -> int:
        """The position after the last row of the module and its descendants."""
        prefix = f"{name}." if name else ""
        last = max(i for i, layer in enumerate(layers)
                   if layer.name == name or layer.name.startswith(prefix))
        return last + 1


def _roll_up(costs: Iterable[OpCost | None]) -> tuple[int, int, int, int]:
    """Summed FLOPs, MAC and MAC bytes, and the mean parallelism per kernel launched: how well,
    on average, one launch can fill a device. One pass: every module's row reads its ops."""
    flops = mac = mac_bytes = work = kernels = 0
    for cost in costs:
        if cost is not None:
            flops += cost.flops
            mac += cost.mac
            mac_bytes += cost.mac_bytes
            if cost.kernel:
                work += cost.parallelism
                kernels += 1
    return flops, mac, mac_bytes, round(work / kernels) if kernels else 0


def _totals(graph: OpGraph, costs: Sequence[OpCost | None]) -> Totals:
    flops, mac, mac_bytes, parallelism = _roll_up(costs)
    kernels = sum(1 for cost in costs if is_kernel(cost))
    by_category = []
    for category in Category:
        members = [cost for cost in costs if cost is not None and cost.category is category]
        if members:
            f, m, b, _ = _roll_up(members)
            by_category.append(CategoryTotals(category.value, len(members), f, m, b))
    return Totals(
        flops=flops, mac=mac, mac_bytes=mac_bytes, params=graph.params, kernels=kernels,
        parallelism=parallelism, by_category=tuple(by_category),
    )


def _unsupported(ops: Sequence[OpRecord]) -> tuple[UnsupportedOp, ...]:
    calls: dict[str, int] = defaultdict(int)
    modules: dict[str, dict[str, None]] = defaultdict(dict)
    for op in ops:
        if op.supported:
            continue
        calls[op.op] += 1
        modules[op.op][op.module] = None
    return tuple(UnsupportedOp(op, calls[op], tuple(modules[op])) for op in calls)
