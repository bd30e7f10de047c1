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


class OpTable:
    """What block figures need of each op, read off its category once: whether it is a compute
    op, a fragment, a kernel, and its MAC in all, element-wise and in data movement. Every
    module's figures walk its ops' indices, so the analysis and the rules (which weigh a block
    without the ops of blocks inside it) compute them the same way, and fast."""

    def __init__(self, categories: Sequence[Category | None], macs: Sequence[int | None],
                 sources: Sequence[tuple[int, ...]],
                 forward: Sequence[bool] | None = None) -> None:
        """`forward` marks the ops of a training step's forward: only those make the block's
        structure (its fragments and branches); its kernels and MAC count every op."""
        self.sources = sources
        forward = forward if forward is not None else [True] * len(categories)
        self.compute = [category is not None and category.is_compute and ahead
                        for category, ahead in zip(categories, forward)]
        self.fragment = [category is not None and category.is_fragment and ahead
                         for category, ahead in zip(categories, forward)]
        # an op with no formula (category None) still launches a kernel
        self.kernel = [category is None or category.launches_kernel for category in categories]
        self.mac = [0 if category is None or mac is None else mac
                    for category, mac in zip(categories, macs)]
        self.elementwise_mac = [mac if category is not None and category.is_elementwise else 0
                                for category, mac in zip(categories, self.mac)]
        self.movement_mac = [mac if category is not None and category.is_movement else 0
                             for category, mac in zip(categories, self.mac)]

    def call_figures(self, members: Sequence[int]) -> tuple[int, int, int]:
        """(fragments, branches, kernels) of one call, from the ops that ran inside it.

        Branches: the most compute ops at one depth of the call's DAG of compute ops, i.e.
        that could run at once; the paper's parallel fragments (Table 3), an Inception block's
        towers.
        """
        compute, fragment, kernel, sources = self.compute, self.fragment, self.kernel, self.sources
        level: dict[int, int] = {}
        width: Counter[int] = Counter()
        fragments = kernels = 0
        for index in members:  # execution order is a topological order
            kernels += kernel[index]
            if compute[index]:
                fragments += fragment[index]
                depth = 1 + max((level[s] for s in sources[index] if s in level), default=0)
                level[index] = depth
                width[depth] += 1
        return fragments, max(width.values(), default=0), kernels

    def figures(self, per_call: Iterable[Sequence[int]]) -> BlockFigures:
        """The figures of a block from the ops of each of its calls."""
        fragments = branches = kernels = mac = elementwise = movement = 0
        for call in per_call:
            call_fragments, call_branches, call_kernels = self.call_figures(call)
            fragments = max(fragments, call_fragments)
            branches = max(branches, call_branches)
            kernels = max(kernels, call_kernels)
            mac += sum(self.mac[index] for index in call)
            elementwise += sum(self.elementwise_mac[index] for index in call)
            movement += sum(self.movement_mac[index] for index in call)
        return BlockFigures(fragments, branches, kernels, elementwise / mac if mac else 0.0,
                            movement / mac if mac else 0.0)


def _is_compute(category: Category | None) -> bool:
    return category is not None and category.is_compute
