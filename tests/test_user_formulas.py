"""The user's own ops: a formula registered for a torch.library custom op costs it (FLOPs, MAC,
MAC bytes, parallelism), the op is no longer unsupported; registering over an existing formula
is an error unless replacing; `analyze(..., formulas=...)` is scoped to the call; a formula that
raises or returns nonsense is an error naming the op; libraries ship formulas through the
`costlens.formulas` entry-point group (a real dist-info folder on sys.path, in a subprocess)."""
from __future__ import annotations

import contextlib
import io
import json
import math
import os
import re
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest
import torch
from helpers import ROOT
from torch import nn

import costlens
from costlens.costs import Category, cost_of, lookup, op_key, registry
from costlens.graph import OpInput, OpNode, TensorMeta

NS = "costlens_user_formulas"


@torch.library.custom_op(f"{NS}::fused_gelu", mutates_args=())
def fused_gelu(x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    return torch.nn.functional.gelu(x) * scale


@fused_gelu.register_fake
def _fused_gelu_fake(x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    return torch.empty_like(x)


@torch.library.custom_op(f"{NS}::no_fake", mutates_args=())
def no_fake(x: torch.Tensor) -> torch.Tensor:
    """A custom op with a CPU kernel only: the meta device cannot run it."""
    return x.sin()


GELU = f"{NS}.fused_gelu.default"
NO_FAKE = f"{NS}.no_fake.default"


class GeluBlock(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(16, 32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fused_gelu(self.proj(x), 2.0)


class NoFakeBlock(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(16, 32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return no_fake(self.proj(x))


@pytest.fixture(autouse=True)
def _registry_restored() -> Any:
    """Each test starts with the formulas registered before it, and leaves them so."""
    saved = dict(registry.USER_FORMULAS)
    yield
    registry.USER_FORMULAS.clear()
    registry.USER_FORMULAS.update(saved)


def _gelu_cost(op: costlens.OpShapes) -> costlens.Cost:
    return costlens.Cost(flops=8 * math.prod(op.outputs[0]))


def _record(analysis: costlens.Analysis, name: str) -> Any:
    (record,) = [op for op in analysis.ops if op.op == name]
    return record


def test_a_custom_op_without_a_formula_is_unsupported_not_zero() -> None:
    analysis = costlens.analyze(GeluBlock(), torch.randn(4, 16))
    record = _record(analysis, GELU)
    assert (record.category, record.flops, record.mac) == (None, None, None)
    assert [(op.op, op.calls) for op in analysis.unsupported_ops] == [(GELU, 1)]


def test_a_registered_formula_costs_the_custom_op() -> None:
    seen: list[costlens.OpShapes] = []

    def cost(op: costlens.OpShapes) -> costlens.Cost:
        seen.append(op)
        return _gelu_cost(op)

    costlens.register_formula(f"{NS}::fused_gelu", cost)
    analysis = costlens.analyze(GeluBlock(), torch.randn(4, 16))
    record = _record(analysis, GELU)
    elements = 4 * 32
    assert (record.category, record.flops, record.mac, record.mac_bytes, record.parallelism) == (
        Category.ELEMENTWISE, 8 * elements, 2 * elements, 2 * elements * 4, elements)
    assert analysis.unsupported_ops == ()
    assert analysis.totals.flops == 4 * 16 * 32 + 8 * elements  # the linear layer and the op
    (shapes,) = seen
    assert (shapes.op, shapes.inputs, shapes.outputs, shapes.input_names, shapes.input_dtypes,
            shapes.output_dtypes, dict(shapes.attrs)) == (
        GELU, ((4, 32),), ((4, 32),), ("x",), ("float32",), ("float32",), {"scale": 2.0})
    assert shapes.input("x") == (4, 32)
    with pytest.raises(KeyError, match="no tensor argument 'y'; it has x"):
        shapes.input("y")


def test_mac_bytes_follow_the_dtypes() -> None:
    costlens.register_formula(f"{NS}::fused_gelu", lambda op: (5, 3 * math.prod(op.inputs[0])))
    model = GeluBlock().to(torch.bfloat16)
    record = _record(costlens.analyze(model, torch.randn(4, 16, dtype=torch.bfloat16)), GELU)
    assert (record.flops, record.mac, record.mac_bytes) == (5, 3 * 128, 3 * 128 * 2)


def test_the_figures_a_formula_does_not_give_follow_from_the_shapes() -> None:
    """Default MAC: each input read once (a broadcast one at its distinct elements), each
    output written once, each at its dtype's size; a MAC given in elements is taken at the mean
    element size; mac_bytes, parallelism and the category as given."""
    wide = TensorMeta((4, 8), (8, 1), "float32", 4)
    broadcast = TensorMeta((4, 8), (0, 1), "float32", 4)
    half = TensorMeta((4, 8), (8, 1), "float16", 2)
    node = OpNode(0, f"{NS}.mixed.default", (OpInput("a", wide), OpInput("b", broadcast)),
                  (half,), (), (), 0)
    cases = [
        (10, (10, 32 + 8 + 32, 32 * 4 + 8 * 4 + 32 * 2, 32, Category.ELEMENTWISE)),
        ((10, 36), (10, 36, 36 * 224 // 72, 32, Category.ELEMENTWISE)),
        (costlens.Cost(7, mac=9, category="matmul", mac_bytes=11, parallelism=3),
         (7, 9, 11, 3, Category.MATMUL)),
        (costlens.Cost(2.6, category=Category.CONV), (3, 72, 224, 32, Category.CONV)),
    ]
    for returned, expected in cases:
        with costlens.using_formulas({f"{NS}::mixed": lambda op, r=returned: r}):
            cost = cost_of(node)
        assert (cost.flops, cost.mac, cost.mac_bytes, cost.parallelism, cost.category) == \
            expected, returned
    assert cost_of(node) is None


@pytest.mark.parametrize("name, key", [
    ("mylib::fused_gelu", "mylib.fused_gelu"),
    ("mylib::fused_gelu.default", "mylib.fused_gelu.default"),
    ("mylib.fused_gelu", "mylib.fused_gelu"),
    ("mylib.fused_gelu.default", "mylib.fused_gelu.default"),
    ("torch.ops.mylib.fused_gelu", "mylib.fused_gelu"),
    (torch.ops.aten.add.Tensor, "aten.add.Tensor"),
    (torch.ops.aten.add, "aten.add"),
    (fused_gelu, f"{NS}.fused_gelu"),
])
def test_ops_are_named_as_torch_library_names_them(name: Any, key: str) -> None:
    assert op_key(name) == key


@pytest.mark.parametrize("name", ["fused_gelu", "mylib::", "mylib::a.b.c", "my lib::op", "",
                                  "mylib::fused-gelu", 3])
def test_a_bad_op_name_is_an_error(name: Any) -> None:
    with pytest.raises(costlens.CostlensError, match="namespace::op|named by a string"):
        costlens.register_formula(name, _gelu_cost)


def test_every_spelling_registers_the_same_op() -> None:
    analyses = []
    for name in (f"{NS}::fused_gelu", f"{NS}::fused_gelu.default", fused_gelu,
                 torch.ops.costlens_user_formulas.fused_gelu.default):
        costlens.register_formula(name, _gelu_cost)
        analyses.append(_record(costlens.analyze(GeluBlock(), torch.randn(4, 16)), GELU).flops)
        costlens.unregister_formula(name)
    assert analyses == [8 * 128] * 4


def test_the_decorator_form_returns_the_function() -> None:
    @costlens.register_formula(f"{NS}::fused_gelu")
    def cost(op: costlens.OpShapes) -> int:
        return 11

    assert callable(cost) and cost(None) == 11
    assert _record(costlens.analyze(GeluBlock(), torch.randn(4, 16)), GELU).flops == 11


def test_registering_twice_is_an_error_unless_replacing() -> None:
    costlens.register_formula(f"{NS}::fused_gelu", _gelu_cost)
    for name in (f"{NS}::fused_gelu", f"{NS}::fused_gelu.default"):
        with pytest.raises(costlens.CostlensError, match=re.escape(
                f"{op_key(name)} already has a cost formula") + ".*_gelu_cost.*replace=True"):
            costlens.register_formula(name, lambda op: 1)
    costlens.register_formula(f"{NS}::fused_gelu", lambda op: 1, replace=True)
    assert _record(costlens.analyze(GeluBlock(), torch.randn(4, 16)), GELU).flops == 1
    costlens.unregister_formula(f"{NS}::fused_gelu")
    with pytest.raises(costlens.CostlensError, match="no formula is registered for"):
        costlens.unregister_formula(f"{NS}::fused_gelu")
    assert _record(costlens.analyze(GeluBlock(), torch.randn(4, 16)), GELU).flops is None


def test_an_op_with_a_built_in_formula_is_replaced_only_when_asked() -> None:
    x = torch.randn(4, 16)
    before = _record(costlens.analyze(nn.Linear(16, 32), x), "aten.addmm.default")
    for name in ("aten::addmm", "aten::addmm.default", "aten::addmm_"):
        with pytest.raises(costlens.CostlensError, match="already has a cost formula.*"
                                                         r"\(built into costlens\)"):
            costlens.register_formula(name, lambda op: 1)
    costlens.register_formula("aten::addmm", lambda op: costlens.Cost(1, category="matmul"),
                              replace=True)
    replaced = _record(costlens.analyze(nn.Linear(16, 32), x), "aten.addmm.default")
    assert (replaced.flops, replaced.mac, replaced.category) == (1, before.mac, Category.MATMUL)
    costlens.unregister_formula("aten::addmm")
    assert _record(costlens.analyze(nn.Linear(16, 32), x), "aten.addmm.default") == before


def test_formulas_for_one_call_do_not_outlive_it() -> None:
    x = torch.randn(4, 16)
    analysis = costlens.analyze(GeluBlock(), x, formulas={f"{NS}::fused_gelu": _gelu_cost})
    assert _record(analysis, GELU).flops == 8 * 128 and analysis.unsupported_ops == ()
    assert [op.op for op in costlens.analyze(GeluBlock(), x).unsupported_ops] == [GELU]
    assert lookup(GELU) is None
    findings = costlens.lint(GeluBlock(), x, formulas={f"{NS}::fused_gelu": _gelu_cost})
    assert isinstance(findings, list) and lookup(GELU) is None


def test_formulas_for_one_call_follow_the_rule_on_existing_formulas() -> None:
    costlens.register_formula(f"{NS}::fused_gelu", _gelu_cost)
    x = torch.randn(4, 16)
    with pytest.raises(costlens.CostlensError, match="already has a cost formula"):
        costlens.analyze(GeluBlock(), x, formulas={f"{NS}::fused_gelu": lambda op: 1})
    with costlens.using_formulas({f"{NS}::fused_gelu": lambda op: 1}, replace=True):
        assert _record(costlens.analyze(GeluBlock(), x), GELU).flops == 1
    assert _record(costlens.analyze(GeluBlock(), x), GELU).flops == 8 * 128
    with pytest.raises(costlens.CostlensError, match="mapping"):
        costlens.analyze(GeluBlock(), x, formulas=[_gelu_cost])


def test_formulas_for_one_call_are_not_seen_by_other_threads() -> None:
    seen = []
    with costlens.using_formulas({f"{NS}::fused_gelu": _gelu_cost}):
        thread = threading.Thread(target=lambda: seen.append(lookup(GELU)))
        thread.start()
        thread.join()
        assert lookup(GELU) is not None
    assert seen == [None]


@pytest.mark.parametrize("returned, complaint", [
    (-1, "returned flops = -1: expected a number of zero or more"),
    ("12", "returned '12': expected a costlens.Cost, a (flops, mac) tuple or a number"),
    (None, "returned None: expected a costlens.Cost"),
    ((1,), "returned (1,): expected"),
    (True, "returned True: expected"),
    (float("nan"), "returned flops = nan"),
    ((1, -3), "returned mac = -3"),
    (costlens.Cost(1, mac="x"), "returned mac = 'x'"),
    (costlens.Cost(1, category="gpu"), "returned category 'gpu': expected one of 'conv'"),
])
def test_a_formula_returning_nonsense_is_an_error_naming_the_op(returned: Any,
                                                                complaint: str) -> None:
    with pytest.raises(costlens.CostlensError, match=re.escape(f"cost formula for {GELU} (")
                       + ".*" + re.escape(complaint)):
        costlens.analyze(GeluBlock(), torch.randn(4, 16),
                         formulas={f"{NS}::fused_gelu": lambda op: returned})


def test_a_formula_that_raises_is_an_error_naming_the_op_and_the_formula() -> None:
    def broken(op: costlens.OpShapes) -> int:
        return op.attrs["missing"]

    with pytest.raises(costlens.CostlensError, match=re.escape(
            f"the cost formula for {GELU} ({__name__}.test_a_formula_that_raises_is_an_error_"
            "naming_the_op_and_the_formula.<locals>.broken) raised KeyError: 'missing'")) as info:
        costlens.analyze(GeluBlock(), torch.randn(4, 16), formulas={f"{NS}::fused_gelu": broken})
    assert isinstance(info.value.__cause__, KeyError)


def test_a_formula_must_be_a_function() -> None:
    with pytest.raises(costlens.CostlensError, match="the formula for .*fused_gelu is not a "
                                                     "function but int 3"):
        costlens.register_formula(f"{NS}::fused_gelu", 3)


def test_a_custom_op_with_no_fake_kernel_is_traced_on_real_tensors_and_costed() -> None:
    x = torch.randn(4, 16)
    without = costlens.analyze(NoFakeBlock(), x)
    assert [op.op for op in without.unsupported_ops] == [NO_FAKE]
    assert without.graph.device == "cpu" and NO_FAKE in without.graph.notes[0]
    analysis = costlens.analyze(NoFakeBlock(), x, formulas={f"{NS}::no_fake": lambda op: 128})
    record = _record(analysis, NO_FAKE)
    assert (record.flops, record.mac, record.mac_bytes) == (128, 256, 1024)
    assert analysis.unsupported_ops == ()
    assert [op.op for op in analysis.ops] == ["aten.t.default", "aten.addmm.default", NO_FAKE]


def test_a_formula_covers_an_op_recorded_with_its_decomposition() -> None:
    """A graph traced before the formula existed (saved as JSON, say) holds the op with its
    decomposition; the formula added since costs the op itself."""
    tensor = TensorMeta((8,), (1,), "float32", 4)
    part = OpNode(0, "aten.mul.Tensor", (OpInput("self", tensor), OpInput("other", tensor)),
                  (tensor,), (), ("pointwise",), 0)
    node = OpNode(0, f"{NS}.decomposed.default", (OpInput("self", tensor),), (tensor,), (), (), 0,
                  parts=(part,))
    assert cost_of(node).flops == 8
    with costlens.using_formulas({f"{NS}::decomposed": lambda op: 3}):
        assert cost_of(node).flops == 3


def test_the_readme_example_prints_what_it_says() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Your own ops", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    expected = re.findall(r"^# (.*)$", code, re.M)[-1]
    code = code.replace("mylib", f"{NS}_readme")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, "README.md", "exec"), {"__name__": "readme_example"})
    assert printed.getvalue().strip() == expected.replace("mylib", f"{NS}_readme")


# --- the costlens.formulas entry-point group, through a real dist-info folder ---

def _distribution(root: Path, name: str, entry_points: str, modules: dict[str, str]) -> Path:
    """A distribution as pip installs one: its modules and a `*.dist-info` folder declaring
    its entry points, in `root`, which goes on sys.path."""
    root.mkdir(parents=True, exist_ok=True)
    info = root / f"{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))
    for module, source in modules.items():
        (root / f"{module}.py").write_text(textwrap.dedent(source))
    return root


def _run(code: str, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, cwd=ROOT, timeout=120,
                          env={**_environment(), "PYTHONPATH": str(path)})


def _environment() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}


PLUGIN_OPS = '''
    import torch

    @torch.library.custom_op("plugtest::scale", mutates_args=())
    def scale(x: torch.Tensor) -> torch.Tensor:
        return x * 2

    @scale.register_fake
    def _(x):
        return torch.empty_like(x)

    @torch.library.custom_op("plugtest::shift", mutates_args=())
    def shift(x: torch.Tensor) -> torch.Tensor:
        return x + 1

    @shift.register_fake
    def _(x):
        return torch.empty_like(x)
'''

PLUGIN_COSTS = '''
    import math

    import costlens

    def scale_cost(op):
        return costlens.Cost(flops=3 * math.prod(op.outputs[0]), mac=7)

    FORMULAS = {"plugtest::scale": scale_cost}

    def register():
        costlens.register_formula("plugtest::shift", lambda op: (5, 11))
'''


def test_a_library_ships_formulas_through_the_entry_point_group(tmp_path: Path) -> None:
    path = _distribution(tmp_path, "plugtest", """
        [costlens.formulas]
        mapping = plugtest_costs:FORMULAS
        function = plugtest_costs:register
        """, {"plugtest_ops": PLUGIN_OPS, "plugtest_costs": PLUGIN_COSTS})
    run = _run('''
        import json, sys
        import torch
        import costlens
        from plugtest_ops import scale, shift

        class Model(torch.nn.Module):
            def forward(self, x):
                return shift(scale(x))

        loaded_before = "plugtest_costs" in sys.modules
        analysis = costlens.analyze(Model(), torch.randn(2, 8))
        print(json.dumps({"loaded_before": loaded_before,
                          "loaded_after": "plugtest_costs" in sys.modules,
                          "ops": [[op.op, op.flops, op.mac, op.mac_bytes] for op in analysis.ops],
                          "unsupported": [op.op for op in analysis.unsupported_ops]}))
        ''', path)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == {
        "loaded_before": False, "loaded_after": True,
        "ops": [["plugtest.scale.default", 48, 7, 28], ["plugtest.shift.default", 5, 11, 44]],
        "unsupported": []}


def test_a_broken_entry_point_is_an_error_naming_its_distribution(tmp_path: Path) -> None:
    path = _distribution(tmp_path, "brokenplug", """
        [costlens.formulas]
        costs = brokenplug_missing:FORMULAS
        """, {})
    run = _run('''
        import torch
        import costlens
        try:
            costlens.analyze(torch.nn.ReLU(), torch.randn(2))
        except costlens.CostlensError as error:
            print(error)
        ''', path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == (
        "cannot load the cost formulas of entry point 'costs' (brokenplug_missing:FORMULAS) "
        "of distribution brokenplug 0.1 (group costlens.formulas): ModuleNotFoundError: "
        "No module named 'brokenplug_missing'")


@pytest.mark.parametrize("value, complaint", [
    ("clashplug:FORMULAS", "aten.addmm already has a cost formula (built into costlens); an "
                           "entry point's mapping cannot replace it"),
    ("clashplug:NUMBER", "it is int, neither a mapping of op names to formulas nor a function"),
    ("clashplug:returns_list", "its function returned list, neither None nor a mapping"),
    ("clashplug:raises", "RuntimeError: no formulas today"),
])
def test_an_entry_point_that_cannot_register_is_an_error(tmp_path: Path, value: str,
                                                         complaint: str) -> None:
    """The formulas of a failed entry point are all left out (none half-registered), and the
    error is raised again at the next lookup rather than the plugin silently missing."""
    path = _distribution(tmp_path, "clashplug", f"""
        [costlens.formulas]
        clash = {value}
        """, {"clashplug": '''
        FORMULAS = {"clashplug::first": lambda op: 1, "aten::addmm": lambda op: 1}
        NUMBER = 3

        def returns_list():
            return []

        def raises():
            raise RuntimeError("no formulas today")
        '''})
    run = _run('''
        import sys
        from costlens.costs import lookup, registry
        from costlens.errors import CostlensError
        for attempt in range(2):
            try:
                lookup("aten.addmm.default")
            except CostlensError as error:
                print(error)
        print(sorted(registry.USER_FORMULAS), "torch" in sys.modules)
        ''', path)
    assert run.returncode == 0, run.stderr
    first, second, registered = run.stdout.strip().splitlines()
    assert first.startswith(f"cannot load the cost formulas of entry point 'clash' ({value}) "
                            "of distribution clashplug 0.1 (group costlens.formulas): ")
    assert complaint in first and second == first and registered == "[] False"
