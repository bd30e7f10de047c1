"""TARGET -> (model, example inputs).

A TARGET names code that builds a model: `path/to/file.py:factory` or `package.module:factory`,
optionally with literal keyword arguments, `file.py:factory(width=0.5)`; or a saved model, a
torch.export archive (`model.pt2`) or, if trusted, a pickle (`model.pt`; serialized.py). A file
is imported as `python file.py` would see it, its directory first on sys.path, so it can import
modules beside it. The factory returns a module, `(module, inputs)` or `(module, args, kwargs)`,
and may add a loss function last, `(module, inputs, loss)`, for a training step (step.py).
"""
from __future__ import annotations

import ast
import hashlib
import importlib
import importlib.util
import inspect
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Sequence

import torch
from torch import nn

from ..errors import CostlensError, first_line
from ..graph import SourceLocation
from .inputs import Inputs, cast_inputs, parse_dtype, shape_inputs, split_inputs
from .locations import boundary, constructions_recorded, definition_site, display_path
from .serialized import is_saved_model, load_saved_model

_TARGET = re.compile(
    r"^(?P<location>.+?):(?P<factory>[A-Za-z_][\w.]*)\s*(?:\((?P<arguments>.*)\))?$", re.DOTALL)


@dataclass(frozen=True)
class Target:
    """A parsed TARGET string."""

    text: str
    location: str
    factory: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def is_file(self) -> bool:
        return self.location.endswith(".py") or os.sep in self.location or "/" in self.location


@dataclass(frozen=True)
class LoadedModel:
    """A model from a TARGET; `inputs` is None when the factory gave none; `location` is the
    factory's definition, where findings about the model as a whole point."""

    target: Target
    model: nn.Module
    inputs: Inputs | None
    location: SourceLocation
    loss: Callable[[Any], Any] | None = None  # a training step's, if the factory gave one


def parse_target(text: str) -> Target:
    match = _TARGET.match(text.strip())
    unbalanced = _unbalanced_bracket(text)
    if unbalanced:
        raise CostlensError(f"bad target {text!r}: {unbalanced} in the factory arguments; "
                            "write them as in Python, file.py:factory(width=0.5)")
    if not match:
        raise CostlensError(f"bad target {text!r}: expected path/to/file.py:factory, "
                            "package.module:factory or a saved model (.pt2, or .pt with "
                            "--trust-pickle)")
    args, kwargs = _literal_arguments(text, match.group("arguments"))
    return Target(text, match.group("location"), match.group("factory"), args, kwargs)


@boundary  # what called costlens is not the model's code
def load(text: str, base: Path | None = None, *, trust_pickle: bool = False) -> LoadedModel:
    """Import the TARGET's code and call its factory, or read a saved model; relative file
    paths and modules are looked up from `base` (default: the working directory)."""
    base = base or Path.cwd()
    if is_saved_model(text):
        path = base / text.strip()
        model, inputs = load_saved_model(path, trust_pickle=trust_pickle)
        return LoadedModel(Target(text, text.strip(), ""), model, inputs,
                           SourceLocation(display_path(str(path)), 1))
    target = parse_target(text)
    module = _import_file(target, base) if target.is_file else _import_module(target, base)
    factory = _resolve(module, target)
    try:
        with constructions_recorded():
            built = factory(*target.args, **target.kwargs)
    except Exception as error:
        raise CostlensError(f"{target.text}: the factory raised "
                            f"{type(error).__name__}: {first_line(error)}") from error
    loss = None
    if isinstance(built, tuple) and len(built) in (3, 4) and callable(built[-1]) \
            and not isinstance(built[-1], nn.Module):
        built, loss = built[:-1], built[-1]
    model, inputs = _model_and_inputs(target, built)
    location = _definition(factory, module, target.factory.split('.')[0])
    return LoadedModel(target, model, inputs, location, loss)


