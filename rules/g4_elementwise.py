"""G4 elementwise-heavy-block: a block spending most of its memory traffic on element-wise ops.

## What it does
Finds the model's building blocks as G3 does and measures the share of each block's memory
access cost (MAC) that goes to element-wise ops: activations, adds (a residual shortcut, a bias
added on its own, a scale), normalization and, as the paper counts them, depthwise
convolutions. It reports blocks where that share exceeds `max_share` in a call, listing those
ops per call and what would remove them: fold batch norm into the convolution before it, drop
activations the block does not need, fuse an add with the activation after it; data copies
(concat, split, shuffle) are listed too, with their own remedy, though they are not counted in
the share.

## Why is this bad
ShuffleNet V2's guideline G4: element-wise operations are non-negligible. They have small FLOPs
but heavy MAC, so FLOPs hide them. In the paper's Table 4, removing the ReLU and the shortcut
from a ResNet bottleneck makes it about 20% faster on both GPU and ARM (2427 to 2842
batches/s on a GTX 1080Ti at c=32); in the paper's Figure 2, element-wise ops take 15-23% of
ShuffleNet v1's and MobileNet v2's GPU time. MobileNet v2 applies depthwise convolutions and
ReLUs to thick feature maps in every block.

## Example
```python
import torch
from torch import nn

class Bottleneck(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.reduce = nn.Conv2d(width, width // 4, 1, bias=False)
        self.conv = nn.Conv2d(width // 4, width // 4, 3, padding=1, bias=False)
        self.expand = nn.Conv2d(width // 4, width, 1, bias=False)

    def forward(self, x):
        y = torch.relu(self.reduce(x))
        y = torch.relu(self.conv(y))
        return torch.relu(self.expand(y) + x)

def build():
    return nn.Sequential(Bottleneck(32), Bottleneck(32)), torch.randn(1, 32, 56, 56)
```

## Use instead
```python
import torch
from torch import nn

class Bottleneck(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.reduce = nn.Conv2d(width, width // 4, 1, bias=False)
        self.conv = nn.Conv2d(width // 4, width // 4, 3, padding=1, bias=False)
        self.expand = nn.Conv2d(width // 4, width, 1, bias=False)

    def forward(self, x):
        # one activation, no shortcut add
        return self.expand(torch.relu(self.conv(self.reduce(x))))

def build():
    return nn.Sequential(Bottleneck(32), Bottleneck(32)), torch.randn(1, 32, 56, 56)
```

## Options
- `max_share` (default 0.6): the largest share of a block's MAC element-wise ops may take, in
  its heaviest call. The paper's bottleneck with ReLU and shortcut spends about 0.67 of its MAC
  on them, with either alone 0.5; a ShuffleNet V2 unit 0.4-0.5 (its downsampling units up to
  0.66, batch norm included), a MobileNet v2 block about 0.8.
- `block_types` (default none): class names to treat as blocks even if used once.
- `share_of` (default `mac`): `time` measures the share in estimated time on the platform
  profile instead (needs `--platform` or `platform` in the configuration): on a device where
  element-wise ops are cheap next to the convolutions, fewer blocks are reported.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from costlens.analysis import OpRecord
from costlens.costs import Category
from costlens.errors import CostlensError
from costlens.linting.context import RuleContext
from costlens.linting.finding import Finding
from costlens.linting.rule import Option, Rule
from costlens.units import human

# What removes each kind of op, keyed by its short name; activations share one remedy.
_REMEDIES = {
    "batch_norm": "fold batch norm into the conv before it",
    "layer_norm": "fuse the normalization into the kernel next to it",
    "group_norm": "fuse the normalization into the kernel next to it",
    "rms_norm": "fuse the normalization into the kernel next to it",
    "add": "drop the shortcut or bias add, or fuse it with the activation after it",
    "mul": "fold constant scales into the weights",
    "div": "fold constant scales into the weights",
    "depthwise conv": "use fewer depthwise convolutions, on thinner maps",
}
_ACTIVATION_REMEDY = "drop activations the block does not need"
_COPY_REMEDY = "merge concat / split / shuffle copies"
_COPIES = ("cat", "clone", "stack")


@dataclass(frozen=True)
class OpKind:
    """How many ops of one kind a call ran and the MAC bytes they moved."""

    kind: str
    count: int
    mac_bytes: int

    def __str__(self) -> str:
        return f"{self.kind} x{self.count} ({human(self.mac_bytes, 'B')})"


@dataclass(frozen=True)
class ElementwiseHeavy(Finding):
    """A block's element-wise share (of MAC or of estimated time) in its heaviest of `calls`
    calls, the element-wise ops of that call by kind, and its data copies."""

    block_type: str
    share: float
    limit: float
    share_of: str  # "mac" or "time"
    calls: int
    ops: tuple[OpKind, ...]
    copies: OpKind | None
    elementwise_mac_bytes: int
    mac_bytes: int

    @property
    def message(self) -> str:
        listed = ", ".join(map(str, self.ops))
        remedies = list(dict.fromkeys(_REMEDIES.get(op.kind, _ACTIVATION_REMEDY)
                                      for op in self.ops))
        if self.copies is not None:
            listed += (f"; besides, {self.copies.count} data copies "
                       f"({human(self.copies.mac_bytes, 'B')})")
            remedies.append(_COPY_REMEDY)
        worst = " in its heaviest call" if self.calls > 1 else ""
        what = "MAC" if self.share_of == "mac" else "estimated time"
        return (f"{self.block_type} block spends {self.share:.0%} of its {what} on element-wise "
                f"ops{worst} (limit {self.limit:.0%}): {listed}; {'; '.join(remedies)}")


class ElementwiseHeavyBlock(Rule):
    code = "G4"
    name = "elementwise-heavy-block"
    options = (
        Option("max_share", 0.6, minimum=0.0, maximum=1.0),
        Option("block_types", ()),
        Option("share_of", "mac", choices=("mac", "time")),
    )

    def check(self, context: RuleContext) -> Iterator[Finding]:
        limit = context.options["max_share"]
        measure = context.options["share_of"]
        if measure == "time" and context.latency is None:
            raise CostlensError("G4 share_of = 'time' needs a platform profile (--platform, or "
                                "platform in the configuration)")
        share_of = elementwise_share if measure == "mac" else elementwise_time_share
        for layer in context.blocks(context.options["block_types"]):
            calls = context.ops_per_call(layer)
            ops = max(calls, key=lambda call: share_of(context, call))
            share = share_of(context, ops)
            if share <= limit:
                continue
            kinds = _kinds(ops)
            copies = next((kind for kind in kinds if kind.kind == "copy"), None)
            heavy = tuple(kind for kind in kinds if kind.kind != "copy")
            seconds = None if context.latency is None else context.seconds(
                [op for call in calls for op in call if _is_elementwise(op)])
            yield ElementwiseHeavy(
                layer.name, layer.type, round(share, 4), limit, measure, len(calls), heavy,
                copies, sum(kind.mac_bytes for kind in heavy),
                sum(op.mac_bytes for op in ops if op.supported), seconds=seconds)


def _is_elementwise(op: OpRecord) -> bool:
    return op.category is not None and op.category.is_elementwise


def elementwise_share(context: RuleContext, ops: list[OpRecord]) -> float:
    """The share of the ops' MAC in element-wise ops (Category.is_elementwise)."""
    total = sum(op.mac for op in ops if op.supported)
    heavy = sum(op.mac for op in ops if _is_elementwise(op))
    return heavy / total if total else 0.0


