"""omap_controller on Verilator (issue 7): random operations against the dict and the exact
reference (host trace, events, images) at N = 64 and 2^16 with stalls on every port, a bulk
load then queries, DELETE and re-insert, capacity edges; and the obliviousness checks
(hwgen/blocks/omap/statistics.py) on the recorded host traces, including a leaky variant they must catch.

Each parameter point is built once (the build cache); the seed is not in the Verilog, so
runs with other seeds share a build.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest

from hwgen.blocks.omap.params import DELETE, GET, LOAD, PUT
from hwgen.blocks.omap.rtl import OmapController
from hwgen.blocks.omap.statistics import check_oblivious
from hwgen.blocks.omap.workloads import host_traces, requests
from sim.runner import simulate
from tests.support.omap import check_against_reference

pytestmark = pytest.mark.verilator

SMALL = {"capacity": 64}
LARGE = {"capacity": 1 << 16}


def run(block, inputs, tmp_path, **stalls):
    result = simulate(block, inputs, rtl_out=tmp_path / "rtl", **stalls)
    ref = check_against_reference(block, inputs, result)
    return result, ref


def test_random_operations_with_stalls_small(tmp_path):
    """6000 requests at N = 64 (a bulk load of 32 keys, then GET / PUT / DELETE over a pool of
    hits and misses that overfills the map), every stream and memory stalled 20% of cycles."""
    block = OmapController(**SMALL, seed=11)
    inputs = block.stimulus(np.random.default_rng(11), 6000)
    result, ref = run(block, inputs, tmp_path, idle=0.2, backpressure=0.2)
    errors = result.outputs["error"].tolist()
    assert errors.count(2) > 0 and result.outputs["found"].sum() > 1000  # refusals and hits
    assert ref.events.count(3) > 0          # some queue rows filled up (kept in HBM)


@pytest.mark.long
def test_load_then_queries_large(tmp_path):
    """N = 2^16: a bulk load of 1000 keys (the seal writes all 16384 pages), then 1000
    queries over them and as many absent keys, every port stalled 10% of cycles."""
    block = OmapController(**LARGE, seed=5)
    rng = np.random.default_rng(5)
    keys = rng.choice(1 << 32, size=2000, replace=False)
    ops = [LOAD] * 1000 + list(rng.choice([GET, GET, PUT, DELETE], size=1000))
    chosen = np.concatenate([keys[:1000], rng.choice(keys, size=1000)])
    values = rng.integers(0, 1 << 32, size=2000)
    run(block, requests(ops, chosen, values), tmp_path, idle=0.1, backpressure=0.1)


def test_capacity_edges_delete_and_reinsert(tmp_path):
    """Load exactly N keys (0 and the all-ones key among them), one more is refused (map
    full); GET every key; DELETE some and re-insert them with new values; re-insert refused
    again once full; maximum values."""
    block = OmapController(**SMALL, seed=3)
    top, vmax = (1 << 32) - 1, (1 << 32) - 1
    keys = [0, top] + list(range(1000, 1062))
    ops, ks, vs = [LOAD] * 64, list(keys), [vmax - k % 7 for k in keys]
    ops += [LOAD, GET, PUT]
    ks += [5, 5, 5]
    vs += [1, 0, 2]
    ops += [GET] * 64
    ks += keys
    vs += [0] * 64
    ops += [DELETE, DELETE, GET, PUT, PUT, GET, GET, PUT, DELETE, DELETE]
    ks += [0, top, 0, 0, top, 0, top, 77, 77, 1000]
    vs += [0, 0, 0, 123, vmax, 0, 0, 9, 0, 0]
    inputs = requests(ops, ks, vs)
    expected = block.golden(inputs)
    assert expected["error"].tolist().count(2) == 3     # LOAD 5, PUT 5, PUT 77
    result, _ = run(block, inputs, tmp_path)
    assert result.cycles == block.model(block.workload(inputs)).cycles


# -- obliviousness -----------------------------------------------------------------------------

QUERIES = 1000


def checked(block, inputs, result):
    check_against_reference(block, inputs, result)


def test_oblivious_host_trace(tmp_path):
    """Six workloads (one key / distinct keys, hits / misses, GET-PUT-DELETE mix, sequential /
    random keys): the same shape and timing; page indices uniform, alike across workloads
    (two-sample), free of lag-1 and pair correlation; no ciphertext or nonce repeated. The
    runs are also checked against the dict and the reference."""
    traces, geometry = host_traces(SMALL, partial(simulate, rtl_out=tmp_path / "rtl"), QUERIES, check=checked)
    report = check_oblivious(traces, n_pages=geometry.pages, slots=geometry.slots, alpha=1e-4)
    assert report["passed"], "\n".join(report["failures"])
    assert all(count == QUERIES for count in report["queries"].values())
    assert report["tests"] > 90


def test_leaky_variant_is_caught(tmp_path):
    """Without the dummy read on a miss, hits and misses differ in shape and timing: the
    checks that pass above fail here."""
    traces, geometry = host_traces({**SMALL, "leak": "no_dummy_read"}, partial(simulate, rtl_out=tmp_path / "rtl"), 200,
                                   names=("distinct keys", "misses"), check=checked)
    report = check_oblivious(traces, n_pages=geometry.pages, slots=geometry.slots, alpha=1e-4)
    assert not report["passed"]
    assert report["shape"]["misses"], report["failures"]
