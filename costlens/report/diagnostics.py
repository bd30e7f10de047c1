"""Lint output as text (one line per cause, as compilers and ruff print them, costliest first,
then a line per rule), JSON (schema: costlens/schemas/lint.json), and GitHub Actions workflow
commands (annotations on the offending line of a pull request)."""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from ..linting.finding import Diagnostic, Severity
from ..units import human

JSON_VERSION = 2


@dataclass(frozen=True)
class LintRun:
    """What one lint run found: the diagnostics to report, the targets linted, how many
    findings the baseline hid, and the project folder (the configuration's, else the working
    directory) that stable keys such as SARIF fingerprints are relative to."""

    diagnostics: Sequence[Diagnostic]
    targets: Sequence[str]
    hidden: int = 0
    root: Path = field(default_factory=Path.cwd)


def render_text(run: LintRun) -> str:
    lines = [f"{d.location}: {d.code} {d.name} [{d.severity.value}] "
             f"{d.pattern or '(model)'}: {d.message}" for d in run.diagnostics]
    lines += rule_lines(run)
    lines.append(summary(run))
    return "\n".join(lines) + "\n"


def rule_lines(run: LintRun) -> list[str]:
    """Per rule with findings: how many causes, instances and what fixing them would save."""
    lines = []
    for code in sorted({d.code for d in run.diagnostics}):
        found = [d for d in run.diagnostics if d.code == code]
        instances = sum(len(d.instances) for d in found)
        saved = sum(d.saving.mac_bytes for d in found)
        timed = [d.saving.seconds for d in found if d.saving.seconds is not None]
        saving = [f"{human(saved, 'B')} of memory traffic"] if saved else []
        saving += [f"{sum(timed) * 1e3:.3g} ms"] if timed else []
        line = (f"  {code} {found[0].name}: {_count(len(found), 'finding')}, "
                f"{_count(instances, 'instance')}")
        lines.append(f"{line}, {' and '.join(saving)} to save" if saving else line)
    return lines


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'s' if number != 1 else ''}"


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
        message = _escape_data(f"{d.pattern or '(model)'}: {d.message}")
        lines.append(f"::{_GITHUB_LEVELS[d.severity]} {properties}::{message}")
    lines.append(summary(run))
    return "\n".join(lines) + "\n"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")
