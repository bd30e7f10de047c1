"""The four validation networks of the ShuffleNet V2 paper (Tables 1-4), as TARGETs.

They live in costlens itself (costlens.measure.paper_networks), because `costlens guidelines`
reruns them; this module names them from the examples folder:

    costlens report 'examples/paper_benchmarks.py:g2_network(groups=8, c=360)'
    costlens lint 'examples/paper_benchmarks.py:g1_network(c1=13, c2=78)'
"""
from costlens.measure.paper_networks import (  # noqa: F401 (offered as TARGETs)
    TABLE1_ROWS,
    TABLE2_ROWS,
    TABLE3_ROWS,
    TABLE4_ROWS,
    Bottleneck,
    FragmentBlock,
    g1_network,
    g2_network,
    g3_network,
    g4_network,
    paper_speed,
    table1_kwargs,
    table2_kwargs,
    table3_kwargs,
    table4_kwargs,
)
