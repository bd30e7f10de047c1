"""A module as a building block: fragments, branch width, kernels, element-wise MAC share.

These are the paper's G3 and G4 quantities. Fragments and branches are taken per call (a block
called twice is not twice as fragmented) and the largest call is reported.
"""
from __future__ import annotations

from collections import Counter
from typing import Sequence

from ..costs import Category, OpCost, is_kernel
from ..graph import OpGraph
from .result import BlockFigures

_FRAGMENT_CATEGORIES = frozenset({Category.CONV, Category.POOLING})
_ELEMENTWISE_CATEGORIES = frozenset({Category.ELEMENTWISE, Category.NORMALIZATION})


def kernel_sources(graph: OpGraph, costs: Sequence[OpCost | None]) -> list[tuple[int, ...]]:
    """For each op, the kernels its inputs come from, looking through views (a view launches
    nothing, so an op reading a view depends on whatever kernel wrote the data)."""
    sources: list[tuple[int, ...]] = []
    for node in graph.nodes:
        found: set[int] = set()
        for item in node.inputs:
            producer = item.producer
            if producer is None:
                continue
            if is_kernel(costs[producer]):
                found.add(producer)
            else:
                found.update(sources[producer])
        sources.append(tuple(sorted(found)))
    return sources


def call_figures(members: Sequence[int], costs: Sequence[OpCost | None],
                 sources: Sequence[tuple[int, ...]], has_inputs: Sequence[bool]
                 ) -> tuple[int, int, int]:
    """(fragments, branches, kernels) of one call, from the ops that ran inside it."""
    kernels = [index for index in members if is_kernel(costs[index])]
    inside = set(kernels)
    fragments = sum(1 for index in kernels
                    if costs[index] is not None and costs[index].category in _FRAGMENT_CATEGORIES)
    level: dict[int, int] = {}
    width: Counter[int] = Counter()
    for index in kernels:  # execution order is a topological order
        level[index] = 1 + max((level[s] for s in sources[index] if s in inside), default=0)
        if has_inputs[index]:  # constants and allocations could be hoisted: they are no branch
            width[level[index]] += 1
    return fragments, max(width.values(), default=0), len(kernels)


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
        if cost.category in _ELEMENTWISE_CATEGORIES:
            elementwise += cost.mac
        elif cost.category is Category.MOVEMENT:
            movement += cost.mac
    return BlockFigures(fragments, branches, kernels, elementwise / mac if mac else 0.0,
                        movement / mac if mac else 0.0)
