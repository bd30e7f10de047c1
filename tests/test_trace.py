"""The tracer: every aten op becomes a node with shapes, module path and data edges; the model
is left exactly as it was; values are needed only where the model branches on them."""
from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import costlens
from costlens import CostlensError
from costlens.tracing.inputs import Inputs
from costlens.tracing.trace import trace


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)) + x)


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 4, 1), nn.ReLU())
        self.stage = nn.Sequential(Block(), Block())
        self.head = nn.Linear(4, 2)
        self.dropout = nn.Dropout(0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stage(self.stem(x))
        return self.head(self.dropout(x.mean((2, 3))))


def test_nodes_carry_op_shapes_module_and_class() -> None:
    graph = costlens.trace_model(Net(), torch.randn(2, 3, 8, 8))
    convs = [node for node in graph if node.op == "aten.convolution.default"]
    assert [graph.module_of(node) for node in convs] == ["stem.0", "stage.0.conv", "stage.1.conv"]
    assert convs[1].arg("input").shape == (2, 4, 8, 8)
    assert convs[1].arg("weight").shape == (4, 4, 3, 3)
    assert convs[1].outputs[0].shape == (2, 4, 8, 8)
    assert convs[1].outputs[0].dtype == "float32"
    assert convs[1].attr("padding") == (1, 1)
    types = {module.path: module.type for module in graph.modules}
    assert types["stage.1.bn"] == "BatchNorm2d" and types[""] == "Net"
    assert graph.device == "meta" and graph.notes == ()


def test_data_edges_follow_tensors_and_name_parameters_and_inputs() -> None:
    graph = costlens.trace_model(Net(), torch.randn(2, 3, 8, 8))
    nodes = list(graph)
    first_conv = nodes[0]
    assert first_conv.arg("input") is not None
    assert {i.origin for i in first_conv.inputs} == {"input:args[0]", "param:stem.0.weight",
                                                     "param:stem.0.bias"}
    add = next(n for n in nodes if n.op == "aten.add.Tensor")
    producers = {nodes[i.producer].op for i in add.inputs}
    assert producers == {"aten.native_batch_norm.default", "aten.relu.default"}
    networkx_graph = graph.to_networkx()
    assert networkx_graph.number_of_nodes() == len(nodes)
    assert all(u < v for u, v in networkx_graph.edges)  # execution order is topological


def test_module_called_twice_is_two_calls_with_params_once() -> None:
    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.shared = nn.Linear(8, 8)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.shared(self.shared(x))

    analysis = costlens.analyze(Twice(), torch.randn(3, 8))
    shared = analysis.layer("shared")
    assert shared.calls == 2
    assert shared.params == analysis.totals.params == 8 * 8 + 8
    assert shared.flops == 2 * 3 * 8 * 8


def test_tied_weights_count_once() -> None:
    class Tied(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(50, 16)
            self.out = nn.Linear(16, 50, bias=False)
            self.out.weight = self.embed.weight

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            return self.out(self.embed(ids))

    analysis = costlens.analyze(Tied(), torch.zeros(1, 4, dtype=torch.long))
    assert analysis.totals.params == 50 * 16


def _snapshot(model: nn.Module) -> dict:
    return {
        "state": {k: (v, v.detach().clone(), v.device, v.requires_grad)
                  for k, v in model.state_dict(keep_vars=True).items()},
        "training": {name: m.training for name, m in model.named_modules()},
        "hooks": {name: (len(m._forward_hooks), len(m._forward_pre_hooks))
                  for name, m in model.named_modules()},
        "attributes": {name: sorted(vars(m)) for name, m in model.named_modules()},
    }


@pytest.mark.parametrize("train", [False, True])
def test_model_is_left_exactly_as_it_was(train: bool) -> None:
    model = Net()
    model.train()
    model.stage[1].eval()  # mixed flags must come back as they were
    before = _snapshot(model)
    inputs = torch.randn(2, 3, 8, 8)
    rng_before = torch.random.get_rng_state()
    costlens.analyze(model, inputs, train=train)
    after = _snapshot(model)
    assert before["training"] == after["training"]
    assert before["hooks"] == after["hooks"]
    assert before["attributes"] == after["attributes"]
    for key, (tensor, values, device, grad) in before["state"].items():
        tensor_after, _, device_after, grad_after = after["state"][key]
        assert tensor_after is tensor, key  # the same Parameter / buffer object
        assert torch.equal(tensor_after.detach(), values), key
        assert (device_after, grad_after) == (device, grad)
    assert torch.equal(torch.random.get_rng_state(), rng_before)


def test_attributes_a_forward_assigns_are_restored() -> None:
    class Caching(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.proj = nn.Linear(4, 4)
            self.cache = None

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.cache = self.proj(x)
            self.calls_seen = True
            return self.cache

    model = Caching()
    costlens.analyze(model, torch.randn(2, 4))
    assert model.cache is None and not hasattr(model, "calls_seen")


def test_a_model_on_the_meta_device() -> None:
    with torch.device("meta"):
        model = Net()
    analysis = costlens.analyze(model, torch.empty(1, 3, 8, 8, device="meta"))
    assert analysis.graph.device == "meta"
    assert analysis.totals.params == sum(p.numel() for p in model.parameters())
    assert all(p.is_meta for p in model.parameters())


def test_keyword_and_nested_dict_inputs() -> None:
    class Keyed(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.proj = nn.Linear(4, 4)

        def forward(self, x: torch.Tensor, extras: dict, scale: float = 1.0) -> dict:
            return {"out": self.proj(x) * extras["gain"] + extras["nested"]["bias"] * scale}

    inputs = Inputs((torch.randn(2, 4),), {"extras": {"gain": torch.randn(4),
                                                      "nested": {"bias": torch.randn(4)}},
                                           "scale": 2.0})
    graph = costlens.trace_model(Keyed(), inputs)
    assert [i.name for i in graph.inputs] == [
        "args[0]", "kwargs['extras']['gain']", "kwargs['extras']['nested']['bias']"]
    assert graph.device == "meta"
    keyword_only = {"x": torch.randn(2, 4), "extras": inputs.kwargs["extras"]}
    assert costlens.trace_model(Keyed(), keyword_only).inputs[0].name == "kwargs['x']"


class DataDependent(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.proj(x)
        if y.sum().item() > 1e9:  # Python control flow on a value
            return y
        return y[y.nonzero(as_tuple=True)] * 2  # data-dependent shape


def test_values_the_model_branches_on_make_it_run_on_real_tensors() -> None:
    analysis = costlens.analyze(DataDependent(), torch.randn(3, 4))
    assert analysis.graph.device == "cpu"
    assert "needs tensor values" in analysis.graph.notes[0]
    assert "aten._local_scalar_dense.default" in analysis.graph.notes[0]
    assert {"aten.nonzero.default", "aten.mm.default", "aten.addmm.default"} & {
        op.op for op in analysis.ops}
    assert analysis.unsupported_ops == ()


def test_a_meta_model_that_needs_values_gets_random_weights() -> None:
    with torch.device("meta"):
        model = DataDependent()
    analysis = costlens.analyze(model, torch.empty(3, 4, device="meta"))
    assert analysis.graph.device == "cpu"
    assert all(p.is_meta for p in model.parameters())


def test_shape_mismatch_names_module_op_and_shapes() -> None:
    with pytest.raises(CostlensError) as caught:
        costlens.analyze(Net(), torch.randn(2, 5, 8, 8))
    message = str(caught.value)
    assert "stem.0" in message and "aten.convolution.default" in message
    assert "2x5x8x8" in message and "\n" not in message


def test_unknown_op_is_one_node_with_its_decomposition_as_parts() -> None:
    graph = trace(nn.Hardswish(), (torch.randn(2, 4),),
                  is_known=lambda op, tags: op != "aten.hardswish.default")
    (node,) = graph.nodes
    assert node.op == "aten.hardswish.default"
    assert "aten.clamp.default" in [part.op for part in node.parts]
    op = costlens.analyze_graph(graph).ops[0]
    assert op.flops == sum(costlens.costs.cost_of(part).flops for part in node.parts)
    assert op.mac == 2 * 8  # one fused kernel: its own input and output


class RotaryCache(nn.Module):
    """Caches a tensor it builds on the CPU, then fails on the meta device: the retry on real
    tensors must start from the model as it was, not with a meta cache left behind."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(8, 8)
        self.cache = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.cache is None:
            self.cache = torch.ones(x.shape[-1])
        return self.proj(x) * torch.arange(x.shape[-1], device="cpu") * self.cache


def test_real_retry_starts_from_the_untouched_model() -> None:
    model = RotaryCache()
    analysis = costlens.analyze(model, torch.randn(4, 8))
    assert analysis.graph.device == "cpu" and "meta" in analysis.graph.notes[0]
    assert model.cache is None


class WritesItsInputsAndWeights(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, 4, max_norm=0.1)
        self.act = nn.ReLU(inplace=True)

    def forward(self, ids: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        x = self.act(x)
        if x.sum().item() >= 0:
            return self.embed(ids) + x
        return x


def test_real_run_works_on_copies_of_weights_and_inputs() -> None:
    model = WritesItsInputsAndWeights()
    weights = model.embed.weight.detach().clone()
    ids, x = torch.arange(4), torch.randn(4, 4) - 10
    x_before = x.clone()
    analysis = costlens.analyze(model, (ids, x))
    assert analysis.graph.device == "cpu"
    assert torch.equal(model.embed.weight, weights) and torch.equal(x, x_before)


def test_containers_a_forward_changes_are_restored() -> None:
    class Registers(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.proj = nn.Linear(4, 4)
            self.history: list = []

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.proj(x)
            self.register_buffer("last", y)
            self.history.append(y)
            return y

    model = Registers()
    costlens.analyze(model, torch.randn(2, 4))
    assert dict(model.named_buffers()) == {} and model.history == []


def test_scripted_submodules_and_lazy_modules() -> None:
    scripted = nn.Sequential(nn.Linear(4, 4), torch.jit.script(nn.Linear(4, 4)))
    analysis = costlens.analyze(scripted, torch.randn(2, 4))
    assert analysis.totals.flops == 2 * 2 * 4 * 4
    assert all(len(m._forward_pre_hooks) == 0 for m in scripted.modules()
               if not isinstance(m, torch.jit.ScriptModule))
    with pytest.raises(CostlensError, match="uninitialized lazy parameter"):
        costlens.analyze(nn.LazyLinear(4), torch.randn(2, 4))


FORWARD_DEVICES: list[str] = []


class Recording(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        FORWARD_DEVICES.append(x.device.type)
        return self.proj(x)


def test_a_plain_model_error_is_reported_without_a_real_run() -> None:
    FORWARD_DEVICES.clear()
    with pytest.raises(CostlensError, match=r"proj \(a Linear taking \.\.\.x4\) at "
                       r"aten.addmm.default with inputs 4, 2x5, 4x4"):
        costlens.analyze(Recording(), torch.randn(2, 5))
    assert FORWARD_DEVICES == ["meta"]


def test_random_numbers_drawn_on_the_cpu_leave_the_global_rng_alone() -> None:
    class Noisy(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + torch.rand((), device="cpu")

    inputs = torch.randn(3)
    before = torch.random.get_rng_state()
    costlens.analyze(Noisy(), inputs)
    assert torch.equal(torch.random.get_rng_state(), before)


def test_in_place_writes_through_a_view_are_data_edges() -> None:
    def chain(x: torch.Tensor) -> torch.Tensor:
        y = x * 2
        y.view(-1).add_(1)
        return torch.relu(y)

    from helpers import Lambda
    analysis = costlens.analyze(Lambda(chain), torch.randn(4, 4))
    nodes = analysis.graph.nodes
    relu = next(n for n in nodes if n.op == "aten.relu.default")
    assert nodes[relu.inputs[0].producer].op == "aten.add_.Tensor"


def test_op_with_no_formula_is_listed_with_its_modules_never_zero() -> None:
    class Spectral(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = nn.Identity()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.fft.rfft(self.inner(x)).abs()

    analysis = costlens.analyze(Spectral(), torch.randn(2, 8))
    (unsupported,) = analysis.unsupported_ops
    assert unsupported.op == "aten._fft_r2c.default"
    assert (unsupported.calls, unsupported.modules) == (1, ("",))
    fft = next(op for op in analysis.ops if op.op == "aten._fft_r2c.default")
    assert fft.flops is None and fft.category is None


def test_source_lines_point_at_user_code() -> None:
    graph = costlens.trace_model(Net(), torch.randn(1, 3, 8, 8))
    add = next(node for node in graph if node.op == "aten.add.Tensor")
    assert add.source is not None and add.source.file.endswith("test_trace.py")
    stage_call = next(call for call in graph.calls if call.module == "stage")
    assert stage_call.source.file.endswith("test_trace.py")


def test_two_analyses_do_not_interfere() -> None:
    first = costlens.analyze(Net(), torch.randn(1, 3, 8, 8)).to_json()
    costlens.analyze(DataDependent(), torch.randn(3, 4))
    assert costlens.analyze(copy.deepcopy(Net()), torch.randn(1, 3, 8, 8)).to_json() == first
    assert F.scaled_dot_product_attention is torch._C._nn.scaled_dot_product_attention
