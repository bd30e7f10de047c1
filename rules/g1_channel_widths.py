"""G1 unequal-channel-widths: a 1x1 convolution with unequal widths moves more memory than needed.

## What it does
Checks every pointwise (1x1, ungrouped) convolution. For a 1x1 convolution from c1 to c2
channels on an h x w map, FLOPs are B = h*w*c1*c2 and the memory access cost (feature maps and
weights) is MAC = h*w*(c1 + c2) + c1*c2. By the mean value inequality,
MAC >= 2*sqrt(h*w*B) + B/(h*w), with equality exactly when c1 == c2 (a strided convolution reads
a larger map than it writes; the bound accounts for that). The rule reports convolutions whose
MAC exceeds that minimum by more than `max_mac_ratio`, with the equal widths that would reach it.

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
- `max_mac_ratio` (default 1.3): the most a convolution's MAC may exceed the minimum at its
  FLOPs, as a factor. 1:2 widths cost about 1.06x, 1:4 about 1.25x, 1:6 1.43x, 1:12 1.87x.
"""
from __future__ import annotations

import math
from typing import Iterator

from costlens.report.units import human
from costlens.rule import Finding, Option, Rule, RuleContext


class UnequalChannelWidths(Rule):
    code = "G1"
    name = "unequal-channel-widths"
    options = (Option("max_mac_ratio", 1.3, "the most MAC may exceed the minimum at its FLOPs"),)

    def check(self, context: RuleContext) -> Iterator[Finding]:
        limit = context.options["max_mac_ratio"]
        reported: set[str] = set()
        for op, node in context.ops("conv"):
            weight, source, out = node.arg("weight"), node.arg("input"), node.outputs[0]
            if (op.module in reported or node.attr("transposed", False)
                    or int(node.attr("groups", 1)) != 1 or any(k != 1 for k in weight.shape[2:])):
                continue
            c1, c2 = source.shape[1], out.shape[1]
            reads, writes = source.numel // c1, out.numel // c2  # batch x map size, in and out
            flops = writes * c1 * c2
            mac = reads * c1 + writes * c2 + c1 * c2
            minimum = 2 * math.sqrt(reads * flops) + flops / writes
            ratio = mac / minimum
            if ratio <= limit:
                continue
            reported.add(op.module)
            best_in = round(math.sqrt(writes * c1 * c2 / reads))
            best_out = round(math.sqrt(reads * c1 * c2 / writes))
            saved = (mac - minimum) * source.itemsize
            yield Finding(op.module, (
                f"1x1 conv {c1}->{c2} ({_ratio(c1, c2)}) has MAC {ratio:.2f}x the minimum at "
                f"these FLOPs (limit {limit:g}x); {best_in}->{best_out} would move "
                f"{human(saved, 'B')} less"), {
                "c1": c1, "c2": c2, "mac": mac, "minimum_mac": round(minimum),
                "ratio": round(ratio, 4), "limit": limit, "saved_bytes": round(saved)})


def _ratio(c1: int, c2: int) -> str:
    small, large = sorted((c1, c2))
    scale = f"{large / small:.3g}"
    return f"1:{scale}" if c2 >= c1 else f"{scale}:1"
