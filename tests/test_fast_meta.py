"""Each hand-made meta output equals what torch's own meta kernel makes: shape, strides, dtype,
over dtypes, layouts and argument forms; where a case is not handled the function says so
(None) and torch's kernel runs, but every op's plain case is handled."""
from __future__ import annotations

from typing import Callable, NamedTuple

import pytest
import torch

from costlens.tracing.fast_meta import FAST_META

aten = torch.ops.aten
LAYOUTS = {
    "contiguous": lambda x: x,
    "channels_last": lambda x: x.to(memory_format=torch.channels_last),
    "transposed": lambda x: x.transpose(1, 3),
    "sliced": lambda x: x[:, :, ::2],
    "expanded": lambda x: x[:1].expand(2, -1, -1, -1),
    "one_by_one": lambda x: x[:, :, :1, :1],  # contiguous and channels-last alike
    "last_sliced": lambda x: x[..., :2],  # rotary embeddings' halves
    "row_sliced": lambda x: x[:, 1:],
    "broadcast": lambda x: x[:, :1].expand(-1, 3, -1, -1),
}
DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64)


class Keywords(NamedTuple):
    """A case with keyword arguments (`memory_format` of clone is keyword-only)."""

    args: tuple
    kwargs: dict


def _meta(*shape: int, dtype: torch.dtype) -> torch.Tensor:
    return torch.empty(shape, device="meta", dtype=dtype)


def _maps(layout: Callable, dtype: torch.dtype) -> torch.Tensor:
    return layout(_meta(2, 3, 4, 5, dtype=dtype))


def _cases(op, layout: Callable, dtype: torch.dtype) -> list[tuple]:
    """Argument tuples of `op` on inputs in `layout`; the first is the op's plain use when the
    layout is contiguous."""
    source = _maps(layout, dtype)
    if op is aten.native_batch_norm.default:
        stats = _meta(source.shape[1], dtype=dtype)
        return [(source, stats, stats, stats, stats, False, 0.1, 1e-5)]
    if op is aten.convolution.default:
        return [(source, _meta(6, 3, 3, 3, dtype=dtype), None, [1, 1], [1, 1], [1, 1], False,
                 [0, 0], 1),
                (source, _meta(8, 1, 1, 1, dtype=dtype), None, [2, 1], [0, 0], [1, 1], False,
                 [0, 0], 3),
                (source, _meta(4, 3, 3, 2, dtype=dtype), None, [1, 2], [0, 1], [2, 1], False,
                 [0, 0], 1),
                (source, _meta(3, 2, 3, 3, dtype=dtype), None, [1, 1], [1, 1], [1, 1], True,
                 [0, 0], 1)]
    if op is aten.addmm.default:
        bias = _meta(5, dtype=dtype)
        return [(bias, _meta(6, 4, dtype=dtype), _meta(5, 4, dtype=dtype).t()),
                (bias, _meta(4, 6, dtype=dtype).t(), _meta(4, 5, dtype=dtype)),
                (_meta(6, 5, dtype=dtype), _meta(6, 4, dtype=dtype), _meta(4, 5, dtype=dtype))]
    if op is aten.native_layer_norm.default:
        weight = _meta(5, dtype=dtype)
        return [(source, [5], weight, weight, 1e-5), (source, [4, 5], None, None, 1e-5)]
    if op.name().split("::")[1].split(".")[0] in ("add", "sub", "mul", "div"):
        return [(source, _maps(layout, dtype)), (source, source.contiguous()),
                (source, _meta(1, 3, 1, 1, dtype=dtype)), (_meta(5, dtype=dtype), source),
                (source, _meta(2, 1, 4, 5, dtype=dtype)), (source, _meta(dtype=dtype)),
                (source, 2.0), (source, 3)]
    if op is aten.clone.default:
        return [(source,)] + [Keywords((source,), {"memory_format": layout}) for layout in (
            torch.contiguous_format, torch.preserve_format, torch.channels_last)]
    if op is aten.arange.default:
        return [Keywords((7,), {"device": "meta"}),
                Keywords((5,), {"dtype": dtype, "device": torch.device("meta")}),
                Keywords((0,), {"device": "meta"})]
    if op is aten.embedding.default:
        indices = torch.empty(2, 3, dtype=torch.int64, device="meta")
        return [(_meta(10, 4, dtype=dtype), indices), (_meta(10, 4, dtype=dtype), indices[0]),
                (source[0, 0], indices.int())]
    if op is aten.pow.Tensor_Scalar:
        return [(source, 2), (source, 0.5)]
    if op is aten.mean.dim:
        return [(source, [2, 3], True), (source, [-1]), (source, [1, 3], False)]
    if op is aten.scaled_dot_product_attention.default:
        return [(source, source, source), Keywords((source, source, source), {"is_causal": True})]
    if op is aten.cat.default:
        return [([source, _maps(layout, dtype)], 1), ([source, _maps(layout, dtype)], -1),
                ([source, _meta(2, 3, 4, 5, dtype=dtype)], 0)]
    return [(source,)]


def _described(out) -> list:
    tensors = out if isinstance(out, tuple) else (out,)
    return [(tuple(t.shape), t.stride(), t.dtype) for t in tensors]


@pytest.mark.parametrize("op", sorted(FAST_META, key=str), ids=str)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_fast_meta_matches_torch(op, layout: str, dtype: torch.dtype) -> None:
    for number, case in enumerate(_cases(op, LAYOUTS[layout], dtype)):
        arguments, keywords = case if isinstance(case, Keywords) else (case, {})
        fast = FAST_META[op](arguments, keywords)
        if number == 0 and layout == "contiguous":
            assert fast is not None, "the plain case is handled"
        if fast is not None:
            assert _described(fast) == _described(op(*arguments, **keywords)), (number, case)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shapes, keywords", [
    (((2, 4, 16, 8), (2, 4, 16, 8), (2, 4, 16, 8)), {}),
    (((2, 4, 16, 8), (2, 4, 16, 8), (2, 4, 16, 8)), {"is_causal": True}),
    (((1, 4, 1, 8), (1, 4, 33, 8), (1, 4, 33, 12)), {}),  # one decoded token, wider values
    (((3, 16, 8), (3, 20, 8), (3, 20, 8)), {"scale": 0.5}),
    (((2, 4, 16, 8), (2, 4, 16, 8), (2, 4, 16, 8)), {"attn_mask": (2, 1, 16, 16)}),
])
def test_the_attention_output_is_the_math_paths(shapes, keywords, dtype) -> None:
    """scaled_dot_product_attention's output made directly equals the meta device's math."""
    query, key, value = (_meta(*shape, dtype=dtype) for shape in shapes)
    if "attn_mask" in keywords:
        keywords = {**keywords, "attn_mask": _meta(*keywords["attn_mask"], dtype=dtype)}
    fast = FAST_META[aten.scaled_dot_product_attention.default]((query, key, value), keywords)
    math = torch.nn.functional.scaled_dot_product_attention(query, key, value, **keywords)
    assert _described(fast) == _described(math)


def test_shared_heads_run_the_math() -> None:
    """Grouped-query heads broadcast: that is left to torch."""
    query, key = _meta(1, 8, 4, 16, dtype=torch.float32), _meta(1, 2, 4, 16, dtype=torch.float32)
    assert FAST_META[aten.scaled_dot_product_attention.default](
        (query, key, key), {"enable_gqa": True}) is None
