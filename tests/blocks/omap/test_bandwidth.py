"""The traffic model (hwgen/blocks/omap/bandwidth.py) against recorded traces: Path ORAM's
analytic bytes equal the bytes its trace moves, the map's bytes per query equal its exact
reference's trace; and a small occupancy run (bench/omap_occupancy.py) stays within bounds."""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path

import pytest

from hwgen.blocks.omap import bandwidth as bw
from hwgen.blocks.omap.params import DELETE, GET, LOAD, PARAMS, PUT, Geometry
from hwgen.blocks.omap.path_oram import PathOram
from hwgen.blocks.omap.reference import Reference

REPO = Path(__file__).resolve().parents[3]


def test_path_oram_by_hand_at_1024():
    # trees of 1024, 128 and 16 blocks (16 <= 64 on chip): 10, 7 and 4 levels; a data block
    # 8 + 8 bytes -> one AES block + nonce = 24; tree 1 holds 8 labels of 2 bytes (10 bits)
    # + 8 -> 24 bytes -> 40 on the wire; tree 2 holds 8 labels of 1 byte + 8 -> 24
    trees = bw.path_oram_trees(1024)
    assert [(t.blocks, t.levels, t.block_bytes) for t in trees] == [(1024, 10, 24), (128, 7, 40), (16, 4, 24)]
    expected = 2 * 4 * (11 * 24 + 8 * 40 + 5 * 24)
    assert bw.path_oram_bytes_per_access(1024)["bytes"] == expected == 5632


@pytest.mark.parametrize("log2_n", [10, 11, 12, 13, 14])
def test_path_oram_bytes_equal_its_trace(log2_n):
    n = 1 << log2_n
    oram = PathOram(n, seed=log2_n)
    trees = bw.path_oram_trees(n)
    assert [t.blocks for t in trees] == [t.blocks for t in oram.trees]
    assert [t.levels for t in trees] == [t.levels for t in oram.trees]
    rng = random.Random(log2_n)
    accesses = 40
    for i in range(accesses):
        if rng.random() < 0.5:
            oram.read(rng.randrange(n))
        else:
            oram.write(rng.randrange(n), i)
    counted = sum(oram.z * trees[tree].block_bytes for tree, _, _ in oram.trace)
    model = bw.path_oram_bytes_per_access(n)
    assert counted == accesses * model["bytes"]
    assert len(oram.trace) == accesses * model["buckets"]
    reads = sum(oram.z * trees[tree].block_bytes for tree, _, op in oram.trace if op == "r")
    assert reads == accesses * model["read_bytes"]
    assert model["buckets"] * oram.z == oram.blocks_moved_per_access()


def test_block_bytes_override_and_overheads():
    uniform = bw.path_oram_bytes_per_access(1 << 20, block_bytes=64)
    assert uniform["bytes"] == 64 * uniform["buckets"] * 4
    wide = bw.path_oram_bytes_per_access(1 << 20, value_bytes=64)
    assert wide["per_tree"][0][2] == 16 * 5 + 8           # 72 plaintext bytes -> 5 AES blocks
    rows = bw.overhead_table(range(10, 31, 2))
    assert all(r["omap_bytes"] == 576 and r["omap_overhead"] == 72 for r in rows)
    ratios = [r["ratio"] for r in rows]
    assert ratios == sorted(ratios) and ratios[0] > 5
    # an 8-byte key with an 8-byte value and the valid bit needs two AES blocks
    assert bw.omap_bytes_per_query(1 << 20, key_bytes=8)["slot_bytes"] == 40


@pytest.mark.parametrize("slots,key_width,value_width", [(8, 32, 32), (4, 56, 64), (16, 16, 8)])
def test_omap_bytes_equal_the_reference_trace(slots, key_width, value_width):
    capacity = 128
    params = PARAMS.resolve("omap_controller", {"capacity": capacity, "slots": slots,
                                                "key_width": key_width, "value_width": value_width,
                                                "seed": 5})
    g = Geometry.of(params)
    model = bw.omap_bytes_per_query(capacity, slots, value_width // 8, key_width // 8)
    assert model["slot_bytes"] == g.host_width // 8 == 24 and model["one_block"]
    rng = random.Random(slots)
    keys = rng.sample(range(1, 1 << key_width), capacity)
    ref = Reference(params)
    for key in keys[:capacity // 2]:
        ref.request(LOAD, key, rng.getrandbits(value_width))
    ref.request(GET, keys[0], 0)                       # seals the map: every page written once
    queries = 60
    for _ in range(queries):
        mark = len(ref.trace)
        ref.request(rng.choice((GET, PUT, DELETE)), rng.choice(keys), rng.getrandbits(value_width))
        query = ref.trace[mark:]
        assert len(query) == model["requests"] == 3 * slots
        assert [r.is_write for r in query] == [0] * 2 * slots + [1] * slots
        assert all(r.word >> g.host_width == 0 for r in query)
        assert len(query) * g.host_width // 8 == model["bytes"]


def _occupancy_bench():
    spec = importlib.util.spec_from_file_location("omap_occupancy", REPO / "bench" / "omap_occupancy.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("placement", ["uniform", "two_choice"])
def test_small_occupancy_run_is_sane(placement):
    bench = _occupancy_bench()
    r = bench.run(1 << 10, 10_000, placement=placement, seed=3)
    q = r["query"]
    assert r["load_errors"] == r["query_errors"] == r["integrity_events"] == 0
    assert r["final_size"] == r["expected_size"]               # the map agrees with the workload
    assert r["min_size"] > 0.8 * r["capacity"]                 # deletes balanced by puts
    assert 1 <= q.max_queue_row <= r["queue_ways"]
    assert r["c"] <= q.max_label_load <= r["slots"] + r["queue_ways"]
    assert 1 <= q.max_page_load <= r["slots"] and r["final_max_page_load"] <= r["slots"]
    assert 0 < q.max_queue_total <= r["queue_capacity"]
    assert q.hbm_elements_max < r["capacity"] // 2
    if placement == "two_choice":
        assert q.max_label_load <= round(r["bound"]) + 1
