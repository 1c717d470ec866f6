"""The oblivious map's bench workloads (issue 7): pairs of equal-length query sequences an
adversary must not tell apart, run in simulation, their host traces collected for the checks
in ``hwgen.blocks.omap.statistics``. Used by the omap tests and bench/omap_oblivious.py. The
simulator comes in as an argument: a family does not import the bench (``sim/``)."""

from __future__ import annotations

import numpy as np

from .params import DELETE, GET, LOAD, PUT

LOADED = 48              # keys bulk-loaded before every workload (the same keys and values)
FIRST_LOADED_KEY = 5000


def requests(ops, keys, values) -> dict[str, np.ndarray]:
    return {"op": np.asarray(ops, dtype=np.uint64), "key": np.asarray(keys, dtype=np.uint64),
            "value": np.asarray(values, dtype=np.uint64)}


def workloads(rng: np.random.Generator, queries: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name -> (ops, keys) after the bulk load: one key vs distinct keys, hits vs misses,
    GET vs PUT vs DELETE mixes, sequential vs random keys."""
    loaded = np.arange(FIRST_LOADED_KEY, FIRST_LOADED_KEY + LOADED)
    absent = np.unique(rng.integers(100_000, 1 << 31, size=2 * queries))[:queries]
    rng.shuffle(absent)
    get = np.full(queries, GET)
    return {
        "one key": (get, np.full(queries, loaded[0])),
        "distinct keys": (get, loaded[np.arange(queries) % LOADED]),
        "misses": (get, absent),
        "mixed ops": (rng.choice([GET, PUT, DELETE], size=queries), rng.choice(loaded, size=queries)),
        "sequential puts": (np.full(queries, PUT), np.arange(queries) + 7000),
        "random puts": (np.full(queries, PUT), absent[::-1].copy()),
    }


def workload_inputs(ops, keys, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The bulk load (fixed keys, values from ``rng``) followed by the workload."""
    loaded = np.arange(FIRST_LOADED_KEY, FIRST_LOADED_KEY + LOADED)
    load_values = np.random.default_rng(2024).integers(0, 1 << 32, size=LOADED)
    return requests(np.concatenate([np.full(LOADED, LOAD), ops]), np.concatenate([loaded, keys]),
                    np.concatenate([load_values, rng.integers(0, 1 << 32, size=len(ops))]))


def host_traces(params: dict, simulate, queries: int, names=None, check=None):
    """Run each workload through ``simulate(block, inputs)`` (``sim.runner.simulate`` with its
    output folder bound; each workload its own DRBG seed, no stalls) and return (name -> host
    trace of its queries, geometry); the seal's page writes, the same for every workload, are
    dropped. ``check(block, inputs, result)`` (e.g. against the reference)
    runs on each result; without it the answers must pass against the dict."""
    from .rtl import OmapController

    rng = np.random.default_rng(7)
    traces, block = {}, None
    for seed, (name, (ops, keys)) in enumerate(workloads(rng, queries).items(), start=100):
        if names is not None and name not in names:
            continue
        block = OmapController(**params, seed=seed)
        inputs = workload_inputs(ops, keys, rng)
        result = simulate(block, inputs)
        if check is not None:
            check(block, inputs, result)
        elif not result.passed:
            raise AssertionError(f"{name}: {result.summary()['verdict']}")
        host = result.traces["host"]
        seal = block.geometry.host_words
        traces[name] = {"address": host["address"][seal:], "is_write": host["is_write"][seal:],
                        "cycle": host["cycle"][seal:], "data": list(host["data"][seal:])}
    return traces, block.geometry
