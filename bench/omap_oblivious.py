"""What the obliviousness checks measure on the RTL's host traces, for both placements.

    python bench/omap_oblivious.py [--capacity 256] [--queries 2000] [--alpha 1e-4]

Runs the six workloads of ``hwgen.blocks.omap.workloads`` (one key / distinct keys, hits / misses, a GET-PUT-
DELETE mix, sequential / random PUT keys) on Verilator for ``placement=uniform`` (the
default) and ``placement=two_choice`` (BOLT's rule: the less loaded of two random pages),
then ``hwgen.blocks.omap.statistics.check_oblivious`` on their host traces: shape and timing, chi-square
uniformity of the page indices (first page of each query, flushed page, both), two-sample
tests between workloads, lag-1 correlation and serial pairs, ciphertext and nonce repeats.
Prints the smallest p-values per test family and the failures. Two_choice makes a query's
first page depend on hidden page loads; whether these tests see it at this sample size is
what this bench reports (tests/blocks/omap/test_verilator.py holds uniform to them).

The baseline, Path ORAM (``hwgen/blocks/omap/path_oram.py``, Z = 4, recursive position
map), runs the same six workloads (each key mapped to a block of an N-block ORAM) and its
trace gets the same kind of checks: the (tree, read/write) sequence must be the same for
every workload, and the data tree's leaves must pass uniformity, two-sample and lag-1.
``--path-oram-only`` skips the Verilator runs.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from hwgen.blocks.omap.params import DELETE  # noqa: E402
from hwgen.blocks.omap.path_oram import PathOram  # noqa: E402
from hwgen.blocks.omap.statistics import check_oblivious, lag1, two_sample, uniformity  # noqa: E402
from hwgen.blocks.omap.workloads import host_traces, workloads  # noqa: E402
from sim.runner import simulate  # noqa: E402


def smallest(report: dict) -> dict[str, float]:
    """The smallest p-value of each test family over all workloads and samples."""
    out: dict[str, float] = {}
    for samples in report["statistics"].values():
        for tests in samples.values():
            for family, values in tests.items():
                out[family] = min(out.get(family, 1.0), values[-1])
    for samples in report["two_sample"].values():
        for values in samples.values():
            out["two_sample"] = min(out.get("two_sample", 1.0), values[-1])
    return out


def path_oram_traces(capacity: int, queries: int) -> dict[str, tuple[list, list[int]]]:
    """name -> ((tree, read/write) sequence, data-tree leaf per access) for the six workloads."""
    out = {}
    for name, (ops, keys) in workloads(np.random.default_rng(7), queries).items():
        oram = PathOram(capacity, seed=len(out) + 1)
        blocks: dict[int, int] = {}
        for op, key in zip(ops, keys):
            address = blocks.setdefault(int(key), len(blocks) % capacity)
            if op == DELETE:
                oram.write(address, 0)
            else:
                oram.read(address)
        leaves_offset = oram.trees[0].leaves - 1
        path_length = oram.trees[0].levels + 1
        data_reads = [bucket for tree, bucket, kind in oram.trace if tree == 0 and kind == "r"]
        leaves = [b - leaves_offset for b in data_reads[path_length - 1::path_length]]
        out[name] = ([(tree, kind) for tree, _, kind in oram.trace], leaves)
    return out


def report_path_oram(capacity: int, queries: int, alpha: float) -> None:
    traces = path_oram_traces(capacity, queries)
    leaves_count = PathOram(capacity).trees[0].leaves
    first_shape = next(iter(traces.values()))[0]
    failures, low = [], {"uniformity": 1.0, "two_sample": 1.0, "lag1": 1.0}
    for name, (shape, leaves) in traces.items():
        if shape != first_shape:
            failures.append(f"{name}: trace shape differs")
        p = uniformity(leaves, leaves_count)[-1]
        r_p = lag1(leaves)[-1]
        low["uniformity"], low["lag1"] = min(low["uniformity"], p), min(low["lag1"], r_p)
        failures += [f"{name}: leaves not uniform (p = {p:.3g})"] if p < alpha else []
        failures += [f"{name}: lag-1 correlation (p = {r_p:.3g})"] if r_p < alpha else []
    names = list(traces)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            p = two_sample(traces[a][1], traces[b][1], leaves_count)[-1]
            low["two_sample"] = min(low["two_sample"], p)
            failures += [f"{a} vs {b}: leaves differ (p = {p:.3g})"] if p < alpha else []
    print(f"\nPath ORAM baseline (N = {capacity}, Z = 4, {len(PathOram(capacity).trees)} trees, "
          f"{leaves_count} data leaves), the same six workloads: {len(first_shape) // queries} "
          f"bucket accesses per query, min p uniformity {low['uniformity']:.3g}, two-sample "
          f"{low['two_sample']:.3g}, lag-1 {low['lag1']:.3g}; {len(failures)} failure(s)")
    for line in failures:
        print("  " + line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--capacity", type=int, default=256)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--alpha", type=float, default=1e-4)
    parser.add_argument("--path-oram-only", action="store_true", help="only the Path ORAM baseline")
    args = parser.parse_args()
    if args.path_oram_only:
        report_path_oram(args.capacity, args.queries, args.alpha)
        return
    print(f"omap_controller, capacity {args.capacity}, {args.queries} queries per workload, "
          f"six workloads, alpha {args.alpha:g}\n")
    print("| placement | tests | failures | min p uniformity | min p two-sample | min p lag-1 "
          "| min p serial | shape differences | repeats | wall s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    details = {}
    for placement in ("uniform", "two_choice"):
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as scratch:
            traces, geometry = host_traces({"capacity": args.capacity, "placement": placement},
                                           partial(simulate, rtl_out=Path(scratch)), args.queries)
        report = check_oblivious(traces, n_pages=geometry.pages, slots=geometry.slots,
                                 alpha=args.alpha)
        low = smallest(report)
        shapes = sum(len(v) for v in report["shape"].values())
        repeats = sum(len(v["ciphertexts"]) + len(v["nonces"]) for v in report["repeats"].values())
        print(f"| {placement} | {report['tests']} | {len(report['failures'])} | "
              f"{low.get('uniformity', 1):.3g} | {low.get('two_sample', 1):.3g} | "
              f"{low.get('lag1', 1):.3g} | {low.get('serial', 1):.3g} | {shapes} | {repeats} | "
              f"{time.perf_counter() - started:.0f} |")
        details[placement] = report["failures"]
    for placement, failures in details.items():
        print(f"\n{placement}: {len(failures)} failure(s)")
        for line in failures:
            print("  " + line)
    report_path_oram(args.capacity, args.queries, args.alpha)


if __name__ == "__main__":
    main()
