"""The reference table of docs/architecture.md: costlens's counts on the bundled models beside the
paper's and fvcore's.

Run ``python benchmarks/reference_counts.py`` (fvcore comes with the test extra:
``pip install ".[test]"``); it prints a markdown table. "conv+FC" is the sum of costlens's
convolution (depthwise included) and matmul ops, the quantity the paper, torchvision and
fvcore report; "all ops" adds the element-wise, normalization, pooling and data-movement ops
costlens also counts. All FLOPs are multiply-adds. Exits 1 if costlens and fvcore disagree on
conv+FC.
"""
from __future__ import annotations

import sys
import warnings

from costlens.examples import mobilenet_v2, resnet, shufflenet_v1, shufflenet_v2
from fvcore.nn import FlopCountAnalysis
from tabulate import tabulate

import costlens
from costlens.costs import Category

# what fvcore and the published figures count: convolutions (depthwise too) and products
CONV_AND_MATMUL = (Category.CONV, Category.DEPTHWISE, Category.MATMUL)

# (label, factory, paper's FLOPs in M multiply-adds, or None where the paper quotes none)
MODELS = (
    ("ShuffleNet v2 0.5x", lambda: shufflenet_v2.shufflenet_v2(width=0.5), 41),
    ("ShuffleNet v2 1x", lambda: shufflenet_v2.shufflenet_v2(width=1.0), 146),
    ("ShuffleNet v2 1.5x", lambda: shufflenet_v2.shufflenet_v2(width=1.5), 299),
    ("ShuffleNet v2 2x", lambda: shufflenet_v2.shufflenet_v2(width=2.0), 591),
    ("ShuffleNet v1 1x (g=3)", lambda: shufflenet_v1.shufflenet_v1(groups=3), 140),
    ("MobileNet v2 1.0", mobilenet_v2.mobilenet_v2, 300),
    ("ResNet-50", resnet.resnet50, None),
)


def fvcore_conv_and_linear(model, inputs) -> int:
    """fvcore's count restricted to conv and linear ops, its by-operator keys for them."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        analysis = FlopCountAnalysis(model, inputs)
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        by_operator = analysis.by_operator()
    return sum(count for name, count in by_operator.items()
               if name in ("conv", "linear", "addmm", "matmul", "bmm"))


def main() -> int:
    rows, agree = [], True
    for label, factory, paper in MODELS:
        model, inputs = factory()
        analysis = costlens.analyze(model, inputs)
        conv_fc = sum(op.flops for op in analysis.ops if op.category in CONV_AND_MATMUL)
        reference = fvcore_conv_and_linear(model, inputs)
        agree &= conv_fc == reference
        rows.append([label, "-" if paper is None else f"{paper}M", f"{conv_fc / 1e6:.1f}M",
                     f"{reference / 1e6:.1f}M", f"{analysis.totals.flops / 1e6:.1f}M",
                     f"{analysis.totals.params / 1e6:.2f}M",
                     f"{analysis.totals.mac_bytes / 1e6:.1f}MB"])
    print(tabulate(rows, headers=["model (224x224, batch 1)", "paper", "costlens conv+FC",
                                  "fvcore conv+FC", "costlens all ops", "params", "MAC"],
                   tablefmt="github", disable_numparse=True))
    if not agree:
        print("costlens and fvcore disagree on conv+FC", file=sys.stderr)
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
