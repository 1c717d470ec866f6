"""DRAM traffic of four SpGEMM dataflows on every shared real matrix (C = A x A, or A x A^T
when A is not square): inner product, OuterSPACE outer product, SpArch outer product with a
merger, and row-wise (Gustavson), from the exact models in ``hwgen/blocks/spgemm/traffic.py``.

    python bench/spgemm_dataflows.py [--bandwidth 128] [--clock 1000] [--multipliers 16]
                                     [--cache 32] [--table 1024] [--ways 64] [--markdown OUT.md]

Prints, per matrix, the comparison table (bytes by stream, DRAM total and ratio to the best,
cycles at the bandwidth and clock, on-chip storage) with each model's notes, then a summary
of DRAM bytes per dataflow over all matrices. ``--markdown`` also writes the tables to a file.
The matrices come from ``shared/data/matrices`` beside the repository.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hwgen.blocks.spgemm import matrices, traffic  # noqa: E402

SHARED = REPO.parent / "shared" / "data" / "matrices"


def run(path: Path, args) -> tuple[str, list]:
    a = matrices.read_mtx(path, values="ones")
    square = a.rows == a.cols
    b = a if square else a.transpose()
    results = traffic.compare(a, b, bandwidth_gbs=args.bandwidth, clock_mhz=args.clock,
                              multipliers=args.multipliers, cache_bytes=int(args.cache * 1024),
                              table_entries=args.table, merge_ways=args.ways)
    title = f"### {path.stem}: C = A x {'A' if square else 'A^T'}\n\n{traffic.describe(a, b)}"
    text = f"{title}\n\n{traffic.format_table(results)}\n\n{traffic.format_notes(results)}\n"
    return text, results


def summary(rows: list[tuple[str, list]]) -> str:
    names = [traffic.DATAFLOW_NAMES[d] for d in traffic.DATAFLOWS]
    lines = ["| matrix | " + " | ".join(names) + " | fewest bytes | fewest cycles |",
             "|" + "---|" * (len(names) + 3)]
    for stem, results in rows:
        best = min(results, key=lambda r: r.dram_bytes)
        fastest = min(results, key=lambda r: r.cycles)
        cells = [f"{r.dram_bytes:,} ({r.dram_bytes / best.dram_bytes:.2f}x), {r.cycles:,} cyc" for r in results]
        lines.append(f"| {stem} | " + " | ".join(cells) + f" | {traffic.DATAFLOW_NAMES[best.dataflow]} "
                     f"| {traffic.DATAFLOW_NAMES[fastest.dataflow]} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bandwidth", type=float, default=128.0, metavar="GBS")
    p.add_argument("--clock", type=float, default=1000.0, metavar="MHZ")
    p.add_argument("--multipliers", type=int, default=16)
    p.add_argument("--cache", type=float, default=32.0, metavar="KIB",
                   help="B buffer / row buffer / FiberCache (KiB, 0 for none)")
    p.add_argument("--table", type=int, default=1024, help="row-wise table entries")
    p.add_argument("--ways", type=int, default=64, help="SpArch merger ways")
    p.add_argument("--markdown", type=Path, metavar="OUT.md", help="also write the tables here")
    args = p.parse_args(argv)
    if not SHARED.is_dir():
        print(f"error: shared matrices folder {SHARED} is missing", file=sys.stderr)
        return 2
    paths = sorted(SHARED.glob("*.mtx"))
    start = time.perf_counter()
    texts, rows = [], []
    for path in paths:
        text, results = run(path, args)
        texts.append(text)
        rows.append((path.stem, results))
        print(text)
    total = summary(rows)
    print("### DRAM bytes and cycles, all matrices\n")
    print(total)
    print(f"\n{args.bandwidth:g} GB/s at {args.clock:g} MHz, {args.multipliers} multipliers, "
          f"cache {args.cache:g} KiB, table {args.table}, merger {args.ways} ways; "
          f"{len(paths)} matrices in {time.perf_counter() - start:.2f} s")
    if args.markdown:
        args.markdown.write_text("\n".join(texts) + "\n### DRAM bytes and cycles, all matrices\n\n" + total + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
