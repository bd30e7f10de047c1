"""Where the bytes of Llama-2-70B's serving phases go, as the README's LLM section quotes them.

    python benchmarks/bench_llm_phases.py

All on the meta device, from costlens's own analysis: the prefill at sequence 4096 with and
without filling its KV cache, and one decode step at context 4096 (float32 as the example
builds it, and in bfloat16), its MAC bytes split into the matrix products (the weights read
once), the copies `repeat_kv` makes of the cache for the query heads, and the attention; with
the built-in epyc-cpu-1t profile's estimate of each decode.
"""
from __future__ import annotations

from tabulate import tabulate

import costlens
from costlens.costs import Category
from costlens.latency import estimate, load_profile
from costlens.tracing.load import load, model_dtype, model_inputs
from costlens.units import human

PROFILE = "epyc-cpu-1t"


def _analysis(dtype: str | None = None, **arguments: object) -> costlens.Analysis:
    """As `costlens report 'examples/llama.py:llama(size="70b", ...)' [--dtype DTYPE]` does
    it: --dtype casts the factory's floating inputs (the cache) with the weights."""
    spelled = ", ".join(f"{key}={value!r}" for key, value in arguments.items())
    loaded = load(f"costlens.examples.llama:llama(size='70b', {spelled})")
    return costlens.analyze(loaded.model, model_inputs(loaded, (), dtype),
                            dtype=model_dtype(dtype))


def _bytes(analysis: costlens.Analysis, category: Category) -> int:
    return sum(op.mac_bytes or 0 for op in analysis.ops if op.category is category)


def main() -> None:
    profile = load_profile(PROFILE)
    plain, filled = _analysis(seq=4096, cache=False), _analysis(seq=4096)
    rows = [("prefill 4096: cache writes (copies)",
             human(_bytes(filled, Category.MOVEMENT) - _bytes(plain, Category.MOVEMENT), "B")),
            ("prefill 4096: FLOPs with / without the cache",
             f"{human(filled.totals.flops)} / {human(plain.totals.flops)}")]
    for name, dtype in (("float32", None), ("bfloat16", "bfloat16")):
        decode = _analysis(dtype, phase="decode", context=4096)
        rows += [(f"decode 4096 {name}: MAC bytes", human(decode.totals.mac_bytes, "B")),
                 (f"decode 4096 {name}: matrix products", human(_bytes(decode, Category.MATMUL),
                                                                 "B")),
                 (f"decode 4096 {name}: copies (repeat_kv, cache write)",
                  human(_bytes(decode, Category.MOVEMENT), "B")),
                 (f"decode 4096 {name}: attention", human(_bytes(decode, Category.ATTENTION),
                                                          "B")),
                 (f"decode 4096 {name}: estimated on {PROFILE}",
                  f"{estimate(decode, profile).seconds * 1e3:.0f} ms")]
    print(tabulate(rows, headers=("Llama-2-70B", "figure"), disable_numparse=True))


if __name__ == "__main__":
    main()
