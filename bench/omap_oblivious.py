"""What the obliviousness checks measure on the RTL's host traces, for both placements.

    python bench/omap_oblivious.py [--capacity 256] [--queries 2000] [--alpha 1e-4]

Runs the six workloads of ``sim.omap`` (one key / distinct keys, hits / misses, a GET-PUT-
DELETE mix, sequential / random PUT keys) on Verilator for ``placement=uniform`` (the
default) and ``placement=two_choice`` (BOLT's rule: the less loaded of two random pages),
then ``sim.oblivious.check_oblivious`` on their host traces: shape and timing, chi-square
uniformity of the page indices (first page of each query, flushed page, both), two-sample
tests between workloads, lag-1 correlation and serial pairs, ciphertext and nonce repeats.
Prints the smallest p-values per test family and the failures. Two_choice makes a query's
first page depend on hidden page loads; whether these tests see it at this sample size is
what this bench reports (tests/test_omap_verilator.py holds uniform to them).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sim.oblivious import check_oblivious  # noqa: E402
from sim.omap import host_traces  # noqa: E402


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--capacity", type=int, default=256)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--alpha", type=float, default=1e-4)
    args = parser.parse_args()
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
                                           Path(scratch), args.queries)
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


if __name__ == "__main__":
    main()
