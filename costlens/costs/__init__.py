"""Shape-only cost formulas for aten ops, one registry (see registry.py for the lookup order).

Importing the package registers every formula module; user.py adds the user's own formulas
(`costlens.register_formula`, the `costlens.formulas` entry points).
"""
from . import (  # noqa: F401 (registers)
               attention,
               backward,
               conv,
               matmul,
               movement,
               normalization,
               pointwise,
               pooling,
               reduction,
               user,
)
from .category import Category
from .conv import input_channels_per_group
from .pointwise import ACTIVATIONS, is_activation
from .registry import VIEW_COST, OpCost, cost_of, is_kernel, is_known, lookup
from .user import (
    Cost,
    OpShapes,
    load_formulas,
    op_key,
    register_formula,
    unregister_formula,
    using_formulas,
)

__all__ = ["ACTIVATIONS", "Category", "Cost", "OpCost", "OpShapes", "VIEW_COST", "cost_of",
           "input_channels_per_group", "is_activation", "is_kernel", "is_known", "load_formulas",
           "lookup", "op_key", "register_formula", "unregister_formula", "using_formulas"]
