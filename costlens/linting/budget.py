"""The shape every budget rule shares: one total of the model checked against a limit that the
configuration sets per target (`[tool.costlens.budgets]`, or a target's own `budgets`)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Iterator

from ..errors import CostlensError
from ..units import human
from .context import RuleContext
from .finding import Finding, Severity
from .rule import Option, Rule
from .values import kebab_keys, parse_assignments, parse_quantity

BUDGET_KEYS = ("flops", "mac", "params")  # the Totals figures a budget can limit


def read_budgets(value: Any, where: str) -> dict[str, float]:
    """`{flops | mac | params: count}` (or `flops=600M` items), counts such as `600M` checked."""
    budgets = {}
    for key, count in kebab_keys(parse_assignments(value, where), where).items():
        if key not in BUDGET_KEYS:
            raise CostlensError(f"{where}: unknown budget {key!r}; known budgets: "
                                f"{', '.join(BUDGET_KEYS)}")
        budgets[key] = parse_quantity(count, f"{where}.{key}")
    return budgets


@dataclass(frozen=True)
class OverBudget(Finding):
    model_type: str
    budget_key: str  # flops, mac or params
    unit: str
    value: float
    budget: float

    @property
    def message(self) -> str:
        over = f" by {self.value / self.budget - 1:.1%}" if self.budget else ""
        return (f"{self.model_type} has {human(self.value)} {self.unit}, over its budget of "
                f"{human(self.budget)}{over}")


class BudgetRule(Rule):
    """Subclasses name the budget key and the Totals field it limits."""

    severity = Severity.ERROR
    graded = False  # over budget is an error however small the excess
    budget: ClassVar[str]
    unit: ClassVar[str]
    options = (Option("max", None, quantity=True),)

    def check(self, context: RuleContext) -> Iterator[Finding]:
        limit = context.options["max"]
        value = getattr(context.analysis.totals, self.budget)
        if limit is None or value <= limit:
            return
        yield OverBudget("", context.analysis.model_type, self.budget, self.unit, value, limit)
