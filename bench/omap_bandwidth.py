"""Host traffic of the oblivious map vs Path ORAM: the model's table and plot, U55C-like
latency estimates, and overheads measured from recorded traces.

    python bench/omap_bandwidth.py [--queries 3000] [--measure 10 12] [--plot docs/img/omap_bandwidth.png]

1. The model (``hwgen/blocks/omap/bandwidth.py``) for N = 2^10 .. 2^30: bytes per query of
   the map, bytes per access of Path ORAM (Z = 4, pack 8, 64 position-map entries on chip),
   their overheads (bytes / value bytes) and ratio, as a Markdown table and a plot.
2. Latency estimates on a U55C-like card beside the measured figures issue 7 quotes.
3. Measured: the map's exact reference (``Reference``, encryption and trace on) and
   ``PathOram`` run the same workload at small N (LOAD N/2 keys, then random GET / PUT /
   DELETE over N keys, hits and misses); the bytes in their traces per query, against the
   model. The map's trace counts 24 bytes per host request (a 192-bit host word); Path
   ORAM's counts Z blocks of its tree's block size per bucket access.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hwgen.blocks.omap import bandwidth as bw  # noqa: E402
from hwgen.blocks.omap.params import DELETE, GET, LOAD, PARAMS, PUT, Geometry  # noqa: E402
from hwgen.blocks.omap.path_oram import PathOram  # noqa: E402
from hwgen.blocks.omap.reference import Reference  # noqa: E402

KEY_BYTES, VALUE_BYTES = 7, 8


def workload(capacity: int, queries: int, seed: int):
    """LOADs of N/2 distinct keys, then ``queries`` random GET / PUT / DELETE over a universe
    of N keys (so hits and misses). Keys are (index, key) pairs: Path ORAM addresses by index."""
    rng = random.Random(seed)
    keys = rng.sample(range(1, 1 << (8 * KEY_BYTES)), capacity)
    loads = [(LOAD, i, keys[i], rng.getrandbits(8 * VALUE_BYTES)) for i in range(capacity // 2)]
    ops = [(rng.choice((GET, PUT, DELETE)), i, keys[i], rng.getrandbits(8 * VALUE_BYTES))
           for i in (rng.randrange(capacity) for _ in range(queries))]
    return loads, ops


def measure_omap(capacity: int, loads, ops) -> dict:
    params = PARAMS.resolve("omap_controller", {"capacity": capacity, "key_width": 8 * KEY_BYTES,
                                                "value_width": 8 * VALUE_BYTES, "seed": capacity})
    g = Geometry.of(params)
    ref = Reference(params)
    for op, _, key, value in loads:
        ref.request(op, key, value)
    first = ops[0]
    ref.request(first[0], first[2], first[3])          # seals: every page written once
    seal_requests = g.pages * g.slots
    mark = len(ref.trace)
    for op, _, key, value in ops[1:]:
        ref.request(op, key, value)
    word_bytes = g.host_width // 8
    requests = len(ref.trace) - mark
    assert all(r.word >> g.host_width == 0 for r in ref.trace[mark:])
    return {"queries": len(ops) - 1, "bytes": requests * word_bytes,
            "per_query": requests * word_bytes / (len(ops) - 1),
            "requests_per_query": requests / (len(ops) - 1),
            "init_bytes": seal_requests * word_bytes, "word_bytes": word_bytes}


def measure_oram(capacity: int, ops) -> dict:
    oram = PathOram(capacity, seed=capacity)
    trees = bw.path_oram_trees(capacity, VALUE_BYTES)
    assert [t.blocks for t in trees] == [t.blocks for t in oram.trees]
    for op, index, _, value in ops:
        if op == GET:
            oram.read(index)
        else:
            oram.write(index, value if op == PUT else 0)
    total = sum(oram.z * trees[tree].block_bytes for tree, _, _ in oram.trace)
    return {"accesses": len(ops), "bytes": total, "per_access": total / len(ops),
            "max_stash": oram.max_stash}


def plot(rows, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [r["log2_n"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.semilogy(xs, [r["oram_overhead"] for r in rows], "o-", label="Path ORAM, 1 access (lower bound for a Path ORAM map)")
    left.semilogy(xs, [r["omap_overhead"] for r in rows], "s-", label="this map (BOLT-style)")
    left.set_xlabel("log2 N (keys)")
    left.set_ylabel("host bytes per query / value bytes")
    left.set_title("Bandwidth overhead, 8-byte values")
    left.grid(True, which="both", alpha=0.3)
    left.legend(fontsize=8)
    right.plot(xs, [r["ratio"] for r in rows], "o-", color="C2")
    right.set_xlabel("log2 N (keys)")
    right.set_ylabel("Path ORAM bytes / map bytes")
    right.set_title("Traffic ratio")
    right.grid(True, alpha=0.3)
    for ax in (left, right):
        ax.set_xticks(xs[::2])
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=3000)
    parser.add_argument("--measure", type=int, nargs="*", default=[10, 12, 14],
                        help="log2 N values to measure from traces")
    parser.add_argument("--plot", type=Path, default=REPO / "docs" / "img" / "omap_bandwidth.png")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    print(f"## Model: host bytes per query, {VALUE_BYTES}-byte values, {KEY_BYTES}-byte keys, "
          "8 slots per page; Path ORAM Z = 4, pack 8, 64 entries on chip\n")
    rows = bw.overhead_table(range(10, 31, 2), value_bytes=VALUE_BYTES, key_bytes=KEY_BYTES)
    print(bw.markdown_table(rows))
    wide = bw.omap_bytes_per_query(1 << 20, value_bytes=8, key_bytes=8)
    print(f"\n(8-byte keys: the valid bit pushes a slot to two AES blocks: {wide['bytes']} bytes "
          f"per query, overhead {wide['overhead']:.0f}; not a configuration the controller builds)")
    plot(bw.overhead_table(range(10, 31), value_bytes=VALUE_BYTES, key_bytes=KEY_BYTES), args.plot)
    print(f"\nplot: {args.plot.relative_to(REPO) if args.plot.is_relative_to(REPO) else args.plot}")

    print("\n## U55C-like estimate (300 MHz, host round trip 1 us = 300 cycles, PCIe Gen3 x16 "
          f"{bw.PCIE_BYTES_PER_S / 1e9:.1f} GB/s usable)\n")
    print("| N | HBM latency (cycles) | map response (us) | map query period (us) | "
          "Path ORAM trees | Path ORAM access (us) |")
    print("|---|---:|---:|---:|---:|---:|")
    for n in (18, 20, 30):
        for hbm in (30, 60, 100):
            e = bw.u55c_latency(1 << n, hbm_latency=hbm)
            print(f"| 2^{n} | {hbm} | {e['omap_response_us']:.2f} ({e['omap_response_cycles']} cyc) | "
                  f"{e['omap_period_us']:.2f} ({e['omap_query_cycles']} cyc) | {e['oram_trees']} | "
                  f"{e['oram_access_us']:.2f} ({e['oram_round_trips_us']:.0f} round trips + "
                  f"{e['oram_link_us']:.2f} link) |")
    print("\nmeasured (issue 7):")
    for name, n, us in bw.MEASURED_BASELINES:
        print(f"- {name}, N = 2^{n.bit_length() - 1}: {us:g} us per query")
    e = bw.u55c_latency(1 << 20)
    omap_q = bw.PCIE_BYTES_PER_S / bw.omap_bytes_per_query(1 << 20)["bytes"]
    oram_q = bw.PCIE_BYTES_PER_S / e["oram_bytes"]
    print(f"\nlink-bound ceiling at 2^20 (many queries in flight): map {omap_q / 1e6:.1f} M "
          f"queries/s, Path ORAM {oram_q / 1e6:.2f} M accesses/s")

    print(f"\n## Measured from traces ({args.queries} random GET/PUT/DELETE after LOADing N/2 keys)\n")
    print("| N | map bytes/query measured | model | Path ORAM bytes/access measured | model | "
          "measured ratio | map init bytes | wall s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for n in args.measure:
        capacity = 1 << n
        started = time.perf_counter()
        loads, ops = workload(capacity, args.queries, args.seed + n)
        omap = measure_omap(capacity, loads, ops)
        oram = measure_oram(capacity, ops)
        model_omap = bw.omap_bytes_per_query(capacity, value_bytes=VALUE_BYTES, key_bytes=KEY_BYTES)["bytes"]
        model_oram = bw.path_oram_bytes_per_access(capacity, VALUE_BYTES)["bytes"]
        print(f"| 2^{n} | {omap['per_query']:.0f} | {model_omap} | {oram['per_access']:.0f} | "
              f"{model_oram} | {oram['per_access'] / omap['per_query']:.1f}x | "
              f"{omap['init_bytes']:,} | {time.perf_counter() - started:.1f} |")
        print(f"|  | overhead {omap['per_query'] / VALUE_BYTES:.0f} | | overhead "
              f"{oram['per_access'] / VALUE_BYTES:.0f} (max stash {oram['max_stash']}) | | | | |")


if __name__ == "__main__":
    main()
