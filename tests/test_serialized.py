"""Saved models as targets: a torch.export archive loads as data; a pickle is refused, with no
code of it run, unless the user trusts it."""
from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch
from torch import nn

import costlens
from costlens import CostlensError
from costlens.cli import main
from costlens.tracing.load import load


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.bn(self.conv(x)) + x)


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.Sequential(Block(), Block())
        self.head = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(x).mean((2, 3)))


def test_an_export_archive_is_a_target(tmp_path: Path) -> None:
    model, x = Tiny().eval(), torch.randn(1, 8, 16, 16)
    torch.export.save(torch.export.export(model, (x,)), str(tmp_path / "tiny.pt2"))
    loaded = load(str(tmp_path / "tiny.pt2"))
    exported = costlens.analyze(loaded.model, loaded.inputs)
    direct = costlens.analyze(model, x)
    assert exported.totals.flops == direct.totals.flops
    assert exported.totals.params == direct.totals.params
    assert exported.layer("blocks.1.conv").type == "Conv2d"
    assert exported.layer("blocks.1").type == "Block"
    assert exported.unsupported_ops == ()


class Payload:
    """Unpickling this creates a file: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_a_pickle_is_refused_and_nothing_in_it_runs(tmp_path: Path, capsys) -> None:
    marker = tmp_path / "code-ran"
    with open(tmp_path / "model.pt", "wb") as handle:
        pickle.dump(Payload(marker), handle)
    assert main(["report", str(tmp_path / "model.pt")]) == 2
    err = capsys.readouterr().err
    assert "is a pickle: loading it runs whatever code it holds. Pass --trust-pickle" in err
    assert err.count("\n") == 1
    assert not marker.exists()


def test_a_trusted_pickle_loads(tmp_path: Path) -> None:
    torch.save(Tiny(), tmp_path / "tiny.pth")
    loaded = load(str(tmp_path / "tiny.pth"), trust_pickle=True)
    assert type(loaded.model).__name__ == "Tiny" and loaded.inputs is None
    torch.save(Tiny().state_dict(), tmp_path / "weights.pt")
    with pytest.raises(CostlensError, match="holds a state dict, not a model"):
        load(str(tmp_path / "weights.pt"), trust_pickle=True)


def test_unreadable_archives_are_named(tmp_path: Path) -> None:
    (tmp_path / "broken.pt2").write_bytes(b"not a zip")
    with pytest.raises(CostlensError, match="is not a torch.export archive"):
        load(str(tmp_path / "broken.pt2"))
    with pytest.raises(CostlensError, match="model file not found"):
        load(str(tmp_path / "missing.pt2"))
