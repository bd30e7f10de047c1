"""Baselines: adopt costlens on an existing model today, fail only on what gets worse.

`--write-baseline FILE` records the current findings by (target, code, module), the parts that
stay put while figures move; `--baseline FILE` then hides findings the file records, as many
times as it records each, so a second finding of the same kind in the same module still shows.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Sequence

from ..errors import CostlensError
from .finding import Diagnostic

BASELINE_VERSION = 1


def write_baseline(path: Path, diagnostics: Sequence[Diagnostic]) -> None:
    findings = sorted(d.key for d in diagnostics)
    document = {"version": BASELINE_VERSION, "tool": "costlens",
                "findings": [{"target": target, "code": code, "module": module}
                             for target, code, module in findings]}
    try:
        path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    except OSError as error:
        raise CostlensError(f"cannot write baseline {path}: {error.strerror}") from None


def read_baseline(path: Path) -> Counter[tuple[str, str, str]]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CostlensError(f"baseline not found: {path} (write one with --write-baseline)") \
            from None
    except (OSError, json.JSONDecodeError) as error:
        raise CostlensError(f"cannot read baseline {path}: {error}") from None
    if not isinstance(document, dict) or document.get("version") != BASELINE_VERSION:
        raise CostlensError(f"{path} is not a costlens baseline of version {BASELINE_VERSION}")
    try:
        return Counter((f["target"], f["code"], f["module"]) for f in document["findings"])
    except (KeyError, TypeError):
        raise CostlensError(f"{path}: each finding needs target, code and module") from None


def new_findings(diagnostics: Sequence[Diagnostic],
                 baseline: Counter[tuple[str, str, str]]) -> list[Diagnostic]:
    """The diagnostics the baseline does not account for."""
    remaining = Counter(baseline)
    fresh = []
    for diagnostic in diagnostics:
        if remaining[diagnostic.key] > 0:
            remaining[diagnostic.key] -= 1
        else:
            fresh.append(diagnostic)
    return fresh
