"""B2 mac-budget: the model's memory access cost exceeds the budget set for it.

## What it does
Compares the total memory access cost of one forward pass (MAC: elements read plus written by
every op) with the `mac` budget of the target in the configuration, and reports the model when
it is over.

## Why is this bad
The paper's point is that FLOPs miss memory traffic: two models of equal FLOPs can differ by 2x
in MAC and in speed. A MAC budget holds what a FLOPs budget cannot, the cost of wide
feature maps, element-wise ops and copies.

## Example
```python
import torch
from torch import nn

OPTIONS = {"max": "150K"}

def build():
    return nn.Sequential(nn.Conv2d(8, 8, 1), nn.ReLU(), nn.ReLU()), torch.randn(1, 8, 64, 64)
```

## Use instead
```python
import torch
from torch import nn

OPTIONS = {"max": "150K"}

def build():
    # one activation: the second ReLU re-read and re-wrote the whole map
    return nn.Sequential(nn.Conv2d(8, 8, 1), nn.ReLU()), torch.randn(1, 8, 64, 64)
```

## Options
- `max` (default unset): the MAC budget in elements, a count such as `20M`; set it as `mac`
  under `[tool.costlens.budgets]` or in a target's `budgets`.
"""
from __future__ import annotations

from costlens.linting.budget import BudgetRule


class MacBudget(BudgetRule):
    code = "B2"
    name = "mac-budget"
    budget = "mac"
    unit = "elements of memory access"
