"""ShuffleNet V2, laid out exactly like torchvision's ``shufflenetv2.py``.

Source: Ma, Zhang, Zheng and Sun, "ShuffleNet V2: Practical Guidelines for
Efficient CNN Architecture Design", ECCV 2018 (arXiv:1807.11164), Table 5.
Module names match torchvision (``conv1``, ``maxpool``, ``stage2``..``stage4``,
``conv5``, ``fc``; units with ``branch1``/``branch2``), so its state dicts load.

Conv + FC multiply-adds at 224x224 (fvcore) and parameters:
0.5x 40.5M / 1,366,792; 1.0x 144.9M / 2,278,604; 1.5x 295.8M / 3,503,624;
2.0x 583.3M / 7,393,996.

Analyze with e.g. ``costlens report examples/shufflenet_v2.py:shufflenet_v2(width=0.5)``.
"""

from __future__ import annotations

import torch
from torch import nn

from .blocks import channel_shuffle, conv_bn, image_batch

# Output channels of conv1, stage2, stage3, stage4 and conv5 per width (Table 5).
STAGE_CHANNELS: dict[float, tuple[int, int, int, int, int]] = {
    0.5: (24, 48, 96, 192, 1024),
    1.0: (24, 116, 232, 464, 1024),
    1.5: (24, 176, 352, 704, 1024),
    2.0: (24, 244, 488, 976, 2048),
}
STAGE_REPEATS = (4, 8, 4)


class InvertedResidual(nn.Module):
    """A ShuffleNet V2 unit.

    Stride 1: split the channels in half, keep one half as identity and run
    1x1 -> 3x3 depthwise -> 1x1 on the other, all at equal width (G1), with no
    group convs (G2) and no add (G4). Stride 2: no split; ``branch1``
    downsamples the identity path, so the channels double. Both end with a
    concat and a channel shuffle so information crosses the two halves.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        half = out_channels // 2
        if stride > 1:
            self.branch1 = nn.Sequential(
                *conv_bn(in_channels, in_channels, 3, stride, groups=in_channels, activation=None),
                *conv_bn(in_channels, half),
            )
        else:
            self.branch1 = nn.Sequential()
        self.branch2 = nn.Sequential(
            *conv_bn(in_channels if stride > 1 else half, half),
            *conv_bn(half, half, 3, stride, groups=half, activation=None),
            *conv_bn(half, half),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            x1, x2 = x.chunk(2, dim=1)
            out = torch.cat((x1, self.branch2(x2)), dim=1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        return channel_shuffle(out, 2)


class ShuffleNetV2(nn.Module):
    """The ImageNet network of Table 5: conv1, maxpool, three stages, conv5, FC."""

    def __init__(self, channels: tuple[int, int, int, int, int], num_classes: int) -> None:
        super().__init__()
        stem, *stage_channels, last = channels
        self.conv1 = conv_bn(3, stem, 3, stride=2)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        in_channels = stem
        for index, (repeats, out_channels) in enumerate(zip(STAGE_REPEATS, stage_channels), 2):
            units = [InvertedResidual(in_channels, out_channels, 2)]
            units += [InvertedResidual(out_channels, out_channels, 1) for _ in range(repeats - 1)]
            setattr(self, f"stage{index}", nn.Sequential(*units))
            in_channels = out_channels
        self.conv5 = conv_bn(in_channels, last)
        self.fc = nn.Linear(last, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.conv1(x))
        x = self.stage2(x)
        x = self.stage3(x)
        x = self.stage4(x)
        x = self.conv5(x)
        return self.fc(x.mean([2, 3]))


def shufflenet_v2(
    width: float = 1.0, num_classes: int = 1000, batch: int = 1, image_size: int = 224
) -> tuple[nn.Module, torch.Tensor]:
    """ShuffleNet V2 at a width multiplier of 0.5, 1.0, 1.5 or 2.0 (Table 5 columns)."""
    if width not in STAGE_CHANNELS:
        raise ValueError(f"width must be one of {sorted(STAGE_CHANNELS)}, got {width}")
    model = ShuffleNetV2(STAGE_CHANNELS[width], num_classes)
    return model.eval(), image_batch(batch, image_size)


def shufflenet_v2_x0_5(batch: int = 1, image_size: int = 224) -> tuple[nn.Module, torch.Tensor]:
    """ShuffleNet V2 0.5x (40.5M conv+FC multiply-adds, 1.37M parameters)."""
    return shufflenet_v2(0.5, batch=batch, image_size=image_size)


def shufflenet_v2_x1_0(batch: int = 1, image_size: int = 224) -> tuple[nn.Module, torch.Tensor]:
    """ShuffleNet V2 1.0x (144.9M conv+FC multiply-adds, 2.28M parameters)."""
    return shufflenet_v2(1.0, batch=batch, image_size=image_size)


def shufflenet_v2_x1_5(batch: int = 1, image_size: int = 224) -> tuple[nn.Module, torch.Tensor]:
    """ShuffleNet V2 1.5x (295.8M conv+FC multiply-adds, 3.50M parameters)."""
    return shufflenet_v2(1.5, batch=batch, image_size=image_size)


def shufflenet_v2_x2_0(batch: int = 1, image_size: int = 224) -> tuple[nn.Module, torch.Tensor]:
    """ShuffleNet V2 2.0x (583.3M conv+FC multiply-adds, 7.39M parameters)."""
    return shufflenet_v2(2.0, batch=batch, image_size=image_size)
