"""Human-readable figures: K/M/G/T are powers of 1000, for counts and bytes alike."""
from __future__ import annotations

_PREFIXES = ((10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "K"))


def human(value: float | None, unit: str = "") -> str:
    """`40_500_000` -> `40.5M`; three significant digits, exact below 1000."""
    if value is None:
        return "-"
    for scale, prefix in _PREFIXES:
        if abs(value) >= scale:
            scaled = value / scale
            digits = 2 if scaled < 10 else 1 if scaled < 100 else 0
            return f"{scaled:.{digits}f}{prefix}{unit}"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.3g}{unit}"
    return f"{int(value)}{unit}"


def percent(share: float) -> str:
    return f"{100 * share:.0f}%"
