"""What a model is called with: example inputs in every accepted form, and `--input` shapes.

A factory or a caller may give one tensor, a tuple of positional inputs, a dict of keyword
inputs (values may nest), or both as `Inputs`. Shapes from the command line become meta
tensors: nothing is allocated for them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import torch

from ..errors import CostlensError

_DTYPES = {
    "float32": torch.float32, "float": torch.float32, "fp32": torch.float32,
    "float16": torch.float16, "half": torch.float16, "fp16": torch.float16,
    "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
    "float64": torch.float64, "double": torch.float64,
    "int64": torch.int64, "long": torch.int64, "int32": torch.int32, "int": torch.int32,
    "int16": torch.int16, "int8": torch.int8, "uint8": torch.uint8, "bool": torch.bool,
}

_SHAPE = re.compile(r"^\d+(x\d+)*$")


@dataclass(frozen=True)
class Inputs:
    """Positional and keyword inputs of one forward call."""

    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)


def split_inputs(inputs: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """(args, kwargs) from any accepted form of example inputs."""
    if inputs is None:
        return (), {}
    if isinstance(inputs, Inputs):
        return tuple(inputs.args), dict(inputs.kwargs)
    if isinstance(inputs, torch.Tensor):
        return (inputs,), {}
    if isinstance(inputs, (tuple, list)):
        return tuple(inputs), {}
    if isinstance(inputs, Mapping):
        if not all(isinstance(key, str) for key in inputs):
            raise CostlensError("keyword inputs must be a dict with string keys")
        return (), dict(inputs)
    raise CostlensError(f"inputs must be a tensor, a tuple, a dict or costlens.Inputs, "
                        f"not {type(inputs).__name__}")


def parse_shape(text: str) -> tuple[int, ...]:
    """`1x3x224x224` -> (1, 3, 224, 224)."""
    cleaned = text.strip().lower().replace(",", "x")
    if not _SHAPE.match(cleaned):
        raise CostlensError(f"bad --input {text!r}: write a shape as sizes joined by 'x', "
                            "e.g. --input 1x3x224x224")
    return tuple(int(size) for size in cleaned.split("x"))


def parse_dtype(name: str) -> torch.dtype:
    try:
        return _DTYPES[name.strip().lower().removeprefix("torch.")]
    except KeyError:
        known = ", ".join(sorted({"float32", "float16", "bfloat16", "float64", "int64", "int32",
                                  "int16", "int8", "uint8", "bool"}))
        raise CostlensError(f"unknown --dtype {name!r}; use one of {known}") from None


def shape_inputs(shapes: list[str], dtype: str = "float32") -> Inputs:
    """Meta tensors of the given shapes, one per positional input."""
    element = parse_dtype(dtype)
    return Inputs(tuple(torch.empty(parse_shape(shape), dtype=element, device="meta")
                        for shape in shapes))


def inputs_on(inputs: Inputs, device: torch.device) -> Inputs:
    """The same inputs with every tensor moved to `device` (other values as they are)."""
    return _map_tensors(inputs, lambda tensor: tensor.to(device))


def cast_inputs(inputs: Inputs, dtype: torch.dtype) -> Inputs:
    """The inputs with every floating tensor in `dtype`, as a model cast to it is called."""
    return _map_tensors(inputs, lambda tensor: tensor.to(dtype)
                        if tensor.is_floating_point() else tensor)


def _map_tensors(inputs: Inputs, function: Callable[[torch.Tensor], torch.Tensor]) -> Inputs:
    from torch.utils._pytree import tree_map

    def apply(value: Any) -> Any:
        return function(value) if isinstance(value, torch.Tensor) else value
    return Inputs(tree_map(apply, tuple(inputs.args)), tree_map(apply, dict(inputs.kwargs)))
