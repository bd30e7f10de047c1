"""Human-readable figures: K/M/G/T are powers of 1000, for counts and bytes alike."""
from __future__ import annotations

_PREFIXES = ((10**3, "K"), (10**6, "M"), (10**9, "G"), (10**12, "T"))


def human(value: float | None, unit: str = "") -> str:
    """`40_500_000` -> `40.5M`: three significant digits, exact below 1000."""
    if value is None:
        return "-"
    for position in range(len(_PREFIXES) - 1, -1, -1):
        scale, prefix = _PREFIXES[position]
        if abs(value) < scale:
            continue
        text = _three_digits(value / scale)
        if text == "1000" and position + 1 < len(_PREFIXES):  # 999.9K reads 1.00M
            scale, prefix = _PREFIXES[position + 1]
            text = _three_digits(value / scale)
        return f"{text}{prefix}{unit}"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.3g}{unit}"
    return f"{int(value)}{unit}"


def _three_digits(scaled: float) -> str:
    """The fewest decimals that keep three significant digits: 1.23, 12.3, 123."""
    for digits in (2, 1):
        text = f"{scaled:.{digits}f}"
        if len(text.lstrip("-").replace(".", "")) <= 3:
            return text
    return f"{scaled:.0f}"


def percent(share: float) -> str:
    return f"{100 * share:.0f}%"
