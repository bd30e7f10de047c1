"""The JSON report: the Analysis's own JSON (JSON Schema: costlens/schemas/report.json), with
the latency figures of
a platform estimate added where one is given."""
from __future__ import annotations

import json
from typing import Any

from ..analysis import Analysis
from ..latency.estimate import LatencyEstimate, rounded_ms


def render_json(analysis: Analysis, latency: LatencyEstimate | None = None) -> str:
    if latency is None:
        return analysis.to_json()
    return json.dumps(with_latency(analysis.to_dict(), latency), indent=2) + "\n"


def with_latency(report: dict[str, Any], latency: LatencyEstimate) -> dict[str, Any]:
    report["platform"] = latency.to_dict()
    report["totals"]["latency_ms"] = rounded_ms(latency.seconds)
    for layer in report["layers"]:
        timed = latency.layers[layer["name"]]
        layer.update(latency_ms=rounded_ms(timed.seconds), time_share=round(timed.share, 6),
                     bound=timed.bound.value)
    for op in report["ops"]:
        timed = latency.ops[op["index"]]
        op.update(latency_ms=rounded_ms(timed.seconds), kernel_class=timed.kernel_class.value,
                  bound=timed.bound.value)
    return report
