"""Outputs of a few hot ops on the meta device, made directly.

torch's meta kernels for batch norm and for simple activations are Python decompositions that
cost a millisecond or more per call, most of a CNN's trace time. Their outputs are easy to
state: the activation's output is laid out like its input, batch norm adds per-channel
statistics. The tests check each function here against torch's own meta kernel over dtypes and
layouts; anything outside the cases handled returns None and goes to torch.
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


def _activation(args: tuple[Any, ...], _kwargs: dict[str, Any]) -> Tensor | None:
    source = args[0]
    if not source.dtype.is_floating_point:
        return None
    return torch.empty_like(source)


def _activation_in_place(args: tuple[Any, ...], _kwargs: dict[str, Any]) -> Tensor | None:
    return args[0] if args[0].dtype.is_floating_point else None


def _batch_norm(args: tuple[Any, ...], _kwargs: dict[str, Any]) -> tuple[Tensor, ...] | None:
    source = args[0]
    if source.dim() < 2 or not source.dtype.is_floating_point:
        return None
    statistics = torch.float32 if source.dtype in _REDUCED_PRECISION else source.dtype
    channels = source.shape[1]
    return (torch.empty_like(source),
            torch.empty(channels, dtype=statistics, device=source.device),
            torch.empty(channels, dtype=statistics, device=source.device))


FAST_META: dict[Any, Callable[[tuple[Any, ...], dict[str, Any]], Any]] = {
    _aten.native_batch_norm.default: _batch_norm,
}
for _name in _ACTIVATIONS:
    FAST_META[getattr(_aten, _name).default] = _activation
    FAST_META[getattr(_aten, _name + "_").default] = _activation_in_place
