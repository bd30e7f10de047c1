"""Text for the platform commands: a calibrated profile, a bench comparison, the guidelines."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from tabulate import tabulate

from ..latency.profile import Profile
from ..measure.compare import Compared, Comparison
from ..measure.guidelines import GUIDELINES, Row, Verdict
from ..measure.stats import spearman
from ..units import human, percent


def render_profile(profile: Profile, path: str) -> str:
    rows = [[name.value, _rate(rate.flops_per_s, "FLOP/s"), _rate(rate.bytes_per_s, "B/s"),
             f"{rate.overhead_s * 1e6:.1f}"] for name, rate in profile.rates.items()]
    lines = [
        f"Platform profile {profile.name}: {profile.device_name} ({profile.device}, "
        f"{profile.threads} thread{'s' if profile.threads != 1 else ''}, torch "
        f"{profile.torch_version}), calibrated in {profile.calibration_seconds:.0f} s.",
        f"Memory bandwidth {human(round(profile.bandwidth_bytes_per_s), 'B')}/s, cache "
        f"{human(profile.cache_bytes, 'B')}, module call {profile.module_call_overhead_s * 1e6:.1f}"
        f" us, view {profile.view_overhead_s * 1e6:.1f} us; fixed costs x"
        f"{profile.in_network_factor:.2f} in a network. FLOP = one multiply-add.",
        _typical_line(profile),
        *_subnormal_line(profile),
        "",
        tabulate(rows, headers=["kernel class", "FLOP rate", "byte rate (in cache)",
                                "fixed cost (us)"], disable_numparse=True, stralign="right",
                 colalign=("left",)),
        "",
        f"Written to {path}.",
    ]
    return "\n".join(lines) + "\n"


def _typical_line(profile: Profile) -> str:
    if not profile.has_typical:
        return "Best case only: the profile has no typical figures (recalibrate for them)."
    return (f"Typical case (a plain Python process's median): the best case x"
            f"{profile.typical_spread:.2f}, plus {(profile.page_fault_s or 0) * 1e6:.2f} us per "
            "page fault.")


def _subnormal_line(profile: Profile) -> list[str]:
    if profile.subnormal_mac_s is None or profile.subnormal_exp_s is None:
        return []
    return [f"Subnormal numbers: {profile.subnormal_mac_s * 1e9:.2f} ns more per multiply-add "
            f"on one, {profile.subnormal_exp_s * 1e9:.1f} ns per softmax weight that comes out "
            "one."]


def _rate(value: float | None, unit: str) -> str:
    return "-" if value is None else f"{human(round(value))}{unit}"


def render_bench(comparison: Comparison, model_type: str, repeat: int, profile: str,
                 what: str = "forward", typical: Typical | None = None) -> str:
    """bench's text: the best case (the lower quartile of the runs, freed memory kept, as
    calibration measures), the typical case where measured (a plain process's median), and per
    layer, op group and kernel class the measured time beside the estimate."""
    c = comparison
    error = c.estimated_forward / c.best_seconds - 1 if c.best_seconds else 0.0
    lines = [
        f"{model_type}, best case: {what} {c.best_seconds * 1e3:.3f} ms, the lower quartile "
        f"of {repeat} runs, freed memory kept (median {c.forward_seconds * 1e3:.3f} ms); estimated "
        f"{c.estimated_forward * 1e3:.3f} ms on {profile} ({error:+.1%}).",
    ]
    if typical is not None:
        lines.append(typical.line(repeat, what))
    instrumented = (f"an instrumented run ({c.measured_total * 1e3:.3f} ms in all): compare "
                    "shares, not milliseconds")
    if c.layers_per_module:
        lines.append(f"Module times come from {what}s timed per module (each module's "
                     f"lower quartile of {repeat}; the {what}'s {c.layers_total * 1e3:.3f} ms); "
                     f"op groups and kernel classes from {instrumented}. FLOPs count "
                     "multiply-adds.")
    else:
        lines.append(f"Per-op times come from {instrumented}. FLOPs count multiply-adds.")
    lines += [
        "",
        _table(c.layers, c, "module", c.layers_total),
        "",
        _table(c.groups, c, "op group"),
        "",
        _table(c.classes, c, "kernel class"),
        "",
    ]
    if len(c.layers) >= 2:
        measured = [row.measured for row in c.layers]
        lines.append("Rank correlation with the measured layer times (Spearman): estimate "
                     f"{spearman([r.estimated for r in c.layers], measured):.3f}, FLOPs "
                     f"{spearman([float(r.flops) for r in c.layers], measured):.3f}.")
    return "\n".join(lines).rstrip() + "\n"


@dataclass(frozen=True)
class Typical:
    """The typical case of bench: the median of a plain process, and its estimate (None where
    the profile has no typical figure)."""

    measured: float
    estimated: float | None

    def line(self, repeat: int, what: str) -> str:
        text = (f"Typical case: median {what} {self.measured * 1e3:.3f} ms of {repeat} runs in "
                "a plain Python process; ")
        if self.estimated is None:
            return text + "the profile has no typical figure (recalibrate for one)."
        return (text + f"estimated {self.estimated * 1e3:.3f} ms "
                f"({self.estimated / self.measured - 1:+.1%}).")


def _table(rows: Sequence[Compared], c: Comparison, first: str,
           measured_total: float | None = None) -> str:
    """Rows with their shares of the measured total (the instrumented run's, unless given) and
    of the estimated one."""
    whole = c.measured_total if measured_total is None else measured_total
    cells = [[row.name, f"{row.measured * 1e3:.3f}", _share(row.measured, whole),
              f"{row.estimated * 1e3:.3f}", _share(row.estimated, c.estimated_total),
              _share(row.flops, c.flops_total)] for row in rows]
    return tabulate(cells, headers=[first, "measured ms", "measured %", "estimated ms",
                                    "estimated %", "FLOPs %"],
                    disable_numparse=True, stralign="right", colalign=("left",))


def _share(part: float, whole: float) -> str:
    return percent(part / whole) if whole else "-"


def render_guidelines(rows: Sequence[Row], verdicts: Sequence[Verdict], device: str,
                      threads: int, paper_platform: str) -> str:
    unit = "batches/s" if paper_platform == "gpu" else "images/s"
    paper = ("GTX 1080Ti, batches/s" if paper_platform == "gpu"
             else "one ARM core (Snapdragon 810), images/s")
    lines = [f"The paper's validation experiments on {device} ({threads} thread"
             f"{'s' if threads != 1 else ''}), at its {paper_platform.upper()} widths, "
             f"10 blocks on 56x56 maps. Speeds in {unit}, measured and estimated in the best "
             f"case; paper: {paper}.", ""]
    for guideline, title in GUIDELINES.items():
        members = [row for row in rows if row.guideline == guideline]
        verdict = next(v for v in verdicts if v.guideline == guideline)
        lines.append(f"{guideline}: {title}")
        lines.append(tabulate(
            [[row.label, f"{row.measured_speed:.1f}", f"{row.estimated_speed:.1f}",
              f"{row.paper_speed:g}"] for row in members],
            headers=["row", "measured", "estimated", "paper"], disable_numparse=True,
            stralign="right", colalign=("left",)))
        state = "holds here" if verdict.holds else "does not hold here"
        lines.append(f"  {state}: {verdict.best} runs {verdict.measured_ratio:.2f}x as fast as "
                     f"{verdict.worst} (estimated {verdict.estimated_ratio:.2f}x, "
                     f"{verdict.prediction_error:+.0%}; paper {verdict.paper_ratio:.2f}x)")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
