"""One registry of shape-only cost formulas, keyed by aten op.

A formula sees an OpNode (shapes, dtypes, non-tensor arguments), never a tensor, so every count
can be checked by hand and nothing here depends on torch. Lookup goes from the most specific key
to the most general: the overload (`aten.add.Tensor`), the op (`aten.add`), the out-of-place op
for an in-place one (`aten.relu_` -> `aten.relu`), then torch's own op tags (`pointwise`,
`reduction`). An op that matches nothing has no cost: it is reported as unsupported, never
counted as zero.

Formulas users add (user.py: `costlens.register_formula`, the `costlens.formulas` entry points,
`analyze(..., formulas=...)`) sit in two layers above the built-in ones, searched first with the
same keys: those given for the current call (a context variable), then those registered for the
process. The built-in table itself is never changed.
"""
from __future__ import annotations

import functools
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

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

# The user's layers: formulas registered for the process, and those of the current call
# (`analyze(..., formulas=...)`), which shadow them. Only user.py changes them.
USER_FORMULAS: dict[str, Formula] = {}
SCOPED_FORMULAS: ContextVar[Mapping[str, Formula]] = ContextVar("costlens_scoped_formulas",
                                                                default={})
# Run once before the first lookup (the entry-point formulas); one that raises stays to raise
# again at the next lookup, so that a broken plugin is never silently left out.
_LOADERS: list[Callable[[], None]] = []

VIEW_COST = OpCost(0, 0, 0, 0, Category.VIEW)


def formula(*ops: str) -> Callable[[Formula], Formula]:
    """Register a formula for ops given as `namespace.op` or `namespace.op.overload`."""
    def register(function: Formula) -> Formula:
        for op in ops:
            if op in _FORMULAS:
                raise ValueError(f"two formulas for {op}")
            _FORMULAS[op] = function
        _builtin.cache_clear()
        return function
    return register


def tag_formula(tag: str) -> Callable[[Formula], Formula]:
    """Register the formula for ops torch tags with `tag` that no specific formula covers."""
    def register(function: Formula) -> Formula:
        _BY_TAG[tag] = function
        _builtin.cache_clear()
        return function
    return register


def add_loader(loader: Callable[[], None]) -> None:
    """Run `loader` before the next lookup (once, unless it raises)."""
    _LOADERS.append(loader)


def run_loaders() -> None:
    """Run the pending loaders now; a loader that registers formulas may look some up."""
    while _LOADERS:
        loader = _LOADERS.pop(0)
        try:
            loader()
        except BaseException:
            _LOADERS.insert(0, loader)
            raise


def lookup(op: str, tags: Iterable[str] = (), view: bool = False) -> Formula | None:
    if view or "inplace_view" in tags:
        return _view_formula
    if _LOADERS:
        run_loaders()
    scoped = SCOPED_FORMULAS.get()
    if scoped or USER_FORMULAS:
        found = _search(op, (scoped, USER_FORMULAS))
        if found is not None:
            return found
    return _builtin(op, tuple(tags))


@functools.lru_cache(maxsize=None)
def _builtin(op: str, tags: tuple[str, ...]) -> Formula | None:
    """The built-in formula of an op: asked for every op a trace records, twice (is_known,
    cost_of), and the built-in table is fixed once costs/ is imported."""
    found = _search(op, (_FORMULAS,))
    if found is not None:
        return found
    for tag in tags:
        if tag in _BY_TAG:
            return _BY_TAG[tag]
    return None


def _search(op: str, layers: Iterable[Mapping[str, Formula]]) -> Formula | None:
    """The first formula of the layers under the op's overload, the op, or the out-of-place op
    of an in-place one."""
    packet = op.rsplit(".", 1)[0]
    keys = (op, packet, packet[:-1] if packet.endswith("_") else None)
    for formulas in layers:
        if formulas:
            for key in keys:
                if key is not None and key in formulas:
                    return formulas[key]
    return None


def is_known(op: str, tags: tuple[str, ...]) -> bool:
    return lookup(op, tags) is not None


def registered(key: str) -> list[tuple[str, Formula]]:
    """The formulas of every layer that already cost what `key` (`namespace.op` or
    `namespace.op.overload`) names: one under the key; for an overload, its op's; for an
    in-place op, the out-of-place op's (as lookup finds them); for an op, any of its
    overloads'. Each with its key, the call's layer first, built-ins last."""
    op = key if key.count(".") == 1 else key.rsplit(".", 1)[0]
    covering = {key, op, op[:-1] if op.endswith("_") else op}
    found = []
    for formulas in (SCOPED_FORMULAS.get(), USER_FORMULAS, _FORMULAS):
        found.extend((name, function) for name, function in formulas.items()
                     if name in covering or (op == key and name.startswith(key + ".")))
    return found


def cost_of(node: OpNode) -> OpCost | None:
    """The node's cost, or None when no formula covers its op. An op recorded with its
    decomposition (no formula covered it when it was traced) is costed through it, unless the
    user has given it a formula since."""
    if node.parts:
        if _LOADERS:
            run_loaders()
        if _search(node.op, (SCOPED_FORMULAS.get(), USER_FORMULAS)) is None:
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
