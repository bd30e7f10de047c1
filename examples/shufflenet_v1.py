"""ShuffleNet (v1): pointwise group convolutions plus channel shuffle.

Source: Zhang, Zhou, Lin and Sun, "ShuffleNet: An Extremely Efficient
Convolutional Neural Network for Mobile Devices", CVPR 2018 (arXiv:1707.01083),
Table 1. The ShuffleNet V2 paper uses it as the example of a design that
breaks G1 (bottleneck) and G2 (group convs) while having few FLOPs.

Conv + FC multiply-adds at 224x224 (fvcore), 1x: g=1 143.1M, g=2 140.8M,
g=3 137.5M (1,865,728 parameters), g=4 134.3M, g=8 138.4M, in line with the
paper's ~140M; 0.5x g=3: 37.6M (paper 38M).

Analyze with e.g. ``costlens report examples/shufflenet_v1.py:shufflenet_v1(groups=8)``.
"""

from __future__ import annotations

import torch
from torch import nn

from .blocks import channel_shuffle, conv_bn, image_batch

# Channels at width 1.0 (Table 1): the stem, then stages 2, 3 and 4 per group count.
STEM_CHANNELS = 24
STAGE_CHANNELS: dict[int, tuple[int, int, int]] = {
    1: (144, 288, 576),
    2: (200, 400, 800),
    3: (240, 480, 960),
    4: (272, 544, 1088),
    8: (384, 768, 1536),
}
STAGE_REPEATS = (4, 8, 4)


class ShuffleUnit(nn.Module):
    """A ShuffleNet unit: 1x1 GConv, shuffle, 3x3 depthwise, 1x1 GConv.

    The bottleneck is a quarter of the output width. A stride-2 unit
    concatenates its branch with a 3x3 average-pooled shortcut, so the branch
    only produces the missing ``out - in`` channels; a stride-1 unit adds the
    identity. ``first_grouped=False`` keeps the first 1x1 ungrouped, as the
    paper does where the input is the narrow stem output.
    """

    def __init__(
        self, in_channels: int, out_channels: int, stride: int, groups: int, first_grouped: bool
    ) -> None:
        super().__init__()
        mid = out_channels // 4
        first_groups = groups if first_grouped else 1
        self.shuffle_groups = first_groups
        self.compress = conv_bn(in_channels, mid, 1, groups=first_groups)
        self.depthwise = conv_bn(mid, mid, 3, stride, groups=mid, activation=None)
        branch_channels = out_channels - in_channels if stride > 1 else out_channels
        self.expand = conv_bn(mid, branch_channels, 1, groups=groups, activation=None)
        self.shortcut = nn.AvgPool2d(3, stride=2, padding=1) if stride > 1 else None
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.compress(x)
        if self.shuffle_groups > 1:
            out = channel_shuffle(out, self.shuffle_groups)
        out = self.expand(self.depthwise(out))
        if self.shortcut is None:
            out = out + x
        else:
            out = torch.cat((self.shortcut(x), out), dim=1)
        return self.relu(out)


class ShuffleNetV1(nn.Module):
    """The ImageNet network of Table 1: conv1, maxpool, three stages, FC."""

    def __init__(self, groups: int, width: float, num_classes: int) -> None:
        super().__init__()
        in_channels = int(STEM_CHANNELS * width)
        self.conv1 = conv_bn(3, in_channels, 3, stride=2)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        for index, (repeats, base) in enumerate(zip(STAGE_REPEATS, STAGE_CHANNELS[groups]), 2):
            out_channels = int(base * width)
            units = [ShuffleUnit(in_channels, out_channels, 2, groups, first_grouped=index > 2)]
            units += [
                ShuffleUnit(out_channels, out_channels, 1, groups, first_grouped=True)
                for _ in range(repeats - 1)
            ]
            setattr(self, f"stage{index}", nn.Sequential(*units))
            in_channels = out_channels
        self.fc = nn.Linear(in_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.conv1(x))
        x = self.stage2(x)
        x = self.stage3(x)
        x = self.stage4(x)
        return self.fc(x.mean([2, 3]))


def shufflenet_v1(
    groups: int = 3,
    width: float = 1.0,
    num_classes: int = 1000,
    batch: int = 1,
    image_size: int = 224,
) -> tuple[nn.Module, torch.Tensor]:
    """ShuffleNet v1 with ``groups`` in {1, 2, 3, 4, 8}.

    ``width`` scales every layer's channels, stem included (the paper's
    "ShuffleNet s x"). Grouped convs need channel counts divisible by
    ``groups``: g=3, the paper's main setting, works at 0.25, 0.5, 1.5 and 2.0,
    while some other pairs (e.g. g=4 at 0.5) raise a ValueError.
    """
    if groups not in STAGE_CHANNELS:
        raise ValueError(f"groups must be one of {sorted(STAGE_CHANNELS)}, got {groups}")
    model = ShuffleNetV1(groups, width, num_classes)
    return model.eval(), image_batch(batch, image_size)
