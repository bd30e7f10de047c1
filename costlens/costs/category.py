"""What an op spends its time on, and which of the paper's groups each kind belongs to.

The groups are decided here and nowhere else: block metrics (fragments, branches, the
element-wise share), the report's columns, the G3 and G4 rules and the latency estimate all ask
the category.
"""
from __future__ import annotations

from enum import Enum


class Category(str, Enum):
    """The kind of work an op does; its value is what JSON reports write."""

    CONV = "conv"  # dense and grouped convolutions, transposed ones included
    DEPTHWISE = "depthwise_conv"  # convolutions with one input channel per group
    MATMUL = "matmul"
    ATTENTION = "attention"
    POOLING = "pooling"
    ELEMENTWISE = "elementwise"
    NORMALIZATION = "normalization"
    REDUCTION = "reduction"
    MOVEMENT = "movement"
    VIEW = "view"  # no data moved and no kernel run: views, reshapes without a copy, allocations

    @property
    def is_fragment(self) -> bool:
        """One of the paper's fragments (G3): "individual convolution or pooling operations"."""
        return self in _FRAGMENTS

    @property
    def is_compute(self) -> bool:
        """Does the arithmetic a layer exists for: the fragments, matrix products and attention.
        Parallel branches are counted over these ops, building blocks are modules that run
        them, and a layer whose output feeds none of them only makes the model's output."""
        return self in _COMPUTE

    @property
    def is_elementwise(self) -> bool:
        """Counts in the paper's element-wise share (G4): activations, arithmetic, bias and
        shortcut adds, normalization, and depthwise convolutions, which the paper counts here
        for their high MAC per FLOP."""
        return self in _ELEMENTWISE

    @property
    def is_movement(self) -> bool:
        """Copies data without arithmetic: concat, split and shuffle copies, gathers, pads."""
        return self is Category.MOVEMENT

    @property
    def launches_kernel(self) -> bool:
        return self is not Category.VIEW


_FRAGMENTS = frozenset({Category.CONV, Category.DEPTHWISE, Category.POOLING})
_COMPUTE = _FRAGMENTS | {Category.MATMUL, Category.ATTENTION}
_ELEMENTWISE = frozenset({Category.ELEMENTWISE, Category.NORMALIZATION, Category.DEPTHWISE})
