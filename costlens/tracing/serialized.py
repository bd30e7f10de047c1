"""Models saved to a file rather than built by code: torch.export archives and pickles.

A `.pt2` archive (torch.export.save) holds a graph and its weights as data, and loads without
running any code of the file's; it brings its own example inputs. A `.pt` / `.pth` file is a
pickle: unpickling runs whatever code it names, so it is refused unless the user says they
trust it, and nothing of it is read before that.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

from ..errors import CostlensError, first_line
from .inputs import Inputs

EXPORT_SUFFIXES = (".pt2",)
PICKLE_SUFFIXES = (".pt", ".pth")


def is_saved_model(text: str) -> bool:
    return text.strip().lower().endswith(EXPORT_SUFFIXES + PICKLE_SUFFIXES)


def load_saved_model(path: Path, *, trust_pickle: bool) -> tuple[nn.Module, Inputs | None]:
    """The model in the file and, for an export archive, its example inputs."""
    if path.suffix.lower() in PICKLE_SUFFIXES:
        if not trust_pickle:
            raise CostlensError(
                f"{path} is a pickle: loading it runs whatever code it holds. Pass "
                "--trust-pickle if you trust where it came from, or save the model with "
                "torch.export.save as a .pt2, which loads as data")
        return _unpickled(path), None
    if not path.is_file():
        raise CostlensError(f"model file not found: {path}")
    with warnings.catch_warnings():  # torch's own deprecation notices, not the user's concern
        warnings.simplefilter("ignore")
        try:
            program = torch.export.load(str(path))
        except Exception as error:  # noqa: BLE001 - any reason it is not a readable archive
            raise CostlensError(f"{path} is not a torch.export archive torch "
                                f"{torch.__version__} can read: {type(error).__name__}: "
                                f"{first_line(error)}") from error
        try:  # the module hierarchy back, so the report has layers
            model: nn.Module = torch.export.unflatten(program)
        except Exception:  # noqa: BLE001 - a flat graph module still costs the same
            model = program.module()
    _restore_class_names(model, program)
    example = program.example_inputs
    return model, None if example is None else Inputs(tuple(example[0]), dict(example[1]))


def _restore_class_names(model: nn.Module, program: torch.export.ExportedProgram) -> None:
    """Unflattened modules are all InterpreterModules; the graph remembers each one's class
    (`resnet.Bottleneck`, `torch.nn.modules.conv.Conv2d`). Give each module a subclass of that
    name and module, so reports show the types and rules find repeated blocks."""
    classes = {}
    for node in program.graph.nodes:
        for path, qualified in (node.meta.get("nn_module_stack") or {}).values():
            classes.setdefault(path, qualified)
    for path, module in model.named_modules():
        qualified = classes.get(path)
        if qualified:
            home, _, name = qualified.rpartition(".")
            module.__class__ = _named(type(module), name, home)


_NAMED: dict[tuple[type, str, str], type] = {}


def _named(base: type, name: str, home: str) -> type:
    key = (base, name, home)
    if key not in _NAMED:
        _NAMED[key] = type(name, (base,), {"__module__": home, "__qualname__": name})
    return _NAMED[key]


def _unpickled(path: Path) -> nn.Module:
    if not path.is_file():
        raise CostlensError(f"model file not found: {path}")
    try:
        loaded = torch.load(str(path), map_location="cpu", weights_only=False)
    except Exception as error:  # noqa: BLE001 - whatever the pickle raised
        raise CostlensError(f"cannot unpickle {path}: {type(error).__name__}: "
                            f"{first_line(error)}") from error
    if isinstance(loaded, nn.Module):
        return loaded
    if isinstance(loaded, dict):
        raise CostlensError(f"{path} holds a state dict, not a model: write a factory that "
                            "builds the model and loads it, and pass file.py:factory")
    raise CostlensError(f"{path} holds a {type(loaded).__name__}, not a torch.nn.Module")
