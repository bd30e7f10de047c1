"""The shape every budget rule shares: one total of the model checked against a limit that the
configuration sets per target (`[tool.costlens.budgets]`, or a target's own `budgets`)."""
from __future__ import annotations

from typing import ClassVar, Iterator

from ..units import human
from .rule import Finding, Option, Rule, RuleContext, Severity


class BudgetRule(Rule):
    """Subclasses name the budget key and the Totals field it limits."""

    severity = Severity.ERROR
    budget: ClassVar[str]
    unit: ClassVar[str]
    options = (Option("max", None, quantity=True),)

    def check(self, context: RuleContext) -> Iterator[Finding]:
        limit = context.options["max"]
        value = getattr(context.analysis.totals, self.budget)
        if limit is None or value <= limit:
            return
        over = f" by {value / limit - 1:.1%}" if limit else ""
        yield Finding("", (
            f"{context.analysis.model_type} has {human(value)} {self.unit}, over its budget of "
            f"{human(limit)}{over}"), {self.budget: value, "budget": limit})
