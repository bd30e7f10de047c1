"""The per-layer table, as plain text or GitHub markdown: units in the header, a totals row at
the end, and below it what the totals leave out (ops with no formula, modules never called)."""
from __future__ import annotations

import textwrap
from collections import Counter
from dataclasses import dataclass
from typing import Callable

from tabulate import tabulate

from ..analysis import Analysis
from ..graph import InputValue, TensorMeta
from ..latency.estimate import LatencyEstimate
from ..units import human, percent
from .rows import Row, RowSelection, selected_rows, total_row

MAX_WIDTH = 120  # columns of the default table, and of its legend lines


@dataclass(frozen=True)
class Column:
    """One figure of the table: its one-line header on a terminal, what the legend says of
    it there, its header in markdown, and how to print a row's value."""

    header: str
    markdown: str
    cell: Callable[[Row], str]
    legend: str = ""
    latency: bool = False  # shown only with a latency estimate
    phase: str | None = None  # shown only for a training step that ran this phase ("": any)

    def shown(self, latency: bool, phases: frozenset[str]) -> bool:
        return (latency or not self.latency) and (self.phase is None or self.phase in phases
                                                  or (self.phase == "" and bool(phases)))


_SHORT = {"forward": "fwd", "backward": "bwd", "optimizer": "opt"}


def _phase_columns(figure: str, header: str, markdown: str, unit: str = "") -> list[Column]:
    """A training step's `figure` in each phase: `fwd FLOPs`, `bwd FLOPs`, `opt FLOPs`."""
    return [Column(f"{short} {header}", f"{phase} {markdown}",
                   lambda row, name=f"{phase}_{figure}": human(getattr(row, name), unit),
                   "fwd / bwd / opt: a training step's forward, backward and optimizer"
                   if (figure, phase) == ("flops", "forward") else "", phase=phase)
            for phase, short in _SHORT.items()]


COLUMNS = (
    Column("module", "module", lambda row: row.name),
    Column("type", "type", lambda row: row.type),
    Column("params", "params", lambda row: human(row.params)),
    Column("FLOPs", "FLOPs (mult-adds)", lambda row: human(row.flops),
           "FLOPs: multiply-adds (1 per fused multiply-add)"),
    Column("MAC", "MAC (elements)", lambda row: human(row.mac),
           "MAC: memory access cost, elements read + written"),
    Column("MAC bytes", "MAC (bytes)", lambda row: human(row.mac_bytes, "B")),
    *_phase_columns("flops", "FLOPs", "FLOPs"),
    *_phase_columns("mac", "MAC", "MAC (elements)"),
    *_phase_columns("mac_bytes", "MAC B", "MAC (bytes)", "B"),
    Column("peak mem", "peak memory (bytes)", lambda row: human(row.peak_bytes, "B"),
           "peak mem: most bytes of tensors live at once while it runs"),
    Column("saved", "saved for backward (bytes)", lambda row: human(row.saved_bytes, "B"),
           "saved: activations kept for the backward", phase=""),
    Column("FLOP/B", "FLOP/B", lambda row: f"{row.intensity:.2f}", "FLOP/B: FLOPs per MAC byte"),
    Column("parallel", "parallelism (per kernel)", lambda row: human(row.parallelism),
           "parallel: work items per kernel"),
    Column("frags", "fragments", lambda row: str(row.fragments),
           "frags: fragments (convs and pools per call)"),
    Column("branches", "branches", lambda row: str(row.branches)),
    Column("kernels", "kernels", lambda row: str(row.kernels)),
    Column("elem MAC", "elementwise MAC", lambda row: percent(row.elementwise_mac_share),
           "elem MAC: element-wise share of the MAC"),
    Column("latency", "latency (ms)", lambda row: f"{row.latency_ms:.3f}",
           "latency: estimated, in ms", latency=True),
    Column("% time", "% time", lambda row: percent(row.time_share or 0.0), latency=True),
    Column("bound", "bound", lambda row: row.bound or "-",
           "bound: what limits the time most", latency=True),
)

#: The order in which columns are kept when the table must fit MAX_WIDTH: what a row is, then
#: the paper's figures and the latency, then what explains them.
PRIORITY = ("module", "type", "FLOPs", "MAC", "latency", "% time", "fwd FLOPs", "bwd FLOPs",
            "opt FLOPs", "MAC bytes", "peak mem", "saved", "params", "bound", "fwd MAC", "bwd MAC",
            "opt MAC", "elem MAC", "parallel", "frags", "FLOP/B", "kernels", "branches",
            "fwd MAC B", "bwd MAC B", "opt MAC B")
PADDING = 2  # tabulate's least padding of a header in its column
UNITS = "K/M/G/T = 10^3/10^6/10^9/10^12"


