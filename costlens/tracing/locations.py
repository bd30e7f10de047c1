"""Where in the user's code something happened: the line that called a module or issued an op,
and the line that constructed a module (`self.conv1 = nn.Conv2d(...)`).

User code is any file that is not costlens's, torch's, the standard library's or an installed
package's (site-packages, dist-packages): a finding must land on a line the user can change.
"""
from __future__ import annotations

import contextlib
import functools
import inspect
import os
import re
import site
import sys
import sysconfig
from types import CodeType, FrameType
from typing import Any, Iterator, Mapping
from weakref import WeakKeyDictionary

import torch
from torch import nn
from torch.nn.modules.module import register_module_module_registration_hook

from ..graph import SourceLocation

_LIBRARY_DIRS = tuple({os.path.realpath(path) + os.sep for path in (
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),  # costlens itself
    os.path.dirname(torch.__file__),
    *(sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib", "platlib",
                                             "scripts")),  # console-script wrappers
    *site.getsitepackages(), site.getusersitepackages())})
_INSTALLED = re.compile(r"[/\\](site|dist)-packages[/\\]")
# Code that is never a model's: costlens's, torch's and the standard library's.
_INTERNAL_DIRS = tuple({os.path.realpath(path) + os.sep for path in (
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    os.path.dirname(torch.__file__),
    *(sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib")))})
_EXAMPLES_DIR = os.path.realpath(os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "examples")) + os.sep  # installed, costlens.examples

# Frames of these functions mark where tracing began: nothing above them is the model's.
_BOUNDARIES: set[object] = set()

# Where each submodule was registered, recorded while a factory built the model.
_SITES: WeakKeyDictionary[nn.Module, dict[str, SourceLocation]] = WeakKeyDictionary()


def boundary(function):  # type: ignore[no-untyped-def]
    """Mark `function` as the place tracing enters the model; returns it unchanged."""
    _BOUNDARIES.add(function.__code__)
    return function


def user_location() -> SourceLocation | None:
    """The innermost line of user code on the stack, or None when the stack reaches a boundary
    first (the call of the model itself has no user line)."""
    return _lines(sys._getframe(1))[0]


def code_lines() -> tuple[SourceLocation | None, SourceLocation | None]:
    """The innermost line of user code on the stack (as user_location), and the innermost line
    of a model's code: any but costlens's, torch's and the standard library's, so an installed
    model's (torchvision's, a library's) too. The first is where a finding points; the second
    is the statement that ran the op, whoever wrote it (analysis/memory.py)."""
    return _lines(sys._getframe(1))


def _lines(frame: FrameType | None) -> tuple[SourceLocation | None, SourceLocation | None]:
    """Called for every op and module call of a trace, through a dozen frames of torch each
    time: code found not to be the user's, or not a model's, is remembered."""
    site = None
    while frame is not None:
        code = frame.f_code
        if id(code) not in _NOT_USER:
            if code in _BOUNDARIES:
                return None, site
            if is_user_file(code.co_filename):
                user = SourceLocation(display_path(code.co_filename), frame.f_lineno)
                return user, site or user
            _NOT_USER[id(code)] = code
        if site is None and id(code) not in _INTERNAL:
            if _is_model_file(code.co_filename):
                site = SourceLocation(display_path(code.co_filename), frame.f_lineno)
            else:
                _INTERNAL[id(code)] = code
        frame = frame.f_back
    return None, site


# Code objects by identity (each kept, so that its id is not reused): code objects compare by
# value, filename aside, so a user's copy of an installed file would otherwise pass for it.
_NOT_USER: dict[int, CodeType] = {}
_INTERNAL: dict[int, CodeType] = {}


@functools.lru_cache(maxsize=None)
def _is_model_file(filename: str) -> bool:
    """Not costlens's, torch's or the standard library's; costlens's examples are models."""
    if filename.startswith("<"):
        return False
    path = os.path.realpath(filename)
    return not path.startswith(_INTERNAL_DIRS) or path.startswith(_EXAMPLES_DIR)


@contextlib.contextmanager
def constructions_recorded() -> Iterator[None]:
    """While a factory runs, note the line of user code that registers each submodule, so a
    finding points at the assignment that actually ran (one branch of an if, a loop)."""
    def note(owner: nn.Module, name: str, _module: Any) -> None:
        location = user_location()
        if location is not None:
            _SITES.setdefault(owner, {})[name] = location

    handle = register_module_module_registration_hook(note)
    try:
        yield
    finally:
        handle.remove()


def construction_site(modules: Mapping[str, nn.Module], path: str) -> SourceLocation | None:
    """Where user code constructed the module at `path` (of the model whose `modules` by path
    are given): its registration recorded while its factory ran, else, in the class of its
    parent (or a base class), the line `self.<attribute> = ...` that holds it. None when
    neither is known (a module in a torch container, built outside a factory): the line of an
    enclosing module is not this one's, and findings about it find that line by walking up
    (linting.linter's locator), while grouping must not take the container's line for the
    block's."""
    if not path:
        return None
    parent, _, name = path.rpartition(".")
    owner = modules[parent]
    recorded = _SITES.get(owner, {}).get(name)
    if recorded is not None or not name.isidentifier():
        return recorded
    for cls in type(owner).__mro__:
        if cls is nn.Module or not issubclass(cls, nn.Module):
            break
        location = _assignment(cls, name)
        if location is not None:
            return SourceLocation(display_path(location.file), location.line)
    return None


def definition_site(value: Any) -> SourceLocation | None:
    """Where a function or class is defined, if that is user code."""
    try:
        filename = inspect.getsourcefile(value)
        line = inspect.getsourcelines(value)[1]
    except (OSError, TypeError):
        return None
    if filename is None or not is_user_file(filename):
        return None
    return SourceLocation(display_path(filename), line)


@functools.lru_cache(maxsize=None)
def is_user_file(filename: str) -> bool:
    if filename.startswith("<") or _INSTALLED.search(filename):
        return False
    return not os.path.realpath(filename).startswith(_LIBRARY_DIRS)


def display_path(filename: str) -> str:
    """Relative to the working directory when below it, so reports do not depend on where the
    checkout lives; absolute otherwise."""
    return _display_path(filename, os.getcwd())


@functools.lru_cache(maxsize=None)
def _display_path(filename: str, working_directory: str) -> str:
    path = os.path.abspath(filename)
    try:
        relative = os.path.relpath(path, working_directory)
    except ValueError:  # another drive on Windows
        return path
    return path if relative.startswith("..") else relative


@functools.lru_cache(maxsize=None)
def _assignment(cls: type, attribute: str) -> SourceLocation | None:
    """The line `self.<attribute> = ...` in the class, its file absolute (cached: the working
    directory may change between calls)."""
    try:
        filename = inspect.getsourcefile(cls)
        if filename is None or not is_user_file(filename):
            return None
        lines, start = inspect.getsourcelines(cls)
    except (OSError, TypeError):
        return None
    pattern = re.compile(rf"\bself\.{re.escape(attribute)}\s*(:[^=]+)?=(?!=)")
    for offset, line in enumerate(lines):
        if pattern.search(line):
            return SourceLocation(os.path.abspath(filename), start + offset)
    return None
