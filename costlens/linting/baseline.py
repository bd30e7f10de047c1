"""Baselines: adopt costlens on an existing model today, fail only on what gets worse.

`--write-baseline FILE` records the current causes; `--baseline FILE` then hides the causes the
file records, as many times as it records each. A cause is keyed by its target, rule and what
makes it one cause: the block class, the line that builds it and the layer's role inside it (or
the module, for a cause not in a repeated block). So a new instance of a recorded cause (one
more block of the same class) is not a new finding, and figures may move freely. Paths in the
keys are relative to the baseline's folder, so the key is the same whichever folder costlens
ran from and however the TARGET spelled its path.
"""
from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Sequence

from ..errors import CostlensError
from .finding import CauseKey, Diagnostic

BASELINE_VERSION = 2
Key = tuple[str, str, str, str]


def baseline_key(key: CauseKey, folder: Path) -> Key:
    """(target, code, cause, site) with paths relative to `folder`."""
    target = (f"{_relative(key.target_file, folder)}:{key.target}" if key.target_file
              else key.target)
    site = (f"{_relative(key.site_file, folder)}:{key.site_line}" if key.site_file
            else "")
    return target, key.code, key.cause, site


def _relative(path: str, folder: Path) -> str:
    try:
        return Path(os.path.relpath(path, folder.resolve())).as_posix()
    except ValueError:  # another drive on Windows
        return Path(path).as_posix()


def write_baseline(path: Path, diagnostics: Sequence[Diagnostic]) -> None:
    keys = sorted(baseline_key(d.key, path.parent) for d in diagnostics)
    document = {"version": BASELINE_VERSION, "tool": "costlens",
                "findings": [{"target": target, "code": code, "cause": cause, "site": site}
                             for target, code, cause, site in keys]}
    try:
        path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    except OSError as error:
        raise CostlensError(f"cannot write baseline {path}: {error.strerror}") from None


def read_baseline(path: Path) -> Counter[Key]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CostlensError(f"baseline not found: {path} (write one with --write-baseline)") \
            from None
    except (OSError, json.JSONDecodeError) as error:
        raise CostlensError(f"cannot read baseline {path}: {error}") from None
    version = document.get("version") if isinstance(document, dict) else None
    if version != BASELINE_VERSION:
        raise CostlensError(f"{path} is not a costlens baseline of version {BASELINE_VERSION}"
                            + (f" (it is version {version}: rewrite it with --write-baseline)"
                               if isinstance(version, int) else ""))
    try:
        return Counter((f["target"], f["code"], f["cause"], f["site"])
                       for f in document["findings"])
    except (KeyError, TypeError):
        raise CostlensError(f"{path}: each finding needs target, code, cause and site") \
            from None


def new_findings(diagnostics: Sequence[Diagnostic], baseline: Counter[Key],
                 folder: Path) -> list[Diagnostic]:
    """The diagnostics the baseline (in `folder`) does not account for."""
    remaining = Counter(baseline)
    fresh = []
    for diagnostic in diagnostics:
        key = baseline_key(diagnostic.key, folder)
        if remaining[key] > 0:
            remaining[key] -= 1
        else:
            fresh.append(diagnostic)
    return fresh
