"""PIM-GPT decode: tokens/s of the eight GPT models on PIM channels, against GPU rooflines.

    python bench/pim_gpt.py [--channels 8] [--context 512] [--write-docs]

For every model, ``hwgen.blocks.pim.gpt.decode_token`` gives the latency of one decode step
(batch 1) with ``--context`` tokens in the KV cache: every GEMV scheduled command by command
on default ``pim_channel`` channels, every nonlinear op timed by ``pim_vector_unit``'s cycle
model (16 lanes at tCK), everything in series. The table shows tokens/s, the row-hit rate and
the speedup over the memory-bandwidth rooflines of a T4 (320 GB/s) and an H100 SXM (3.35 TB/s):
the time to read every weight and the KV cache once in fp16. Then the per-operation breakdown
of gpt2-medium and its latency over 1 to 16 channels.

``--write-docs`` replaces the tables between the ``<!-- pim-gpt-... -->`` markers in
docs/pim_gpt.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from hwgen.blocks.pim import gpt  # noqa: E402

from docs_tables import write_between_markers  # noqa: E402

BREAKDOWN_MODEL = "gpt2-medium"
CHANNEL_SWEEP = (1, 2, 4, 8, 16)


def channel_table(model: str, context: int) -> str:
    lines = [f"| channels | {model} latency (us) | tokens/s | vs T4 roofline |", "|---:|---:|---:|---:|"]
    for channels in CHANNEL_SWEEP:
        r = gpt.decode_token(model, channels, context)
        lines.append(f"| {channels} | {r.latency_ns / 1e3:.1f} | {r.tokens_per_s:.0f} | "
                     f"{r.rooflines['t4']['speedup']:.2f}x |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--context", type=int, default=512)
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()

    started = time.perf_counter()
    results = [gpt.decode_token(name, args.channels, args.context) for name in gpt.MODELS]
    table = gpt.format_table(results)
    breakdown = gpt.format_breakdown(next(r for r in results if r.model == BREAKDOWN_MODEL))
    sweep = channel_table(BREAKDOWN_MODEL, args.context)
    print(table, breakdown, sweep, sep="\n\n")
    print(f"\n{time.perf_counter() - started:.1f} s", file=sys.stderr)
    if args.write_docs:
        doc = ROOT / "docs" / "pim_gpt.md"
        write_between_markers(doc, "pim-gpt-table", table)
        write_between_markers(doc, "pim-gpt-breakdown", breakdown)
        write_between_markers(doc, "pim-gpt-channels", sweep)


if __name__ == "__main__":
    main()
