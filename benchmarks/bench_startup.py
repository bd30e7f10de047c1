"""How long the commands that need no model take to answer: `costlens --help`, `costlens
rules` and `costlens rules G4`, each in a fresh interpreter (median of 11 runs), and whether
they imported torch (they must not: importing it alone takes over a second).

    python benchmarks/bench_startup.py
"""
from __future__ import annotations

import statistics
import subprocess
import sys
import time

COMMANDS = {
    "costlens --help": "try:\n    main(['--help'])\nexcept SystemExit:\n    pass",
    "costlens rules": "main(['rules'])",
    "costlens rules G4": "main(['rules', 'G4'])",
}
RUNS = 11


def main() -> int:
    slow = False
    for command, call in COMMANDS.items():
        code = ("import contextlib, io, sys\nfrom costlens.cli import main\n"
                "with contextlib.redirect_stdout(io.StringIO()):\n"
                + "".join(f"    {line}\n" for line in call.splitlines())
                + "print('torch' in sys.modules)")
        times, imported = [], ""
        for _ in range(RUNS):
            start = time.perf_counter()
            run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 check=True)
            times.append(time.perf_counter() - start)
            imported = run.stdout.strip()
        median = statistics.median(times)
        slow |= imported == "True"
        print(f"{command:20} median {median * 1e3:5.0f} ms (fastest {min(times) * 1e3:.0f} ms)"
              f"  torch imported: {imported}")
    return 1 if slow else 0


if __name__ == "__main__":
    sys.exit(main())
