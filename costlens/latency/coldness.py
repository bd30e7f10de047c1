"""How cold each op of a network runs: between calibration's two regimes, cold (the layer's weights
and code last used a round of other layers ago) and warm (straight after calls of itself).

Two things go cold, and they are reused at different distances. An op's weights are used once per
forward, so whether they are still cached depends on everything the forward touches
(working_set_bytes, against the core's cache). Its kernel's code and the core's state for it
(instruction cache, branch history, page walks) are reused whenever the same kernel runs again: a
batch norm follows every conv of a CNN. Measured here (AMD EPYC, 32 MB L3, one thread; `python
benchmarks/bench_kernel_reuse.py`): a batch norm on 128x28x28 took 35 us straight after a call of
itself and 132 us after a 128 MB copy (calibration's cold figure); with 1x1 convs between its two
calls it stayed warm up to 4 MB written and read, and was 0.12 of the way to cold at 7 MB, 0.33 at
15 MB, 0.53 at 30 MB. Inside MobileNet v2 its batch norms took half their cold estimate. So a
normalization, element-wise op or reduction on one map (the op before has just written it), or on
maps each written within the core's cache's worth of traffic before it (a transformer's residual
add and its norm's scaling, on maps of a few hundred KB), is as cold as its kernel's reuse distance
against the last-level cache says, and never colder than the network: on an Intel Xeon (2 MB L2 a
core) Llama tiny's products and sums of such maps ran at about 0.7x their cold estimate. A conv or
matrix product on one map splits its cold figure's excess over its warm one: moving its weights
from memory (their bytes at the memory bandwidth, at most the whole excess) is as cold as the
network; the rest, its kernel's state, is its own (the same layer runs it again a forward later)
and as cold as the memory the forward holds at its peak says against the last-level cache
(kernel_state_coldness). A big layer's excess is mostly its weights and stays cold; a small one's
is mostly kernel: ShuffleNet v1's grouped 1x1 convs, 77 KB of weights each, took 120 us warm and
194 us cold in calibration on an AMD EPYC and 131 us inside the network. A conv of the same shapes
run straight before leaves a conv nearly warm (ShuffleNet's convs kept 6-11% of their cold excess,
with their weights as cold as after a 128 MB copy), but one a block earlier, as a network's
repeated blocks run it, hardly helps: inside ShuffleNet v1 and v2 a conv shape's repeats ran 0-15%
faster than its first run (`python benchmarks/bench_conv_reuse.py`). Everything else stays at the
network's coldness: an op that also reads a map written longer ago (a CNN's shortcut, a
concatenation) went cold sooner than its kernel's reuse distance says.
"""
from __future__ import annotations

import math
from collections import defaultdict

from ..analysis import Analysis
from ..costs import Category
from ..graph import OpNode
from .classes import KernelClass, kernel_class, writes_over_input
from .profile import Profile

_STREAMING_CLASSES = frozenset({KernelClass.NORMALIZATION, KernelClass.ELEMENTWISE,
                                KernelClass.ELEMENTWISE_INPLACE, KernelClass.REDUCTION})


def working_set_bytes(analysis: Analysis) -> int:
    """The bytes a forward touches between two uses of one of its weights, which decide
    whether the weights are still in cache when the next forward needs them: every weight and
    buffer, once each, and every tensor an op writes. The activations count because they pass
    through the same cache: ShuffleNet v2 0.5x holds 5.5 MB of weights and buffers, and its
    forward writes another 11.8 MB of maps between two uses of any one weight."""
    held: dict[str, int] = {}
    for node in analysis.graph.nodes:
        for item in node.inputs:
            if item.held:
                held[item.origin] = item.tensor.footprint * item.tensor.itemsize
    return sum(held.values()) + sum(_written(analysis))


def op_coldness(analysis: Analysis, profile: Profile, network: float) -> list[float]:
    """Per op (in graph order), its coldness between 0 (warm) and 1 (cold): the `network`'s
    (Profile.coldness of working_set_bytes), or for an op that streams maps still in cache
    (_streams_cached_maps) the lesser of that and its kernel's: kernel_coldness of the bytes the
    forward writes and the weights it reads between two runs of the same aten op (across the
    end of one forward and the start of the next, where the op runs once)."""
    nodes = analysis.graph.nodes
    before = _traffic_before(analysis)
    reuse = _reuse_bytes(analysis, before)
    coldness = [network] * len(nodes)
    for node in nodes:
        if _streams_cached_maps(node, analysis.ops[node.index].category, before,
                                profile.cache_bytes):
            coldness[node.index] = min(
                network, kernel_coldness(reuse[node.index], profile.last_level_cache_bytes))
    return coldness


def kernel_state_coldness(analysis: Analysis, profile: Profile) -> float | None:
    """How cold a conv's or matrix product's kernel state is (kernel_coldness; for the ops
    splits_cold_excess picks): its own, which only the same layer uses again, a forward later,
    after the distinct memory the forward touches in between: about what it holds at its peak
    (weights, buffers and the maps live at once; Totals.peak_bytes), since the maps it frees are
    reused at the same addresses by the ones it allocates next. What it writes in all overstates
    that: in the paper's G4 rows, with and without ReLUs and shortcut adds, the convs took the
    same time though the element-wise ops doubled what the forward writes. A conv of the same
    shapes a block earlier leaves the state nearly as cold: inside ShuffleNet v1 and v2, timed
    per module, the repeats of a conv shape ran 0-15% faster than its first run, where a conv
    of the same shapes run straight before it left 6-11% of its cold excess
    (bench_conv_reuse.py). None for a profile that does not know its last-level cache."""
    if profile.last_level_cache_bytes is None:
        return None
    return kernel_coldness(analysis.totals.peak_bytes, profile.last_level_cache_bytes)