def render_table(analysis: Analysis, selection: RowSelection, markdown: bool = False,
                 latency: LatencyEstimate | None = None, wide: bool = False) -> str:
    """The table; on a terminal at most MAX_WIDTH columns wide unless `wide`, the columns that
    do not fit left out lowest priority first and named under it (markdown keeps them all)."""
    rows = [*selected_rows(analysis, selection, latency), total_row(analysis, latency)]
    phases = frozenset(p.phase for p in analysis.totals.phases)
    columns = [c for c in COLUMNS if c.shown(latency is not None, phases)]
    if not (markdown or wide):
        columns = _fitting(columns, rows)
    table = tabulate([[column.cell(row) for column in columns] for row in rows],
                     headers=[c.markdown if markdown else c.header for c in columns],
                     tablefmt="github" if markdown else "simple", stralign="right",
                     disable_numparse=True, colalign=("left", "left"))
    legend = [c.legend for c in columns if c.legend] + [UNITS]
    left_out = [c.header for c in COLUMNS if c not in columns
                and c.shown(latency is not None, phases)]
    if left_out:
        legend.append(f"Left out to fit {MAX_WIDTH} characters: {', '.join(left_out)} "
                      "(--wide shows them)")
    lines = [title_line(analysis), *_wrapped(". ".join(legend) + ".")]
    if latency is not None:
        lines.extend(_wrapped(latency_line(latency, analysis)))
    lines += ["", table, "", *footer_lines(analysis)]
    return "\n".join(lines).rstrip() + "\n"


def _wrapped(text: str) -> list[str]:
    return textwrap.wrap(text, MAX_WIDTH, break_on_hyphens=False)


def _fitting(columns: list[Column], rows: list[Row]) -> list[Column]:
    """The columns, highest priority first, that fit MAX_WIDTH (two spaces between columns),
    in table order; the first two always."""
    widths = {c.header: max(len(c.header) + PADDING, *(len(c.cell(row)) for row in rows))
              for c in columns}
    kept: set[str] = set()
    used = -2
    for header in (h for h in PRIORITY if h in widths):
        if len(kept) >= 2 and used + 2 + widths[header] > MAX_WIDTH:
            continue
        kept.add(header)
        used += 2 + widths[header]
    return [c for c in columns if c.header in kept]


def latency_line(latency: LatencyEstimate, analysis: Analysis) -> str:
    how = ("fused as an inference engine runs it (conv+BN+activation, linear+activation, "
           "add+activation; no Python costs)" if latency.fused else "run eagerly by PyTorch")
    line = (f"Latency: estimated on platform profile {latency.profile} ({latency.device}, "
            f"{latency.threads} thread{'s' if latency.threads != 1 else ''}), {how}; "
            f"{latency.case_words}.")
    if analysis.graph.step is not None:
        line += (" The backward and optimizer ops are estimated with the rates calibrated for "
                 "the forward kernel class of the same kind and shape (a convolution's "
                 "gradients as convolutions, a matmul's as matmuls): calibration times no "
                 "backward kernels.")
    return line


def title_line(analysis: Analysis) -> str:
    """What ran on what: the model, its inputs in the order of the call (a tensor by shape and
    dtype, a plain value as it is, an object by its type and the tensors inside it), the mode
    and where it was traced."""
    described = [f"{i.name} {_shape(i.tensor)} {i.tensor.dtype}" for i in analysis.inputs]
    for offset, value in enumerate(analysis.graph.input_values):
        described.insert(value.after + offset, f"{value.name} {_input_value(value)}")
    inputs = ", ".join(described) or "no tensor inputs"
    mode = "train" if analysis.graph.training else "eval"
    step = analysis.graph.step
    if step is not None:
        mode = "a training step: forward, loss, backward" + (
            f", {step} update" if step != "backward" else "") + f"; {mode}"
    return f"{analysis.model_type} on {inputs} ({mode} mode, traced on {analysis.graph.device})"


def _shape(tensor: TensorMeta) -> str:
    return "x".join(map(str, tensor.shape))


def _input_value(value: InputValue) -> str:
    """`4096`, `True`; `KVCache(160 tensors of 1x8x4097x128 float32, 2.69GB)`: the tensors
    inside an object by shape and dtype, the most common first (three kinds at most), and their
    bytes."""
    if value.value is not None:
        return value.value
    if not value.tensors:
        return value.type
    kinds = Counter((_shape(t), t.dtype) for t in value.tensors)
    count = len(value.tensors)
    size = human(sum(t.numel * t.itemsize for t in value.tensors), "B")
    if len(kinds) == 1:
        (shape, dtype), = kinds
        held = f"{count} tensor{'s' if count != 1 else ''} of {shape} {dtype}"
    else:
        common = kinds.most_common(3)
        held = f"{count} tensors: " + ", ".join(f"{n} of {shape} {dtype}"
                                                for (shape, dtype), n in common)
        if len(kinds) > 3:
            held += f" and {len(kinds) - 3} more shapes"
    return f"{value.type}({held}, {size})"


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
