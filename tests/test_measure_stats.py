"""Rank correlation, relative errors and the fairest single scale for FLOPs."""
from __future__ import annotations

import pytest

from costlens.measure.stats import best_scale, ranks, relative_errors, spearman


def test_ranks_share_ties() -> None:
    assert ranks([10.0, 30.0, 20.0, 30.0]) == [1.0, 3.5, 2.0, 3.5]


def test_spearman_of_monotone_and_reversed_orders() -> None:
    assert spearman([1, 2, 3, 4], [10, 20, 30, 400]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2, 3], [5, 5, 5]) == 0.0
    # one swapped pair of five: 1 - 6 * 2 / (5 * 24)
    assert spearman([1, 2, 3, 4, 5], [1, 2, 4, 3, 5]) == pytest.approx(0.9)
    with pytest.raises(ValueError):
        spearman([1], [1])


def test_relative_errors_and_best_scale() -> None:
    assert relative_errors([2.0, 1.0], [1.0, 2.0]) == [1.0, -0.5]
    # times exactly 3x the amounts but one outlier: the median error is zero at scale 3
    scale = best_scale([1.0, 2.0, 3.0, 4.0, 5.0], [3.0, 6.0, 9.0, 12.0, 100.0])
    assert scale == pytest.approx(3.0)
