"""Element-wise ops: activations, arithmetic, comparisons, selects, random fills, dropout.

One op per output element, whatever the function (ReLU and GELU alike): the paper's point about
these ops is their memory traffic, which MAC counts exactly, not their arithmetic. Ops torch tags
`pointwise` are covered without being listed; the list names those it does not tag.
"""
from __future__ import annotations

from ..graph import OpNode
from .category import Category
from .registry import OpCost, formula, measured, tag_formula


@tag_formula("pointwise")
@formula("aten.hardswish", "aten._prelu_kernel", "aten.prelu", "aten.native_dropout",
         "aten.tril", "aten.triu", "aten.masked_fill", "aten.where", "aten.glu",
         "aten.log_sigmoid_forward", "aten.rrelu_with_noise", "aten.uniform", "aten.normal",
         "aten.bernoulli", "aten.exponential", "aten.geometric", "aten.log_normal",
         "aten.cauchy", "aten.random", "aten.rand", "aten.randn", "aten.rand_like",
         "aten.randn_like", "aten.randint", "aten.randint_like", "aten.randperm")
def elementwise(node: OpNode) -> OpCost:
    return measured(node, node.outputs[0].numel, Category.ELEMENTWISE)


#: Activation functions by aten name (no namespace, overload or in-place underscore): what an
#: inference engine fuses into the op before it, and what G4 tells an author to drop.
ACTIVATIONS = frozenset({"relu", "relu6", "hardtanh", "gelu", "silu", "sigmoid", "tanh",
                         "hardswish", "hardsigmoid", "leaky_relu", "elu", "mish", "softplus",
                         "prelu", "clamp", "clamp_min"})


def is_activation(op: str) -> bool:
    """`aten.relu_.default` -> True."""
    parts = op.split(".")
    return len(parts) > 1 and parts[1].rstrip("_") in ACTIVATIONS
