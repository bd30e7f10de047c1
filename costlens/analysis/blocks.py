"""A module as a building block: fragments, branch width, kernels, element-wise MAC share.

These are the paper's G3 and G4 quantities. Fragments and branches are taken per call (a block
called twice is not twice as fragmented) and the largest call is reported. Which ops count as
fragments, compute, element-wise or data movement is the category's to say (costs.Category).
"""
from __future__ import annotations

from collections import Counter
from typing import Sequence

from ..costs import OpCost, is_kernel
from ..graph import OpGraph
from .result import BlockFigures


def compute_sources(graph: OpGraph, costs: Sequence[OpCost | None]) -> list[tuple[int, ...]]:
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
            if _is_compute(costs[producer]):
                found.add(producer)
            else:
                found.update(sources[producer])
        sources.append(tuple(sorted(found)))
    return sources


def call_figures(members: Sequence[int], costs: Sequence[OpCost | None],
                 sources: Sequence[tuple[int, ...]]) -> tuple[int, int, int]:
    """(fragments, branches, kernels) of one call, from the ops that ran inside it.

    Branches: the most compute ops at one depth of the call's DAG of compute ops, i.e. that
    could run at once; the paper's parallel fragments (Table 3), an Inception block's towers.
    """
    compute = [index for index in members if _is_compute(costs[index])]
    inside = set(compute)
    fragments = 0
    level: dict[int, int] = {}
    width: Counter[int] = Counter()
    for index in compute:  # execution order is a topological order
        cost = costs[index]
        fragments += cost is not None and cost.category.is_fragment
        level[index] = 1 + max((level[s] for s in sources[index] if s in inside), default=0)
        width[level[index]] += 1
    kernels = sum(1 for index in members if is_kernel(costs[index]))
    return fragments, max(width.values(), default=0), kernels


def _is_compute(cost: OpCost | None) -> bool:
    return cost is not None and cost.category.is_compute


def block_figures(per_call: Sequence[tuple[int, int, int]], members: Sequence[int],
                  costs: Sequence[OpCost | None]) -> BlockFigures:
    fragments = max((f for f, _, _ in per_call), default=0)
    branches = max((b for _, b, _ in per_call), default=0)
    kernels = max((k for _, _, k in per_call), default=0)
    mac = elementwise = movement = 0
    for index in members:
        cost = costs[index]
        if cost is None:
            continue
        mac += cost.mac
        if cost.category.is_elementwise:
            elementwise += cost.mac
        elif cost.category.is_movement:
            movement += cost.mac
    return BlockFigures(fragments, branches, kernels, elementwise / mac if mac else 0.0,
                        movement / mac if mac else 0.0)
