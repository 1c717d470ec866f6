"""The whole GPT decoder layer's RTL (hwgen/blocks/pim/decoder.py), end to end: lint clean,
bit-exact with the composed golden model on Amaranth's simulator with and without stalls,
within the float64 tolerance, and the six GEMVs dominating the cycle count.

    python bench/pim_decoder_layer.py [--seeds 5,7] [--no-lint]

The suite checks the layer in five parts on Verilator (each fed what the layer feeds it,
compared with what the layer's golden model has on the streams that leave it) and the golden
composition against float64; this whole-layer run takes about fifteen minutes (its Verilog
is about 730,000 lines: three minutes of lint, about six of Amaranth's simulator per seed), so
it lives here. Exit code 1 if any check fails.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from hwgen import examples, toolchain  # noqa: E402
from hwgen.blocks.pim import decoder as dec  # noqa: E402
from hwgen.generate import generate  # noqa: E402
from sim.pysim import simulate_pysim  # noqa: E402

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="5,7", help="comma-separated; the second and later run stalled")
    parser.add_argument("--no-lint", action="store_true")
    args = parser.parse_args()
    shape = dec.DecoderShape()
    graph = examples.decoder_layer_graph(shape)
    top = graph.elaborate_top()
    failures = 0
    if not args.no_lint:
        with tempfile.TemporaryDirectory() as scratch:
            started = time.perf_counter()
            generated = generate(top, scratch)
            warnings = toolchain.lint(generated.verilog, generated.top)
            print(f"lint: {len(warnings)} warnings in {time.perf_counter() - started:.0f} s")
            failures += bool(warnings)
    for index, seed in enumerate(int(s) for s in args.seeds.split(",")):
        stalls = 0.3 if index else 0.0
        weights = dec.random_weights(np.random.default_rng(seed), shape)
        inputs = dec.decoder_inputs(graph, weights, shape)
        started = time.perf_counter()
        result = simulate_pysim(top, inputs, seed=seed, idle=stalls, backpressure=stalls)
        wall = time.perf_counter() - started
        line = f"seed {seed}, stalls {stalls}: {result.summary()['verdict']}, {result.cycles} cycles, {wall:.0f} s"
        ok = result.passed
        if ok and not stalls:
            units = dec.bf16_error_units(dec.layer_output(result.outputs, shape), dec.reference_layer(weights, shape)["out"])
            gemvs = sum(dec.gemv_cycles(graph, inputs).values())
            share = abs(result.cycles - gemvs) / gemvs
            line += f"; error {units:.2f} units (bound {dec.TOLERANCE}); cycles within {100 * share:.1f}% of the GEMVs'"
            ok = units <= dec.TOLERANCE and share < 0.05
        print(line, flush=True)
        failures += not ok
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
