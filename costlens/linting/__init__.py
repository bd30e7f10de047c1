"""Lint rules over an Analysis: what a rule is and sees (rule.py, context.py), what it reports
(finding.py), which rules run (rulebook.py), the engine (linter.py), the settings and their
sources (options.py, config.py), baselines and budgets.

A rule plugin needs only the names exported here.
"""
from .context import RuleContext
from .finding import Diagnostic, Finding, Severity
from .rule import Option, Rule

__all__ = ["Diagnostic", "Finding", "Option", "Rule", "RuleContext", "Severity"]
