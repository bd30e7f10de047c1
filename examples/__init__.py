"""Example models written for costlens, with random weights, installed as costlens.examples.
The modules import each other by plain name and are meant to be run from this folder or named
as TARGETs; paper_benchmarks.py names the paper's Table 1-4 networks, which live in
costlens.measure.paper_networks because `costlens guidelines` runs them."""
