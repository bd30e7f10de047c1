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

Calibration spreads its subnormal weights evenly, so at N threads its price is about a Nth of
the one-thread price. A real mask is not even: Swin's shifted windows mask the windows on the
border of the grid, and the threads, which take contiguous runs of the batch, get about 70% and
30% of the subnormal weights at two threads (its masked products took 13.8 ms under torch's
profiler here against 9.2 ms priced evenly). The trace also records where in the buffer the
subnormal entries lie (OpGraph.subnormal_exp), and the slowest thread's share sets the price.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..graph import OpGraph, OpInput

#: ops a mask passes through on its way to the attention with its entries in place or shifted
#: by a bounded bias: views, broadcasts, copies and sums
_KEEPS_ENTRIES = frozenset({
    "add", "add_", "sub", "view", "_unsafe_view", "reshape", "expand", "unsqueeze", "squeeze",
    "clone", "contiguous", "repeat", "_to_copy", "to", "permute", "transpose", "slice",
    "select", "masked_fill", "alias", "copy"})
_DEPTH = 16  # producers followed back from a mask at most


@dataclass(frozen=True)
class SubnormalMask:
    """What reaches an attention's mask from a buffer: the share of its entries whose
    exponential is subnormal, and the shares of those entries in equal runs of the buffer in
    order (OpGraph.subnormal_exp)."""

    share: float = 0.0
    slices: tuple[float, ...] = ()

    def imbalance(self, threads: int, copies: int = 1) -> float:
        """How many times an even split's time the slowest of `threads` threads takes over the
        subnormal entries, when the threads take contiguous runs of the scores' rows: the
        buffer's runs in order, `copies` times over (a batch of maps under one mask). Heads
        that share a mask sit within a run and change nothing."""
        runs = list(self.slices) * copies
        total = sum(runs)
        if threads <= 1 or total <= 0:
            return 1.0
        size, longer = divmod(len(runs), threads)  # the first `longer` threads take one more
        starts = [part * size + min(part, longer) for part in range(threads + 1)]
        return threads * max(sum(runs[start:end])
                             for start, end in zip(starts, starts[1:])) / total


def subnormal_mask(graph: OpGraph, item: OpInput | None) -> SubnormalMask:
    """The mask `item` carries: that of the buffer with the largest share it comes from (none
    when it comes from none that has any)."""
    masks = {name: SubnormalMask(share, runs) for name, share, runs in graph.subnormal_exp}
    if item is None or not masks:
        return SubnormalMask()
    return _source(graph, item, masks, _DEPTH) or SubnormalMask()


def _source(graph: OpGraph, item: OpInput, masks: dict[str, SubnormalMask],
            depth: int) -> SubnormalMask | None:
    if item.origin is not None and item.origin.startswith("buffer:"):
        return masks.get(item.origin.removeprefix("buffer:"))
    if item.producer is None or depth == 0:
        return None
    producer = graph.nodes[item.producer]
    if producer.packet.removeprefix("aten.") not in _KEEPS_ENTRIES:
        return None
    found = [mask for source in producer.inputs
             if (mask := _source(graph, source, masks, depth - 1)) is not None]
    return max(found, key=lambda mask: mask.share, default=None)
