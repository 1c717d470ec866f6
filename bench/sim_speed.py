"""Simulated cycles per wall second: the compiled bench against the python bench (and the
compiled bench on Icarus Verilog), on the same designs and stimulus, measured in one run.

    python bench/sim_speed.py [--cases mac_array,attention,omap,pim_channel,spgemm]
                              [--python-cycles 200000] [--icarus-cycles 50000] [--no-icarus]

Each case is built once per simulator (the build time is printed apart: a fast bench must not
hide a slower build), then run: the compiled bench on the whole stimulus, the python bench and
Icarus on a prefix of it when the whole would take minutes (a per-cycle rate does not depend
on how many vectors run; the table says how many ran). "run s" is the simulation proper as the
bench timed it (from the reset's release to the last beat), "host s" the rest of the call:
packing the stimulus, writing and reading the bench files, scoring against the golden model.
Rates count clock edges, stalls included; every run here is unstalled and must pass.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from hwgen import blocks  # noqa: E402
from hwgen import generate as gen  # noqa: E402
from sim import runner, simulators  # noqa: E402

MATRICES = REPO.parent / "shared" / "data" / "matrices"


def spgemm_case():
    from hwgen.blocks.spgemm.layout import fields_of
    from hwgen.blocks.spgemm.matrices import read_mtx

    block = blocks.get("spgemm_hash", table_size=1024)
    A = read_mtx(MATRICES / "blckhole.mtx", values="random", value_type=block.p.value_type, seed=1)
    return block, fields_of(A, A if A.shape[0] == A.shape[1] else A.transpose()), False


def stimulus_case(name: str, vectors: int, params: dict | None = None):
    def make():
        block = blocks.get(name, **(params if params is not None else blocks.block_class(name).flow_params))
        return block, block.stimulus(np.random.default_rng(1), vectors), True
    return make


CASES = {
    "mac_array": ("mac_array lanes=16, 20000 vectors", stimulus_case("mac_array", 20000, {"lanes": 16})),
    "attention": ("attention_engine at its flow point", stimulus_case("attention_engine", 1000)),
    "omap": ("omap_controller default", stimulus_case("omap_controller", 2000, {})),
    "pim_channel": ("pim_channel default (16 banks)", stimulus_case("pim_channel", 200, {})),
    "spgemm": ("spgemm_hash table_size=1024, blckhole A x A", spgemm_case),
}


# the fields that hold one row per vector (the rest, a matrix or a KV cache, is shared)
PER_VECTOR = {"mac_array": ("a", "b"), "attention_engine": ("q",), "omap_controller": ("op", "key", "value"),
              "pim_channel": ("x",)}


def prefix(name: str, inputs: dict, vectors: int) -> dict:
    return {field: values[:vectors] if field in PER_VECTOR[name] else values for field, values in inputs.items()}


def timed_run(block, inputs, out: Path, bench: str, simulator: str, rtl: Path):
    started = time.perf_counter()
    result = runner.simulate(block, inputs, seed=1, out=out, rtl_out=rtl, bench=bench, simulator=simulator)
    total = time.perf_counter() - started
    if not result.passed:
        raise SystemExit(f"{block.name} on the {bench} bench ({simulator}) failed: {result.summary()['verdict']}")
    return result, total


def build_for(block, inputs, simulator: str, rtl: Path) -> float:
    """Seconds to build (or find cached) the hwgen_bench these inputs run on: simulate's own
    steps up to the build, timed apart from the run."""
    generated = gen.generate(block, rtl)
    prepared = runner.prepare(block, inputs, 0, 1)
    job = runner.bench_job(prepared, 1, 0.0, 0.0, runner.model_cycles(block, prepared.inputs))
    top = runner.wrap(generated, job)
    started = time.perf_counter()
    simulators.build([generated.verilog, top.verilog], top.name, top.ports, simulator, False)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, of {', '.join(CASES)}")
    parser.add_argument("--python-cycles", type=int, default=200_000,
                        help="run the python bench on a prefix of about this many cycles")
    parser.add_argument("--icarus-cycles", type=int, default=50_000,
                        help="run Icarus on a prefix of about this many cycles")
    parser.add_argument("--no-icarus", action="store_true", help="skip the Icarus reference")
    args = parser.parse_args()
    chosen = args.cases.split(",")
    for name in chosen:
        if name not in CASES:
            parser.error(f"--cases: {name!r} is not known: choose from {', '.join(CASES)}")
    icarus = not args.no_icarus and shutil.which("iverilog") is not None

    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        rtl = Path(scratch) / "rtl"
        for name in chosen:
            title, make = CASES[name]
            started = time.perf_counter()
            block, inputs, divisible = make()
            gen.generate(block, rtl)
            print(f"[{name}] generated in {time.perf_counter() - started:.1f} s", flush=True)
            vectors = block.vector_count(inputs)

            def measured(bench: str, simulator: str, these: dict):
                built = build_for(block, these, simulator, rtl)
                result, total = timed_run(block, these, Path(scratch) / name / f"{bench}-{simulator}",
                                          bench, simulator, rtl)
                return bench, simulator, result, total, built

            runs = [measured("compiled", "verilator", inputs)]
            per_vector = runs[0][2].edges / max(vectors, 1)

            def part(cycles: int) -> dict:
                if not divisible:
                    return inputs
                return prefix(block.name, inputs, max(1, min(vectors, int(cycles // max(per_vector, 1)))))

            runs.append(measured("python", "verilator", part(args.python_cycles)))
            if icarus:
                runs.append(measured("compiled", "icarus", part(args.icarus_cycles)))
            rows.append((title, runs))
            for bench, simulator, result, total, built in runs:
                print(f"[{name}] {bench:<8} {simulator:<9} {result.vectors:>6} vectors {result.edges:>9} "
                      f"edges {result.edges / result.wall:>11,.0f} cycles/s", flush=True)

    print()
    print("| design | bench | simulator | vectors | edges | build s | run s | host s | cycles/s | vs python |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for title, runs in rows:
        python_rate = next(r.edges / r.wall for b, s, r, _, _ in runs if b == "python")
        for bench, simulator, result, total, built in runs:
            rate = result.edges / result.wall
            print(f"| {title} | {bench} | {simulator} | {result.vectors} | {result.edges:,} | "
                  f"{built:.1f} | {result.wall:.2f} | {total - result.wall:.2f} | {rate:,.0f} | "
                  f"{rate / python_rate:.1f}x |")
    print("\nbuild s: the python bench runs on the compiled bench's build (the same hwgen_bench, "
          "its agents switched off), so it shows ~0 unless its shorter stimulus needs smaller stores.")


if __name__ == "__main__":
    main()
