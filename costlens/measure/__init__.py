"""Measurement: everything that runs a model for real. Device objects (device.py), timing in
interleaved rounds (timing.py), calibration of a platform profile (calibrate.py), per-op times
of a real run (op_times.py) and their comparison with the estimate (compare.py), and the
paper's Table 1-4 experiments (paper_networks.py, guidelines.py).

It sits above the analysis and the latency model and nothing below imports it: the estimate
stays pure, and measuring is the only part of costlens that needs a device.
"""

ROUNDS = 25  # rounds of an interleaved timing, unless asked otherwise
