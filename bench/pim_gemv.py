"""A 1024 x 1024 bf16 GEMV on a PIM channel: MAC utilization and row-hit rate, measured from
the Verilator simulation's command trace, and the same figures from the command-level model for
the full 16-bank, 16-lane channel (whose model the tests show equal to the RTL, cycle for cycle,
on every configuration simulated).

    python bench/pim_gemv.py [--rows 1024] [--cols 1024] [--model-only] [--write-docs]

MAC utilization = useful multiply-accumulates / (banks x lanes x GEMV cycles), the GEMV cycles
counted from the request to the last result (the backdoor weight LOADs excluded).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from docs_tables import write_between_markers  # noqa: E402
from hwgen import blocks  # noqa: E402
from hwgen.blocks.pim.schedule import Command  # noqa: E402

# The simulated channel: 4 banks x 8 bf16 lanes, 2 KiB rows, room for 1024 x 1024 (2 MiB).
SIMULATED = dict(banks=4, bank_groups=4, lanes=8, row_columns=128, gb_columns=128, bank_rows=256)


def figures(block, rows: int, cols: int, gemv_cycles: int, acts: int, macs: int) -> dict:
    return {
        "banks x lanes": f"{block.p.banks} x {block.p.lanes}",
        "GEMV cycles": gemv_cycles,
        "time (us)": round(gemv_cycles * block.timing.tck_ns / 1000, 2),
        "MAC utilization": f"{rows * cols / (block.p.banks * block.p.lanes * gemv_cycles):.1%}",
        "row-hit rate": f"{1 - acts / (block.p.banks * macs):.2%}",
        "MAC_ABK": macs,
        "ACT": acts,
    }


def simulated(rows: int, cols: int) -> dict:
    from sim.runner import simulate

    block = blocks.get("pim_channel", **SIMULATED)
    inputs = block.stimulus(np.random.default_rng(1), 1, rows=rows, cols=cols)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        result = simulate(block, inputs, rtl_out=tmp)
    assert result.passed, result.summary()["verdict"]
    cmd = result.traces["cmd"]["cmd"]
    loads = sum(1 for kind, *_ in block.host_sequence(block.workload(inputs)) if kind == 0)
    row = figures(block, rows, cols, result.cycles - loads, int(np.sum(cmd == Command.ACT)),
                  int(np.sum(cmd == Command.MAC_ABK)))
    row["source"] = f"Verilator ({time.perf_counter() - started:.0f} s incl. build)"
    return row


def modelled(rows: int, cols: int, **params) -> dict:
    block = blocks.get("pim_channel", **params)
    stats = block.statistics({"rows": rows, "cols": cols, "vectors": 1})
    row = figures(block, rows, cols, stats["gemv_cycles"], stats["commands"]["ACT"], stats["commands"]["MAC_ABK"])
    row["source"] = "model"
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1024)
    parser.add_argument("--cols", type=int, default=1024)
    parser.add_argument("--model-only", action="store_true", help="skip the Verilator run")
    parser.add_argument("--write-docs", action="store_true", help="also write the table into docs/pim.md")
    args = parser.parse_args()
    rows = [modelled(args.rows, args.cols), modelled(args.rows, args.cols, **SIMULATED)]
    if not args.model_only:
        rows.append(simulated(args.rows, args.cols))
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(str(row[k]) for k in keys) + " |" for row in rows]
    print(f"{args.rows} x {args.cols} bf16 GEMV, GDDR6-2000 timing")
    print("\n".join(lines))
    if args.write_docs:
        write_between_markers(Path(__file__).resolve().parents[1] / "docs" / "pim.md", "pim-gemv",
                              "\n".join(lines))


if __name__ == "__main__":
    main()