def model_inputs(loaded: LoadedModel, shapes: Sequence[str] = (),
                 dtype: str | None = None) -> Inputs:
    """`shapes` (--input) as the positional inputs, else the factory's; the factory's keyword
    inputs either way; an error naming what is missing when the forward needs more. `dtype`
    (--dtype) is the dtype of the shapes' tensors; a floating one also casts the factory's
    floating inputs, as the model itself is cast (see model_dtype)."""
    factory = loaded.inputs or Inputs()
    if dtype and not shapes:
        factory = cast_inputs(factory, _floating(dtype))
    args = shape_inputs(list(shapes), dtype or "float32").args if shapes else factory.args
    positional, keyword = required_inputs(loaded.model)
    missing = [name for name in positional[len(args):] if name not in factory.kwargs]
    if missing:
        raise CostlensError(f"the forward of {loaded.target.text} needs {', '.join(missing)}: "
                            "pass --input SHAPE (e.g. --input 1x3x224x224) once per positional "
                            "input")
    missing = [name for name in keyword if name not in factory.kwargs]
    if missing:
        raise CostlensError(f"the forward of {loaded.target.text} needs keyword inputs "
                            f"{', '.join(missing)}: return them from the factory as "
                            "(model, args, kwargs)")
    return Inputs(args, factory.kwargs)


def model_dtype(dtype: str | None) -> torch.dtype | None:
    """The dtype --dtype runs the model in: a floating one, as model.to(dtype) would cast it;
    None for none given or an integer dtype, which only makes --input tensors (token ids)."""
    if dtype is None:
        return None
    parsed = parse_dtype(dtype)
    return parsed if parsed.is_floating_point else None


def _floating(dtype: str) -> torch.dtype:
    parsed = parse_dtype(dtype)
    if not parsed.is_floating_point:
        raise CostlensError(f"--dtype {dtype} without --input would cast the model: give a "
                            "floating dtype, or --input shapes for integer inputs")
    return parsed


def required_inputs(model: nn.Module) -> tuple[list[str], list[str]]:
    """Names of the forward's parameters that have no default: (positional, keyword-only)."""
    try:
        parameters = inspect.signature(model.forward).parameters.values()
    except (TypeError, ValueError):
        return [], []
    required = [p for p in parameters if p.default is inspect.Parameter.empty]
    return ([p.name for p in required if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)],
            [p.name for p in required if p.kind is p.KEYWORD_ONLY])


def _unbalanced_bracket(text: str) -> str | None:
    """`'(' is never closed` or `')' is never opened` for the first unmatched bracket outside
    string literals; None when they balance."""
    pairs = {")": "(", "]": "[", "}": "{"}
    open_brackets: list[str] = []
    quote = None
    for char in text:
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "([{":
            open_brackets.append(char)
        elif char in pairs:
            if not open_brackets or open_brackets.pop() != pairs[char]:
                return f"'{char}' is never opened"
    return f"'{open_brackets[-1]}' is never closed" if open_brackets else None


def _literal_arguments(text: str, source: str | None) -> tuple[tuple[Any, ...], dict[str, Any]]:
    if source is None or not source.strip():
        return (), {}
    try:
        call = ast.parse(f"f({source})", mode="eval").body
        assert isinstance(call, ast.Call)
        args = tuple(ast.literal_eval(arg) for arg in call.args)
        kwargs = {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords if kw.arg}
    except (SyntaxError, ValueError, AssertionError):
        raise CostlensError(f"bad target {text!r}: factory arguments must be Python literals, "
                            "e.g. file.py:factory(width=0.5, name='a')") from None
    return args, kwargs


