"""How much a max pool's time depends on the values it pools: why the Inception-style network's
pools run faster inside it than calibration's, which feeds every layer normal noise.

Run ``python benchmarks/bench_pool_data.py`` (``--threads N``, default 1). For every max pool of
the Inception-style example network (random weights, its bundled input) it times the pool in
interleaved rounds (costlens.measure.timing.interleaved) on: the input it gets inside the
network; those same values shuffled over each channel's map (the same values per channel, no
spatial order); normal noise of the same shape, as calibration feeds it; that noise through a
ReLU; and zeros. Beside them, the share of the input's values above zero and of its channels
nine tenths zero or more (a bias-free conv on non-negative inputs gives each channel a mean of
one sign, so a ReLU after it leaves many channels almost all zero). Each figure is the lower
quartile of the rounds.
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch
from tabulate import tabulate

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_latency import NETWORKS, _built  # noqa: E402
from micro import start  # noqa: E402

from costlens.measure import ROUNDS  # noqa: E402
from costlens.measure.device import CPU  # noqa: E402
from costlens.measure.timing import Work, interleaved, threads  # noqa: E402


def _pool_inputs(model: torch.nn.Module, image: torch.Tensor) -> dict[str, torch.Tensor]:
    """The input each max pool of the network gets in a forward, by module name."""
    captured: dict[str, torch.Tensor] = {}
    hooks = [module.register_forward_pre_hook(
        lambda module, args, name=name: captured.setdefault(name, args[0].clone()))
        for name, module in model.named_modules() if isinstance(module, torch.nn.MaxPool2d)]
    with torch.no_grad():
        model(image)
    for hook in hooks:
        hook.remove()
    return captured


def _shuffled(x: torch.Tensor) -> torch.Tensor:
    """The same values in each channel, in a random order over its map."""
    flat = x.flatten(2)
    order = torch.argsort(torch.rand_like(flat), dim=2)
    return flat.gather(2, order).view_as(x).contiguous()


def main() -> None:
    thread_count = start(__doc__)
    model, inputs = _built(NETWORKS["Inception-style"])
    (image,) = inputs.args
    pools = dict(model.named_modules())
    rows = []
    with threads(thread_count), torch.no_grad():
        for name, inside in _pool_inputs(model, image).items():
            pool = pools[name]
            variants = {"in network": inside, "shuffled": _shuffled(inside),
                        "noise": torch.randn_like(inside),
                        "noise, ReLU'd": torch.randn_like(inside).relu_(),
                        "zeros": torch.zeros_like(inside)}
            best = interleaved({kind: Work(lambda x=x, pool=pool: pool(x))
                                for kind, x in variants.items()}, CPU())
            channels, size = inside.shape[1], inside.shape[2]
            rows.append([name, f"{channels}@{size} {pool.kernel_size}x{pool.kernel_size}"
                         f"/{pool.stride}", f"{(inside > 0).float().mean():.0%}",
                         f"{((inside > 0).float().mean((0, 2, 3)) < 0.1).float().mean():.0%}"]
                        + [f"{1e3 * best[kind]:.3f}" for kind in variants]
                        + [f"{best['in network'] / best['noise']:.2f}"])
    print(f"{thread_count} thread(s); each figure the lower quartile of {ROUNDS} rounds, ms")
    print(tabulate(rows, headers=["pool", "input", "> 0", "channels 90% zero", "in network",
                                  "shuffled", "noise", "noise, ReLU'd", "zeros",
                                  "in network / noise"]))


if __name__ == "__main__":
    main()
