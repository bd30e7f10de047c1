"""SARIF 2.1.0, the format code-scanning services read: one run, the rules with their
documentation as help, one result per cause on the file and line it points at, with every
instance as a logical location; its fingerprint is the cause's baseline key."""
from __future__ import annotations

import json
from pathlib import Path, PurePath
from typing import Sequence
from urllib.parse import quote

from .. import __version__
from ..linting.baseline import baseline_key
from ..linting.rule import Rule
from .diagnostics import LintRun

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def render_sarif(run: LintRun, rules: Sequence[type[Rule]]) -> str:
    codes = [rule.code for rule in rules]
    results = []
    for d in run.diagnostics:
        result = {
            "ruleId": d.code,
            "level": d.severity.value,
            "message": {"text": f"{d.pattern or '(model)'}: {d.message}"},
            "locations": [{
                "physicalLocation": {
                    "artifactLocation": {"uri": _uri(d.location.file)},
                    "region": {"startLine": d.location.line},
                },
                "logicalLocations": [{"fullyQualifiedName": instance.module or d.target,
                                      "kind": "module"} for instance in d.instances],
            }],
            "partialFingerprints": {
                "costlens/v2": ":".join(baseline_key(d.key, run.root))},
            "properties": {"target": d.target, "figures": dict(d.figures),
                           "instances": [{"module": f.module, "figures": f.figures()}
                                         for f in d.instances],
                           "saving": d.saving.to_dict()},
        }
        if d.code in codes:
            result["ruleIndex"] = codes.index(d.code)
        results.append(result)
    document = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "costlens", "version": __version__,
                "rules": [_descriptor(rule) for rule in rules],
            }},
            "results": results,
        }],
    }
    return json.dumps(document, indent=2) + "\n"


def _uri(path: str) -> str:
    """A URI reference: relative paths percent-encoded as they are, absolute ones as file://."""
    pure = PurePath(path)
    if pure.is_absolute():
        return Path(path).as_uri()
    return quote(pure.as_posix())


def _descriptor(rule: type[Rule]) -> dict:
    documentation = rule.documentation()
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary()},
        "fullDescription": {"text": rule.section("What it does") or rule.summary()},
        "help": {"text": documentation, "markdown": documentation},
        "defaultConfiguration": {"level": rule.severity.value},
        "properties": {"tags": ["performance", "architecture"]},
    }
