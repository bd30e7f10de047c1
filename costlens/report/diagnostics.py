"""Lint output as text (one line per finding, as compilers and ruff print them), JSON, and
GitHub Actions workflow commands (annotations on the offending line of a pull request)."""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Sequence

from ..linting.finding import Diagnostic, Severity

JSON_VERSION = 1


@dataclass(frozen=True)
class LintRun:
    """What one lint run found: the diagnostics to report, the targets linted, and how many
    findings the baseline hid."""

    diagnostics: Sequence[Diagnostic]
    targets: Sequence[str]
    hidden: int = 0


def render_text(run: LintRun) -> str:
    lines = [f"{d.location}: {d.code} {d.name} [{d.severity.value}] "
             f"{d.module or '(model)'}: {d.message}" for d in run.diagnostics]
    lines.append(summary(run))
    return "\n".join(lines) + "\n"


def summary(run: LintRun) -> str:
    targets = f"{len(run.targets)} target{'s' if len(run.targets) != 1 else ''}"
    hidden = f"; {run.hidden} more hidden by the baseline" if run.hidden else ""
    if not run.diagnostics:
        return f"No findings in {targets}{hidden}."
    counts = Counter(d.severity for d in run.diagnostics)
    parts = ", ".join(f"{counts[s]} {s.value}{'s' if counts[s] != 1 else ''}"
                      for s in (Severity.ERROR, Severity.WARNING, Severity.NOTE) if counts[s])
    total = len(run.diagnostics)
    return f"{total} finding{'s' if total != 1 else ''} ({parts}) in {targets}{hidden}."


def render_json(run: LintRun) -> str:
    counts = Counter(d.severity.value for d in run.diagnostics)
    document = {
        "version": JSON_VERSION,
        "diagnostics": [d.to_dict() for d in run.diagnostics],
        "summary": {"targets": list(run.targets), "findings": len(run.diagnostics),
                    "by_severity": {s.value: counts[s.value] for s in Severity},
                    "hidden_by_baseline": run.hidden},
    }
    return json.dumps(document, indent=2) + "\n"


_GITHUB_LEVELS = {Severity.NOTE: "notice", Severity.WARNING: "warning", Severity.ERROR: "error"}


def render_github(run: LintRun) -> str:
    """`::warning file=...,line=...,title=...::message`, escaped as the runner expects."""
    lines = []
    for d in run.diagnostics:
        properties = ",".join(f"{key}={_escape_property(value)}" for key, value in (
            ("file", d.location.file), ("line", str(d.location.line)),
            ("title", f"{d.code} {d.name}")))
        message = _escape_data(f"{d.module or '(model)'}: {d.message}")
        lines.append(f"::{_GITHUB_LEVELS[d.severity]} {properties}::{message}")
    lines.append(summary(run))
    return "\n".join(lines) + "\n"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")
