"""ConvNeXt-T, laid out like torchvision's ``convnext.py``.

Source: Liu, Mao, Wu, Feichtenhofer, Darrell and Xie, "A ConvNet for the 2020s",
CVPR 2022 (arXiv:2201.03545), Section 2 and Appendix A (ConvNeXt-T: C = (96, 192,
384, 768), B = (3, 3, 9, 3)). A 4x4 stride-4 "patchify" stem; blocks of a 7x7
depthwise conv, LayerNorm, an inverted MLP (Linear 4x, GELU, Linear) in
channels-last layout, a learnt per-channel layer scale and a residual add;
downsampling by LayerNorm and a 2x2 stride-2 conv. LayerNorm over the channels of
an NCHW map is a permute to channels-last, ``layer_norm`` and a permute back.
Module names match torchvision (``features``, ``block``, ``layer_scale``,
``classifier``); stochastic depth, an identity at inference, is left out.

ConvNeXt-T at 224x224: 28,589,128 parameters; 4.46G multiply-adds in its
convolutions and linear layers.

Analyze with e.g. ``costlens report examples/convnext.py:convnext_t``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import Permute, image_batch

DIMS = (96, 192, 384, 768)
DEPTHS = (3, 3, 9, 3)
LAYER_SCALE = 1e-6
EPS = 1e-6


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of an NCHW map (permute, normalize, permute back)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class CNBlock(nn.Module):
    """7x7 depthwise conv, LayerNorm, Linear 4x, GELU, Linear, layer scale, plus input."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv2d(dim, dim, 7, padding=3, groups=dim),
            Permute((0, 2, 3, 1)),
            nn.LayerNorm(dim, eps=EPS),
            nn.Linear(dim, 4 * dim),
            nn.GELU(),
            nn.Linear(4 * dim, dim),
            Permute((0, 3, 1, 2)),
        )
        self.layer_scale = nn.Parameter(torch.full((dim, 1, 1), LAYER_SCALE))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.layer_scale * self.block(x)


class ConvNeXt(nn.Module):
    """``features`` (stem, stages with downsampling between them), pool, ``classifier``."""

    def __init__(self, dims: tuple[int, ...], depths: tuple[int, ...],
                 num_classes: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Sequential(
            nn.Conv2d(3, dims[0], 4, stride=4), LayerNorm2d(dims[0], eps=EPS))]
        for index, (dim, depth) in enumerate(zip(dims, depths)):
            layers.append(nn.Sequential(*(CNBlock(dim) for _ in range(depth))))
            if index < len(dims) - 1:
                layers.append(nn.Sequential(LayerNorm2d(dim, eps=EPS),
                                            nn.Conv2d(dim, dims[index + 1], 2, stride=2)))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(LayerNorm2d(dims[-1], eps=EPS), nn.Flatten(1),
                                        nn.Linear(dims[-1], num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.avgpool(self.features(x)))


def convnext_t(num_classes: int = 1000, batch: int = 1,
               image_size: int = 224) -> tuple[nn.Module, torch.Tensor]:
    """ConvNeXt-T."""
    model = ConvNeXt(DIMS, DEPTHS, num_classes)
    return model.eval(), image_batch(batch, image_size)
