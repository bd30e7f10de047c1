"""Which kernel class of a platform profile an op's time is predicted with.

The cost categories (conv, elementwise, ...) say what an op computes; a kernel class also says
which library kernel runs it, because a depthwise 3x3 and a dense 3x3 conv of equal FLOPs differ
several-fold in speed on every device.
"""
from __future__ import annotations

import math
from enum import Enum

from ..costs import Category, input_channels_per_group
from ..graph import OpNode
from .dispatch import runs_onednn


class KernelClass(str, Enum):
    """A family of kernels a profile gives rates for; its value is what profiles and JSON
    reports write. VIEW and UNSUPPORTED have no rates: a view costs dispatch only, and an op
    with no formula only its fixed cost."""

    CONV_DENSE = "conv_dense"          # groups == 1, a kernel larger than 1
    CONV_1X1 = "conv_1x1"              # groups == 1, 1x1 (pointwise)
    CONV_GROUPED = "conv_grouped"      # 1 < groups < channels
    CONV_DEPTHWISE = "conv_depthwise"  # one input channel per group
    MATMUL = "matmul"                  # mm, addmm, bmm, linear
    ATTENTION = "attention"            # fused scaled dot-product attention
    POOL_MAX = "pool_max"              # max pooling: one comparison per window tap
    POOL_AVG = "pool_avg"              # average pooling, adaptive included
    ELEMENTWISE = "elementwise"        # activations, arithmetic, comparisons
    ELEMENTWISE_INPLACE = "elementwise_inplace"  # one that writes over its input: relu_, x += y
    NORMALIZATION = "normalization"    # batch / layer / group / RMS norm
    REDUCTION = "reduction"            # sum, mean, softmax, ...
    MOVEMENT = "movement"              # copies: cat, contiguous, index, embedding, ...
    VIEW = "view"
    UNSUPPORTED = "unsupported"

    @property
    def profiled(self) -> bool:
        """Whether a profile holds rates for the class."""
        return self not in (KernelClass.VIEW, KernelClass.UNSUPPORTED)

    @property
    def older(self) -> KernelClass | None:
        """The class that a profile calibrated before this class existed prices it with."""
        return KernelClass.ELEMENTWISE if self is KernelClass.ELEMENTWISE_INPLACE else None

    @property
    def memory_bound(self) -> bool:
        """Whether its FLOPs grow with its bytes, so that only a byte rate can be fitted."""
        return self in _MEMORY_CLASSES

    @property
    def category(self) -> Category | None:
        """The cost category of the ops the class runs (None: ops with no formula)."""
        return _CATEGORY_OF.get(self)


PROFILED_CLASSES = tuple(cls for cls in KernelClass if cls.profiled)
_MEMORY_CLASSES = frozenset({KernelClass.ELEMENTWISE, KernelClass.ELEMENTWISE_INPLACE,
                             KernelClass.NORMALIZATION, KernelClass.REDUCTION,
                             KernelClass.MOVEMENT})

_BY_CATEGORY = {
    Category.DEPTHWISE: KernelClass.CONV_DEPTHWISE, Category.MATMUL: KernelClass.MATMUL,
    Category.ATTENTION: KernelClass.ATTENTION, Category.ELEMENTWISE: KernelClass.ELEMENTWISE,
    Category.NORMALIZATION: KernelClass.NORMALIZATION, Category.REDUCTION: KernelClass.REDUCTION,
    Category.MOVEMENT: KernelClass.MOVEMENT, Category.VIEW: KernelClass.VIEW,
}


_CATEGORY_OF = {
    **{cls: category for category, cls in _BY_CATEGORY.items()},
    KernelClass.CONV_DENSE: Category.CONV, KernelClass.CONV_1X1: Category.CONV,
    KernelClass.CONV_GROUPED: Category.CONV, KernelClass.POOL_MAX: Category.POOLING,
    KernelClass.POOL_AVG: Category.POOLING, KernelClass.ELEMENTWISE_INPLACE: Category.ELEMENTWISE,
}


def kernel_class(node: OpNode, category: Category | None) -> KernelClass:
    """The profile class of `node`, whose cost category is `category` (None: no formula)."""
    if category is None:
        return KernelClass.UNSUPPORTED
    if category is Category.CONV:
        weight = node.arg("weight")
        if weight is None:
            return KernelClass.CONV_DENSE
        return conv_class(int(node.attr("groups", 1) or 1), math.prod(weight.shape[2:]))
    if category is Category.POOLING:
        if node.packet == "aten.mean":  # a global average pool runs a mean reduction kernel
            return KernelClass.REDUCTION
        return KernelClass.POOL_MAX if "max" in node.packet else KernelClass.POOL_AVG
    if category is Category.ELEMENTWISE and writes_over_input(node):
        return KernelClass.ELEMENTWISE_INPLACE
    return _BY_CATEGORY[category]


def writes_over_input(node: OpNode) -> bool:
    """Whether the op is an in-place variant (aten's trailing underscore: relu_, add_). It
    writes the lines it has just read, with no output buffer to allocate and fill: a ReLU on a
    1.6 MB map just written took 0.4x the time in place that it took into a new tensor here,
    with the same bytes read and written."""
    name = node.packet.rsplit(".", 1)[-1]
    return name.endswith("_") and not name.endswith("__")


