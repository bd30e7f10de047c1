"""Shared test helpers: the bundled examples on sys.path, and one-op models for formula tests."""
from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any, Callable

import pytest
import torch
from torch import nn

import costlens
from costlens.analysis import OpRecord

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

if str(EXAMPLES) not in sys.path:
    sys.path.insert(0, str(EXAMPLES))


def example(name: str) -> Any:
    """An example module by file stem, imported as the loader would (its directory on the path)."""
    return importlib.import_module(name)


class Lambda(nn.Module):
    """Wraps a function so a formula can be tested on the ops one call dispatches."""

    def __init__(self, function: Callable[..., Any]) -> None:
        super().__init__()
        self.function = function

    def forward(self, *args: Any) -> Any:
        return self.function(*args)


def kernels(function: Callable[..., Any] | nn.Module, *inputs: Any) -> list[OpRecord]:
    """The ops (views excluded) one call runs, with their costs."""
    model = function if isinstance(function, nn.Module) else Lambda(function)
    analysis = costlens.analyze(model, tuple(inputs))
    return [op for op in analysis.ops if op.category != "view"]


def only_kernel(function: Callable[..., Any] | nn.Module, *inputs: Any) -> OpRecord:
    found = kernels(function, *inputs)
    assert len(found) == 1, [op.op for op in found]
    return found[0]


@pytest.fixture
def meta_input() -> Callable[..., torch.Tensor]:
    def make(*shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return torch.empty(shape, dtype=dtype, device="meta")
    return make
