"""One side of a diff, one row of a comparison: a TARGET analyzed now or a JSON report read,
either way the report dict `costlens report --format json` writes, less its ops (neither
command reads them, and they are most of a report's size when a worker sends it back)."""
from __future__ import annotations

import contextlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from ..analysis.result import SCHEMA_VERSION
from ..errors import CostlensError
from ..latency import Profile
from ..latency.estimate import BEST, TYPICAL

if TYPE_CHECKING:
    from .revision import Tree

#: The figures every report holds in its totals and in each layer.
COUNTED_KEYS = ("params", "flops", "mac", "mac_bytes", "kernels", "peak_bytes")
#: What makes two latency estimates comparable: the same profile, costed the same way.
PLATFORM_KEYS = ("profile", "device", "threads", "fused")


@dataclass(frozen=True)
class Side:
    """A model's costs and what to call it in the output."""

    label: str
    report: Mapping[str, Any]

    @property
    def model_type(self) -> str:
        return self.report["model"]["type"]

    @property
    def platform(self) -> dict[str, Any] | None:
        """The profile its latency figures come from; None when it carries none."""
        platform = self.report.get("platform")
        if platform is None:
            return None
        # reports from before the typical case was estimated carry the best case
        return {**{key: platform[key] for key in PLATFORM_KEYS},
                "case": platform.get("case", BEST)}

    def layers(self) -> dict[str, Mapping[str, Any]]:
        return {layer["name"]: layer for layer in self.report["layers"]}

    def summary(self) -> str:
        """`ShuffleNetV2 on args[0] 1x3x224x224 float32 (eval mode)`, as the report's title."""
        inputs = ", ".join(f"{i['name']} {'x'.join(map(str, i['shape']))} {i['dtype']}"
                           for i in self.report["model"]["inputs"]) or "no tensor inputs"
        trace = self.report.get("trace", {})
        mode = "train mode" if trace.get("training") else "eval mode"
        if trace.get("step"):
            mode = "a training step" + (f" with {trace['step']}" if trace["step"] != "backward"
                                        else "")
        return f"{self.model_type} on {inputs} ({mode})"

    def description(self) -> dict[str, Any]:
        return {"label": self.label, "model": self.model_type,
                "inputs": self.report["model"]["inputs"],
                "training": bool(self.report.get("trace", {}).get("training")),
                "step": self.report.get("trace", {}).get("step"),
                "platform": self.platform}


@dataclass(frozen=True)
class Request:
    """One TARGET to analyze with the command line's options. It is what a worker process
    receives, so it holds only picklable data: the profile itself, read once by the caller, and
    with `tree` the git revision whose files the code is read from (revision.py)."""

    target: str
    inputs: tuple[str, ...] = ()
    dtype: str | None = None
    train: bool = False
    trust_pickle: bool = False
    profile: Profile | None = None
    fuse: bool = False
    tree: Tree | None = None
    train_step: bool = False
    optimizer: str | None = None


def analyze_target(request: Request) -> dict[str, Any]:
    """The TARGET's report dict, with the latency figures of the request's profile if it has
    one. What the model's code prints goes to stderr, so that stdout holds the diff or the
    comparison alone whether the target ran in this process or in a worker."""
    from ..api import analyze
    from ..latency import estimate
    from ..report.json_report import with_latency
    from ..tracing.load import load, model_dtype, model_inputs

    tree = request.tree
    with contextlib.redirect_stdout(sys.stderr), \
            tree.reading() if tree else contextlib.nullcontext():
        if tree is None:
            loaded = load(request.target, trust_pickle=request.trust_pickle)
        else:
            loaded = load(tree.target_text(request.target), Path(tree.folder),
                          trust_pickle=request.trust_pickle)
            tree.check_loaded(loaded)
        inputs = model_inputs(loaded, request.inputs, request.dtype)
        analysis = analyze(loaded.model, inputs, train=request.train,
                           dtype=model_dtype(request.dtype), train_step=request.train_step,
                           optimizer=request.optimizer,
                           loss=loaded.loss if request.train_step else None)
    report = analysis.to_dict()
    if request.profile is not None:
        with_latency(report, estimate(analysis, request.profile, fuse=request.fuse))
    del report["ops"]
    return report


def is_report(text: str) -> bool:
    """A TARGET never ends in .json; a JSON report does."""
    return text.strip().lower().endswith(".json")


