"""The memory a run holds: the bytes of tensors live while each op runs, by liveness over the op
graph in execution order, as an eager PyTorch run allocates and frees them.

Weights, buffers, the inputs and an optimizer's state are held throughout. Every other tensor is
an op's output: its storage is allocated when the op runs, unless the op is a view or writes in
place (the output shares its input's storage, counted once however many views it has), and
freed after the last op that reads it, or any view of it, unless the call leaves it behind (its
outputs, a training step's gradients), and not before the module call it was passed to returns:
the caller's frame holds its arguments (a Sequential's `input`) until then. In a training step
the activations autograd saves for backward are exactly those its backward ops read, so they
live until then. What a kernel
allocates for itself (a convolution's workspace) is not seen, nor what the allocator rounds up.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Hashable, Sequence

from ..graph import OpGraph, OpInput, OpNode, Phase, TensorMeta

StorageKey = Hashable


@dataclass(frozen=True)
class Memory:
    """`live[i]`: bytes live while op i runs (held ones included); `held`: bytes held
    throughout; `saved[i]`: in a training step, the bytes of op i's outputs that the backward
    reads (0 otherwise); `allocations`: each storage an op allocates, as (bytes, the op that
    allocates it, the last op it lives through), in the order the ops allocate them: the
    stream an allocator serves (latency/allocator.py)."""

    live: tuple[int, ...]
    held: int
    saved: tuple[int, ...]
    allocations: tuple[tuple[int, int, int], ...] = ()

    def peak(self, indices: Sequence[int] | None = None) -> int:
        """The most bytes live while any of the ops run (all of them by default)."""
        if indices is None:
            return max(self.live, default=self.held)
        return max(map(self.live.__getitem__, indices), default=self.held)


def memory(graph: OpGraph) -> Memory:
    nodes = graph.nodes
    held: dict[StorageKey, int] = {}  # storages held throughout, by key: their bytes
    fresh: dict[StorageKey, list[int]] = {}  # op outputs: [bytes, first op, last op]
    outputs: list[list[StorageKey]] = []  # per op, the storage of each output
    saved_by: dict[StorageKey, bool] = {}  # read by a backward op

    def storage(item: OpInput) -> StorageKey:
        if item.producer is not None:
            made = outputs[item.producer]
            return made[_output_index(nodes[item.producer], item.tensor)] if made else \
                ("empty", item.producer)
        key = ("origin", item.origin) if item.origin is not None else (
            "constant", item.tensor.shape, item.tensor.stride, item.tensor.dtype)
        held[key] = max(held.get(key, 0), _bytes(item.tensor))
        return key

    statements = _Statements(graph)
    for node in nodes:
        read = [storage(item) for item in node.inputs]
        forward = node.phase is Phase.FORWARD
        held_until = statements.of(node) if forward else ()
        for key in read:
            entry = fresh.get(key)
            if entry is None:
                continue
            last = node.index
            # an argument made before a statement lives until the statement is done; the
            # statements nest, innermost first, so the ones it was made before come first
            for start, end in held_until:
                if entry[1] >= start:
                    break
                last = end
            if last > entry[2]:
                entry[2] = last
            if not forward and node.phase is Phase.BACKWARD:
                saved_by[key] = True
        shared = _aliased_input(node)
        made = []
        for position, tensor in enumerate(node.outputs):
            if shared is not None and read:
                made.append(read[shared])
            else:
                key = ("op", node.index, position)
                fresh[key] = [_bytes(tensor), node.index, node.index]
                made.append(key)
        outputs.append(made)
    end = len(nodes) - 1
    for item in graph.held:
        key = storage(item)
        if key in fresh:
            fresh[key][2] = end
    held_bytes = sum(held.values())
    change = [0] * (len(nodes) + 1)
    saved = [0] * len(nodes)
    for key, (size, first, last) in fresh.items():
        change[first] += size
        change[last + 1] -= size
        if saved_by.get(key) and nodes[first].phase is Phase.FORWARD:
            saved[first] += size
    live, running = [], held_bytes
    for index in range(len(nodes)):
        running += change[index]
        live.append(running)
    return Memory(tuple(live), held_bytes, tuple(saved),
                  tuple((size, first, last) for size, first, last in fresh.values()))


class _Statements:
    """The statements of the forwards, as far as the trace can tell them: in each module's
    forward, a run of consecutive ops and module calls issued from one line of the model's
    code (its `site`, an installed model's too). Python
    keeps what a statement reads alive until the statement is done, whatever reads it last:
    in `out = self.bn(self.conv(out))` the old `out` lives until the assignment, through the
    conv and the batch norm; in `return self.relu(out + identity)` the sum's inputs live
    through the activation; and a module call's arguments live until it returns."""

    def __init__(self, graph: OpGraph) -> None:
        forward = [node.phase is Phase.FORWARD for node in graph.nodes]
        spans = []  # each call's first and last forward op; (-1, -1) when it ran none
        for members in graph.call_members:
            ahead = [index for index in members if forward[index]] if graph.step else members
            spans.append((ahead[0], ahead[-1]) if ahead else (-1, -1))
        items: dict[int | None, list[tuple[int, int, object, int]]] = {}
        for node in graph.nodes:  # a module's own ops (keyed by -1 - index), then its calls
            if forward[node.index]:
                items.setdefault(node.call, []).append(
                    (node.index, node.index, node.site or node.source, -1 - node.index))
        for call in graph.calls:
            first, last = spans[call.index]
            if last >= 0:
                items.setdefault(call.parent, []).append(
                    (first, last, call.site or call.source, call.index))
        span: dict[int, tuple[int, int]] = {}
        for members in items.values():
            members.sort(key=lambda item: item[0])
            start = 0
            for end in range(1, len(members) + 1):
                if end == len(members) or members[end][2] is None \
                        or members[end][2] != members[start][2]:
                    statement = (members[start][0], max(item[1] for item in members[start:end]))
                    for item in members[start:end]:
                        span[item[3]] = statement
                    start = end
        self.span = span
        # per call, the statements it and the calls around it run in, innermost first
        self.around: list[list[tuple[int, int]]] = []
        for call in graph.calls:
            outer = self.around[call.parent] if call.parent is not None else []
            self.around.append(([span[call.index]] if call.index in span else []) + outer)

    def of(self, node: OpNode) -> list[tuple[int, int]]:
        """The spans of the statements the op runs in, at every level of module calls."""
        return [self.span[-1 - node.index], *self.around[node.call]]


def _aliased_input(node: OpNode) -> int | None:
    """Which input's storage the op's outputs share: a view's, an in-place op's `self`, an
    out= variant's `out`; None when it allocates its outputs."""
    for position, item in enumerate(node.inputs):
        if item.arg == "out" or item.arg.startswith("out["):
            return position
    if node.view or node.packet.endswith("_") or node.packet in _UNMARKED_VIEWS:
        for position, item in enumerate(node.inputs):
            if item.arg in ("self", "input"):
                return position
        return 0 if node.inputs else None
    return None


#: Ops whose outputs share their input's storage though their schemas do not say so.
_UNMARKED_VIEWS = frozenset({"aten._unsafe_view", "aten.unsafe_split",
                             "aten.unsafe_split_with_sizes", "aten.unsafe_chunk",
                             "aten.lift_fresh", "aten.alias"})


def _output_index(node: OpNode, tensor: TensorMeta) -> int:
    """Which of the producer's outputs an input is: the same description (the recorder reuses
    it), else an equal one, else the first."""
    for position, output in enumerate(node.outputs):
        if output is tensor:
            return position
    for position, output in enumerate(node.outputs):
        if output == tensor:
            return position
    return 0


def _bytes(tensor: TensorMeta) -> int:
    return tensor.footprint * tensor.itemsize
