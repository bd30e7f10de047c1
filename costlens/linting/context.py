"""What a rule sees: one target's Analysis, its option values, the view it is judged in and,
with a platform profile, the latency estimate; and the questions rules ask of them, answered
once here."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property
from typing import Any, Iterable, Iterator, Mapping

from ..analysis import Analysis, LayerRecord, OpRecord
from ..costs import Category
from ..graph import OpNode
from ..latency.classes import KernelClass
from ..latency.estimate import LatencyEstimate
from ..latency.fusion import fused_ops
from ..latency.profile import Profile
from ..latency.roofline import fixed_cost, op_seconds


class View(str, Enum):
    """How the network is judged: as an inference engine or torch.compile runs it (batch norm
    folded into the conv before it, activations fused into the op before them), or as
    PyTorch runs it eagerly, op by op."""

    FUSED = "fused"
    EAGER = "eager"


@dataclass(frozen=True)
class RuleContext:
    """One target's Analysis, one rule's option values and the view; with a platform profile,
    the latency estimate on it."""

    analysis: Analysis
    options: Mapping[str, Any]
    latency: LatencyEstimate | None = None
    profile: Profile | None = None
    view: View = field(default=View.FUSED)

    @cached_property
    def fusable(self) -> frozenset[int]:
        """Ops an inference engine absorbs into the op before them, whatever the view."""
        return frozenset(fused_ops(self.analysis.graph, [op.category for op in self.analysis.ops]))

    @cached_property
    def absorbed(self) -> frozenset[int]:
        """Ops that cost nothing in this view: the fusable ones in the fused view."""
        return self.fusable if self.view is View.FUSED else frozenset()

    def seconds(self, ops: list[OpRecord]) -> float:
        """The estimated time of the ops (0 without a platform)."""
        if self.latency is None:
            return 0.0
        return sum(self.latency.ops[op.index].seconds for op in ops)

    def time_saved(self, op: OpRecord, mac_bytes: int, features: tuple[float, ...],
                   kernel_class: KernelClass | None = None) -> float | None:
        """How much less estimated time `op` would take moving `mac_bytes` in the shape
        `features` describe (classes.shape_features of the layer proposed instead), run as
        `kernel_class` (default: its own), as cold as the op itself runs; None without a
        platform."""
        if self.latency is None or self.profile is None:
            return None
        timed = self.latency.ops[op.index]
        changed = op_seconds(self.profile, kernel_class or timed.kernel_class, op.flops or 0,
                             mac_bytes, op.parallelism or 0, timed.coldness, features)[0]
        return timed.seconds - changed

    def fixed_seconds(self, op: OpRecord) -> float:
        """The part of the op's estimated time that is its fixed cost per op."""
        if self.latency is None or self.profile is None:
            return 0.0
        timed = self.latency.ops[op.index]
        return min(timed.seconds, fixed_cost(self.profile, timed.kernel_class))

    def node(self, op: OpRecord) -> OpNode:
        """The traced op behind a record: its arguments (stride, groups) and tensor shapes."""
        return self.analysis.graph.nodes[op.index]

    def ops(self, category: Category) -> Iterator[tuple[OpRecord, OpNode]]:
        for op in self.analysis.ops:
            if op.category is category:
                yield op, self.node(op)

    def ops_in(self, layer: str) -> list[OpRecord]:
        """The ops a layer's figures count."""
        return self.analysis.ops_in(layer)

    def ops_per_call(self, layer: LayerRecord) -> list[list[OpRecord]]:
        """The layer's ops per call of its module (a container never called: one group of
        everything in it)."""
        return self.analysis.ops_per_call(layer.name)

    def feeds_compute(self, op: OpRecord) -> bool:
        """Whether a compute op (Category.is_compute) uses this op's output, directly or
        through other ops; False for the layer that makes the model's output (a classifier
        head)."""
        return self._downstream_compute[op.index]

    def blocks(self, block_types: tuple[str, ...] = ()) -> list[LayerRecord]:
        """The model's building blocks, innermost first (a block inside another comes before
        it): modules of a class of the user's that the model uses at least twice (a ResNet
        Bottleneck, an Inception block), and modules of the classes named in `block_types`,
        that run two compute ops or more in a call (a conv with its norm and activation is a
        layer, not a block)."""
        named = set(block_types)
        found = [layer for layer in self.analysis.layers
                 if layer.depth > 0 and layer.forward_of is None
                 and (layer.type in named or layer.name in self.repeated)
                 and max((sum(1 for op in call if _is_compute(op)) for call in
                          self.ops_per_call(layer)), default=0) >= 2]
        return sorted(found, key=lambda layer: -layer.depth)

    def own_calls(self, layer: LayerRecord, set_aside: Iterable[str]) -> list[list[OpRecord]]:
        """The layer's ops per call, without the ops of the blocks in `set_aside` (the blocks
        inside it that a rule has flagged already), so that a block is judged on what it adds
        itself; none when what is left runs no compute op (a residual wrapper around flagged
        blocks is not a building block of its own)."""
        inner = tuple(f"{path}." for path in set_aside if path.startswith(f"{layer.name}."))
        calls = [[op for op in call if not (op.module + ".").startswith(inner)]
                 for call in self.ops_per_call(layer)]
        if inner and not any(_is_compute(op) for call in calls for op in call):
            return []  # only the glue between flagged blocks is left: no block of its own
        return calls

    @cached_property
    def _downstream_compute(self) -> list[bool]:
        ops = self.analysis.ops
        consumers = self.analysis.graph.consumers
        downstream = [False] * len(ops)
        for index in range(len(ops) - 1, -1, -1):  # consumers come later in execution order
            downstream[index] = any(_is_compute(ops[c]) or downstream[c]
                                    for c in consumers[index])
        return downstream

    @property
    def repeated(self) -> frozenset[str]:
        return self.analysis.graph.repeated_modules


def _is_compute(op: OpRecord) -> bool:
    return op.category is not None and op.category.is_compute
