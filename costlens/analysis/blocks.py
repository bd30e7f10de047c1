"""A module as a building block: fragments, branch width, kernels, element-wise MAC share.

These are the paper's G3 and G4 quantities. Fragments and branches are taken per call (a block
called twice is not twice as fragmented) and the largest call is reported. Which ops count as
fragments, compute, element-wise or data movement is the category's to say (costs.Category).
The functions read per-op categories and MAC, so the analysis and the rules (which weigh a
block without the ops of blocks inside it) compute the figures the same way.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Sequence

from ..costs import Category
from ..graph import OpGraph


@dataclass(frozen=True)
class BlockFigures:
    """A module seen as a building block, per call (the largest over its calls).

    fragments: convolution and pooling ops (Category.is_fragment), the paper's G3 count.
    branches: most compute ops (Category.is_compute) at one depth of the block's DAG of compute
    ops, i.e. that could run at once.
    kernels: ops that launch a kernel (everything but views and allocations).
    elementwise_mac_share / movement_mac_share: the share of the block's MAC spent in
    element-wise ops (Category.is_elementwise: the paper's G4 set, depthwise convolutions and
    normalization included) / in data movement, over all calls.
    """

    fragments: int
    branches: int
    kernels: int
    elementwise_mac_share: float
    movement_mac_share: float


def compute_sources(graph: OpGraph,
                    categories: Sequence[Category | None]) -> tuple[tuple[int, ...], ...]:
    """For each op, the nearest compute ops (Category.is_compute) its inputs come from, looking
    through everything else: the element-wise ops, views and copies between two convolutions
    do not make a branch of their own."""
    sources: list[tuple[int, ...]] = []
    for node in graph.nodes:
        found: set[int] = set()
        for item in node.inputs:
            producer = item.producer
            if producer is None:
                continue
            if _is_compute(categories[producer]):
                found.add(producer)
            else:
                found.update(sources[producer])
        sources.append(tuple(sorted(found)))
    return tuple(sources)


def call_figures(members: Sequence[int], categories: Sequence[Category | None],
                 sources: Sequence[tuple[int, ...]]) -> tuple[int, int, int]:
    """(fragments, branches, kernels) of one call, from the ops that ran inside it.

    Branches: the most compute ops at one depth of the call's DAG of compute ops, i.e. that
    could run at once; the paper's parallel fragments (Table 3), an Inception block's towers.
    An op with no formula (category None) still launches a kernel.
    """
    compute = [index for index in members if _is_compute(categories[index])]
    inside = set(compute)
    fragments = 0
    level: dict[int, int] = {}
    width: Counter[int] = Counter()
    for index in compute:  # execution order is a topological order
        fragments += categories[index].is_fragment  # type: ignore[union-attr]
        level[index] = 1 + max((level[s] for s in sources[index] if s in inside), default=0)
        width[level[index]] += 1
    kernels = sum(1 for index in members
                  if categories[index] is None or categories[index].launches_kernel)
    return fragments, max(width.values(), default=0), kernels


def _is_compute(category: Category | None) -> bool:
    return category is not None and category.is_compute


def block_figures(per_call: Iterable[Sequence[int]], categories: Sequence[Category | None],
                  macs: Sequence[int | None],
                  sources: Sequence[tuple[int, ...]]) -> BlockFigures:
    """The figures of a block from the ops of each of its calls."""
    calls = [list(call) for call in per_call]
    counted = [call_figures(call, categories, sources) for call in calls]
    mac = elementwise = movement = 0
    for index in (index for call in calls for index in call):
        category, op_mac = categories[index], macs[index]
        if category is None or op_mac is None:
            continue
        mac += op_mac
        if category.is_elementwise:
            elementwise += op_mac
        elif category.is_movement:
            movement += op_mac
    return BlockFigures(max((f for f, _, _ in counted), default=0),
                        max((b for _, b, _ in counted), default=0),
                        max((k for _, _, k in counted), default=0),
                        elementwise / mac if mac else 0.0, movement / mac if mac else 0.0)
