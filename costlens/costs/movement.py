"""Data movement: views are free, copies cost their bytes.

A view or a reshape that needs no copy only rewrites metadata: no kernel, no MAC. Everything
that materializes data (concatenation, a `.contiguous()` after a transpose as in a channel
shuffle, padding, dtype conversion, gathers and embedding lookups, nearest upsampling, fills)
reads what it reads and writes what it writes, with no arithmetic. Interpolating upsampling
adds its multiply-adds: 2 per output element for linear, 4 bilinear, 8 trilinear, 16 bicubic.
"""
from __future__ import annotations

import math

from ..graph import OpNode, TensorMeta
from .category import Category
from .registry import VIEW_COST, OpCost, first_input, formula, measured


@formula("aten._unsafe_view", "aten.unsafe_split", "aten.unsafe_split_with_sizes",
         "aten.unsafe_chunk", "aten.empty", "aten.empty_like", "aten.empty_strided",
         "aten.new_empty", "aten.new_empty_strided", "aten.resize_", "aten.set_",
         "aten.lift_fresh")
def no_data_moved(_node: OpNode) -> OpCost:
    return VIEW_COST


@formula("aten.clone", "aten._to_copy", "aten.cat", "aten.stack", "aten.constant_pad_nd",
         "aten.reflection_pad1d", "aten.reflection_pad2d", "aten.reflection_pad3d",
         "aten.replication_pad1d", "aten.replication_pad2d", "aten.replication_pad3d",
         "aten._pad_circular", "aten.channel_shuffle", "aten.native_channel_shuffle",
         "aten.pixel_shuffle", "aten.pixel_unshuffle", "aten.repeat", "aten.roll", "aten.flip",
         "aten.im2col", "aten.col2im", "aten.masked_select", "aten.nonzero", "aten.scatter",
         "aten.scatter_add", "aten.scatter_reduce", "aten.index_put", "aten.index_add",
         "aten.index_copy", "aten.masked_scatter", "aten.lift_fresh_copy",
         "aten._local_scalar_dense", "aten.upsample_nearest1d", "aten.upsample_nearest2d",
         "aten.upsample_nearest3d", "aten._upsample_nearest_exact1d",
         "aten._upsample_nearest_exact2d", "aten._upsample_nearest_exact3d",
         "aten.repeat_interleave", "aten.expand_copy", "aten.permute_copy",
         "aten.transpose_copy", "aten.view_copy", "aten.slice_copy", "aten.alias_copy")
def copy(node: OpNode) -> OpCost:
    return measured(node, 0, Category.MOVEMENT)


@formula("aten.copy_", "aten.copy")
def copy_into(node: OpNode) -> OpCost:
    """Reads the source once and writes the destination; the destination is not read."""
    return measured(node, 0, Category.MOVEMENT, reads=[node.arg("src")])


@formula("aten.scatter_", "aten.scatter_add_", "aten.scatter_reduce_", "aten.index_put_",
         "aten.index_add_", "aten.index_copy_", "aten.index_fill_", "aten.masked_scatter_",
         "aten._index_put_impl_")
def scatter_into(node: OpNode) -> OpCost:
    """An in-place scatter (a KV-cache write, `x[idx] = v`) touches only the positions it
    writes: it reads the indices and the values, writes that many elements, and an
    accumulating one (add, reduce, accumulate=True) reads them first and adds once each."""
    destination = first_input(node)
    sources = [item.tensor for item in node.inputs if item.arg != "self"]
    written = TensorMeta((_written_elements(node, destination),), (1,), destination.dtype,
                         destination.itemsize)
    accumulates = "add" in node.packet or "reduce" in node.packet or bool(node.attr("accumulate"))
    reads = [*sources, written] if accumulates else sources
    flops = written.numel if accumulates else 0
    return measured(node, flops, Category.MOVEMENT, reads=reads, writes=[written])


def _written_elements(node: OpNode, destination: TensorMeta) -> int:
    """Positions a scatter writes: as many as its values when they are a full tensor, else the
    indexed positions times the dimensions the index leaves whole."""
    for name in ("src", "source", "values"):
        values = node.arg(name)
        if values is not None and values.numel > 1:
            return values.numel
    indices = [item.tensor for item in node.inputs if item.arg.startswith("indices[")]
    if indices:
        whole = destination.shape[len(indices):]
        return max(index.numel for index in indices) * math.prod(whole)
    index = node.arg("index") or node.arg("mask")
    if index is None:
        return destination.numel
    if node.packet.startswith("aten.index_"):  # index along `dim`: whole slices
        dim = int(node.attr("dim", 0)) % len(destination.shape)
        return index.numel * destination.numel // max(destination.shape[dim], 1)
    return index.numel


@formula("aten.fill", "aten.zero", "aten.zeros", "aten.ones", "aten.full", "aten.zeros_like",
         "aten.ones_like", "aten.full_like", "aten.new_zeros", "aten.new_ones", "aten.new_full",
         "aten.arange", "aten.linspace", "aten.logspace", "aten.scalar_tensor", "aten.eye")
def fill(node: OpNode) -> OpCost:
    """Writes its output; reads nothing (a like-op reads only its argument's shape)."""
    return measured(node, 0, Category.MOVEMENT, reads=[])


@formula("aten._embedding_bag", "aten._embedding_bag_forward_only")
def embedding_bag(node: OpNode) -> OpCost:
    """Gathers one row per index and reduces them into bags: one op per gathered element."""
    weight, indices = node.arg("weight"), node.arg("indices")
    rows = TensorMeta((indices.numel, weight.shape[-1]), (weight.shape[-1], 1), weight.dtype,
                      weight.itemsize)
    reads = [item.tensor for item in node.inputs if item.arg != "weight"] + [rows]
    return measured(node, rows.numel, Category.REDUCTION, reads=reads, writes=node.outputs[:1])


@formula("aten.embedding", "aten.index", "aten.index_select", "aten.gather", "aten.take",
         "aten.take_along_dim")
def gather(node: OpNode) -> OpCost:
    """Reads only the gathered rows (as many as it writes) and the indices, not the whole table."""
    indices = [item.tensor for item in node.inputs
               if item.arg != "self" and item.arg != "weight"]
    return measured(node, 0, Category.MOVEMENT, reads=[*indices, *node.outputs])


_INTERPOLATION_FLOPS = {"linear1d": 2, "bilinear2d": 4, "trilinear3d": 8, "bicubic2d": 16}


@formula("aten.upsample_linear1d", "aten.upsample_bilinear2d", "aten.upsample_trilinear3d",
         "aten.upsample_bicubic2d", "aten._upsample_bilinear2d_aa", "aten._upsample_bicubic2d_aa")
def interpolate(node: OpNode) -> OpCost:
    mode = node.packet.removeprefix("aten.").removeprefix("_").removeprefix("upsample_")
    per_output = _INTERPOLATION_FLOPS[mode.removesuffix("_aa")]
    reads = [first_input(node)]
    return measured(node, node.outputs[0].numel * per_output, Category.MOVEMENT, reads=reads)
