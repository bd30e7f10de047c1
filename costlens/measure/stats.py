"""The few statistics the platform commands report: rank correlation and relative errors."""
from __future__ import annotations

import statistics
from typing import Sequence


def ranks(values: Sequence[float]) -> list[float]:
    """Ranks from 1, ties sharing their mean rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    result = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for position in range(start, end + 1):
            result[order[position]] = (start + end) / 2 + 1
        start = end + 1
    return result


def spearman(first: Sequence[float], second: Sequence[float]) -> float:
    """Spearman's rank correlation: Pearson's on the ranks; 0 where either side is constant."""
    if len(first) != len(second) or len(first) < 2:
        raise ValueError("need two sequences of equal length, at least 2")
    a, b = ranks(first), ranks(second)
    mean_a, mean_b = statistics.fmean(a), statistics.fmean(b)
    cov = sum((x - mean_a) * (y - mean_b) for x, y in zip(a, b))
    var_a = sum((x - mean_a) ** 2 for x in a)
    var_b = sum((y - mean_b) ** 2 for y in b)
    return cov / (var_a * var_b) ** 0.5 if var_a and var_b else 0.0


def relative_errors(predicted: Sequence[float], measured: Sequence[float]) -> list[float]:
    return [p / m - 1 for p, m in zip(predicted, measured)]


def best_scale(amounts: Sequence[float], measured: Sequence[float]) -> float:
    """The one factor that turns `amounts` (FLOPs, say) into times with the least median
    absolute relative error: the fairest single-number model such a count gives."""
    candidates = [m / a for a, m in zip(amounts, measured) if a > 0]
    if not candidates:
        raise ValueError("no positive amounts")

    def median_error(scale: float) -> float:
        return statistics.median(abs(scale * a / m - 1) for a, m in zip(amounts, measured))

    low, high = min(candidates), max(candidates)
    grid = [low * (high / low) ** (i / 2000) for i in range(2001)] + candidates
    return min(grid, key=median_error)
