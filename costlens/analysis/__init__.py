"""From an op graph to per-op, per-layer and total figures: the Analysis every reporter reads."""
from __future__ import annotations

import dataclasses
from collections import defaultdict
from typing import Iterable, Sequence

from ..costs import Category, OpCost, cost_of, is_kernel
from ..graph import OpGraph, Phase, module_ancestors, module_depth
from .blocks import OpTable, compute_sources
from .memory import Memory, memory
from .result import (
    Analysis,
    BlockFigures,
    CategoryTotals,
    LayerRecord,
    OpRecord,
    PhaseFigures,
    Totals,
    UnsupportedOp,
)

__all__ = ["Analysis", "BlockFigures", "LayerRecord", "OpRecord", "PhaseFigures", "Totals",
           "UnsupportedOp", "analyze_graph", "forward_analysis", "own_row_name"]


def analyze_graph(graph: OpGraph) -> Analysis:
    costs = [cost_of(node) for node in graph.nodes]
    ops = tuple(_op_record(graph, index, cost) for index, cost in enumerate(costs))
    held = memory(graph)
    builder = _Layers(graph, costs, held)
    layers, members, per_call = builder.build()
    called = {layer.name for layer in layers}
    return Analysis(
        graph=graph, totals=_totals(graph, costs, held), layers=layers, ops=ops,
        unsupported_ops=_unsupported(ops),
        uncalled_modules=tuple(m.path for m in graph.modules if m.path not in called),
        members=members, members_per_call=per_call, sources=builder.sources,
        allocations=held.allocations,
    )


def forward_analysis(analysis: Analysis) -> Analysis:
    """The forward of a training step's analysis (the analysis itself for a forward pass): its
    ops come first in execution order, so cutting the graph there keeps every data edge. The
    guidelines judge the architecture on this; budgets the whole step."""
    graph = analysis.graph
    if graph.step is None:
        return analysis
    forward = tuple(node for node in graph.nodes if node.phase is Phase.FORWARD)
    outputs = tuple(item for item in graph.held
                    if item.producer is None or item.producer < len(forward))
    return analyze_graph(dataclasses.replace(graph, nodes=forward, step=None, held=outputs))


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
        phase=node.phase.value,
    )


class _Layers:
    """Every module that ran, in execution order, with its descendants' ops included; after a
    module's rows, the row of the ops its own forward ran outside its children, if any.

    An op belongs to the module whose call it ran in and to that module's ancestors by path, so
    the rows of one depth never count an op twice, a shared module's ops land in its own row,
    and a ModuleList (never called itself) still sums up the layers in it. Block figures are
    per call, over every op that ran while the call was on the stack.
    """

    def __init__(self, graph: OpGraph, costs: Sequence[OpCost | None], held: Memory) -> None:
        self.graph = graph
        self.costs = costs
        self.memory = held
        self.categories = [None if cost is None else cost.category for cost in costs]
        self.macs = [None if cost is None else cost.mac for cost in costs]
        self.sources = compute_sources(graph, self.categories)
        self.forward = [node.phase is Phase.FORWARD for node in graph.nodes]
        self.table = OpTable(self.categories, self.macs, self.sources, self.forward)
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
            source=self.graph.calls[calls[0]].source if calls else None, forward_of=forward_of,
            phases=_phases(self.graph, indices, self.costs),
            peak_bytes=self.memory.peak(indices), saved_bytes=_saved(self.graph, self.memory,
                                                                     indices))

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


def _saved(graph: OpGraph, held: Memory, indices: Iterable[int]) -> int | None:
    """A training step's activations its ops made that the backward reads; None for a
    forward pass."""
    return None if graph.step is None else sum(held.saved[i] for i in indices)


def _totals(graph: OpGraph, costs: Sequence[OpCost | None], held: Memory) -> Totals:
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
        phases=_phases(graph, range(len(costs)), costs), peak_bytes=held.peak(),
        saved_bytes=_saved(graph, held, range(len(costs))),
    )


def _phases(graph: OpGraph, indices: Iterable[int],
            costs: Sequence[OpCost | None]) -> tuple[PhaseFigures, ...]:
    """Per phase of a training step, the summed figures of the ops (none for a forward pass);
    every phase the step ran is listed, with zeros where these ops ran none of it."""
    if graph.step is None:
        return ()
    sums = {phase: [0, 0, 0] for phase in _step_phases(graph)}
    nodes = graph.nodes
    for index in indices:
        cost = costs[index]
        if cost is not None:
            figures = sums[nodes[index].phase]
            figures[0] += cost.flops
            figures[1] += cost.mac
            figures[2] += cost.mac_bytes
    return tuple(PhaseFigures(phase.value, *figures) for phase, figures in sums.items())


def _step_phases(graph: OpGraph) -> tuple[Phase, ...]:
    return (Phase.FORWARD, Phase.BACKWARD) if graph.step == "backward" else tuple(Phase)


def _unsupported(ops: Sequence[OpRecord]) -> tuple[UnsupportedOp, ...]:
    calls: dict[str, int] = defaultdict(int)
    modules: dict[str, dict[str, None]] = defaultdict(dict)
    for op in ops:
        if op.supported:
            continue
        calls[op.op] += 1
        modules[op.op][op.module] = None
    return tuple(UnsupportedOp(op, calls[op], tuple(modules[op])) for op in calls)
