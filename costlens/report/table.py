"""The per-layer table, as plain text or GitHub markdown: units in the header, a totals row at
the end, and below it what the totals leave out (ops with no formula, modules never called)."""
from __future__ import annotations

from tabulate import tabulate

from ..analysis import Analysis
from ..latency.estimate import LatencyEstimate
from ..units import human, percent
from .rows import Row, RowSelection, selected_rows, total_row

HEADERS = ("module", "type", "params", "FLOPs\n(mult-adds)", "MAC\n(elements)", "MAC\n(bytes)",
           "FLOP/B", "parallelism\n(per kernel)", "frag-\nments", "bran-\nches", "kernels",
           "elementwise\nMAC")
MARKDOWN_HEADERS = ("module", "type", "params", "FLOPs (mult-adds)", "MAC (elements)",
                    "MAC (bytes)", "FLOP/B", "parallelism (per kernel)", "fragments", "branches",
                    "kernels", "elementwise MAC")

UNITS_LINE = ("FLOPs count multiply-adds (1 per fused multiply-add). MAC = memory access cost: "
              "elements read + written. K/M/G/T = 10^3/10^6/10^9/10^12.")


LATENCY_HEADERS = ("latency\n(ms)", "% time", "bound")
MARKDOWN_LATENCY_HEADERS = ("latency (ms)", "% time", "bound")


def render_table(analysis: Analysis, selection: RowSelection, markdown: bool = False,
                 latency: LatencyEstimate | None = None) -> str:
    rows = [_cells(row) for row in selected_rows(analysis, selection, latency)]
    rows.append(_cells(total_row(analysis, latency)))
    headers = MARKDOWN_HEADERS if markdown else HEADERS
    if latency is not None:
        headers = headers + (MARKDOWN_LATENCY_HEADERS if markdown else LATENCY_HEADERS)
    table = tabulate(rows, headers=headers,
                     tablefmt="github" if markdown else "simple", stralign="right",
                     disable_numparse=True, colalign=("left", "left"))
    lines = [_title(analysis), UNITS_LINE]
    if latency is not None:
        lines.append(latency_line(latency))
    lines += ["", table, "", *footer_lines(analysis)]
    return "\n".join(lines).rstrip() + "\n"


def latency_line(latency: LatencyEstimate) -> str:
    how = ("fused as an inference engine runs it (conv+BN+activation, linear+activation, "
           "add+activation; no Python costs)" if latency.fused else "run eagerly by PyTorch")
    return (f"Latency: estimated on platform profile {latency.profile} ({latency.device}, "
            f"{latency.threads} thread{'s' if latency.threads != 1 else ''}), {how}; "
            f"bound = what limits each layer's time most.")


def _cells(row: Row) -> list[str]:
    cells = [row.name, row.type, human(row.params), human(row.flops), human(row.mac),
             human(row.mac_bytes, "B"), f"{row.intensity:.2f}", human(row.parallelism),
             str(row.fragments), str(row.branches), str(row.kernels),
             percent(row.elementwise_mac_share)]
    if row.latency_ms is not None:
        cells += [f"{row.latency_ms:.3f}", percent(row.time_share or 0.0), row.bound or "-"]
    return cells


def _title(analysis: Analysis) -> str:
    inputs = ", ".join(f"{i.name} {'x'.join(map(str, i.tensor.shape))} {i.tensor.dtype}"
                       for i in analysis.inputs) or "no tensor inputs"
    mode = "train" if analysis.graph.training else "eval"
    return f"{analysis.model_type} on {inputs} ({mode} mode, traced on {analysis.graph.device})"


def footer_lines(analysis: Analysis) -> list[str]:
    """What a reader of the totals must know: fallbacks, ops without formulas, unused modules."""
    lines = [f"Note: {note}" for note in analysis.graph.notes]
    if analysis.unsupported_ops:
        lines.append("Ops with no cost formula, left out of every figure above:")
        for op in analysis.unsupported_ops:
            where = ", ".join(m or "(model)" for m in op.modules[:5])
            more = f" and {len(op.modules) - 5} more" if len(op.modules) > 5 else ""
            calls = f"{op.calls} call{'s' if op.calls != 1 else ''}"
            lines.append(f"  {op.op}: {calls} in {where}{more}")
    else:
        lines.append(f"All {len(analysis.ops)} ops have cost formulas.")
    unused = _unused_weights(analysis)
    if unused:
        names = ", ".join(f"{path} ({human(params)})" for path, params in unused[:5])
        more = f" and {len(unused) - 5} more" if len(unused) > 5 else ""
        lines.append("Modules with parameters that never ran (counted in params only): "
                     f"{names}{more}")
    return lines


def _unused_weights(analysis: Analysis) -> list[tuple[str, int]]:
    """Outermost never-called modules that hold parameters: dead weight worth knowing about."""
    params = analysis.graph.subtree_params()
    unused: list[tuple[str, int]] = []
    for path in analysis.uncalled_modules:
        if params[path] and not any(path.startswith(outer + ".") for outer, _ in unused):
            unused.append((path, params[path]))
    return unused
