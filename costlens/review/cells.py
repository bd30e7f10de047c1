"""How figures read in the text of a diff or a comparison, in every format that is read rather
than parsed: values, signed differences, percent changes, the legend."""
from __future__ import annotations

from typing import Any, Mapping

from ..latency.estimate import CASE_WORDS
from ..units import human
from .diff import Change, Diff, Figure, LayerChange

UNITS = "K/M/G/T = 10^3/10^6/10^9/10^12"
FLOPS_LEGEND = "FLOPs: multiply-adds (1 per fused multiply-add)"
MAC_LEGEND = "MAC: memory access cost, elements read + written"


def value(figure: Figure, number: float | None) -> str:
    if number is None:
        return "-"
    if figure.key == "latency_ms":
        return f"{number:.3f} ms"
    return human(number, "B" if figure.key in ("mac_bytes", "peak_bytes") else "")


def difference(figure: Figure, change: Change) -> str:
    """new - base with its sign: `+1.23M`, `-0.051 ms`, `0`."""
    number = change.difference
    if not number:
        return "0"
    if figure.key == "latency_ms":
        return f"{number:+.3f} ms"
    text = human(number, "B" if figure.key in ("mac_bytes", "peak_bytes") else "")
    return text if number < 0 else f"+{text}"


def percent(change: Change) -> str:
    """`+12.4%`, `-3.0%`, `0.0%` (exactly no change; a change too small to show reads
    `+0.0%`), `from 0`."""
    relative = change.relative
    if not change.changed:
        return "0.0%"
    if relative is None:
        return "from 0"
    return f"{100 * relative:+.1f}%"


def changed(layer: LayerChange, figure: Figure) -> str:
    """`+1.23M (+12.4%)`; `0` for a figure that did not change."""
    change = layer.figures[figure.key]
    if not change.changed:
        return "0"
    return f"{difference(figure, change)} ({percent(change)})"


def hidden(diff: Diff, depth: int) -> int:
    """The layers changed, added or removed deeper than `depth`, which a page leaves out."""
    return sum(1 for layer in diff.layers
               if layer.status != "unchanged" and not 1 <= layer.depth <= depth)


def latency_text(platform: Mapping[str, Any]) -> str:
    """What the latency figures are, as the report's table says it."""
    threads = platform["threads"]
    how = ("fused as an inference engine runs it" if platform["fused"]
           else "run eagerly by PyTorch")
    return (f"Latency: estimated on platform profile {platform['profile']} "
            f"({platform['device']}, {threads} thread{'s' if threads != 1 else ''}), {how}; "
            f"{CASE_WORDS[platform['case']]}.")
