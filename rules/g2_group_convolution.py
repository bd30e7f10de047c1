"""G2 excessive-group-convolution: a group convolution moving far more memory than a dense one.

## What it does
Checks every grouped convolution except depthwise ones (one input channel per group, which G4
covers). A convolution from c1 to c2 channels in g groups costs the FLOPs of a dense one from
c1 to c2/g channels and reads the same input and weights, but writes g times the output. The
rule reports group convolutions whose MAC exceeds that dense equivalent's by more than
`max_mac_ratio`, and how much memory traffic the dense one would save. (At fixed widths, fewer
groups cost more FLOPs and more weights; the saving is the dense layer's at the same FLOPs.)

It flags the conv module itself, once however often it is called, with what its calls together
would save. The same conv in every instance of a block class built at one line
(`stage*.*.expand.0` of ShuffleNet v1's units) is one finding, with the worst
instance's figures and the memory traffic all of them would save; the severity follows that
saving's share of the model's MAC (of its estimated time with a platform).

## Why is this bad
ShuffleNet V2's guideline G2: excessive group convolution increases MAC. At fixed input and
FLOPs, MAC = h*w*c1 + B*g/c1 + B/(h*w) grows with g. In the paper's Table 2, ten 1x1 group
convolutions with equal FLOPs run 2451 batches/s with 1 group and 634 with 8 on a GTX 1080Ti
(40.0 and 27.8 images/s on an ARM core). ShuffleNet v1 relies on 1x1 group convolutions, and
ResNeXt on 32-group 3x3 convolutions.

## Example
```python
import torch
from torch import nn

def build():
    # 8 groups, widened to keep FLOPs equal to a 128-channel dense conv
    model = nn.Sequential(*(nn.Conv2d(360, 360, 1, groups=8, bias=False) for _ in range(2)))
    return model, torch.randn(1, 360, 56, 56)
```

## Use instead
```python
import torch
from torch import nn

def build():
    # dense convolutions of about the same FLOPs
    model = nn.Sequential(*(nn.Conv2d(128, 128, 1, bias=False) for _ in range(2)))
    return model, torch.randn(1, 128, 56, 56)
```

## Options
- `max_mac_ratio` (default 1.5): the most a group convolution's MAC may exceed that of the
  dense convolution of equal FLOPs, as a factor. At the paper's Table 2 widths, 2 groups cost
  about 1.33x, 4 groups 1.6x and 8 groups 1.77x.
- `note_below` (default 0.01), `error_from` (default 0.1): a cause whose fix saves less than
  `note_below` of the model's MAC (of its estimated time with a platform) is a note, from
  `error_from` on an error, else a warning.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator

from costlens.costs import Category
from costlens.latency.classes import conv_class, conv_features, stride_area
from costlens.linting.context import RuleContext
from costlens.linting.finding import Finding, one_per_module
from costlens.linting.rule import Option, Rule
from costlens.units import human


@dataclass(frozen=True)
class ExcessiveGroups(Finding):
    """A group conv from c1 to c2 channels in `groups` groups, its MAC against the dense conv
    of equal FLOPs (c1 to `dense_c2` channels), and the bytes the dense one would save."""

    kernel: str  # "3x3"
    c1: int
    c2: int
    groups: int
    dense_c2: int
    mac: int
    dense_mac: int
    ratio: float
    limit: float

    @property
    def message(self) -> str:
        return (f"{self.kernel} group conv {self.c1}->{self.c2} with {self.groups} groups has MAC "
                f"{self.ratio:.2f}x a dense conv of equal FLOPs ({self.c1}->{self.dense_c2}) "
                f"(limit {self.limit:g}x), which would move {human(self.saved_bytes, 'B')} less; "
                "within a FLOPs budget, prefer fewer groups and fewer output channels")


class ExcessiveGroupConvolution(Rule):
    code = "G2"
    name = "excessive-group-convolution"
    options = (Option("max_mac_ratio", 1.5, minimum=1.0),)

    def check(self, context: RuleContext) -> Iterator[Finding]:
        return iter(one_per_module(self._each_call(context)))

    def _each_call(self, context: RuleContext) -> Iterator[Finding]:
        limit = context.options["max_mac_ratio"]
        for op, node in context.ops(Category.CONV):  # depthwise convs are Category.DEPTHWISE
            weight, source, out = node.arg("weight"), node.arg("input"), node.outputs[0]
            groups = int(node.attr("groups", 1))
            if groups == 1 or node.attr("transposed", False) or out.numel == 0:
                continue
            c1, c2 = source.shape[1], out.shape[1]
            map_out = out.numel // c2
            weights = math.prod(weight.shape)
            grouped = source.numel + out.numel + weights
            dense = source.numel + map_out * (c2 // groups) + weights
            ratio = grouped / dense
            if ratio <= limit:
                continue
            kernel_area = math.prod(weight.shape[2:])
            saved = (grouped - dense) * source.itemsize
            seconds = context.time_saved(op, op.mac_bytes - saved, conv_features(
                c1, c2 // groups, kernel_area, map_out, stride_area(node)),
                conv_class(1, kernel_area))
            yield ExcessiveGroups(op.module, "x".join(map(str, weight.shape[2:])), c1, c2, groups,
                                  c2 // groups, grouped, dense, round(ratio, 4), limit,
                                  saved_bytes=saved, seconds=seconds)
