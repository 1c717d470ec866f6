"""Cycles per token of ``attention_engine`` (one head, one decode step), dense and SparF,
two_pass and online softmax, at 1, 4 and 8 flash channels, with the bound of each streaming
pass (flash bandwidth or the GeMVs' one beat per cycle); then H heads back to back against
each head alone. Figures come from the engine's cycle
model, which the tests hold equal to the Verilator cycle count; ``--verilator`` re-measures a
few points on the RTL.

    python bench/attention_engine.py [--seq-len 2048] [--head-dim 128] [--heads 32] [--verilator] [--write-docs]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from docs_tables import write_between_markers  # noqa: E402
from hwgen import blocks  # noqa: E402
from hwgen.blocks.attention import golden  # noqa: E402
from hwgen.blocks.attention.params import PAGE_TOKENS, beat_cycles, geometry  # noqa: E402

DOC = Path(__file__).resolve().parents[1] / "docs" / "attention.md"


def bound(block, seq_len: int) -> str:
    """Which limit sets the dense streaming time: flash (the busiest channel's bus, at
    max(1, beat_cycles) per beat) or compute (one K beat and, online, one V beat per cycle)."""
    p, geo = block.p, geometry(block.p)
    pages = -(-seq_len // PAGE_TOKENS)
    per_channel = -(-pages // p.flash_channels)
    flash = 2 * per_channel * geo.page_beats * max(Fraction(1), beat_cycles(p))
    beats = seq_len * geo.beats_per_row
    compute = beats if p.softmax == "online" else 2 * beats
    return "flash" if flash >= compute else "compute"


def row(params: dict, inputs: dict, seq_len: int) -> dict:
    block = blocks.get("attention_engine", **params)
    work = block.workload(inputs)
    cycles = block.model(work).cycles
    return {"mode": params["mode"], "softmax": params["softmax"],
            "channels": params["flash_channels"], "cycles": cycles,
            "cycles/token": round(cycles / seq_len, 1),
            "bound": bound(block, seq_len) if params["mode"] == "dense" else "flash (SparF pages)",
            "flash MB": round(block.model(work).bytes_in / 1e6, 3)}


def table(rows: list[dict]) -> str:
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(str(r[k]) for k in keys) + " |" for r in rows]
    return "\n".join(lines)


def heads_rows(args) -> list[dict]:
    """H heads of one decode step at the defaults (dense, both softmax kinds): with the
    overlap (the engine's model, equal to the RTL) against each head run alone (H times one
    query: each pays the page latency, the engine before the overlap), and the goal's bound,
    one exposed page latency plus H times a head's time without it."""
    rows = []
    for softmax in ("two_pass", "online"):
        block = blocks.get("attention_engine", softmax=softmax, heads=args.heads,
                           max_seq_len=max(2048, args.seq_len))
        one = block.model({"queries": 1, "seq_len": args.seq_len}).cycles
        started = time.perf_counter()
        together = block.model({"queries": args.heads, "seq_len": args.seq_len}).cycles
        wall = time.perf_counter() - started
        latency = block.p.flash_latency
        goal = latency + args.heads * (one - latency)
        rows.append({"softmax": softmax, "heads": args.heads, "one head": one,
                     "alone x H": args.heads * one, "overlapped": together,
                     "speedup": f"{args.heads * one / together:.3f}x",
                     "goal (latency + H x (one - latency))": goal,
                     "within goal": "yes" if together <= goal else "no",
                     "model s": round(wall, 1)})
    return rows


def measure_verilator(params: dict, inputs: dict) -> tuple[int, int, bool, float]:
    from sim.runner import simulate
    block = blocks.get("attention_engine", **params)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        result = simulate(block, inputs, rtl_out=tmp)
        wall = time.perf_counter() - started
    return result.cycles, block.model(block.workload(inputs)).cycles, result.passed, wall


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seq-len", type=int, default=2048)
    parser.add_argument("--head-dim", type=int, default=128)
    parser.add_argument("--lanes", type=int, default=8)
    parser.add_argument("--verilator", action="store_true",
                        help="also simulate the dense points at 1 and 4 channels on Verilator")
    parser.add_argument("--heads", type=int, default=32,
                        help="heads of one decode step for the overlap table (0: skip it)")
    parser.add_argument("--write-docs", action="store_true", help="update docs/attention.md")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(2026)
    inputs = golden.attention_inputs(rng, head_dim=args.head_dim, seq_len=args.seq_len,
                                     kind="concentrated")
    rows = []
    for mode in ("dense", "sparf"):
        for softmax in ("two_pass", "online"):
            for channels in (1, 4, 8):
                params = dict(head_dim=args.head_dim, lanes=args.lanes, max_seq_len=max(2048, args.seq_len),
                              mode=mode, softmax=softmax, flash_channels=channels)
                rows.append(row(params, inputs, args.seq_len))
    text = (f"head_dim {args.head_dim}, {args.lanes} lanes, seq_len {args.seq_len}, flash "
            f"{blocks.get('attention_engine').p.flash_mbps} MB/s per channel at "
            f"{blocks.get('attention_engine').p.clock_mhz} MHz, page latency "
            f"{blocks.get('attention_engine').p.flash_latency} cycles; SparF top_r 32, top_k 64 "
            f"on concentrated inputs\n\n" + table(rows))
    print(text)
    heads_text = None
    if args.heads:
        heads_text = (f"defaults (head_dim 128, 8 lanes, 4 channels, dense), seq_len {args.seq_len}, "
                      f"{args.heads} heads back to back\n\n" + table(heads_rows(args)))
        print("\n" + heads_text)
    if args.verilator:
        print("\nVerilator (dense):")
        for softmax in ("two_pass", "online"):
            for channels in (1, 4):
                params = dict(head_dim=args.head_dim, lanes=args.lanes, max_seq_len=max(2048, args.seq_len),
                              mode="dense", softmax=softmax, flash_channels=channels)
                cycles, model, passed, wall = measure_verilator(params, inputs)
                print(f"  {softmax:8} {channels} ch: {cycles} cycles (model {model}), "
                      f"{'PASS' if passed else 'FAIL'}, {wall:.0f} s")
    if args.write_docs:
        write_between_markers(DOC, "attention-cycles", text)
        if heads_text:
            write_between_markers(DOC, "attention-heads", heads_text)
        print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
