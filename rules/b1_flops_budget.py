"""B1 flops-budget: the model's FLOPs (multiply-adds) exceed the budget set for it.

## What it does
Compares the total FLOPs of one forward pass (multiply-adds, every op counted) with the
`flops` budget of the target in the configuration, and reports the model when it is over.

## Why is this bad
A budget turns an architecture decision into a check that CI holds: a model that grows past
what its deployment can afford fails the build where the change is made, not in production. The
paper compares networks at fixed FLOPs budgets (40M, 140M, 300M, 500M) for the same reason.

## Example
```python
import torch
from torch import nn

OPTIONS = {"max": "1M"}

def build():
    return nn.Conv2d(16, 16, 3, padding=1), torch.randn(1, 16, 32, 32)
```

## Use instead
```python
import torch
from torch import nn

OPTIONS = {"max": "1M"}

def build():
    # a depthwise 3x3 conv: 16 x 9 multiply-adds per output pixel instead of 16 x 16 x 9
    return nn.Conv2d(16, 16, 3, padding=1, groups=16), torch.randn(1, 16, 32, 32)
```

## Options
- `max` (default unset): the FLOPs budget, a count such as `300M` or `4.1G`; set it as
  `flops` under `[tool.costlens.budgets]` or in a target's `budgets`.
"""
from __future__ import annotations

from costlens.linting.budget import BudgetRule


class FlopsBudget(BudgetRule):
    code = "B1"
    name = "flops-budget"
    budget = "flops"
    unit = "FLOPs (multiply-adds)"
