"""Each hand-made meta output equals what torch's own meta kernel makes: shape, strides, dtype."""
from __future__ import annotations

import pytest
import torch

from costlens.tracing.fast_meta import FAST_META

LAYOUTS = {
    "contiguous": lambda x: x,
    "channels_last": lambda x: x.to(memory_format=torch.channels_last),
    "transposed": lambda x: x.transpose(1, 3),
    "sliced": lambda x: x[:, :, ::2],
    "expanded": lambda x: x[:1].expand(2, -1, -1, -1),
}
DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64)


def _arguments(op, source: torch.Tensor) -> tuple:
    if op is torch.ops.aten.native_batch_norm.default:
        stats = torch.empty(source.shape[1], device="meta", dtype=source.dtype)
        return (source, stats, stats, stats, stats, False, 0.1, 1e-5)
    return (source,)


def _described(out) -> list:
    tensors = out if isinstance(out, tuple) else (out,)
    return [(tuple(t.shape), t.stride(), t.dtype) for t in tensors]


@pytest.mark.parametrize("op", sorted(FAST_META, key=str), ids=str)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_fast_meta_matches_torch(op, layout: str, dtype: torch.dtype) -> None:
    source = LAYOUTS[layout](torch.empty(2, 3, 4, 5, device="meta", dtype=dtype))
    arguments = _arguments(op, source)
    assert _described(FAST_META[op](arguments, {})) == _described(op(*arguments))
