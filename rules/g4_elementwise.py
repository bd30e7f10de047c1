"""G4 elementwise-heavy-block: a block spending most of its memory traffic on element-wise ops.

## What it does
Finds the model's building blocks as G3 does and measures the share of each block's memory
access cost (MAC) that goes to element-wise ops: activations, adds (a residual shortcut, a bias
added on its own, a scale), normalization and, as the paper counts them, depthwise
convolutions. It judges the network as an inference engine or torch.compile runs it (the
`view` setting, `--view`, default `fused`): batch norm folded into the conv before it and an
activation fused into the conv, linear, folded norm or add that alone feeds it cost nothing,
since the author need not change the architecture for them. It reports blocks where the share
of what remains exceeds `max_share` in a call, listing those ops and what would remove them
from the architecture: drop the shortcut add, drop activations the block does not need, fewer
depthwise convolutions on thinner maps. Data copies (concat, split, shuffle) are listed too,
with their own remedy, though they are not counted in the share. With `--view eager` it
judges the network as PyTorch runs it op by op and says which of the ops an inference engine
would fold or fuse.

It attributes a cause to the innermost block whose own ops break the limit: a block inside
another is judged first, and an enclosing block is judged on its ops with those of the blocks
already flagged inside it set aside. When the enclosing block breaks the limit on those too,
the block as its author designed it is the cause: one finding on it, counting all its ops,
replaces those inside it (a squeeze-excitation gate inside an MBConv block is one cause with
the block's depthwise conv and shortcut). So no two findings count the same ops, and none
sits inside another. The instances of
one block class built at one line are one finding, with the worst instance's figures. What the
fix saves is the element-wise MAC the block must shed to meet the limit (all instances
together); the severity follows its share of the model's MAC (of its estimated time with a
platform).

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
- `max_share` (default 0.4): the largest share of a block's MAC element-wise ops may take, in
  its heaviest call. As an inference engine runs them, the paper's bottleneck with ReLU and
  shortcut spends 0.5 of its MAC on them (the shortcut add; the ReLUs fuse), without the
  shortcut none; a ShuffleNet V2 unit 0.06-0.32, a MobileNet v2 block 0.15-0.57. Run eagerly
  (`--view eager`), batch norm and activations count too: the bottleneck 0.67, with either
  alone 0.5, a ShuffleNet V2 unit 0.3-0.66, a MobileNet v2 block about 0.8.
- `block_types` (default none): class names to treat as blocks even if used once.
- `share_of` (default `mac`): `time` measures the share in estimated time on the platform
  profile instead (needs `--platform` or `platform` in the configuration): on a device where
  element-wise ops are cheap next to the convolutions, fewer blocks are reported.
- `note_below` (default 0.01), `error_from` (default 0.1): a cause whose fix saves less than
  `note_below` of the model's MAC (of its estimated time with a platform) is a note, from
  `error_from` on an error, else a warning.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping

from costlens.analysis import LayerRecord, OpRecord
from costlens.costs import ACTIVATIONS, Category
from costlens.errors import CostlensError
from costlens.linting.context import RuleContext, View
from costlens.linting.finding import Finding
from costlens.linting.rule import Option, Rule
from costlens.units import human

# What removes each kind of op from the architecture, keyed by its short name.
_REMEDIES = {
    "batch_norm": "put batch norm right after a convolution, where inference folds it",
    "layer_norm": "drop normalizations the block does not need",
    "group_norm": "drop normalizations the block does not need",
    "rms_norm": "drop normalizations the block does not need",
    "add": "drop the shortcut or a separate bias add",
    "mul": "fold constant scales into the weights",
    "div": "fold constant scales into the weights",
    "product": "use fewer element-wise products of maps (a gate, a rotary embedding)",
    "gate": "gate fewer or thinner maps (a squeeze-excitation gate rereads and rewrites the "
            "whole map)",
    "depthwise conv": "use fewer depthwise convolutions, on thinner maps",
}
_ACTIVATION_REMEDY = "drop activations the block does not need"
_OTHER_REMEDY = "use fewer element-wise ops on these maps"
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
    calls as the view runs it, the element-wise ops of that call by kind, its data copies and,
    judged eagerly, the ops an inference engine would fold or fuse."""

    block_type: str
    share: float
    limit: float
    share_of: str  # "mac" or "time"
    view: View
    calls: int
    ops: tuple[OpKind, ...]
    copies: OpKind | None
    fusable: tuple[OpKind, ...]
    elementwise_mac_bytes: int
    mac_bytes: int

    @property
    def message(self) -> str:
        listed = ", ".join(map(str, self.ops))
        folded = {kind.kind: kind.count for kind in self.fusable}
        remedies = list(dict.fromkeys(_remedy(op.kind) for op in self.ops
                                      if op.count > folded.get(op.kind, 0)))
        if self.copies is not None:
            listed += (f"; besides, {self.copies.count} data copies "
                       f"({human(self.copies.mac_bytes, 'B')})")
            remedies.append(_COPY_REMEDY)
        worst = " in its heaviest call" if self.calls > 1 else ""
        what = "MAC" if self.share_of == "mac" else "estimated time"
        how = "as an inference engine runs it" if self.view is View.FUSED else "run eagerly"
        text = (f"{self.block_type} block spends {self.share:.0%} of its {what} on element-wise "
                f"ops{worst} {how} (limit {self.limit:.0%}): {listed}")
        if remedies:
            text += f"; {'; '.join(remedies)}"
        if self.fusable:
            named = ", ".join(f"{op.kind} x{op.count}" for op in self.fusable)
            text += (f"; note: {named} fold or fuse into the ops before them under "
                     "torch.compile, fx fusion or an inference engine (--view fused)")
        return text


