"""One cause, one diagnostic: a rule's findings on the instances of one block class built at one
line of code (for a layer, the same role inside those blocks) are the same cause, repeated.

A finding's block instance is the nearest module, at or above the flagged one, whose class is
the user's and is instantiated twice or more (graph.repeated_modules). Its cause is that class,
the line that constructs it and the flagged module's path inside it (`conv.0.0`, or nothing
for the block itself). Where the line is not known (a block in a torch container, built
outside a factory costlens ran), the class alone decides. A finding with no such block is a
cause of its own, named by its module.
"""
from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass
from typing import Sequence

from ..analysis import Analysis
from ..graph import SourceLocation, module_ancestors
from .finding import Finding, Group


@dataclass(frozen=True)
class Cause:
    """The findings of one cause, in execution order, and what they share."""

    findings: tuple[Finding, ...]
    group: Group | None  # None when the cause has one instance
    cause: str  # `InvertedResidual/conv.0.0`, or `module features.18` with no repeated block
    site: SourceLocation | None  # where the block (or the module) is constructed, if known


def group_findings(findings: Sequence[Finding], analysis: Analysis) -> list[Cause]:
    """The causes of `findings`, in the order their first instance ran."""
    graph = analysis.graph
    modules = {module.path: module for module in graph.modules}
    order = {layer.name: position for position, layer in enumerate(analysis.layers)}
    causes: dict[tuple, list[tuple[str, Finding]]] = defaultdict(list)
    for finding in findings:
        root = next((path for path in reversed(module_ancestors(finding.module))
                     if path in graph.repeated_modules), None)
        if root is None:
            key: tuple = ("module", finding.module)
        else:
            info = modules[root]  # its construction site unknown: every instance of the class
            key = ("block", info.type_module, info.type, info.source,
                   _role(root, finding.module))
        causes[key].append((root or finding.module, finding))
    found = []
    for key, members in causes.items():
        members.sort(key=lambda member: order.get(member[1].module, order.get(member[0], 0)))
        instances = tuple(finding for _, finding in members)
        if key[0] == "module":
            module = key[1]
            found.append(Cause(instances, None, f"module {module}",
                               modules[module].source if module in modules else None))
            continue
        _, _, block_type, site, role = key
        roots = tuple(dict.fromkeys(root for root, _ in members))
        group = None if len(instances) == 1 else Group(
            block_type, role, roots, _glob([finding.module for finding in instances]))
        found.append(Cause(instances, group, f"{block_type}/{role}" if role else block_type,
                           site))
    return sorted(found, key=lambda cause: order.get(cause.findings[0].module, 0))


def _role(root: str, module: str) -> str:
    return module[len(root) + 1:] if module != root else ""


def _glob(paths: Sequence[str]) -> str:
    """The paths as one pattern: a part where they differ keeps what they share at its start
    and becomes `*` after it (`stage*.*.expand.0`, `features.*.conv.0.0`); paths of different
    lengths keep their common parts and end in `*`."""
    split = [path.split(".") for path in paths]
    if len({len(parts) for parts in split}) != 1:
        common = []
        for parts in zip(*split):
            if len(set(parts)) != 1:
                break
            common.append(parts[0])
        return ".".join([*common, "*"])
    return ".".join(parts[0] if len(set(parts)) == 1 else f"{os.path.commonprefix(parts)}*"
                    for parts in zip(*split))
