"""The backward of a fused function (attention, RMS norm) in a training step, as one fused op.

In the forward the recorder keeps such a function whole, as the fused kernel a device runs
(recorder.FusedFunctions). Its backward must be whole too: autograd would otherwise
differentiate the math the meta device ran instead (attention's full score matrix, written and
read several times), which no fused kernel does. So in a training step the function runs inside
an autograd Function whose backward records the fused backward kernel, reading what that kernel
reads and writing the gradients. The gradients carry no values (empty on meta, zeros on real
tensors): nothing a cost depends on reads them.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import torch
from torch import Tensor
from torch.utils._pytree import tree_flatten, tree_unflatten

if TYPE_CHECKING:
    from .recorder import Recorder

#: The backward kernel of each fused forward op, by the forward's name.
BACKWARD_OPS = {
    "aten.scaled_dot_product_attention.default":
        "aten._scaled_dot_product_flash_attention_backward.default",
    "aten.rms_norm.default": "aten._fused_rms_norm_backward.default",
}


def with_fused_backward(recorder: Recorder, func: Callable[..., Any], op: Any,
                        args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    leaves, spec = tree_flatten((args, kwargs))
    positions = [i for i, leaf in enumerate(leaves) if isinstance(leaf, Tensor)]
    names, attrs = _arguments(op, args, kwargs)

    def forward(*tensors: Tensor) -> Any:
        filled = list(leaves)
        for position, tensor in zip(positions, tensors):
            filled[position] = tensor
        call_args, call_kwargs = tree_unflatten(filled, spec)
        return recorder.run_fused(func, op, *call_args, **call_kwargs)

    return _Fused.apply(recorder, forward, str(op), names, attrs,
                        *(leaves[i] for i in positions))


class _Fused(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, recorder: Recorder, run: Callable[..., Any], op: str,
                names: list[str], attrs: list[tuple[str, Any]], *tensors: Tensor) -> Any:
        ctx.recorder, ctx.op, ctx.names, ctx.attrs = recorder, op, names, attrs
        out = run(*tensors)
        ctx.save_for_backward(*tensors, out)
        return out

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> Any:
        *tensors, out = ctx.saved_tensors
        recorder = ctx.recorder
        needed = ctx.needs_input_grad[5:]
        recorder.quiet = True
        try:
            grads = [(torch.empty_like if t.is_meta else torch.zeros_like)(t) if wanted else None
                     for t, wanted in zip(tensors, needed)]
        finally:
            recorder.quiet = False
        inputs = [("grad_out", grad_out), *zip(ctx.names, tensors), ("out", out)]
        recorder.record_tensors(BACKWARD_OPS.get(ctx.op, ctx.op + "_backward"), inputs,
                                ctx.attrs, [g for g in grads if g is not None])
        return (None, None, None, None, None, *grads)


def _arguments(op: Any, args: tuple[Any, ...],
               kwargs: dict[str, Any]) -> tuple[list[str], list[tuple[str, Any]]]:
    """The schema's name of each tensor argument, in the order tree_flatten finds them
    (positional, then keyword: `query`, `key`, `value`, `attn_mask`), and the other arguments
    given, by name (`is_causal`, `dropout_p`), however they were passed."""
    schema = [argument.name for argument in op._schema.arguments]
    bound = [(schema[i] if i < len(schema) else f"arg{i}", value) for i, value in enumerate(args)]
    bound += list(kwargs.items())
    names = [name for name, value in bound for leaf in tree_flatten(value)[0]
             if isinstance(leaf, Tensor)]
    attrs = [(name, value) for name, value in bound
             if not any(isinstance(leaf, Tensor) for leaf in tree_flatten(value)[0])]
    return names, attrs
