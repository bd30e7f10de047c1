"""Data movement: views cost nothing, copies cost what they read and write, no FLOPs."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from helpers import Lambda, example, kernels, only_kernel
from torch import nn

import costlens

X = (1, 4, 6, 6)
N = 144


def test_views_are_free_and_launch_nothing() -> None:
    analysis = costlens.analyze(
        Lambda(lambda x: x.view(4, 36).t().unsqueeze(0).permute(0, 2, 1).flatten()),
        torch.randn(X))
    assert analysis.ops and all(op.category == "view" for op in analysis.ops)
    assert (analysis.totals.flops, analysis.totals.mac, analysis.totals.kernels) == (0, 0, 0)


def test_contiguous_copy_after_a_transpose() -> None:
    op = only_kernel(lambda x: x.transpose(1, 2).contiguous(), torch.randn(X))
    assert (op.op, op.category, op.flops, op.mac) == ("aten.clone.default", "movement", 0, 2 * N)


def test_contiguous_on_contiguous_data_is_no_op() -> None:
    assert kernels(lambda x: x.contiguous(), torch.randn(X)) == []


def test_channel_shuffle_is_one_copy() -> None:
    blocks = example("blocks")
    op = only_kernel(lambda x: blocks.channel_shuffle(x, 2), torch.randn(X))
    assert (op.category, op.mac) == ("movement", 2 * N)


def test_cat_and_stack() -> None:
    a, b = torch.randn(1, 2, 6, 6), torch.randn(1, 3, 6, 6)
    assert only_kernel(lambda x, y: torch.cat([x, y], 1), a, b).mac == 72 + 108 + 180
    assert only_kernel(lambda x, y: torch.stack([x, y]), a, a).mac == 4 * 72


def test_padding() -> None:
    op = only_kernel(lambda x: F.pad(x, (1, 1, 1, 1)), torch.randn(X))
    assert op.mac == N + 4 * 8 * 8


def test_gathers_read_only_what_they_fetch() -> None:
    table = torch.randn(100, 8)
    embedding = only_kernel(nn.Embedding(100, 8), torch.zeros(2, 5, dtype=torch.long))
    assert (embedding.flops, embedding.mac) == (0, 10 + 80 + 80)
    index = torch.tensor([0, 3, 7])
    assert only_kernel(lambda t, i: t[i], table, index).mac == 3 + 24 + 24
    assert only_kernel(lambda t, i: t.index_select(0, i), table, index).mac == 3 + 24 + 24
    columns = torch.zeros(100, 2, dtype=torch.long)
    gathered = only_kernel(lambda t, i: t.gather(1, i), table, columns)
    assert gathered.mac == 200 + 200 + 200


def test_dtype_conversion_reads_and_writes_at_each_size() -> None:
    op = only_kernel(lambda x: x.half(), torch.randn(X))
    assert (op.op, op.mac, op.mac_bytes) == ("aten._to_copy.default", 2 * N, 4 * N + 2 * N)


def test_copy_into_a_slice_does_not_read_the_destination() -> None:
    def assign(x: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(1, 8, 6, 6)
        out[:, :4] = x
        return out
    copy = [op for op in kernels(assign, torch.randn(X)) if op.op == "aten.copy_.default"]
    assert [op.mac for op in copy] == [2 * N]


def test_upsampling() -> None:
    x = torch.randn(1, 2, 4, 4)
    nearest = only_kernel(lambda t: F.interpolate(t, scale_factor=2), x)
    assert (nearest.category, nearest.flops, nearest.mac) == ("movement", 0, 32 + 128)
    bilinear = only_kernel(lambda t: F.interpolate(t, scale_factor=2, mode="bilinear"), x)
    assert bilinear.flops == 128 * 4


def test_in_place_scatters_touch_only_what_they_write() -> None:
    cache = torch.zeros(1, 32, 4096, 128)
    step = torch.randn(1, 32, 1, 128)
    position = torch.tensor([7])
    op = only_kernel(lambda c, s, p: c.index_copy_(2, p, s), cache, step, position)
    assert (op.op, op.flops) == ("aten.index_copy_.default", 0)
    assert op.mac == 1 + 4096 + 4096  # index, source, written positions

    table = torch.zeros(100, 8)
    indices = torch.tensor([1, 5, 9])
    put = only_kernel(lambda t, i: t.index_put_((i,), torch.tensor(0.0)), table, indices)
    assert put.mac == 3 + 1 + 24
    added = only_kernel(lambda t, i, v: t.scatter_add_(0, i, v), table,
                        torch.zeros(2, 8, dtype=torch.long), torch.ones(2, 8))
    assert (added.flops, added.mac) == (16, 16 + 16 + 16 + 16)


def test_out_of_place_scatter_copies_the_whole_tensor() -> None:
    table, index, values = torch.zeros(10, 4), torch.zeros(2, 4, dtype=torch.long), torch.ones(2, 4)
    op = only_kernel(lambda t, i, v: t.scatter(0, i, v), table, index, values)
    assert op.mac == 40 + 8 + 8 + 40
