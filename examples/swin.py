"""Swin-T, laid out like torchvision's ``swin_transformer.py`` (Swin V1).

Source: Liu, Lin, Cao, Hu, Wei, Zhang, Lin and Guo, "Swin Transformer:
Hierarchical Vision Transformer using Shifted Windows", ICCV 2021
(arXiv:2103.14030), Section 3 and Table 7 (Swin-T: C = 96, depths 2/2/6/2,
heads 3/6/12/24, window 7, MLP ratio 4). Self-attention runs inside
non-overlapping 7x7 windows; every second block shifts the map by half a window
(``torch.roll``) and masks the pairs of tokens that the shift brought together
from opposite borders. Each window adds a learnt relative position bias, looked up
in a table by a fixed index buffer. The bias (plus the shift mask where shifted)
is the float ``attn_mask`` of ``scaled_dot_product_attention``. Module names match
torchvision (``features``, ``attn.qkv``, ``mlp``, ``reduction``, ``norm``, ``head``);
stochastic depth, an identity at inference, is left out.

Swin-T at 224x224: 28,288,354 parameters; 4.35G multiply-adds in its patch embedding
conv and linear layers, and 0.155G in the windowed attention (0.140G of them its two
products; the rest scale, softmax and bias).

Analyze with e.g. ``costlens report examples/swin.py:swin_t``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import Permute, PreNormBlock, image_batch

EMBED_DIM = 96
DEPTHS = (2, 2, 6, 2)
HEADS = (3, 6, 12, 24)
WINDOW = 7
PATCH = 4
MLP_RATIO = 4


def relative_position_index(window: int) -> torch.Tensor:
    """For every pair of the window's tokens, the row of their offset in the bias table.

    Offsets run from -(window - 1) to window - 1 on each axis, so the table has
    (2 * window - 1) ** 2 rows.
    """
    coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window),
                                        indexing="ij")).flatten(1)
    relative = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window - 1)
    return (relative[:, :, 0] * (2 * window - 1) + relative[:, :, 1]).flatten()


def shift_mask(height: int, width: int, window: int, shift: int) -> torch.Tensor:
    """-100 between tokens of one shifted window that come from different regions, else 0.

    Shape (windows, 1, tokens, tokens): it broadcasts over the heads.
    """
    regions = torch.zeros(height, width)
    label = 0
    bands = (slice(0, -window), slice(-window, -shift), slice(-shift, None))
    for rows in bands:
        for columns in bands:
            regions[rows, columns] = label
            label += 1
    windows = regions.view(height // window, window, width // window, window)
    windows = windows.permute(0, 2, 1, 3).reshape(-1, window * window)
    differs = windows[:, None, :] != windows[:, :, None]
    return torch.zeros(differs.shape).masked_fill(differs, -100.0).unsqueeze(1)


class ShiftedWindowAttention(nn.Module):
    """Multi-head self-attention within windows, with a relative position bias.

    Input and output are channels-last maps (B, H, W, C). The windows are cut by
    view/permute (window partition) and put back the same way (window reverse).
    """

    def __init__(self, dim: int, heads: int, window: int, shift: int,
                 resolution: tuple[int, int]) -> None:
        super().__init__()
        self.heads, self.window = heads, window
        # no shift when one window covers the whole map (Swin-T's last stage)
        self.shift = 0 if window >= min(resolution) else shift
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.relative_position_bias_table = nn.Parameter(
            torch.randn((2 * window - 1) ** 2, heads) * 0.02)
        self.register_buffer("relative_position_index", relative_position_index(window),
                             persistent=False)
        mask = shift_mask(*resolution, window, self.shift) if self.shift else None
        self.register_buffer("attn_mask", mask, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, height, width, channels = x.shape
        window, tokens = self.window, self.window * self.window
        if self.shift:
            x = torch.roll(x, shifts=(-self.shift, -self.shift), dims=(1, 2))
        # window partition: (B, windows, tokens, C)
        x = x.view(batch, height // window, window, width // window, window, channels)
        x = x.permute(0, 1, 3, 2, 4, 5).reshape(batch, -1, tokens, channels)
        qkv = self.qkv(x).unflatten(-1, (3, self.heads, -1))
        q, k, v = qkv.permute(3, 0, 1, 4, 2, 5).unbind(0)  # each (B, windows, heads, tokens, d)
        bias = self.relative_position_bias_table[self.relative_position_index]
        bias = bias.view(tokens, tokens, -1).permute(2, 0, 1)  # (heads, tokens, tokens)
        if self.attn_mask is not None:
            bias = bias + self.attn_mask  # (windows, heads, tokens, tokens)
        x = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        x = self.proj(x.transpose(2, 3).flatten(3))
        # window reverse
        x = x.view(batch, height // window, width // window, window, window, channels)
        x = x.permute(0, 1, 3, 2, 4, 5).reshape(batch, height, width, channels)
        if self.shift:
            x = torch.roll(x, shifts=(self.shift, self.shift), dims=(1, 2))
        return x


class SwinTransformerBlock(PreNormBlock):
    """Pre-LayerNorm residual block around shifted window attention."""

    def __init__(self, dim: int, heads: int, window: int, shift: int,
                 resolution: tuple[int, int]) -> None:
        super().__init__(dim, ShiftedWindowAttention(dim, heads, window, shift, resolution),
                         MLP_RATIO)


class PatchMerging(nn.Module):
    """Halve the map: concatenate each 2x2 neighbourhood (four strided slices) to 4C
    channels, LayerNorm, then a linear reduction to 2C."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x0 = x[:, 0::2, 0::2]
        x1 = x[:, 1::2, 0::2]
        x2 = x[:, 0::2, 1::2]
        x3 = x[:, 1::2, 1::2]
        return self.reduction(self.norm(torch.cat([x0, x1, x2, x3], dim=-1)))


class SwinTransformer(nn.Module):
    """Patch embedding, four stages (patch merging between them), LayerNorm, pool, head."""

    def __init__(self, embed_dim: int, depths: tuple[int, ...], heads: tuple[int, ...],
                 window: int, num_classes: int, image_size: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Sequential(
            nn.Conv2d(3, embed_dim, PATCH, stride=PATCH), Permute((0, 2, 3, 1)),
            nn.LayerNorm(embed_dim))]
        side = image_size // PATCH
        dim = embed_dim
        for index, (depth, head_count) in enumerate(zip(depths, heads)):
            layers.append(nn.Sequential(*(
                SwinTransformerBlock(dim, head_count, window, 0 if i % 2 == 0 else window // 2,
                                     (side, side))
                for i in range(depth))))
            if index < len(depths) - 1:
                layers.append(PatchMerging(dim))
                dim, side = 2 * dim, side // 2
        self.features = nn.Sequential(*layers)
        self.norm = nn.LayerNorm(dim)
        self.permute = Permute((0, 3, 1, 2))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(self.features(x))
        x = self.avgpool(self.permute(x))
        return self.head(torch.flatten(x, 1))


def swin_t(num_classes: int = 1000, batch: int = 1,
           image_size: int = 224) -> tuple[nn.Module, torch.Tensor]:
    """Swin-T. The shift masks are built for ``image_size``, and every stage's map must be a
    whole number of 7x7 windows: ``image_size`` a multiple of 224 (no padding is done)."""
    model = SwinTransformer(EMBED_DIM, DEPTHS, HEADS, WINDOW, num_classes, image_size)
    return model.eval(), image_batch(batch, image_size)
