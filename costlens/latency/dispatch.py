"""Which of PyTorch's two CPU convolution kernels runs a conv: oneDNN's, or its own native one
(`thnn_conv2d`: unfold and a matrix multiply).

PyTorch chooses from the conv's shapes and the intra-op thread count (ConvParams::use_mkldnn
in aten/src/ATen/native/Convolution.cpp), so one layer can run either kernel depending on how
many threads run it: a 1x1 conv on one image runs the native kernel at one thread and oneDNN's
at more, where its input has more than 20,480 elements. The two are different code and differ
up to eightfold on the same shape: at two threads on this project's build machine a 1x1 conv
24 -> 24 on 56x56 took 136 us through oneDNN and 17 us natively, while one 64 -> 384 on 14x14
took 36 us natively. A size correction that mixes samples of both kernels misprices both.
"""
from __future__ import annotations

import math

from ..graph import OpNode

#: inputs of at most this many elements (batch x channels x the first spatial dimension(s), as
#: PyTorch counts them) run natively when nothing else asks for oneDNN; "for some case, native
#: is faster", says PyTorch's source.
NATIVE_INPUT_LIMIT = 20480
_ALWAYS_ONEDNN = frozenset({"bfloat16", "float16"})


def runs_onednn(node: OpNode, threads: int) -> bool:
    """Whether PyTorch runs the convolution `node` through oneDNN on a CPU at `threads`
    intra-op threads (else its native kernel), as ConvParams::use_mkldnn decides."""
    source, weight = node.arg("input"), node.arg("weight")
    if source is None or weight is None:
        return False
    stride = tuple(node.attr("stride", ()) or ())
    output_padding = tuple(node.attr("output_padding", ()) or ())
    if node.attr("transposed", False) and any(
            pad >= step for pad, step in zip(output_padding, stride)):
        return False
    if source.dtype in _ALWAYS_ONEDNN:
        return True
    if source.dtype != "float32":
        return False
    input_shape, kernel = list(source.shape), list(weight.shape[2:])
    if len(kernel) == 1:  # a 1-d conv runs as a 2-d one of height 1
        input_shape.insert(2, 1)
        kernel.insert(0, 1)
    batch, groups = input_shape[0], int(node.attr("groups", 1) or 1)
    height, width = kernel[-2], kernel[-1]
    asks_for_it = (any(step != 1 for step in stride)
                   or any(gap != 1 for gap in node.attr("dilation", ()) or ())
                   or batch >= 16 or (height, width) != (1, 1) or threads > 1)
    worth_it = (groups > 1 or (height > 3 and width > 3) or batch > 1
                or math.prod(input_shape[:4]) > NATIVE_INPUT_LIMIT)
    return asks_for_it and worth_it
