"""What an inference engine fuses: batch norm folded into the conv before it, an activation
fused into the op that alone feeds it. Used by the estimate's `fuse` view."""
from __future__ import annotations

from typing import Sequence

from ..costs import Category, is_activation
from ..graph import OpGraph, OpNode

_FOLDABLE_NORMS = ("aten.native_batch_norm", "aten._native_batch_norm_legit_no_training",
                   "aten.batch_norm", "aten.cudnn_batch_norm", "aten.miopen_batch_norm")
_NORM_HOSTS = frozenset({Category.CONV, Category.DEPTHWISE})
_ACTIVATION_HOSTS = frozenset({Category.CONV, Category.DEPTHWISE, Category.MATMUL})


def fused_ops(graph: OpGraph, categories: Sequence[Category | None]) -> dict[int, int]:
    """Ops an inference engine absorbs into the op before them: {absorbed: host}.

    A batch norm is folded into the conv that alone feeds it; an activation is fused into the
    conv, linear, folded norm or tensor add that alone feeds it, through any views between
    them. "Alone" matters: if anything else reads the host's output, the unfused value must
    still be written.
    """
    absorbed: dict[int, int] = {}
    for node in graph.nodes:
        host = _sole_producer(graph, node, categories)
        if host is None:
            continue
        if node.packet in _FOLDABLE_NORMS and categories[host] in _NORM_HOSTS:
            absorbed[node.index] = host
        elif is_activation(node.op) and (
                categories[host] in _ACTIVATION_HOSTS or host in absorbed
                or _is_tensor_add(graph.nodes[host])):
            absorbed[node.index] = absorbed.get(host, host)
    return absorbed


def _sole_producer(graph: OpGraph, node: OpNode,
                   categories: Sequence[Category | None]) -> int | None:
    """The op whose output alone feeds `node`'s first input, looking through views (a
    linear layer's reshapes) that nothing else reads."""
    if not node.inputs:
        return None
    producer = node.inputs[0].producer
    while producer is not None and len(graph.consumers[producer]) == 1:
        if categories[producer] is not Category.VIEW:
            return producer
        inputs = graph.nodes[producer].inputs
        producer = inputs[0].producer if inputs else None
    return None


def _is_tensor_add(node: OpNode) -> bool:
    return node.packet in ("aten.add", "aten.add_") and sum(
        1 for item in node.inputs if item.tensor.numel > 1) == 2
