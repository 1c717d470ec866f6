"""Simulated cycles per wall second: cocotb on Verilator vs Amaranth's Python simulator, on the
same design and the same stimulus, measured in one run.

    python bench/sim_speed.py [--lanes 16] [--vectors 20000] [--pysim-vectors 2000]

The Verilator figure is what ``hwgen sim mac_array -p lanes=16 --vectors 20000`` reports (the
build is cached, so it is not in the figure); Amaranth's simulator runs fewer vectors because it
is slower, which does not change a per-cycle rate.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from hwgen import blocks  # noqa: E402
from sim.pysim import simulate_pysim  # noqa: E402
from sim.runner import simulate  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lanes", type=int, default=16)
    parser.add_argument("--vectors", type=int, default=20000)
    parser.add_argument("--pysim-vectors", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    block = blocks.get("mac_array", lanes=args.lanes)
    inputs = block.stimulus(np.random.default_rng(args.seed), args.vectors)
    with tempfile.TemporaryDirectory() as scratch:
        simulate(block, {k: v[:10] for k, v in inputs.items()}, rtl_out=scratch)  # build (cached)
        started = time.perf_counter()
        verilator = simulate(block, inputs, seed=args.seed, rtl_out=scratch)
        verilator_wall = time.perf_counter() - started
    py_inputs = {k: v[:args.pysim_vectors] for k, v in inputs.items()}
    started = time.perf_counter()
    pysim = simulate_pysim(block, py_inputs, seed=args.seed)
    pysim_wall = time.perf_counter() - started
    assert verilator.passed and pysim.passed

    v_rate = verilator.summary()["sim_cycles_per_second"]
    p_rate = pysim.summary()["sim_cycles_per_second"]
    print(f"design: mac_array lanes={args.lanes} (param hash {block.param_hash}), "
          f"{block.p.vector_length} beats per vector, no stalls")
    print(f"{'simulator':<22} {'vectors':>8} {'cycles':>9} {'cycles/s':>10} {'wall s':>7}")
    print(f"{'cocotb + Verilator':<22} {verilator.vectors:>8} {verilator.cycles:>9} {v_rate:>10.0f} "
          f"{verilator_wall:>7.1f}")
    print(f"{'Amaranth pysim':<22} {pysim.vectors:>8} {pysim.cycles:>9} {p_rate:>10.0f} "
          f"{pysim_wall:>7.1f}")
    print(f"ratio Verilator / pysim: {v_rate / p_rate:.1f}x")


if __name__ == "__main__":
    main()
