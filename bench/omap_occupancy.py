"""Queue and page occupancy of the oblivious map's algorithm over a long random run.

    python bench/omap_occupancy.py [--capacity 1048576] [--ops 1000000]
        [--placement uniform|two_choice] [--alpha 0.2] [--slots 8] [--queue-ways 4] [--seed 1]

Runs the exact algorithm (``hwgen/blocks/omap/reference.py``) without encryption or trace
(``encrypt=False, record=False, track_stats=True``), its random blocks from numpy's PCG64
instead of the DRBG (the algorithm only needs uniform bits; this is for speed):

1. a bulk LOAD of N random distinct keys (``key_width`` 32);
2. ``--ops`` random operations, a third each GET, PUT and DELETE: a GET reads a key drawn
   uniformly from the loaded keys (a miss when that key is deleted just now), a DELETE
   removes a uniformly drawn present key, a PUT re-inserts a deleted key when one is waiting
   and otherwise updates a uniformly drawn loaded key; so deletes are balanced by puts and
   the map stays within a few hundred keys of full.

It prints, for the load phase and the query phase separately, the ``Stats`` the reference
keeps: the most elements queued (all labels, and under one label), the most live elements
in one page after its flush (at most ``slots`` by construction), the most elements under one
page label (in the page or queued: the "bin load"), queue-full events (an element that found
its label's queue row full and stayed in HBM instead), and the most elements in HBM; with
the balls-into-bins bound c + log2 log2 N + 1 beside the label load, c the mean label load
N (1 - alpha) / pages.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from hwgen.blocks.omap.params import (  # noqa: E402
    DELETE, ERR_NONE, EV_INTEGRITY, GET, IN_HBM, LOAD, PARAMS, PUT, Geometry,
)
from hwgen.blocks.omap.reference import Reference, Stats  # noqa: E402


def fast_randoms(seed: int, batch: int = 1 << 16):
    """128-bit random blocks as Python ints from numpy's PCG64 (two raw 64-bit words each)."""
    generator = np.random.default_rng(seed).bit_generator
    while True:
        raw = generator.random_raw(2 * batch).tolist()
        for i in range(0, 2 * batch, 2):
            yield raw[i] | raw[i + 1] << 64