def conv_class(groups: int, kernel_area: int) -> KernelClass:
    """The class of a convolution that is not depthwise (Category.DEPTHWISE says that)."""
    if groups > 1:
        return KernelClass.CONV_GROUPED
    return KernelClass.CONV_1X1 if kernel_area == 1 else KernelClass.CONV_DENSE


def shape_features(node: OpNode, kernel_class: KernelClass, flops: int, parallelism: int,
                   threads: int | None = None) -> tuple[float, ...]:
    """What besides its FLOPs and bytes decides how efficiently a kernel of the class runs an
    op, in decades (log10), as the size correction compares ops with calibration samples.

    A conv: input and output channels per group, the kernel's area and the output positions
    (map pixels times batch), which decide how a library tiles it into vector lanes and
    blocks: a 3x3 conv with 4 channels per group and a 1x1 conv with 32 can have the same
    FLOPs and bytes and run five times apart, and a 1x1 conv on a 7x7 map runs well below the
    same FLOPs on 14x14; and its stride. On a CPU (`threads`: the intra-op threads it runs at;
    None: not a CPU), also which library kernel PyTorch runs it with (dispatch.py), a decade
    apart. Any other op: its work per output element (a matmul's inner dimension, a pooling
    window) and, for an element-wise op, whether it is transcendental, for a reduction whether
    it is logical.
    """
    weight = node.arg("weight")
    if kernel_class in _CONV_CLASSES and weight is not None and len(weight.shape) > 2:
        groups = int(node.attr("groups", 1) or 1)
        in_channels = input_channels_per_group(node)
        # (out, in / groups, ...) for a conv; (in, out / groups, ...) for a transposed one
        out_channels = weight.shape[1] if node.attr("transposed") else weight.shape[0] // groups
        positions = max(parallelism, 1) // (out_channels * groups)
        features = conv_features(in_channels, out_channels, math.prod(weight.shape[2:]),
                                 positions, stride_area(node))
        if threads is None:
            return features
        return (*features, float(runs_onednn(node, threads)))
    return op_features(kernel_class, flops, parallelism, transcendental(node),
                       logical_reduction(node))


_CONV_CLASSES = frozenset({KernelClass.CONV_DENSE, KernelClass.CONV_1X1,
                           KernelClass.CONV_GROUPED, KernelClass.CONV_DEPTHWISE})


def conv_features(in_per_group: int, out_per_group: int, kernel_area: int, positions: int,
                  stride: int = 1) -> tuple[float, ...]:
    """shape_features of a conv with these channels per group, kernel area, output positions
    and stride area (stride_area)."""
    return (math.log10(in_per_group), math.log10(out_per_group), math.log10(kernel_area),
            math.log10(max(positions, 1)), math.log10(max(stride, 1)))


def stride_area(node: OpNode) -> int:
    """How many input positions a conv's window steps over per output position (4 for a
    stride of 2 on a 2-d map). A strided conv reads a map several times its output with gaps,
    and runs well below an unstrided one of the same output, FLOPs and channels: a 1x1 conv
    48 -> 104 with stride 2 on 56x56 took 168 us here at one thread, the same conv on 28x28
    48 us."""
    return math.prod(int(step) for step in node.attr("stride", ()) or ())


def op_features(kernel_class: KernelClass, flops: int, parallelism: int,
                transcendental: bool = False, logical: bool = False) -> tuple[float, ...]:
    """shape_features of an op other than a conv: its work per output element and, for an
    element-wise op, whether it is transcendental, for a reduction, whether it is logical
    (logical_reduction), each a decade apart in the comparison."""
    work = (math.log10(flops / max(parallelism, 1) + 1),)
    if kernel_class in _ELEMENTWISE_CLASSES:
        return (*work, float(transcendental))
    if kernel_class is KernelClass.REDUCTION:
        return (*work, float(logical))
    return work


_ELEMENTWISE_CLASSES = frozenset({KernelClass.ELEMENTWISE, KernelClass.ELEMENTWISE_INPLACE})

#: element-wise functions (aten names, no overload or in-place underscore) that evaluate an
#: exponential, logarithm, error or trigonometric function per element
TRANSCENDENTAL = frozenset({
    "exp", "exp2", "expm1", "log", "log1p", "log2", "log10", "sigmoid", "silu", "gelu", "tanh",
    "elu", "selu", "celu", "mish", "softplus", "erf", "erfc", "erfinv", "sin", "cos", "tan",
    "asin", "acos", "atan", "sinh", "cosh", "log_sigmoid_forward", "logit"})


def transcendental(node: OpNode) -> bool:
    """Whether the op is an element-wise transcendental function. The FLOP count gives every
    element-wise op one per element, which is what MAC and G4 need; a kernel's time is another
    matter: a SiLU took 3-4 times a ReLU's time on the same map here, and without this feature
    the estimate could not tell them apart (same FLOPs, same bytes)."""
    return node.packet.rsplit(".", 1)[-1].rstrip("_") in TRANSCENDENTAL


def logical_reduction(node: OpNode) -> bool:
    """Whether the op reduces booleans (all, any), as the math path's safe softmax checks
    whole rows of scores for -inf. Their kernel runs several times slower than a float mean
    of the same elements (an `all` over rows of 49 took 6.8 times its class's roofline in
    calibration here, a global average pool of 7x7 maps 0.5 times); with one feature for
    both, the estimate priced EfficientNet-B0's squeeze-excitation means at up to 4 times
    their time."""
    return bool(node.inputs) and all(item.tensor.dtype == "bool" for item in node.inputs)
