"""The hash engine on every shared matrix (C = A x A, or A x A^T): cycles, partial products
merged per cycle per lane, table load factor, average probes, passes.

    python bench/spgemm_engine.py [--lanes 2] [--table-size 64] [--banks 2] [--hash multiplicative]
                                  [--mem-latency 4] [--verilator]

Figures come from the cycle model (``hwgen/blocks/spgemm/model.py``), which simulates the
engine's hash table exactly and matches the RTL's cycle count exactly without memory stalls
(tests/blocks/spgemm/test_engine.py); ``--verilator`` also runs the RTL and prints its count beside.
Load factor: entries at drain / table entries, averaged over the passes that drained; probes:
slots read per update (1 = no collision); a pass that overflows is redone on half the columns.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hwgen.blocks.spgemm.golden import flops  # noqa: E402
from hwgen.blocks.spgemm.layout import fields_of  # noqa: E402
from hwgen.blocks.spgemm.matrices import read_mtx  # noqa: E402
from hwgen.blocks.spgemm.model import engine_cycles  # noqa: E402
from hwgen.blocks.spgemm.rtl import SpgemmHash  # noqa: E402

MATRICES = REPO.parent / "shared" / "data" / "matrices"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lanes", type=int, default=2)
    parser.add_argument("--table-size", type=int, default=64)
    parser.add_argument("--banks", type=int, default=2)
    parser.add_argument("--hash", default="multiplicative")
    parser.add_argument("--mem-latency", type=int, default=4)
    parser.add_argument("--value-type", default="int32")
    parser.add_argument("--verilator", action="store_true", help="also run the RTL")
    args = parser.parse_args()
    block = SpgemmHash(lanes=args.lanes, table_size=args.table_size, banks=args.banks,
                       hash=args.hash, mem_latency=args.mem_latency, value_type=args.value_type)
    params = dict(block.param_values)
    print(f"spgemm_hash {', '.join(f'{k}={v}' for k, v in params.items())}\n")
    print("| matrix | shape | nnz(A) | partial products | nnz(C) | cycles | products/cycle/lane "
          "| load factor (mean, peak) | probes/update | passes (overflowed) |"
          + (" RTL cycles |" if args.verilator else ""))
    print("|---|---|---:|---:|---:|---:|---:|---|---:|---|" + ("---:|" if args.verilator else ""))
    for path in sorted(MATRICES.glob("*.mtx")):
        A = read_mtx(path, values="random", value_type=args.value_type, seed=1)
        B = A if A.shape[0] == A.shape[1] else A.transpose()
        inputs = fields_of(A, B)
        detail: dict = {}
        cycles = engine_cycles(params, inputs, detail)
        products = flops(A, B)
        row = (f"| {path.stem} | {A.shape[0]} x {A.shape[1]} | {A.nnz:,} | {products:,} | "
               f"{detail['written']:,} | {cycles:,} | {products / cycles / args.lanes:.3f} | "
               f"{detail['load_factor']:.2f}, {detail['peak_load_factor']:.2f} | "
               f"{detail['probes'] / max(1, detail['updates']):.2f} | "
               f"{detail['passes']:,} ({detail['overflow_passes']:,}) |")
        if args.verilator:
            from sim.runner import simulate

            with tempfile.TemporaryDirectory() as scratch:
                result = simulate(block, inputs, rtl_out=Path(scratch))
            row += f" {result.cycles:,}{'' if result.passed else ' FAIL'} |"
        print(row, flush=True)


if __name__ == "__main__":
    main()
