"""Example models written for costlens, with random weights, installed as costlens.examples.
The modules import each other relatively and are named as TARGETs, as files
(`examples/resnet.py:resnet50`) or, installed, as modules (`costlens.examples.resnet:resnet50`);
paper_benchmarks.py names the paper's Table 1-4 networks, which live in
costlens.measure.paper_networks because `costlens guidelines` runs them."""
