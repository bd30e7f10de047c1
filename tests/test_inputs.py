"""Example inputs in every accepted form, and --input / --dtype parsing."""
from __future__ import annotations

import pytest
import torch

from costlens import CostlensError
from costlens.tracing.inputs import (
    Inputs,
    parse_dtype,
    parse_shape,
    shape_inputs,
    split_inputs,
)


def test_split_inputs_forms() -> None:
    x = torch.zeros(1)
    assert split_inputs(None) == ((), {})
    assert split_inputs(x)[0][0] is x
    assert split_inputs((x, x))[0] == (x, x)
    assert split_inputs([x])[0] == (x,)
    assert split_inputs({"a": x}) == ((), {"a": x})
    assert split_inputs(Inputs((x,), {"b": 1})) == ((x,), {"b": 1})
    with pytest.raises(CostlensError):
        split_inputs(3)


def test_parse_shape() -> None:
    assert parse_shape("1x3x224x224") == (1, 3, 224, 224)
    assert parse_shape("8") == (8,)
    for bad in ("", "1x", "ax3", "1x-3", "1.5x2"):
        with pytest.raises(CostlensError, match="bad --input"):
            parse_shape(bad)


def test_parse_dtype() -> None:
    assert parse_dtype("float16") is torch.float16
    assert parse_dtype("torch.bfloat16") is torch.bfloat16
    assert parse_dtype("long") is torch.int64
    with pytest.raises(CostlensError, match="unknown --dtype 'float13'"):
        parse_dtype("float13")


def test_shape_inputs_are_meta_tensors() -> None:
    inputs = shape_inputs(["1x3x8x8", "1x4"], "int64")
    assert [t.shape for t in inputs.args] == [(1, 3, 8, 8), (1, 4)]
    assert all(t.is_meta and t.dtype is torch.int64 for t in inputs.args)


def test_an_input_object_that_cannot_be_copied_is_refused() -> None:
    """The trace runs on a copy of an input object, so that the caller's is left alone; one
    that cannot be copied is said so in one line, not handed over."""
    import costlens

    class Cache:
        def __init__(self) -> None:
            self.keys = torch.zeros(2, 4)

        def __deepcopy__(self, memo: dict) -> "Cache":
            raise TypeError("no copies")

    class Reader(torch.nn.Module):
        def forward(self, x: torch.Tensor, cache: Cache) -> torch.Tensor:
            return x + cache.keys

    with pytest.raises(CostlensError, match="cannot be copied for the trace"):
        costlens.analyze(Reader(), costlens.Inputs((torch.randn(2, 4),),
                                                    {"cache": Cache()}))
