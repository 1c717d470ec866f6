"""A 1024 x 1024 bf16 GEMV on a PIM channel: MAC utilization and row-hit rate, measured from
the Verilator simulation's command trace, and the same figures from the command-level model for
the full 16-bank, 16-lane channel (whose model the tests show equal to the RTL, cycle for cycle,
on every configuration simulated).

    python bench/pim_gemv.py [--rows 1024] [--cols 1024] [--model-only] [--write-docs]

MAC utilization = useful multiply-accumulates / (banks x lanes x GEMV cycles), the GEMV cycles
counted from the request to the last result (the backdoor weight LOADs excluded). Against two
peaks:

* **tCCD peak**: MAC_ABK x tCCD_L / GEMV cycles, the fraction of the MAC rate the column-command
  spacing allows (one MAC_ABK per tCCD_L) that the run reaches;
* **timing bound**: ``timing_bound()`` / GEMV cycles, where ``timing_bound`` is a lower bound on
  the cycles of *any* command sequence that performs the GEMV under every rule of the preset
  (written here from the rules, not from the scheduler): each DRAM row's ACTs, RCDRD, its
  MAC_ABKs tCCD_L apart, RTP and RP to the next row, refresh at its long-run rate.
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


def act_span(banks: int, bank_groups: int, t) -> int:
    """Cycles from the first to the last of ``banks`` ACTs at their closest: one bank of each
    group in turn (tRRD_S apart where the groups allow it), at most four in any tFAW."""
    per_group, times = banks // bank_groups, []
    order = [g * per_group + k for k in range(per_group) for g in range(bank_groups)]
    for index, bank in enumerate(order):
        group = bank // per_group
        earliest = 0
        for before, other in zip(times, order):
            earliest = max(earliest, before + (t.RRDL if other // per_group == group else t.RRDS))
        if index >= 4:
            earliest = max(earliest, times[index - 4] + t.FAW)
        times.append(earliest)
    return times[-1]


def timing_bound(rows: int, cols: int, block) -> float:
    """The fewest cycles any legal command sequence needs for the GEMV, request to last result,
    from every bank precharged: the DRAM rows it reads in turn, each opened by ``banks`` ACTs
    (all banks read the same row), its MAC_ABKs tCCD_L apart from RCDRD after the last ACT;
    between rows tRTP, tRP, the next ACT phase and tRCDRD (and tRAS from the row's first ACT);
    the last MAC_ABK's RD_MAC tCCD_L later and its data CL after that. Every RD_MAC but the last
    is taken as free (it fits in a row change), the WR_GBs as hidden under the first ACTs, and
    refresh at its long-run rate: one REF (tRFC, while the banks are closed) per tREFI."""
    p, t = block.p, block.timing
    beats = -(-cols // p.lanes)
    columns = -(-rows // p.banks) * beats
    row_macs = [min(p.row_columns, columns - start) for start in range(0, columns, p.row_columns)]
    span = act_span(p.banks, p.bank_groups, t)
    cycle = 1                                      # the first command, the cycle after the request
    for index, macs in enumerate(row_macs):
        first_act = cycle
        last_mac = first_act + span + t.RCDRD + (macs - 1) * t.CCDL
        if index < len(row_macs) - 1:
            cycle = max(last_mac + t.RTP, first_act + t.RAS) + t.RP   # PRE, then the next ACTs
    cycles = last_mac + t.CCDL + t.CL + 1
    return cycles / (1 - t.RFC / t.REFI)


def figures(block, rows: int, cols: int, gemv_cycles: int, acts: int, macs: int) -> dict:
    return {
        "banks x lanes": f"{block.p.banks} x {block.p.lanes}",
        "GEMV cycles": gemv_cycles,
        "time (us)": round(gemv_cycles * block.timing.tck_ns / 1000, 2),
        "MAC utilization": f"{rows * cols / (block.p.banks * block.p.lanes * gemv_cycles):.1%}",
        "vs tCCD peak": f"{macs * block.timing.CCDL / gemv_cycles:.1%}",
        "vs timing bound": f"{timing_bound(rows, cols, block) / gemv_cycles:.1%}",
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