def _import_file(target: Target, base: Path) -> ModuleType:
    path = (base / target.location).resolve()
    if not path.is_file():
        raise CostlensError(f"target file not found: {target.location}")
    directory = str(path.parent)
    if directory not in sys.path:
        sys.path.insert(0, directory)
    # executed afresh each time: the file may have changed
    name = _package_module_name(path) or _module_name(path)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise CostlensError(f"cannot import {target.location} as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as error:
        del sys.modules[name]
        raise CostlensError(
            f"{target.location}:{error.lineno}: syntax error: {error.msg}") from error
    except Exception as error:
        del sys.modules[name]
        raise CostlensError(f"importing {target.location} failed: "
                            f"{type(error).__name__}: {first_line(error)}") from error
    return module


def _package_module_name(path: Path) -> str | None:
    """For a file inside a package (its directory holds an __init__.py), its dotted name, the
    package imported from the directory above its top, so that relative imports (`from .blocks
    import conv_bn`) work as they do when the package is installed; None for a file outside a
    package, or when that package name is already taken by another directory."""
    root, parts = path.parent, [path.stem]
    while (root / "__init__.py").is_file():
        parts.insert(0, root.name)
        root = root.parent
    if len(parts) == 1 or not all(part.isidentifier() for part in parts):
        return None
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    package = ".".join(parts[:-1])
    try:
        imported = importlib.import_module(package)
    except Exception:  # the package's own __init__ fails: import the file on its own
        return None
    if Path(getattr(imported, "__file__", "") or "").resolve().parent != path.parent:
        return None
    return f"{package}.{path.stem}"


def _module_name(path: Path) -> str:
    """The file's stem, as `import stem` from its directory would name it, unless that name is
    taken by another module; then a name unique to the path."""
    stem = path.stem
    existing = sys.modules.get(stem)
    if existing is None or Path(getattr(existing, "__file__", "") or "").resolve() == path:
        return stem
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
    return f"costlens_target_{stem}_{digest}"


def _import_module(target: Target, base: Path) -> ModuleType:
    if str(base) not in sys.path:
        sys.path.insert(0, str(base))
    try:
        return importlib.import_module(target.location)
    except ModuleNotFoundError as error:
        if error.name and (target.location == error.name
                           or target.location.startswith(error.name + ".")):
            raise CostlensError(f"module not found: {target.location} (not a file, not "
                                "importable from here)") from error
        raise CostlensError(f"importing {target.location} failed: "
                            f"{type(error).__name__}: {first_line(error)}") from error
    except SyntaxError as error:
        raise CostlensError(
            f"{error.filename}:{error.lineno}: syntax error: {error.msg}") from error
    except Exception as error:
        raise CostlensError(f"importing {target.location} failed: "
                            f"{type(error).__name__}: {first_line(error)}") from error


def _resolve(module: ModuleType, target: Target) -> Any:
    value: Any = module
    for part in target.factory.split("."):
        if not hasattr(value, part):
            choices = sorted(name for name, item in vars(module).items()
                             if callable(item) and not name.startswith("_")
                             and getattr(item, "__module__", None) == module.__name__)
            hint = f"; it defines {', '.join(choices)}" if choices else ""
            raise CostlensError(f"{target.location} has no {target.factory!r}{hint}")
        value = getattr(value, part)
    if not callable(value):
        raise CostlensError(f"{target.location}:{target.factory} is "
                            f"{_article(type(value).__name__)}, not a callable factory")
    return value


def _definition(factory: Any, module: ModuleType, name: str) -> SourceLocation:
    """The factory's `def` line; for a factory the module imports from a library, the first
    line of the module that names it (its import); else the top of the module."""
    found = definition_site(factory)
    if found is not None:
        return found
    if not module.__file__:
        return SourceLocation(module.__name__, 1)
    line = 1
    try:
        lines = Path(module.__file__).read_text(encoding="utf-8").splitlines()
        pattern = re.compile(rf"^\s*(?:def\s+|from\s.*\bimport\s.*)?{re.escape(name)}\b")
        line = next((number for number, text in enumerate(lines, 1) if pattern.search(text)), 1)
    except (OSError, UnicodeDecodeError):
        pass
    return SourceLocation(display_path(module.__file__), line)


def _model_and_inputs(target: Target, built: Any) -> tuple[nn.Module, Inputs | None]:
    if isinstance(built, nn.Module):
        return built, None
    if isinstance(built, tuple) and built and isinstance(built[0], nn.Module):
        if len(built) == 2:
            return built[0], Inputs(*split_inputs(built[1]))
        if len(built) == 3 and isinstance(built[2], dict):
            args, _ = split_inputs(built[1])
            return built[0], Inputs(args, dict(built[2]))
    raise CostlensError(f"{target.text}: the factory returned {_describe(built)}; expected a "
                        "torch.nn.Module, (module, inputs) or (module, args, kwargs), "
                        "optionally with a loss function last")


def _describe(value: Any) -> str:
    if isinstance(value, tuple):
        return "a tuple of (" + ", ".join(type(item).__name__ for item in value) + ")"
    return "None" if value is None else _article(type(value).__name__)


def _article(noun: str) -> str:
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"
