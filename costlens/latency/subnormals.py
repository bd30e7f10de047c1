"""Attention masks that make a CPU compute on subnormal numbers.

Swin's shifted windows mask the pairs of tokens the shift brought together by adding -100 to
their scores. The softmax weights of those pairs come out near e^-100, below float32's smallest
normal number (e^-87.3) but above its smallest subnormal (e^-103.3): subnormal. An x86 core
takes a microcode assist for every instruction that meets one, so the softmax and the product
of those weights with the values run many times slower: on this project's build machine a
window attention's product 7 times slower with a third of its weights subnormal, 2.5 ns more per
multiply-add with a subnormal weight, however the product is shaped. A mask of -inf, or of
-1e4, leaves exact zeros instead, which cost nothing extra.

The trace keeps no values, so it records, per floating buffer of the model, the share of its
entries in that band (OpGraph.subnormal_exp). A mask reaches the attention from such a buffer
through ops that keep its entries where they are or shift them a little (a bias added, a view,
an expand); the share of subnormal weights is then the buffer's, and the profile's
subnormal_exp_s and subnormal_mac_s price them.
"""
from __future__ import annotations

from ..graph import OpGraph, OpInput

#: ops a mask passes through on its way to the attention with its entries in place or shifted
#: by a bounded bias: views, broadcasts, copies and sums
_KEEPS_ENTRIES = frozenset({
    "add", "add_", "sub", "view", "_unsafe_view", "reshape", "expand", "unsqueeze", "squeeze",
    "clone", "contiguous", "repeat", "_to_copy", "to", "permute", "transpose", "slice",
    "select", "masked_fill", "alias", "copy"})
_DEPTH = 16  # producers followed back from a mask at most


def subnormal_share(graph: OpGraph, item: OpInput | None) -> float:
    """The share of `item`'s entries whose exponential is subnormal: the largest share of a
    buffer it comes from (0 when it comes from none that has any)."""
    shares = dict(graph.subnormal_exp)
    if item is None or not shares:
        return 0.0
    return _share(graph, item, shares, _DEPTH)


def _share(graph: OpGraph, item: OpInput, shares: dict[str, float], depth: int) -> float:
    if item.origin is not None and item.origin.startswith("buffer:"):
        return shares.get(item.origin.removeprefix("buffer:"), 0.0)
    if item.producer is None or depth == 0:
        return 0.0
    producer = graph.nodes[item.producer]
    if producer.packet.removeprefix("aten.") not in _KEEPS_ENTRIES:
        return 0.0
    return max((_share(graph, source, shares, depth - 1) for source in producer.inputs),
               default=0.0)