def splits_cold_excess(node: OpNode, kernel_class: KernelClass) -> bool:
    """Whether the op's cold excess splits into its weights and its kernel state
    (split_coldness): a conv or matrix product with weights that reads one map."""
    return kernel_class in _WEIGHT_CLASSES and weight_bytes(node) > 0 and _reads_one_map(node)


def split_coldness(network: float, kernel: float, excess_s: float, weights_s: float) -> float:
    """The coldness of a conv or matrix product whose cold time exceeds its warm one by
    `excess_s`: the part that is its weights from memory (`weights_s`, their bytes at the
    memory bandwidth, at most the whole excess) as cold as the `network`, the rest (its
    kernel's state) as cold as its `kernel`, and never colder than the network."""
    if excess_s <= 0:
        return network
    weights = min(1.0, weights_s / excess_s)
    return network * weights + min(kernel, network) * (1.0 - weights)


def kernel_coldness(reuse_bytes: int, last_level_cache_bytes: int | None) -> float:
    """How cold a kernel's code and the core's state for it are when the forward touched
    `reuse_bytes` since the kernel last ran: 0 (warm) up to an eighth of the last-level cache,
    1 (cold, as calibration's cold figures) from four times it, log-linear in between (0.17,
    0.37 and 0.57 at 7, 15 and 30 MB of a 32 MB L3: the measurement above); 1 where the cache
    is not known."""
    if last_level_cache_bytes is None:
        return 1.0
    warm_up_to = last_level_cache_bytes / 8
    if reuse_bytes <= warm_up_to:
        return 0.0
    return min(1.0, math.log(reuse_bytes / warm_up_to) / math.log(32))


def _streams_cached_maps(node: OpNode, category: Category, before: list[int],
                         cache_bytes: int) -> bool:
    """Whether the op is a normalization, element-wise op or reduction whose data is warm, so
    that how warm its kernel is decides its time: it reads one activation (its other tensors,
    if any, held by the model), which the op before has just written, or several, each written
    within a cache's worth of traffic before it (`before`: the traffic ahead of each op), as a
    transformer's residual add and its norm's scaling read maps of a few hundred KB written a
    few ops earlier. An op that also reads a map written longer ago (a CNN's shortcut, a
    concatenation's early pieces) went cold sooner than its kernel's reuse distance says
    (bench_kernel_reuse.py: an add of a map last written before a 128 MB copy). A mean of the
    map just written ran near its warm figure inside EfficientNet-B0 (its squeeze-excitation
    means on maps of 0.2 to 1.8 MB, which the network's coldness priced at 3.2 times their time),
    though a mean on a small map after several MB of convs went colder sooner than its kernel's
    reuse distance says (half-way to cold by 7 MB in bench_kernel_reuse.py)."""
    if kernel_class(node, category) not in _STREAMING_CLASSES:
        return False
    if _reads_one_map(node):
        return True
    producers, inputs = _activations(node)
    written_at = [before[producer + 1] for producer in producers] + [0] * len(inputs)
    return all(before[node.index] - at <= cache_bytes for at in written_at)


def _reads_one_map(node: OpNode) -> bool:
    """Whether the op reads one activation (a map an op wrote, or a model input) besides the
    tensors the model holds."""
    producers, inputs = _activations(node)
    return len(producers) + len(inputs) == 1


def _activations(node: OpNode) -> tuple[set[int], set[str]]:
    """The ops whose maps the op reads, and the model inputs it reads."""
    producers = {item.producer for item in node.inputs if item.producer is not None}
    inputs = {item.origin for item in node.inputs
              if item.producer is None and (item.origin or "").startswith("input:")}
    return producers, inputs


def _traffic_before(analysis: Analysis) -> list[int]:
    """Per op, the bytes the forward wrote and the weights it read before it (one entry more:
    the whole forward's)."""
    before = [0]
    for index, written in enumerate(_written(analysis)):
        before.append(before[-1] + written + _held_bytes(analysis, index))
    return before


def _reuse_bytes(analysis: Analysis, before: list[int]) -> list[int]:
    """Per op, the traffic since the same aten op last ran (across the end of one forward and
    the start of the next, where the op runs once)."""
    nodes = analysis.graph.nodes
    runs: dict[str, list[int]] = defaultdict(list)
    for node in nodes:
        runs[node.packet].append(node.index)
    reuse = [0] * len(nodes)
    for indices in runs.values():
        previous = indices[-1]
        for index in indices:
            between = before[index] - before[previous + 1]
            if previous >= index:  # its last run was in the forward before
                between += before[-1]
            reuse[index] = between
            previous = index
    return reuse


def weight_bytes(node: OpNode) -> int:
    """The bytes of the weights and buffers the op reads."""
    return sum(item.tensor.footprint * item.tensor.itemsize for item in node.inputs if item.held)


_WEIGHT_CLASSES = frozenset({KernelClass.CONV_DENSE, KernelClass.CONV_1X1,
                             KernelClass.CONV_GROUPED, KernelClass.CONV_DEPTHWISE,
                             KernelClass.MATMUL})


def _written(analysis: Analysis) -> list[int]:
    """Per op, the bytes of the tensors it writes that no op before it held: nothing for a
    view, or for an op written over its input."""
    return [0 if node.view or writes_over_input(node)
            else sum(output.footprint * output.itemsize for output in node.outputs)
            for node in analysis.graph.nodes]


def _held_bytes(analysis: Analysis, index: int) -> int:
    return weight_bytes(analysis.graph.nodes[index])
