"""A training step after the forward: the loss, its backward and the optimizer's update, run
under the same recorder (on meta, like the forward), so that every op of the step is costed.

The loss is what the factory supplies, else a `loss` the model returns (a Hugging Face output
given labels), else the sum of its floating outputs: the backward of a sum is the same work as
that of any loss, give or take the loss's own few element-wise ops. The optimizer is torch's
own, its plain per-parameter loop (no foreach or fused kernels), with default hyperparameters
and SGD with momentum 0.9; its state is made by one unrecorded step, so the step costed is a
steady-state one, not the first, which only allocates.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch
from torch import Tensor

from ..errors import CostlensError, first_line
from ..graph import OPTIMIZERS, Phase
from .recorder import Recorder, tensors_in

Loss = Callable[[Any], Tensor]


@dataclass(frozen=True)
class TrainStep:
    """What a training step runs after the forward: `loss` maps the model's output to a scalar
    (None: see the module docstring); `optimizer` is one of OPTIMIZERS, or None for none."""

    loss: Loss | None = None
    optimizer: str | None = None

    def __post_init__(self) -> None:
        if self.optimizer is not None and self.optimizer not in OPTIMIZERS:
            raise CostlensError(f"unknown optimizer {self.optimizer!r}; use "
                                f"{', '.join(OPTIMIZERS)}")

    @property
    def name(self) -> str:
        """The graph's `step`: the optimizer, or "backward"."""
        return self.optimizer or "backward"


def loss_of(step: TrainStep, output: Any) -> Tensor:
    if step.loss is not None:
        try:
            loss = step.loss(output)
        except Exception as error:
            raise CostlensError(f"the loss function raised {type(error).__name__}: "
                                f"{first_line(error)}") from error
    else:
        given = output.get("loss") if isinstance(output, dict) else getattr(output, "loss", None)
        if isinstance(given, Tensor):
            loss = given
        else:
            trained = [t for t in tensors_in(output) if t.requires_grad
                       and (t.dtype.is_floating_point or t.dtype.is_complex)]
            if not trained:
                raise CostlensError("a training step needs an output that depends on a "
                                    "trainable parameter; this model's outputs depend on none "
                                    "(it has none, or they are all frozen)")
            loss = trained[0].sum()
            for tensor in trained[1:]:
                loss = loss + tensor.sum()
    if not isinstance(loss, Tensor) or loss.numel() != 1:
        raise CostlensError("the loss must be a tensor of one element, not "
                            f"{type(loss).__name__}"
                            + (f" of shape {tuple(loss.shape)}" if isinstance(loss, Tensor)
                               else ""))
    return loss


def run_step(step: TrainStep, recorder: Recorder, output: Any,
             parameters: Sequence[tuple[str, Tensor]]) -> None:
    """The loss (charged to the model), its backward and the optimizer's update, recorded;
    `parameters` by name, each once."""
    loss = loss_of(step, output)
    recorder.phase = Phase.BACKWARD
    loss.backward()
    if step.optimizer is None:
        return
    optimizer = make_optimizer(step.optimizer, [tensor for _, tensor in parameters])
    with torch.device("cpu"):  # its step counters are CPU scalars, read with .item()
        recorder.quiet = True
        try:
            optimizer.step()  # makes the state; a first step only allocates it
        finally:
            recorder.quiet = False
        for name, tensor in parameters:  # each state tensor belongs to its parameter's module
            for key, value in optimizer.state.get(tensor, {}).items():
                if isinstance(value, Tensor) and value.is_meta == tensor.is_meta:
                    recorder.origins[value] = f"state:{name}:{key}"
        recorder.phase = Phase.OPTIMIZER
        optimizer.step()


def make_optimizer(name: str, parameters: Sequence[Tensor],
                   learning_rate: float | None = None) -> torch.optim.Optimizer:
    """torch's optimizer `name` over the parameters that train, with the settings the trace
    uses: the defaults, SGD with momentum 0.9, one parameter at a time. A `learning_rate` of 0
    runs the same ops and leaves the parameters as they are (a benchmark's)."""
    trained = [p for p in parameters if p.requires_grad]
    rate = {} if learning_rate is None else {"lr": learning_rate}
    if name == "sgd":
        return torch.optim.SGD(trained, **({"lr": 0.01} | rate), momentum=0.9, foreach=False)
    if name == "adam":
        return torch.optim.Adam(trained, **rate, foreach=False)
    return torch.optim.AdamW(trained, **rate, foreach=False)