def distinct_keys(count: int, width: int, rng: np.random.Generator) -> list[int]:
    keys = np.unique(rng.integers(1, 1 << width, size=count + count // 8 + 64, dtype=np.uint64))
    while len(keys) < count:
        keys = np.unique(np.concatenate([keys, rng.integers(1, 1 << width, size=count, dtype=np.uint64)]))
    rng.shuffle(keys)
    return keys[:count].tolist()


def queued(ref: Reference) -> int:
    return sum(len(row) - row.count(None) for row in ref.queue)


def in_hbm(ref: Reference) -> int:
    return sum(1 for bucket in ref.buckets for e in bucket if e is not None and e.state == IN_HBM)


def bound(capacity: int, alpha: float, pages: int) -> tuple[float, float]:
    """(c, c + log2 log2 N + 1) with c = N (1 - alpha) / pages, the mean label load."""
    c = capacity * (1 - alpha) / pages
    return c, c + math.log2(math.log2(capacity)) + 1


def run(capacity: int, ops: int, placement: str = "uniform", alpha: float = 0.2, slots: int = 8,
        queue_ways: int = 4, seed: int = 1, key_width: int = 32, progress: bool = False) -> dict:
    """One run; returns the load-phase and query-phase stats and the run's figures."""
    params = PARAMS.resolve("omap_controller", {
        "capacity": capacity, "placement": placement, "alpha": alpha, "slots": slots,
        "queue_ways": queue_ways, "key_width": key_width, "value_width": 32})
    g = Geometry.of(params)
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    ref = Reference(params, randoms=fast_randoms(seed + 1), encrypt=False, record=False,
                    track_stats=True)
    keys = distinct_keys(capacity, key_width, rng)
    load_errors = 0
    loaded = []
    for key in keys:
        answer = ref.request(LOAD, key, key & 0xFFFF_FFFF)
        if answer.error == ERR_NONE:
            loaded.append(key)
        else:
            load_errors += 1
    # the reference notes queue totals and HBM counts per query only: count them after LOAD
    load_stats = dataclasses.replace(ref.stats, max_queue_total=queued(ref),
                                     hbm_elements_max=in_hbm(ref))
    load_wall = time.perf_counter() - started
    ref.stats = Stats()

    present = list(loaded)
    where = {key: i for i, key in enumerate(present)}
    waiting: list[int] = []          # deleted keys, to be re-inserted by PUTs
    kinds = rng.integers(0, 3, size=ops).tolist()
    picks = rng.random(size=ops).tolist()
    query_errors = hits = puts_insert = 0
    min_size = len(present)
    started_q = time.perf_counter()
    for i in range(ops):
        kind, pick = kinds[i], picks[i]
        if kind == GET:
            key = loaded[int(pick * len(loaded))]
            answer = ref.request(GET, key, 0)
        elif kind == DELETE:
            j = int(pick * len(present))
            key = present[j]
            last = present.pop()
            if last != key:
                present[j] = last
                where[last] = j
            del where[key]
            waiting.append(key)
            answer = ref.request(DELETE, key, 0)
        else:
            if waiting:
                j = int(pick * len(waiting))
                key = waiting[j]
                waiting[j] = waiting[-1]
                waiting.pop()
                where[key] = len(present)
                present.append(key)
                puts_insert += 1
            else:
                key = loaded[int(pick * len(loaded))]
            answer = ref.request(PUT, key, i & 0xFFFF_FFFF)
        hits += answer.found
        query_errors += answer.error != ERR_NONE
        min_size = min(min_size, len(present))
        if progress and (i + 1) % 100_000 == 0:
            print(f"  {i + 1} ops, {time.perf_counter() - started_q:.0f} s", file=sys.stderr)
    query_wall = time.perf_counter() - started_q
    c, limit = bound(capacity, alpha, g.pages)
    return {
        "capacity": capacity, "ops": ops, "placement": placement, "alpha": alpha,
        "slots": slots, "queue_ways": queue_ways, "pages": g.pages,
        "queue_capacity": g.pages * queue_ways,
        "load": load_stats, "query": dataclasses.replace(ref.stats),
        "load_errors": load_errors, "query_errors": query_errors, "hits": hits,
        "reinserts": puts_insert, "min_size": min_size, "final_size": ref.size,
        "expected_size": len(present),
        "integrity_events": ref.events.count(EV_INTEGRITY),
        "final_max_page_load": max(ref.page_loads()),
        "final_in_hbm": in_hbm(ref), "final_queued": queued(ref),
        "c": c, "bound": limit, "load_wall": load_wall, "query_wall": query_wall,
    }


def report(r: dict) -> str:
    head = (f"N = 2^{r['capacity'].bit_length() - 1}, {r['ops']:,} ops, placement {r['placement']}, "
            f"alpha {r['alpha']}, slots {r['slots']}, queue_ways {r['queue_ways']} "
            f"({r['pages']:,} pages, queue capacity {r['queue_capacity']:,})")
    wall = (f"  wall: load {r['load_wall']:.0f} s, queries {r['query_wall']:.0f} s "
            f"({r['query_wall'] / max(1, r['ops']) * 1e6:.0f} us per op)")
    checks = (f"  load errors {r['load_errors']}, query errors {r['query_errors']}, integrity "
              f"events {r['integrity_events']}, hits {r['hits']:,}, map size min "
              f"{r['min_size']:,} final {r['final_size']:,}")
    table = ("  | phase | max queue total | max queue row | max page load | max label load | "
             "queue-full events | max elements in HBM |")
    lines = [head, wall, checks, table, "  |---|---:|---:|---:|---:|---:|---:|"]
    for phase in ("load", "query"):
        s = r[phase]
        lines.append(f"  | {phase} | {s.max_queue_total:,} | {s.max_queue_row} | {s.max_page_load} | "
                     f"{s.max_label_load} | {s.queue_full_events:,} | {s.hbm_elements_max:,} |")
    lines.append(f"  at the end: {r['final_queued']:,} queued, {r['final_in_hbm']:,} in HBM, "
                 f"largest page {r['final_max_page_load']}")
    lines.append(f"  bound c + log2 log2 N + 1 = {r['c']:.2f} + {math.log2(math.log2(r['capacity'])):.2f}"
                 f" + 1 = {r['bound']:.2f} (c = N (1 - alpha) / pages); label capacity "
                 f"slots + queue_ways = {r['slots'] + r['queue_ways']}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capacity", type=int, default=1 << 20)
    parser.add_argument("--ops", type=int, default=1_000_000)
    parser.add_argument("--placement", choices=("uniform", "two_choice"), default="uniform")
    parser.add_argument("--alpha", type=float, default=0.2)
    parser.add_argument("--slots", type=int, default=8)
    parser.add_argument("--queue-ways", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args()
    r = run(args.capacity, args.ops, args.placement, args.alpha, args.slots, args.queue_ways,
            args.seed, progress=args.progress)
    print(report(r))


if __name__ == "__main__":
    main()
