"""One registry of shape-only cost formulas, keyed by aten op.

A formula sees an OpNode (shapes, dtypes, non-tensor arguments), never a tensor, so every count
can be checked by hand and nothing here depends on torch. Lookup goes from the most specific key
to the most general: the overload (`aten.add.Tensor`), the op (`aten.add`), the out-of-place op
for an in-place one (`aten.relu_` -> `aten.relu`), then torch's own op tags (`pointwise`,
`reduction`). An op that matches nothing has no cost: it is reported as unsupported, never
counted as zero.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

from ..graph import OpNode, TensorMeta
from .category import Category


@dataclass(frozen=True)
class OpCost:
    """Cost of one op.

    flops: multiply-adds, one per fused multiply-add, one per other arithmetic op per element.
    mac: memory access cost, elements read plus written (cache assumed to hold everything).
    mac_bytes: the same in bytes, each tensor at its own dtype's size.
    parallelism: independent work items the op exposes: the elements of its (first) output;
    side outputs such as pooling indices or normalization statistics add no parallel work.
    """

    flops: int
    mac: int
    mac_bytes: int
    parallelism: int
    category: Category

    @property
    def kernel(self) -> bool:
        return self.category.launches_kernel


Formula = Callable[[OpNode], OpCost]

_FORMULAS: dict[str, Formula] = {}
_BY_TAG: dict[str, Formula] = {}

VIEW_COST = OpCost(0, 0, 0, 0, Category.VIEW)


def formula(*ops: str) -> Callable[[Formula], Formula]:
    """Register a formula for ops given as `namespace.op` or `namespace.op.overload`."""
    def register(function: Formula) -> Formula:
        for op in ops:
            if op in _FORMULAS:
                raise ValueError(f"two formulas for {op}")
            _FORMULAS[op] = function
        return function
    return register


def tag_formula(tag: str) -> Callable[[Formula], Formula]:
    """Register the formula for ops torch tags with `tag` that no specific formula covers."""
    def register(function: Formula) -> Formula:
        _BY_TAG[tag] = function
        return function
    return register


def lookup(op: str, tags: Iterable[str] = (), view: bool = False) -> Formula | None:
    if view or "inplace_view" in tags:
        return _view_formula
    packet = op.rsplit(".", 1)[0]
    for key in (op, packet, packet[:-1] if packet.endswith("_") else None):
        if key is not None and key in _FORMULAS:
            return _FORMULAS[key]
    for tag in tags:
        if tag in _BY_TAG:
            return _BY_TAG[tag]
    return None


def is_known(op: str, tags: tuple[str, ...]) -> bool:
    return lookup(op, tags) is not None


def cost_of(node: OpNode) -> OpCost | None:
    """The node's cost, or None when no formula covers its op."""
    if node.parts:
        return _decomposed_cost(node)
    function = lookup(node.op, node.tags, node.view)
    return None if function is None else function(node)


def _decomposed_cost(node: OpNode) -> OpCost | None:
    """An op costed through torch's decomposition of it: the arithmetic of its parts, but the
    memory traffic and the single launch of the op itself, which a backend runs as one kernel.
    None when a part has no formula either."""
    parts = [cost_of(part) for part in node.parts]
    if any(part is None for part in parts):
        return None
    known = [part for part in parts if part is not None]
    dominant = max(known, key=lambda part: (part.flops, part.mac), default=None)
    category = Category.ELEMENTWISE if dominant is None or not dominant.kernel \
        else dominant.category
    return measured(node, sum(part.flops for part in known), category)


def is_kernel(cost: OpCost | None) -> bool:
    """Whether an op launches a kernel; one with no formula still ran something, so it does."""
    return cost is None or cost.kernel


def _view_formula(_node: OpNode) -> OpCost:
    return VIEW_COST


def measured(node: OpNode, flops: int, category: Category, *,
             reads: Iterable[TensorMeta] | None = None,
             writes: Iterable[TensorMeta] | None = None) -> OpCost:
    """An OpCost whose MAC counts every input read and every output written once.

    A broadcast input counts its distinct elements only; formulas that read part of an input
    (a gather) or write part of one (a copy into a slice) pass their own `reads` / `writes`.
    """
    if reads is None:  # an out= buffer is written, not read
        reads = [item.tensor for item in node.inputs if not item.arg.startswith("out")]
    writes = list(node.outputs) if writes is None else list(writes)
    mac = mac_bytes = 0
    for tensor in (*reads, *writes):
        elements = tensor.footprint
        mac += elements
        mac_bytes += elements * tensor.itemsize
    parallelism = node.outputs[0].numel if node.outputs else 0
    return OpCost(int(flops), mac, mac_bytes, parallelism, category)


def first_input(node: OpNode) -> TensorMeta:
    """The op's main operand (`self` or `input` in aten schemas, else the first tensor)."""
    for name in ("self", "input"):
        tensor = node.arg(name)
        if tensor is not None:
            return tensor
    return node.inputs[0].tensor