def _remedy(kind: str) -> str:
    if kind in _REMEDIES:
        return _REMEDIES[kind]
    return _ACTIVATION_REMEDY if kind in ACTIVATIONS else _OTHER_REMEDY


class ElementwiseHeavyBlock(Rule):
    code = "G4"
    name = "elementwise-heavy-block"
    options = (
        Option("max_share", 0.4, minimum=0.0, maximum=1.0),
        Option("block_types", ()),
        Option("share_of", "mac", choices=("mac", "time")),
    )

    @classmethod
    def validate(cls, options: Mapping[str, Any], has_platform: bool) -> None:
        if options["share_of"] == "time" and not has_platform:
            raise CostlensError("G4 share_of = 'time' needs a platform profile (--platform, or "
                                "platform in the configuration)")

    def check(self, context: RuleContext) -> Iterator[Finding]:
        limit = context.options["max_share"]
        measure = context.options["share_of"]
        share_of = elementwise_share if measure == "mac" else elementwise_time_share
        found: dict[str, ElementwiseHeavy] = {}
        for layer in context.blocks(context.options["block_types"]):
            finding = _judge(context, layer, list(found), limit, measure, share_of)
            if finding is None:
                continue
            inner = [name for name in found if name.startswith(f"{layer.name}.")]
            if inner:  # one cause per nest: the enclosing block, judged on all its ops
                for name in inner:
                    del found[name]
                finding = _judge(context, layer, list(found), limit, measure, share_of) or finding
            found[layer.name] = finding
        yield from found.values()


def _judge(context: RuleContext, layer: LayerRecord, set_aside: list[str], limit: float,
           measure: str, share_of: Callable[[RuleContext, list[OpRecord]], float]
           ) -> ElementwiseHeavy | None:
    """The finding on `layer` judged on its ops less those of the blocks in `set_aside`, or
    None when its heaviest call stays within `limit`."""
    calls = [[op for op in call if op.index not in context.absorbed]
             for call in context.own_calls(layer, set_aside)]
    shares = [share_of(context, call) for call in calls]
    heaviest = max(range(len(calls)), key=shares.__getitem__, default=None)
    if heaviest is None or shares[heaviest] <= limit:
        return None
    ops = calls[heaviest]
    kinds = _kinds(context, ops)
    heavy = tuple(kind for kind in kinds if kind.kind != "copy")
    saved, seconds = 0.0, 0.0
    for call, share in zip(calls, shares):
        elementwise = [op for op in call if _is_elementwise(op)]
        fraction = _excess(share, limit)
        saved += fraction * sum(op.mac_bytes for op in elementwise)
        seconds += fraction * context.seconds(elementwise)
    return ElementwiseHeavy(
        layer.name, layer.type, round(shares[heaviest], 4), limit, measure,
        context.view, len(calls), heavy,
        next((kind for kind in kinds if kind.kind == "copy"), None),
        tuple(_kinds(context, [op for op in ops
                               if op.index in context.fusable and _is_elementwise(op)]))
        if context.view is View.EAGER else (),
        sum(kind.mac_bytes for kind in heavy),
        sum(op.mac_bytes for op in ops if op.supported), saved_bytes=round(saved),
        seconds=seconds if context.latency is not None else None)


def _is_elementwise(op: OpRecord) -> bool:
    return op.category is not None and op.category.is_elementwise


def _excess(share: float, limit: float) -> float:
    """The fraction of its element-wise ops a call must shed for their share (of MAC or of
    time, as measured) to meet `limit`: removing them shrinks the total too, so of element-wise
    amount e in total t, (e - limit * t) / (1 - limit), over e."""
    if limit >= 1.0 or share <= limit:
        return 0.0
    return (share - limit) / ((1.0 - limit) * share)


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


def _kinds(context: RuleContext, ops: list[OpRecord]) -> list[OpKind]:
    """Count and MAC bytes of each kind of element-wise op (and of copies), in order met."""
    kinds: dict[str, list[int]] = {}
    for op in ops:
        kind = _kind(context, op)
        if kind is not None:
            counted = kinds.setdefault(kind, [0, 0])
            counted[0] += 1
            counted[1] += op.mac_bytes
    return [OpKind(kind, count, mac_bytes) for kind, (count, mac_bytes) in kinds.items()]


def _kind(context: RuleContext, op: OpRecord) -> str | None:
    """`relu`, `add`, `batch_norm`, `depthwise conv`, `copy`; `mul` / `div` for a scale (a
    scalar or a per-channel constant), `product` for maps multiplied together (a gate, a
    rotary embedding); None for other ops."""
    if op.category is Category.DEPTHWISE:
        return "depthwise conv"
    name = op.op.split(".")[1].strip("_").removeprefix("native_")
    if op.category is Category.MOVEMENT:
        return "copy" if name in _COPIES else None
    if not _is_elementwise(op):
        return None
    if name in ("mul", "div"):
        node = context.node(op)
        out = node.outputs[0].numel if node.outputs else 0
        maps = [item for item in node.inputs if item.tensor.footprint * 8 > out]
        if len(maps) >= 2:
            return "product"
        computed = [item for item in node.inputs if item not in maps and item.tensor.numel > 1
                    and not item.held]
        return "gate" if computed else name
    return name.removesuffix("_legit").removesuffix("_legit_no_training")
