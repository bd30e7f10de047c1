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

from collections import defaultdict
from typing import Iterator

from costlens.analysis import OpRecord
from costlens.errors import CostlensError
from costlens.lint.rule import Finding, Option, Rule, RuleContext
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
            kinds = _kinds(context, ops)
            copies = kinds.pop("copy", None)
            listed = ", ".join(f"{kind} x{count} ({human(mac_bytes, 'B')})"
                               for kind, (count, mac_bytes) in kinds.items())
            remedies = list(dict.fromkeys(_REMEDIES.get(kind, _ACTIVATION_REMEDY)
                                          for kind in kinds))
            if copies is not None:
                listed += f"; besides, {copies[0]} data copies ({human(copies[1], 'B')})"
                remedies.append(_COPY_REMEDY)
            worst = " in its heaviest call" if len(calls) > 1 else ""
            what = "MAC" if measure == "mac" else "estimated time"
            cost = None if context.latency is None else context.seconds(
                [op for call in calls for op in call if _kind(context, op) not in (None, "copy")])
            yield Finding(layer.name, (
                f"{layer.type} block spends {share:.0%} of its {what} on element-wise ops"
                f"{worst} (limit {limit:.0%}): {listed}; {'; '.join(remedies)}"), {
                "share": round(share, 4), "limit": limit,
                "elementwise_mac_bytes": sum(b for _, b in kinds.values()),
                "mac_bytes": sum(op.mac_bytes for op in ops if op.supported)}, cost)


def elementwise_share(context: RuleContext, ops: list[OpRecord]) -> float:
    """The share of the ops' MAC in element-wise ops, normalization and depthwise convs."""
    total = sum(op.mac for op in ops if op.supported)
    heavy = sum(op.mac for op in ops if _kind(context, op) not in (None, "copy"))
    return heavy / total if total else 0.0


def elementwise_time_share(context: RuleContext, ops: list[OpRecord]) -> float:
    """The same share in estimated time on the platform profile."""
    total = context.seconds(ops)
    heavy = context.seconds([op for op in ops if _kind(context, op) not in (None, "copy")])
    return heavy / total if total else 0.0


def _kinds(context: RuleContext, ops: list[OpRecord]) -> dict[str, tuple[int, int]]:
    """Count and MAC bytes of each kind of element-wise op (and of copies), in order met."""
    kinds: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for op in ops:
        kind = _kind(context, op)
        if kind is not None:
            kinds[kind][0] += 1
            kinds[kind][1] += op.mac_bytes
    return {kind: (count, mac_bytes) for kind, (count, mac_bytes) in kinds.items()}


def _kind(context: RuleContext, op: OpRecord) -> str | None:
    """`relu`, `add`, `batch_norm`, `depthwise conv`, `copy`, or None for other ops."""
    name = op.op.split(".")[1].strip("_").removeprefix("native_")
    if op.category == "conv":
        node = context.node(op)
        depthwise = node.arg("weight").shape[1] == 1 and int(node.attr("groups", 1)) > 1
        return "depthwise conv" if depthwise else None
    if op.category == "movement":
        return "copy" if name in _COPIES else None
    if op.category in ("normalization", "elementwise"):
        return name.removesuffix("_legit").removesuffix("_legit_no_training")
    return None