def read_report(path: str) -> Side:
    """A file written by `costlens report --format json`, checked to be one (of any schema
    version: check_versions decides whether its figures compare)."""
    try:
        data = json.loads(Path(path.strip()).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CostlensError(f"no such JSON report: {path}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise CostlensError(f"cannot read {path}: {error}") from None
    except json.JSONDecodeError as error:
        raise CostlensError(f"{path} is not a costlens JSON report: not JSON ({error.msg} at "
                            f"line {error.lineno})") from None
    if not (isinstance(data, dict) and isinstance(data.get("schema_version"), int)
            and isinstance(data.get("conventions"), dict) and "totals" in data):
        raise CostlensError(f"{path} is not a costlens JSON report (write one with `costlens "
                            "report TARGET --format json`)")
    return Side(path, data)


def check_versions(sides: Sequence[Side]) -> None:
    """JSON reports must share this costlens's schema version: a figure's meaning changes
    with it (version 2 split depthwise convolutions off and added own-forward rows), so
    figures of two versions would differ for no change of the model."""
    for side in sides[1:]:
        first, version = sides[0].report["schema_version"], side.report["schema_version"]
        if version != first:
            raise CostlensError(f"{sides[0].label} is a costlens report of schema_version "
                                f"{first} and {side.label} of schema_version {version}: "
                                "figures of two schema versions do not compare; rewrite both "
                                "with `costlens report --format json`")
    for side in sides:
        version = side.report["schema_version"]
        if version != SCHEMA_VERSION:
            raise CostlensError(f"{side.label} is a costlens report of schema_version {version}; "
                                f"this costlens reads schema_version {SCHEMA_VERSION}: rewrite "
                                "it with `costlens report --format json`")
        _check_structure(side)


def _check_structure(side: Side) -> None:
    """What diff and compare read is there, so that a hand-edited file is refused in one line
    rather than failing half way."""
    report = side.report
    latency = ("latency_ms",) if "platform" in report else ()
    model = report.get("model")
    layers = report.get("layers")
    sound = (
        isinstance(model, dict) and isinstance(model.get("type"), str)
        and isinstance(model.get("inputs"), list)
        and _has_figures(report.get("totals"), COUNTED_KEYS + latency)
        and (not latency or isinstance(report.get("platform"), dict)
             and all(key in report["platform"] for key in PLATFORM_KEYS))
        and isinstance(layers, list) and any(_is_root(layer) for layer in layers)
        and all(_has_figures(layer, COUNTED_KEYS + latency)
                and isinstance(layer.get("name"), str) and isinstance(layer.get("type"), str)
                and isinstance(layer.get("depth"), int)
                and (not latency or isinstance(layer.get("bound"), str)) for layer in layers))
    if not sound:
        raise CostlensError(f"{side.label} is not a complete costlens JSON report: its model, "
                            "totals, layers or platform are missing or malformed")


def _has_figures(item: object, keys: Sequence[str]) -> bool:
    return isinstance(item, dict) and all(
        isinstance(item.get(key), (int, float)) and not isinstance(item.get(key), bool)
        for key in keys)


def _is_root(layer: object) -> bool:
    return isinstance(layer, dict) and layer.get("name") == ""


def check_estimate(side: Side, profile: Profile, fuse: bool) -> None:
    """A JSON report cannot be estimated again (it holds no op graph): --platform is met only
    by one that carries latency from that very profile, costed the same way."""
    wanted = {"profile": profile.name, "device": profile.device, "threads": profile.threads,
              "fused": fuse, "case": TYPICAL if profile.has_typical else BEST}
    carried = side.platform
    if carried is None:
        raise CostlensError(f"{side.label} carries no latency estimate, and a JSON report "
                            "cannot be estimated again: write it with `costlens report "
                            f"--format json --platform {profile.name}"
                            f"{' --fuse' if fuse else ''}`, or leave out --platform")
    if carried != wanted:
        raise CostlensError(f"{side.label} carries latency from {platform_text(carried)}, not "
                            f"from {platform_text(wanted)} as --platform asks; a JSON report "
                            "cannot be estimated again")


def shared_platform(sides: Sequence[Side]) -> dict[str, Any] | None:
    """The profile every side's latency comes from; None when a side carries none (latency is
    then left out). Latency from two profiles does not compare: refused."""
    platforms = [side.platform for side in sides]
    if not platforms or any(platform is None for platform in platforms):
        return None
    for side, platform in zip(sides[1:], platforms[1:]):
        if platform != platforms[0]:
            raise CostlensError(f"{sides[0].label} was estimated on "
                                f"{platform_text(platforms[0])} and {side.label} on "
                                f"{platform_text(platform)}: estimates on two platforms do not "
                                "compare; estimate both on one profile")
    return platforms[0]


def platform_text(platform: Mapping[str, Any]) -> str:
    """`platform profile epyc-cpu-1t (cpu, 1 thread, eager, best case)`."""
    threads = platform["threads"]
    return (f"platform profile {platform['profile']} ({platform['device']}, {threads} "
            f"thread{'s' if threads != 1 else ''}, {'fused' if platform['fused'] else 'eager'}, "
            f"{platform['case']} case)")


def labelled(label: str, message: str) -> str:
    """An error message that names its side or target once."""
    return message if message.startswith(label) else f"{label}: {message}"
