"""pytest's fixtures and markers; shared helpers live in helpers.py."""
from __future__ import annotations

from typing import Callable

import pytest
import torch


@pytest.fixture
def meta_input() -> Callable[..., torch.Tensor]:
    def make(*shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return torch.empty(shape, dtype=dtype, device="meta")
    return make
