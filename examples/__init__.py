"""Example models written for costlens. Installed as costlens.examples, so that `costlens
guidelines` can rerun the paper's validation networks (paper_benchmarks.py); the other modules
import each other by plain name and are meant to be run from this folder or named as TARGETs."""