def elementwise_time_share(context: RuleContext, ops: list[OpRecord]) -> float:
    """The same share in estimated time on the platform profile."""
    total = context.seconds(ops)
    heavy = context.seconds([op for op in ops if _is_elementwise(op)])
    return heavy / total if total else 0.0


def _kinds(ops: list[OpRecord]) -> list[OpKind]:
    """Count and MAC bytes of each kind of element-wise op (and of copies), in order met."""
    kinds: dict[str, list[int]] = {}
    for op in ops:
        kind = _kind(op)
        if kind is not None:
            counted = kinds.setdefault(kind, [0, 0])
            counted[0] += 1
            counted[1] += op.mac_bytes
    return [OpKind(kind, count, mac_bytes) for kind, (count, mac_bytes) in kinds.items()]


def _kind(op: OpRecord) -> str | None:
    """`relu`, `add`, `batch_norm`, `depthwise conv`, `copy`, or None for other ops."""
    if op.category is Category.DEPTHWISE:
        return "depthwise conv"
    name = op.op.split(".")[1].strip("_").removeprefix("native_")
    if op.category is Category.MOVEMENT:
        return "copy" if name in _COPIES else None
    if _is_elementwise(op):
        return name.removesuffix("_legit").removesuffix("_legit_no_training")
    return None
