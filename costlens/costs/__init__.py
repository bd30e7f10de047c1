"""Shape-only cost formulas for aten ops, one registry (see registry.py for the lookup order).

Importing the package registers every formula module.
"""
from . import (  # noqa: F401 (registers)
               attention,
               conv,
               matmul,
               movement,
               normalization,
               pointwise,
               pooling,
               reduction,
)
from .category import Category
from .conv import input_channels_per_group
from .pointwise import ACTIVATIONS, is_activation
from .registry import VIEW_COST, OpCost, cost_of, is_kernel, is_known, lookup

__all__ = ["ACTIVATIONS", "Category", "OpCost", "VIEW_COST", "cost_of", "input_channels_per_group",
           "is_activation", "is_kernel", "is_known", "lookup"]
