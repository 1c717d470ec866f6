"""Sweep throughput: points per hour of a sweep spec (default: the mac_array example with every
metric) on the local process pool and on a 2-worker dask.distributed LocalCluster, each from
cold caches (its own Verilator build cache and point cache; YoWASP's compiled tools are kept).

    python bench/sweep_throughput.py [SPEC.toml] [--workers 2]

Prints one line per executor, the two results' agreement, and the Pareto front of the first.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hwgen.sweep import load_spec, run_sweep  # noqa: E402
from hwgen.sweep.report import write_report, format_front  # noqa: E402
from hwgen.sweep.store import SweepDB  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "sweeps" / "mac_array.toml"


def timed_sweep(spec, out: Path, **executor) -> tuple[dict, float]:
    started = time.perf_counter()
    counts = run_sweep(spec, out / "sweep.db", fresh=True, **executor)
    return counts, time.perf_counter() - started


def metrics_by_point(db_path: Path) -> dict:
    db = SweepDB(db_path)
    try:
        return {row.point_id: (row.status, row.metrics) for row in db.rows()}
    finally:
        db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", nargs="?", type=Path, default=EXAMPLE)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    spec = load_spec(args.spec)

    with tempfile.TemporaryDirectory(prefix="hwgen-sweep-bench-") as scratch:
        scratch = Path(scratch)
        results = {}
        os.environ["HWGEN_CACHE_DIR"] = str(scratch / "cache-local")
        results["local pool"] = timed_sweep(spec, scratch / "local", workers=args.workers)

        from distributed import LocalCluster
        os.environ["HWGEN_CACHE_DIR"] = str(scratch / "cache-dask")  # inherited by the workers
        with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster:
            results["dask LocalCluster"] = timed_sweep(spec, scratch / "dask", dask=cluster.scheduler_address)

        print(f"spec: {args.spec.name} ({len(spec.points())} points, metrics: {', '.join(spec.metrics)})")
        for name, (counts, wall) in results.items():
            ran = counts["ok"] + counts["failed"] + counts["timeout"]
            print(f"{name:<18} {args.workers} workers: {counts} in {wall:.0f} s = "
                  f"{3600 * ran / wall:.0f} evaluated points/hour")
        local = metrics_by_point(scratch / "local" / "sweep.db")
        dask = metrics_by_point(scratch / "dask" / "sweep.db")
        print("local and dask results identical:", local == dask)
        written = write_report(scratch / "local" / "sweep.db", scratch / "report",
                               x="ecp5_lut4", y="sim_cycles_per_vector")
        print(format_front(written["front"], written["x"], written["y"]))
        errors = [row["model_error"] for row in written["front"] if row.get("model_error") is not None]
        print(f"largest |model_error| on the front: {max(map(abs, errors)) if errors else 'n/a'}")


if __name__ == "__main__":
    main()
