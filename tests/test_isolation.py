"""Determinism and isolation: the same model gives byte-identical JSON; an analysis leaves no
mode, hook, default device or rebinding behind, whether it succeeded or failed."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import torch.nn.modules.module as module_globals
from helpers import analyzable, example
from torch import nn
from torch.utils._python_dispatch import _get_current_dispatch_mode_stack

import costlens
from costlens import CostlensError


def _global_state() -> tuple:
    return (
        tuple(_get_current_dispatch_mode_stack()), torch._C._len_torch_function_stack(),
        torch.get_default_device(), torch.is_grad_enabled(),
        len(module_globals._global_forward_hooks), len(module_globals._global_forward_pre_hooks),
        len(module_globals._global_module_registration_hooks),
        F.scaled_dot_product_attention, F.rms_norm,
    )


def test_json_is_byte_identical_across_runs_and_models_built_anew() -> None:
    gpt = example("gpt")
    first = costlens.analyze(*gpt.gpt()).to_json()
    assert costlens.analyze(*gpt.gpt()).to_json() == first


def test_an_analysis_leaves_no_global_state_behind() -> None:
    before = _global_state()
    costlens.analyze(*analyzable(example("llama").llama(size="tiny", seq=64)))
    assert _global_state() == before


def test_a_failed_analysis_leaves_no_global_state_behind() -> None:
    before = _global_state()
    with pytest.raises(CostlensError):
        costlens.analyze(nn.Linear(4, 4), torch.randn(2, 5))
    assert _global_state() == before


def test_analyses_in_one_process_do_not_affect_each_other() -> None:
    shufflenet = example("shufflenet_v2")
    alone = costlens.analyze(*shufflenet.shufflenet_v2()).to_json()
    costlens.lint(*example("mobilenet_v2").mobilenet_v2())
    costlens.analyze(nn.Sequential(nn.Linear(4, 4)), torch.randn(1, 4), real=True)
    assert costlens.analyze(*shufflenet.shufflenet_v2()).to_json() == alone
