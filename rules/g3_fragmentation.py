"""G3 fragmented-block: a building block split into many small or parallel operators.

## What it does
Finds the model's building blocks (modules of a class of yours that the model uses at least
twice, such as a ResNet bottleneck or an Inception block, plus the classes named in
`block_types`) and counts, per call, their fragments (convolution and pooling ops, the paper's
count) and their parallel branches (the most convolution, pooling, matmul or attention ops that
could run at once). It reports blocks with more than `max_fragments` fragments or more than
`max_branches` parallel branches, with the kernels each call launches.

It attributes a cause to the innermost block whose own ops break a limit: a block inside
another is judged first, and an enclosing block is counted without the ops of the blocks
already flagged inside it, so a stage of fragmented blocks is not flagged again for their
fragments. The instances of one block class built at one line are one finding. What merging
saves, without a platform, is the memory traffic of the block's data copies (a concat of its
branches) and of every read of one input by more than one parallel branch; with a platform,
the fixed cost of the kernels it launches beyond one per call. The severity follows its share
of the model's MAC (of its estimated time with a platform).

## Why is this bad
ShuffleNet V2's guideline G3: network fragmentation reduces the degree of parallelism. Many
small operators, in series or in parallel branches, do not fill a wide device and add kernel
launch and synchronization overhead. In the paper's Table 3, blocks of 1x1 convolutions with
equal FLOPs run 2446 batches/s as one fragment and 691 as four parallel fragments on a GTX
1080Ti. NASNet-A cells have 13 fragments; ResNet bottlenecks 2 or 3.

## Example
```python
import torch
from torch import nn

class Tower(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.branches = nn.ModuleList(nn.Conv2d(width, width, 1) for _ in range(4))

    def forward(self, x):
        return sum(branch(x) for branch in self.branches)

def build():
    return nn.Sequential(Tower(64), Tower(64)), torch.randn(1, 64, 56, 56)
```

## Use instead
```python
import torch
from torch import nn

class Tower(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.conv = nn.Conv2d(width, width, 1)

    def forward(self, x):
        return self.conv(x)

def build():
    # one conv of twice the width does the four branches' FLOPs in one kernel
    return nn.Sequential(Tower(128), Tower(128)), torch.randn(1, 128, 56, 56)
```

## Options
- `max_fragments` (default 6): the most convolution and pooling ops a block may run per call.
  An Inception-style block runs about 8, a ShuffleNet V2 downsampling unit 5.
- `max_branches` (default 3): the most compute ops a block may run side by side. The paper's
  4-fragment-parallel block and an Inception block have 4; a ResNet downsampling block 2.
- `block_types` (default none): class names to treat as blocks even if used once.
- `note_below` (default 0.01), `error_from` (default 0.1): a cause whose fix saves less than
  `note_below` of the model's MAC (of its estimated time with a platform) is a note, from
  `error_from` on an error, else a warning.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Iterator

from costlens.analysis import OpRecord
from costlens.linting.context import RuleContext
from costlens.linting.finding import Finding
from costlens.linting.rule import Option, Rule


@dataclass(frozen=True)
class Fragmented(Finding):
    """A block's fragments, parallel branches and kernels per call (its largest call, its own
    ops: without blocks flagged inside it), against the limits."""

    block_type: str
    fragments: int
    branches: int
    kernels: int
    max_fragments: int
    max_branches: int

    @property
    def message(self) -> str:
        fix = ("merge branches into fewer, wider convolutions" if self.fragments else
               "fuse the parallel matrix products (q/k/v, gate/up) into one")
        return (f"{self.block_type} block has {self.fragments} fragments in {self.branches} "
                f"parallel branches and launches {self.kernels} kernels per call (limits "
                f"{self.max_fragments} fragments, {self.max_branches} branches); {fix}")


class FragmentedBlock(Rule):
    code = "G3"
    name = "fragmented-block"
    options = (
        Option("max_fragments", 6, minimum=0),
        Option("max_branches", 3, minimum=1),
        Option("block_types", ()),
    )

    def check(self, context: RuleContext) -> Iterator[Finding]:
        max_fragments = context.options["max_fragments"]
        max_branches = context.options["max_branches"]
        flagged: list[str] = []
        for layer in context.blocks(context.options["block_types"]):
            calls = context.own_calls(layer, flagged)
            block = context.analysis.block_of([[op.index for op in call] for call in calls])
            if block.fragments <= max_fragments and block.branches <= max_branches:
                continue
            flagged.append(layer.name)
            seconds = None
            if context.latency is not None:  # what its kernels pay beyond one per call
                seconds = sum(sum(context.fixed_seconds(op) for op in ops)
                              - max((context.fixed_seconds(op) for op in ops), default=0.0)
                              for ops in calls)
            yield Fragmented(layer.name, layer.type, block.fragments, block.branches,
                             block.kernels, max_fragments, max_branches,
                             saved_bytes=sum(_merge_saving(context, call) for call in calls),
                             seconds=seconds)


def _merge_saving(context: RuleContext, ops: list[OpRecord]) -> int:
    """MAC bytes one call would not move with its branches merged: its data copies, and the
    repeated reads of an input that several of its first compute ops read."""
    compute = {op.index for op in ops if op.category is not None and op.category.is_compute}
    sources = context.analysis.sources
    reads: Counter[tuple] = Counter()
    sizes: dict[tuple, int] = {}
    for op in ops:
        if op.index not in compute or any(s in compute for s in sources[op.index]):
            continue
        node = context.node(op)
        item = node.inputs[0]
        key = (item.producer, item.origin, item.tensor.shape)
        reads[key] += 1
        sizes[key] = item.tensor.footprint * item.tensor.itemsize
    repeated = sum((count - 1) * sizes[key] for key, count in reads.items())
    copies = sum(op.mac_bytes for op in ops
                 if op.category is not None and op.category.is_movement and op.mac_bytes)
    return repeated + copies
