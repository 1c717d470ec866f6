"""omap_controller (issue 7): the RTL against the dict (answers) and against the exact
algorithm's reference (host trace with plaintext and ciphertext, events, final HBM and host
images), its cycle model, and its parameters. Obliviousness: tests/blocks/omap/test_verilator.py."""

from __future__ import annotations

import numpy as np
import pytest

from hwgen.blocks.omap import reference
from hwgen.blocks.omap.golden import map_answers
from hwgen.blocks.omap.params import DELETE, GET, LOAD, PUT
from hwgen.blocks.omap.rtl import OmapController
from hwgen.core.params import ParamError
from sim.pysim import simulate_pysim

from tests.support.omap import check_against_reference

TINY = {"capacity": 16, "slots": 2, "ways": 4, "queue_ways": 2}


@pytest.mark.parametrize("placement", ["uniform", "two_choice"])
def test_pysim_matches_reference_and_model(placement):
    block = OmapController(**TINY, placement=placement, seed=7)
    inputs = block.stimulus(np.random.default_rng(5), 60)
    result = simulate_pysim(block, inputs)
    check_against_reference(block, inputs, result)
    assert result.cycles == block.model(block.workload(inputs)).cycles


def test_pysim_load_hits_refusals_and_cycles():
    """LOADs of a key twice (updated where it waits), more LOADs than capacity (refused: map
    full), then queries; the cycle model counts both LOAD paths."""
    block = OmapController(**TINY, alpha=0.5, hbm_latency=3, host_latency=5)
    keys = [3, 9, 3, 0, (1 << 32) - 1] + list(range(100, 115)) + [9, 0, 200, (1 << 32) - 1, 3, 3]
    ops = [LOAD] * 20 + [GET, DELETE, PUT, GET, PUT, GET]
    values = [(k * 7 + i) % (1 << 32) for i, k in enumerate(keys)]
    inputs = {"op": np.array(ops, dtype=np.uint64), "key": np.array(keys, dtype=np.uint64),
              "value": np.array(values, dtype=np.uint64)}
    expected = block.golden(inputs)
    assert expected["error"].tolist().count(2) >= 1    # the map filled during the load
    assert block.workload(inputs)["load_hits"] == (2,)
    result = simulate_pysim(block, inputs)
    check_against_reference(block, inputs, result)
    assert result.cycles == block.model(block.workload(inputs)).cycles


def test_pysim_with_stalls_matches_reference():
    """Random stalls on every stream and memory port change the timing, never the trace."""
    block = OmapController(**{**TINY, "queue_ways": 1}, seed=3)
    inputs = block.stimulus(np.random.default_rng(8), 40)
    result = simulate_pysim(block, inputs, idle=0.3, backpressure=0.3)
    check_against_reference(block, inputs, result)


def test_golden_dict_refuses_full_bucket():
    """Keys that share a bucket: the ways+1-th is refused with error 1 (the dict model and
    the reference agree)."""
    params = {**TINY, "ways": 2}
    block = OmapController(**params)
    bits = block.geometry.bucket_bits
    same = [k for k in range(5000) if reference.bucket_of(k, bits) == reference.bucket_of(0, bits)][:3]
    ops, keys, values = [PUT] * 3, same, [1, 2, 3]
    answers = map_answers(ops, keys, values, capacity=16, ways=2)
    assert answers["error"].tolist() == [0, 0, 1]
    _, ref_answers = reference.run(dict(block.param_values), ops, keys, values, encrypt=False)
    assert [a.error for a in ref_answers] == [0, 0, 1]


def test_constant_query_schedule_in_reference():
    """Every query of the reference makes the same host requests: S reads, S reads, S writes."""
    block = OmapController(**TINY)
    inputs = block.stimulus(np.random.default_rng(2), 80)
    ref, _ = reference.run(dict(block.param_values), inputs["op"], inputs["key"], inputs["value"])
    queries = int(np.count_nonzero(inputs["op"] != LOAD))
    seal = block.geometry.host_words
    directions = [t.is_write for t in ref.trace[seal:]]
    assert directions == [0, 0, 0, 0, 1, 1] * queries


@pytest.mark.parametrize("values,message", [
    ({"capacity": 8}, "capacity=8 is out of range"),
    ({"key_width": 64, "value_width": 64}, "exceeds one AES block"),
    ({"alpha": 1.5}, "alpha=1.5 is out of range"),
    ({"placement": "random"}, "placement='random' is out of range"),
    ({"slots": 3}, "slots=3 is out of range"),
])
def test_bad_parameters(values, message):
    with pytest.raises(ParamError, match=message):
        OmapController(**values)


def test_bad_inputs():
    block = OmapController(**TINY)
    with pytest.raises(ValueError, match="'op' holds 4, out of range"):
        block.fields_to_beats({"op": [4], "key": [1], "value": [1]})
    with pytest.raises(ValueError, match="'key' holds"):
        block.fields_to_beats({"op": [0], "key": [1 << 32], "value": [1]})
    with pytest.raises(ValueError, match="differ in length"):
        block.fields_to_beats({"op": [0, 1], "key": [1], "value": [1]})
