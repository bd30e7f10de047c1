"""The Python API: analyze a model, or lint it, in one call."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import torch

from .analysis import Analysis, analyze_graph
from .costs import is_known, load_formulas, using_formulas
from .costs.user import UserFormula
from .graph import OpGraph, SourceLocation
from .linting.finding import Diagnostic
from .linting.linter import LintSettings, TargetId, lint_analysis, lint_settings
from .linting.options import from_arguments
from .linting.rulebook import all_rules
from .linting.targets import TargetConfig
from .tracing.inputs import parse_dtype, split_inputs
from .tracing.load import Target, load, model_dtype, model_inputs
from .tracing.locations import definition_site, user_location
from .tracing.step import Loss, TrainStep
from .tracing.trace import trace


def trace_model(model: Any, inputs: Any = None, *, train: bool = False, real: bool = False,
                dtype: torch.dtype | str | None = None, train_step: bool = False,
                optimizer: str | None = None, loss: Loss | None = None) -> OpGraph:
    """The op graph of one forward pass (or training step); `inputs` and the options as for
    `analyze`."""
    args, kwargs = split_inputs(inputs)
    load_formulas()  # a broken entry point is its own error, not a failure of the forward
    return trace(model, args, kwargs, is_known=is_known, train=train, real=real,
                 dtype=parse_dtype(dtype) if isinstance(dtype, str) else dtype,
                 step=training_step(train_step, optimizer, loss))


def training_step(train_step: bool, optimizer: str | None = None,
                  loss: Loss | None = None) -> TrainStep | None:
    """What the `train_step`, `optimizer` and `loss` arguments ask for: an optimizer or a loss
    implies a training step."""
    if not (train_step or optimizer or loss):
        return None
    return TrainStep(loss, optimizer)


def analyze(model: Any, inputs: Any = None, *, train: bool = False, real: bool = False,
            dtype: torch.dtype | str | None = None,
            formulas: Mapping[Any, UserFormula] | None = None, train_step: bool = False,
            optimizer: str | None = None, loss: Loss | None = None) -> Analysis:
    """Trace `model` on `inputs` and cost every op.

    `inputs` is a tensor (the one positional input), a tuple or list of positional inputs, a
    dict of keyword inputs, or both as `costlens.Inputs(args, kwargs)`. Tensors may be real or
    on the meta device; only their shapes and dtypes are used unless the model needs values.
    The model is analyzed in eval mode unless `train=True`, on the meta device unless
    `real=True` (real copies of its weights and inputs), and is left as it was. `dtype`
    ("bfloat16" or torch.bfloat16) analyzes it as `model.to(dtype)`: its floating parameters
    and buffers in that dtype; the inputs are taken as given. `formulas` ({op name: function},
    as for `costlens.register_formula`) costs ops with them for this call only; an op that
    already has a formula is an error (`costlens.using_formulas(..., replace=True)` replaces).

    `train_step=True` analyzes a training step instead, in training mode: the forward, the loss
    (`loss(output)`, default: a `loss` the model returns, else the sum of its floating
    outputs) and its backward; `optimizer` ("sgd", "adam", "adamw") adds the update of every
    parameter. Each op then has a phase (forward, backward, optimizer); rows and totals have
    the figures of each.
    """
    with using_formulas(formulas):
        return analyze_graph(trace_model(model, inputs, train=train, real=real, dtype=dtype,
                                         train_step=train_step, optimizer=optimizer,
                                         loss=loss))


def lint(model: Any, inputs: Any = None, *, train: bool = False,
         options: Mapping[str, Mapping[str, Any]] | None = None,
         formulas: Mapping[Any, UserFormula] | None = None, train_step: bool = False,
         optimizer: str | None = None, loss: Loss | None = None,
         **settings: Any) -> list[Diagnostic]:
    """Run the lint rules on `model`. `options` are the rules' options by code
    (`{"G1": {"max_mac_ratio": 1.4}}`); every other lint setting is taken by its name in
    linting/options.py's table, in snake case, read as the command line reads it: `select` /
    `ignore` (code prefixes: a list or a comma-separated string), `budgets`
    (`{"flops": "600M"}`), `platform` (a profile, its file or built-in name: findings carry and
    are graded by estimated time), `view` ("fused", the default, or "eager"),
    `per_module_ignores` (`{"features.*": ["G4"]}`). None means the default. Findings about the
    model as a whole point at its class. `formulas` and the training step (`train_step`,
    `optimizer`, `loss`) as for `analyze`: on a training step the guidelines judge its forward,
    the budgets the whole step."""
    rules = all_rules()
    arguments = {key.replace("_", "-"): value for key, value in settings.items()}
    resolved = from_arguments({**arguments, "rules": options}, rules,
                              names={"rules": "options"})
    with using_formulas(formulas):  # the guidelines cost a training step's forward again
        analysis = analyze(model, inputs, train=train, train_step=train_step,
                           optimizer=optimizer, loss=loss)
        return lint_analysis(analysis, TargetId(type(model).__name__),
                             lint_settings(resolved, rules), _location_of(model))


def lint_target(target: TargetConfig, settings: LintSettings, *, train: bool = False,
                trust_pickle: bool = False, train_step: bool = False,
                optimizer: str | None = None) -> list[Diagnostic]:
    """Load a TARGET, analyze it (a training step: with the factory's loss, if it gives one)
    and lint it; its own budgets override the settings'."""
    loaded = load(target.spec, target.base, trust_pickle=trust_pickle)
    analysis = analyze(loaded.model, model_inputs(loaded, target.inputs, target.dtype),
                       train=train, dtype=model_dtype(target.dtype), train_step=train_step,
                       optimizer=optimizer, loss=loaded.loss if train_step else None)
    budgets = {**settings.budgets, **target.budgets}
    return lint_analysis(analysis, _target_id(target, loaded.target), settings,
                         loaded.location, budgets)


def _target_id(target: TargetConfig, parsed: Target) -> TargetId:
    """What a baseline keys the target by: its file, absolute, however the TARGET spelled the
    path (from the configuration's folder or from the working directory), and the rest of it
    with its inputs; or its configured name."""
    if target.name:
        return TargetId(target.name)
    inputs = target.label[len(target.spec):]
    if not (parsed.is_file or not parsed.factory):  # a module path: as written
        return TargetId(target.label)
    file = (target.base or Path.cwd()) / parsed.location
    return TargetId(target.label, str(file.resolve()), _call(parsed) + inputs)


def _call(parsed: Target) -> str:
    """The factory and its arguments in one spelling: `build`, `build(width=0.5)`, whether the
    TARGET wrote `build()` or `build( width = 0.5 )`."""
    arguments = [*map(repr, parsed.args), *(f"{key}={value!r}"
                                            for key, value in sorted(parsed.kwargs.items()))]
    return f"{parsed.factory}({', '.join(arguments)})" if arguments else parsed.factory


def _location_of(model: Any) -> SourceLocation:
    """Where findings about the model as a whole point: its class, if the user wrote it, else
    the line that called `lint`."""
    return definition_site(type(model)) or user_location() or SourceLocation("<model>", 1)
