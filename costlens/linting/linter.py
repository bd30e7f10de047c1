"""The lint engine: run the selected rules on one Analysis and turn their findings into
diagnostics with a severity, the target and a line of the user's code to point at. Plain data in,
plain data out: loading and tracing happen before (api.py)."""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from ..analysis import Analysis
from ..graph import SourceLocation
from ..latency import LatencyEstimate, Profile, estimate, load_profile
from .budget import BudgetRule
from .context import RuleContext
from .finding import Diagnostic, Finding, Severity, TimeCost
from .options import Settings
from .rule import Rule
from .rulebook import select_rules


@dataclass(frozen=True)
class LintSettings:
    """The rules to run and how: option values by rule code, budgets for every target,
    module-path globs whose findings of some codes are ignored."""

    rules: Sequence[type[Rule]]
    rule_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    budgets: Mapping[str, float] = field(default_factory=dict)
    per_module_ignores: Sequence[tuple[str, Sequence[str]]] = ()
    profile: Profile | None = None


def lint_settings(settings: Settings, rules: Mapping[str, type[Rule]]) -> LintSettings:
    """What the engine needs of resolved settings: the selected rules, the profile loaded."""
    platform = settings.platform
    return LintSettings(select_rules(rules, settings.select, settings.ignore), settings.rules,
                        settings.budgets, settings.per_module_ignores,
                        load_profile(platform) if isinstance(platform, str) else platform)


#: With a platform, a finding's severity follows the share of the model's estimated time it
#: costs: below NOTE_BELOW it is a note (real, but not worth a failed build on this platform),
#: from ERROR_FROM on an error.
NOTE_BELOW = 0.01
ERROR_FROM = 0.10


def lint_analysis(analysis: Analysis, target: str, settings: LintSettings,
                  fallback: SourceLocation, budgets: Mapping[str, float] | None = None
                  ) -> list[Diagnostic]:
    """Diagnostics of every selected rule, minus per-module ignores, in source order."""
    locate = _Locator(analysis, fallback)
    budgets = settings.budgets if budgets is None else budgets
    latency = estimate(analysis, settings.profile) if settings.profile is not None else None
    diagnostics = []
    for rule in settings.rules:
        context = RuleContext(analysis, rule_options(rule, settings.rule_options, budgets),
                              latency, settings.profile)
        for finding in rule().check(context):
            if _ignored(finding.module, rule.code, settings.per_module_ignores):
                continue
            severity, cost = rule.severity, None
            if latency is not None and finding.seconds is not None:
                cost = _time_cost(finding, latency)
                severity = (Severity.NOTE if cost.share < NOTE_BELOW else
                            Severity.ERROR if cost.share >= ERROR_FROM else rule.severity)
            diagnostics.append(Diagnostic(rule.code, rule.name, severity, target,
                                          locate(finding.module), finding, cost))
    return sorted(diagnostics, key=lambda d: (d.location.file, d.location.line, d.code, d.module))


def _time_cost(finding: Finding, latency: LatencyEstimate) -> TimeCost:
    seconds = max(finding.seconds or 0.0, 0.0)
    share = seconds / latency.seconds if latency.seconds else 0.0
    return TimeCost(seconds, share, latency.profile, latency.seconds)


def rule_options(rule: type[Rule], configured: Mapping[str, Mapping[str, Any]],
                 budgets: Mapping[str, float]) -> dict[str, Any]:
    """Defaults, then the configuration's values; a budget rule's limit from the budgets."""
    options = {option.name: option.default for option in rule.options}
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
