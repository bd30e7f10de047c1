"""The lint engine: run the selected rules on one Analysis, group their findings into causes,
grade and rank them by what fixing them would save, and point each at a line of the user's
code. Plain data in, plain data out: loading and tracing happen before (api.py)."""
from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from ..analysis import Analysis, forward_analysis
from ..graph import SourceLocation
from ..latency import LatencyEstimate, Profile, estimate, load_profile
from .budget import BudgetRule
from .context import RuleContext, View
from .finding import CauseKey, Diagnostic, Finding, Saving, Severity
from .grouping import Cause, group_findings
from .options import Settings
from .rule import Rule
from .rulebook import select_rules


@dataclass(frozen=True)
class LintSettings:
    """The rules to run and how: option values by rule code, budgets for every target,
    module-path globs whose findings of some codes are ignored, the view, the profile."""

    rules: Sequence[type[Rule]]
    rule_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    budgets: Mapping[str, float] = field(default_factory=dict)
    per_module_ignores: Sequence[tuple[str, Sequence[str]]] = ()
    profile: Profile | None = None
    view: View = View.FUSED


@dataclass(frozen=True)
class TargetId:
    """How diagnostics name a target (`label`: its configured name, or the TARGET as written
    with its inputs) and what a baseline keys it by: its file, absolute, for a file target,
    and the rest (`factory(args) --input ...`), or the label."""

    label: str
    file: str | None = None
    rest: str = ""


def lint_settings(settings: Settings, rules: Mapping[str, type[Rule]]) -> LintSettings:
    """What the engine needs of resolved settings: the selected rules (each checked against
    its options once, before anything is traced), the profile loaded."""
    platform = settings.platform
    selected = select_rules(rules, settings.select, settings.ignore)
    for rule in selected:
        rule.validate(rule_options(rule, settings.rules, settings.budgets), platform is not None)
    return LintSettings(selected, settings.rules, settings.budgets, settings.per_module_ignores,
                        load_profile(platform) if isinstance(platform, str) else platform,
                        View(settings.view))


def lint_analysis(analysis: Analysis, target: TargetId, settings: LintSettings,
                  fallback: SourceLocation, budgets: Mapping[str, float] | None = None
                  ) -> list[Diagnostic]:
    """The causes every selected rule finds, minus per-module ignores: the most severe first
    (an over-budget error before a guideline note), then the costliest. On a training step the
    guidelines (G1-G4) judge its forward, the architecture; the budgets the whole step."""
    locate = _Locator(analysis, fallback)
    budgets = settings.budgets if budgets is None else budgets
    step = (analysis, _estimate(analysis, settings))
    if analysis.graph.step is None:
        forward = step
    else:  # the guidelines judge the architecture: the step's forward
        ahead = forward_analysis(analysis)
        forward = (ahead, _estimate(ahead, settings))
    diagnostics = []
    for rule in settings.rules:
        options = rule_options(rule, settings.rule_options, budgets)
        analysis, latency = step if issubclass(rule, BudgetRule) else forward
        context = RuleContext(analysis, options, latency, settings.profile, settings.view)
        findings = [finding for finding in rule().check(context)
                    if not _ignored(finding.module, rule.code, settings.per_module_ignores)]
        for cause in group_findings(findings, analysis):
            worst = max(cause.findings, key=_cost)
            saving = _saving(cause.findings, analysis, latency)
            diagnostics.append(Diagnostic(
                rule.code, rule.name, _severity(rule, options, saving), target.label,
                locate(worst.module), worst, cause.findings, saving,
                _key(target, rule.code, cause), cause.group))
    return sorted(diagnostics, key=lambda d: (-d.severity.rank, -d.saving.cost_share,
                                              d.location.file, d.location.line, d.code,
                                              d.module))


def _estimate(analysis: Analysis, settings: LintSettings) -> LatencyEstimate | None:
    if settings.profile is None:
        return None
    # the best case: a rule's what-if times (context.py) come from the roofline as it is
    return estimate(analysis, settings.profile, fuse=settings.view is View.FUSED, typical=False)


def _cost(finding: Finding) -> float:
    return finding.seconds if finding.seconds is not None else finding.saved_bytes


def _saving(findings: Sequence[Finding], analysis: Analysis,
            latency: LatencyEstimate | None) -> Saving:
    mac_bytes = sum(max(finding.saved_bytes, 0) for finding in findings)
    share = mac_bytes / analysis.totals.mac_bytes if analysis.totals.mac_bytes else 0.0
    timed = [finding.seconds for finding in findings if finding.seconds is not None]
    if latency is None or not timed:
        return Saving(mac_bytes, share)
    seconds = sum(max(value, 0.0) for value in timed)
    return Saving(mac_bytes, share, seconds,
                  seconds / latency.seconds if latency.seconds else 0.0, latency.profile)


def _severity(rule: type[Rule], options: Mapping[str, Any], saving: Saving) -> Severity:
    """A graded rule's severity follows the share of the model's cost the fix would save."""
    if not rule.graded:
        return rule.severity
    if saving.cost_share < options["note_below"]:
        return Severity.NOTE
    return Severity.ERROR if saving.cost_share >= options["error_from"] else rule.severity


def _key(target: TargetId, code: str, cause: Cause) -> CauseKey:
    site = cause.site
    return CauseKey(target.file, target.rest or target.label, code,
                    None if site is None else os.path.abspath(site.file),
                    None if site is None else site.line, cause.cause)


def rule_options(rule: type[Rule], configured: Mapping[str, Mapping[str, Any]],
                 budgets: Mapping[str, float]) -> dict[str, Any]:
    """Defaults, then the configuration's values; a budget rule's limit from the budgets."""
    options = {option.name: option.default for option in rule.all_options()}
    options.update(configured.get(rule.code, {}))
    if issubclass(rule, BudgetRule) and rule.budget in budgets:
        options["max"] = budgets[rule.budget]
    return options


def _ignored(module: str, code: str,
             per_module_ignores: Sequence[tuple[str, Sequence[str]]]) -> bool:
    return any(fnmatch.fnmatchcase(module, pattern) and any(code.startswith(p) for p in codes)
               for pattern, codes in per_module_ignores)


class _Locator:
    """The line to point a finding about a module at: where user code constructed it, else
    where it was called, else the same for the nearest enclosing module, else the factory."""

    def __init__(self, analysis: Analysis, fallback: SourceLocation) -> None:
        self.fallback = fallback
        self.constructed = {m.path: m.source for m in analysis.graph.modules}
        self.called: dict[str, SourceLocation | None] = {}
        for call in analysis.graph.calls:
            self.called.setdefault(call.module, call.source)

    def __call__(self, module: str) -> SourceLocation:
        path = module
        while path:
            location = self.constructed.get(path) or self.called.get(path)
            if location is not None:
                return location
            path = path.rpartition(".")[0]
        return self.fallback
