"""B3 params-budget: the model has more parameters than the budget set for it.

## What it does
Compares the model's parameter count (a shared weight counted once) with the `params` budget
of the target in the configuration, and reports the model when it is over.

## Why is this bad
Parameters set the size of the checkpoint, the memory a deployment needs and the bytes every
forward pass reads. A budget keeps a model inside what its target device can hold.

## Example
```python
import torch
from torch import nn

OPTIONS = {"max": "10K"}

def build():
    return nn.Linear(128, 128), torch.randn(1, 128)
```

## Use instead
```python
import torch
from torch import nn

OPTIONS = {"max": "10K"}

def build():
    # a low-rank factorization: 2 x 128 x 32 weights instead of 128 x 128
    return nn.Sequential(nn.Linear(128, 32, bias=False), nn.Linear(32, 128)), torch.randn(1, 128)
```

## Options
- `max` (default unset): the parameter budget, a count such as `5M`; set it as `params` under
  `[tool.costlens.budgets]` or in a target's `budgets`.
"""
from __future__ import annotations

from costlens.linting.budget import BudgetRule


class ParamsBudget(BudgetRule):
    code = "B3"
    name = "params-budget"
    budget = "params"
    unit = "parameters"
