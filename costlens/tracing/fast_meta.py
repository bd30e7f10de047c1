"""Outputs of a few hot ops on the meta device, made directly.

torch's meta kernels for batch norm, layer norm, addmm, arithmetic, mean, cat, clone,
convolution, embedding, arange and simple activations are Python code (decompositions, shape
functions) that cost from 25 us to a millisecond per call, most of a small network's trace
time; scaled_dot_product_attention, which the recorder keeps whole, would run its whole math
through them, a few milliseconds a call. Their outputs are easy to state for the common layouts
(row-major, matching dtypes), which are all handled here; the activation's output is laid out
like its input, batch norm adds per-channel statistics. The tests check each function here
against torch's own meta kernel over dtypes and layouts; anything outside the cases handled
returns None and goes to torch.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch import Tensor

_aten = torch.ops.aten

# Activations that keep their input's dtype and layout, out of place and in place.
_ACTIVATIONS = ("relu", "hardtanh", "gelu", "silu", "sigmoid", "tanh", "hardswish",
                "hardsigmoid", "leaky_relu", "elu", "mish")
_REDUCED_PRECISION = (torch.float16, torch.bfloat16)


def _like(source: Tensor) -> Tensor:
    """An output laid out as `source` (new_empty is four times as fast as empty_like)."""
    return source.new_empty(source.shape) if _plainly_contiguous(source) \
        else torch.empty_like(source)


def _activation(args: tuple[Any, ...], _kwargs: dict[str, Any]) -> Tensor | None:
    source = args[0]
    if not source.dtype.is_floating_point:
        return None
    return _like(source)


def _activation_in_place(args: tuple[Any, ...], _kwargs: dict[str, Any]) -> Tensor | None:
    return args[0] if args[0].dtype.is_floating_point else None


def _batch_norm(args: tuple[Any, ...], _kwargs: dict[str, Any]) -> tuple[Tensor, ...] | None:
    source = args[0]
    if source.dim() < 2 or not source.dtype.is_floating_point:
        return None
    statistics = torch.float32 if source.dtype in _REDUCED_PRECISION else source.dtype
    channels = source.shape[1]
    return (_like(source), source.new_empty(channels, dtype=statistics),
            source.new_empty(channels, dtype=statistics))


def _plainly_contiguous(tensor: Tensor) -> bool:
    """Contiguous, and not also channels-last contiguous: a layout torch's kernels cannot read
    as anything else, so their outputs are contiguous too."""
    if not tensor.is_contiguous():
        return False
    if tensor.dim() == 4:
        return not tensor.is_contiguous(memory_format=torch.channels_last)
    if tensor.dim() == 5:
        return not tensor.is_contiguous(memory_format=torch.channels_last_3d)
    return True


def _convolution(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Tensor | None:
    """torch's meta kernel makes a contiguous output of the convolution's shape."""
    if kwargs or len(args) != 9:
        return None
    source, weight, _bias, stride, padding, dilation, transposed, _output_padding, groups = args
    spatial_dims = source.dim() - 2
    if (transposed or spatial_dims not in (1, 2, 3) or weight.dim() != source.dim()
            or not all(len(values) == spatial_dims for values in (stride, padding, dilation))
            or source.shape[1] == 0 or source.shape[1] != weight.shape[1] * groups):
        return None
    sizes = [(size + 2 * pad - step * (kernel - 1) - 1) // jump + 1
             for size, kernel, jump, pad, step in zip(source.shape[2:], weight.shape[2:], stride,
                                                      padding, dilation)]
    if any(size <= 0 for size in sizes):
        return None
    return source.new_empty((source.shape[0], weight.shape[0], *sizes))


def _addmm(args: tuple[Any, ...], _kwargs: dict[str, Any]) -> Tensor | None:
    bias, first, second = args[:3]
    if (first.dim() != 2 or second.dim() != 2 or first.shape[1] != second.shape[0]
            or tuple(bias.shape) != (second.shape[1],)
            or len({bias.dtype, first.dtype, second.dtype}) != 1):
        return None
    return first.new_empty((first.shape[0], second.shape[1]))


def _layer_norm(args: tuple[Any, ...], _kwargs: dict[str, Any]) -> tuple[Tensor, ...] | None:
    source, normalized = args[0], tuple(args[1])
    axis = source.dim() - len(normalized)
    if (axis < 0 or tuple(source.shape[axis:]) != normalized or not _plainly_contiguous(source)
            or not source.dtype.is_floating_point):
        return None
    statistics = torch.float32 if source.dtype in _REDUCED_PRECISION else source.dtype
    kept = (*source.shape[:axis], *([1] * len(normalized)))
    return (source.new_empty(source.shape), source.new_empty(kept, dtype=statistics),
            source.new_empty(kept, dtype=statistics))


def _row_major(tensor: Tensor) -> bool:
    """Plainly contiguous, or a row-major view that is not (a slice, a broadcast): its steps
    shrink from the first dimension to the last, as an elementwise kernel's output's do."""
    if _plainly_contiguous(tensor):
        return True
    steps = [step for size, step in zip(tensor.shape, tensor.stride()) if size > 1]
    return all(step > 0 for step in steps) and all(a > b for a, b in zip(steps, steps[1:])) \
        and tensor.shape[-1:] != (1,)


def _binary(args: tuple[Any, ...], _kwargs: dict[str, Any]) -> Tensor | None:
    """Two floating tensors of one dtype in row-major layouts, one of them of the result's
    shape (the other the same or broadcast to it), or a floating tensor and a Python number:
    a contiguous result."""
    first, second = args[:2]
    if type(second) in (int, float) and first.dtype.is_floating_point and _row_major(first):
        return first.new_empty(first.shape)  # a Python number takes the tensor's dtype
    if (not isinstance(second, Tensor) or first.dtype != second.dtype
            or not first.dtype.is_floating_point
            or not (_row_major(first) and _row_major(second))):
        return None
    try:
        shape = torch.broadcast_shapes(first.shape, second.shape)
    except RuntimeError:
        return None
    if shape != first.shape and shape != second.shape:
        return None
    return first.new_empty(shape)


def _unary(args: tuple[Any, ...], _kwargs: dict[str, Any]) -> Tensor | None:
    source = args[0]
    if not source.dtype.is_floating_point or not _row_major(source):
        return None
    return source.new_empty(source.shape)


def _clone(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Tensor | None:
    """A contiguous copy (`.contiguous()` after a transpose), or a plainly contiguous tensor's
    copy in its own layout."""
    source, layout = args[0], kwargs.get("memory_format")
    if layout is torch.contiguous_format or (layout in (None, torch.preserve_format)
                                             and _plainly_contiguous(source)):
        return source.new_empty(source.shape)
    return None


def _mean(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Tensor | None:
    source, dims = args[0], args[1] if len(args) > 1 else None
    keep = bool(args[2]) if len(args) > 2 else bool(kwargs.get("keepdim", False))
    if (kwargs.get("dtype") is not None or not dims or not source.dim()
            or not source.dtype.is_floating_point or not _plainly_contiguous(source)):
        return None
    reduced = {int(dim) % source.dim() for dim in dims}
    shape = [1 if index in reduced else size for index, size in enumerate(source.shape)
             if keep or index not in reduced]
    return source.new_empty(shape)


def _cat(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Tensor | None:
    tensors = list(args[0])
    dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
    first = tensors[0] if tensors else None
    if (first is None or not first.dim() or any(t.dim() != first.dim() or t.dtype != first.dtype
                                                or not t.numel() or not _row_major(t)
                                                for t in tensors)):
        return None
    dim %= first.dim()
    if any(t.shape[:dim] != first.shape[:dim] or t.shape[dim + 1:] != first.shape[dim + 1:]
           for t in tensors):
        return None
    shape = list(first.shape)
    shape[dim] = sum(t.shape[dim] for t in tensors)
    return first.new_empty(shape)


def _arange(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Tensor | None:
    """`arange(end)` on the meta device: `end` values, int64 for a whole `end` unless a dtype
    is given (rotary embeddings' positions)."""
    end, device = args[0], kwargs.get("device")
    if len(args) != 1 or type(end) is not int or end < 0 or device is None \
            or torch.device(device).type != "meta" or kwargs.get("layout") not in (None,
                                                                                 torch.strided):
        return None
    return torch.empty(end, dtype=kwargs.get("dtype") or torch.int64, device=device)


def _embedding(args: tuple[Any, ...], _kwargs: dict[str, Any]) -> Tensor | None:
    """A row of the table per index: (*indices, width), contiguous."""
    weight, indices = args[:2]
    if weight.dim() != 2 or indices.dtype not in (torch.int64, torch.int32):
        return None
    return weight.new_empty((*indices.shape, weight.shape[1]))


def _attention(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Tensor | None:
    """scaled_dot_product_attention, which the recorder keeps whole (FusedFunctions): the meta
    device would run its math through torch's Python reference kernels, a few milliseconds a
    call, only to give `query`'s shape with `value`'s width, laid out as the math's last
    product (contiguous). None for shared or broadcast heads or a real tensor."""
    bound = dict(zip(("query", "key", "value", "attn_mask"), args)) | kwargs
    query, key, value = bound.get("query"), bound.get("key"), bound.get("value")
    mask = bound.get("attn_mask")
    tensors = [query, key, value] + ([mask] if mask is not None else [])
    if not all(isinstance(t, Tensor) and t.is_meta for t in tensors) or query.dim() < 2 \
            or query.shape[:-2] != value.shape[:-2] or key.shape[:-1] != value.shape[:-1] \
            or key.shape[-1] != query.shape[-1] or not (query.dtype == key.dtype == value.dtype):
        return None
    return torch.empty((*query.shape[:-1], value.shape[-1]), dtype=query.dtype, device="meta")


FAST_META: dict[Any, Callable[[tuple[Any, ...], dict[str, Any]], Any]] = {
    _aten.native_batch_norm.default: _batch_norm,
    _aten.convolution.default: _convolution,
    _aten.addmm.default: _addmm,
    _aten.native_layer_norm.default: _layer_norm,
    **{getattr(_aten, name).Tensor: _binary for name in ("add", "sub", "mul", "div")},
    **{getattr(_aten, name).default: _unary for name in ("neg", "rsqrt", "sqrt", "exp", "log",
                                                          "reciprocal", "sin", "cos")},
    _aten.pow.Tensor_Scalar: _unary,
    _aten.mean.dim: _mean,
    _aten.cat.default: _cat,
    _aten.clone.default: _clone,
    _aten.arange.default: _arange,
    _aten.embedding.default: _embedding,
    _aten.scaled_dot_product_attention.default: _attention,
}
for _name in _ACTIVATIONS:
    FAST_META[getattr(_aten, _name).default] = _activation
    FAST_META[getattr(_aten, _name + "_").default] = _activation_in_place
