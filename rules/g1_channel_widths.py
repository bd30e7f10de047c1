"""G1 unequal-channel-widths: a 1x1 conv of unequal widths (output heads aside) moves extra memory.

## What it does
Checks every pointwise convolution: 1x1 and ungrouped, or a linear layer applied at every
position (a channels-last pointwise conv, a transformer MLP). From c1 to c2 channels at
h x w positions, FLOPs are B = h*w*c1*c2 and the memory access cost of the feature maps and
weights is MAC = h*w*(c1 + c2) + c1*c2 (a strided 1x1 conv reads only the positions it
samples; the bias is left out). By the mean value inequality MAC >= 2*sqrt(h*w*B) + B/(h*w),
with equality exactly when c1 == c2. The rule reports layers whose MAC exceeds that minimum by
more than `max_mac_ratio`, with the equal widths that would reach it and the memory traffic
they would save. Layers that only make the model's output (a classifier head, whose width the
task fixes) are left alone.

It flags the layer (the conv or linear module) that runs the product, once however often it is
called, with what its calls together would save. The same layer in every instance of a block
class built at one line (`features.*.conv.0.0` of MobileNet v2's inverted residuals) is one
finding, with the worst instance's figures and the memory traffic all of them would save; the
severity follows that saving's share of the model's MAC (of its estimated time with a platform).

## Why is this bad
ShuffleNet V2's guideline G1: equal channel width minimizes memory access cost. In the paper's
Table 1, ten blocks of two 1x1 convolutions, all with the same FLOPs, run 1480 batches/s on a
GTX 1080Ti at c1:c2 = 1:1 and 748 at 1:12 (76.2 and 57.6 images/s on an ARM core). FLOPs alone
would call them equally fast. Wide expansions such as MobileNet v2's 1:6 inverted bottleneck
pay this price in every block.

## Example
```python
import torch
from torch import nn

def build():
    # a 1:6 expansion and its projection back
    model = nn.Sequential(nn.Conv2d(24, 144, 1, bias=False), nn.Conv2d(144, 24, 1, bias=False))
    return model, torch.randn(1, 24, 28, 28)
```

## Use instead
```python
import torch
from torch import nn

def build():
    # the same FLOPs at equal widths: sqrt(24 * 144) = 59
    model = nn.Sequential(nn.Conv2d(59, 59, 1, bias=False), nn.Conv2d(59, 59, 1, bias=False))
    return model, torch.randn(1, 59, 28, 28)
```

## Options
- `max_mac_ratio` (default 1.3): the most a layer's MAC may exceed the minimum at its FLOPs,
  as a factor. On large maps 1:2 widths cost about 1.06x, 1:4 1.25x, 1:6 1.43x, 1:12 1.87x;
  where the weights dominate (few positions) the ratio is nearer 1.
- `note_below` (default 0.01), `error_from` (default 0.1): a cause whose fix saves less than
  `note_below` of the model's MAC (of its estimated time with a platform) is a note, from
  `error_from` on an error, else a warning.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator

from costlens.analysis import OpRecord
from costlens.costs import Category
from costlens.latency.classes import KernelClass, conv_features, op_features
from costlens.linting.context import RuleContext
from costlens.linting.finding import Finding, one_per_module
from costlens.linting.rule import Option, Rule
from costlens.units import human


@dataclass(frozen=True)
class UnequalWidths(Finding):
    """A pointwise layer from c1 to c2 channels at `positions` positions, its MAC against the
    minimum at its FLOPs (reached at equal widths `equal_width`), and the bytes that saves."""

    layer: str  # "1x1 conv" or "linear layer"
    c1: int
    c2: int
    positions: int
    mac: int
    minimum_mac: int
    ratio: float
    limit: float
    equal_width: int

    @property
    def message(self) -> str:
        return (f"{self.layer} {self.c1}->{self.c2} ({_ratio(self.c1, self.c2)}) has MAC "
                f"{self.ratio:.2f}x the minimum at these FLOPs (limit {self.limit:g}x); "
                f"{self.equal_width}->{self.equal_width} would move "
                f"{human(self.saved_bytes, 'B')} less")


class UnequalChannelWidths(Rule):
    code = "G1"
    name = "unequal-channel-widths"
    options = (Option("max_mac_ratio", 1.3, minimum=1.0),)

    def check(self, context: RuleContext) -> Iterator[Finding]:
        return iter(one_per_module(self._each_call(context)))

    def _each_call(self, context: RuleContext) -> Iterator[Finding]:
        limit = context.options["max_mac_ratio"]
        for op, widths in _pointwise_layers(context):
            if not context.feeds_compute(op):
                continue
            c1, c2, positions, itemsize = widths
            flops = positions * c1 * c2
            mac = positions * (c1 + c2) + c1 * c2
            minimum = 2 * math.sqrt(positions * flops) + flops / positions
            ratio = mac / minimum
            if ratio <= limit:
                continue
            equal = round(math.sqrt(c1 * c2))
            saved = round((mac - minimum) * itemsize)
            conv = op.category is Category.CONV
            shape = (conv_features(equal, equal, 1, positions) if conv
                     else op_features(KernelClass.MATMUL, positions * equal * equal,
                                      positions * equal))
            yield UnequalWidths(
                op.module, "1x1 conv" if conv else "linear layer", c1, c2, positions, mac,
                round(minimum), round(ratio, 4), limit, equal, saved_bytes=saved,
                seconds=context.time_saved(op, op.mac_bytes - saved, shape))


def _pointwise_layers(context: RuleContext) -> Iterator[tuple[OpRecord, tuple[int, int, int, int]]]:
    """Each pointwise op with (c1, c2, positions, bytes per element): dense 1x1 convolutions,
    and the matrix products of linear layers."""
    linear = {m.path for m in context.analysis.graph.modules if m.type in _LINEAR_TYPES}
    for op in context.analysis.ops:
        node = context.node(op)
        out = node.outputs[0] if node.outputs else None
        if out is None or out.numel == 0:
            continue
        if op.category is Category.CONV:
            weight = node.arg("weight")
            if (node.attr("transposed", False) or int(node.attr("groups", 1)) != 1
                    or any(k != 1 for k in weight.shape[2:])):
                continue
            c1, c2 = weight.shape[1], weight.shape[0]
            yield op, (c1, c2, out.numel // c2, out.itemsize)
        elif (op.category is Category.MATMUL and op.module in linear
              and op.op.startswith(_PRODUCTS)):
            # (positions, c1) @ (c1, c2); a Linear on a strided view runs as a batched product
            # against its broadcast weight: (b, positions, c1) @ (b, c1, c2)
            c1, c2 = op.inputs[-1][-2], out.shape[-1]
            yield op, (c1, c2, out.numel // c2, out.itemsize)


_LINEAR_TYPES = frozenset({"Linear", "LazyLinear"})
_PRODUCTS = ("aten.mm.", "aten.addmm.", "aten.bmm.")


def _ratio(c1: int, c2: int) -> str:
    small, large = sorted((c1, c2))
    scale = f"{large / small:.3g}"
    return f"1:{scale}" if c2 >= c1 else f"{scale}:1"
