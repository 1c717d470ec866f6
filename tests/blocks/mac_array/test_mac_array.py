"""mac_array on Verilator (cocotb): bit-exact against the golden model under valid gaps and
backpressure, at parameter points covering the edges of the parameter space; cycle counts
against the performance model when nothing stalls."""

from __future__ import annotations

import numpy as np
import pytest

from hwgen import blocks
from sim.runner import simulate

POINTS = {
    "one_lane": dict(lanes=1, width=8, signed=True, vector_length=4, tree_stages=0),
    "odd_lanes": dict(lanes=7, width=8, signed=True, vector_length=3, tree_stages=2),
    "unsigned": dict(lanes=8, width=8, signed=False, vector_length=16, tree_stages=1),
    "narrowest": dict(lanes=4, width=2, signed=True, vector_length=5, tree_stages=2),
    "widest_signed": dict(lanes=16, width=32, signed=True, vector_length=8, tree_stages=4),
    "widest_unsigned_vl1": dict(lanes=5, width=32, signed=False, vector_length=1, tree_stages=3),
    "explicit_acc_no_tree_regs": dict(lanes=12, width=6, signed=True, vector_length=2, tree_stages=0,
                                      acc_width=40),
}
VECTORS = 1000


@pytest.mark.verilator
@pytest.mark.parametrize("point", POINTS)
def test_bit_exact_under_backpressure(point, rtl_out, tmp_path):
    block = blocks.get("mac_array", **POINTS[point])
    seed = sorted(POINTS).index(point) + 100
    result = simulate(block, vectors=VECTORS, seed=seed, idle=0.25, backpressure=0.35,
                      rtl_out=rtl_out, out=tmp_path / "stalled")
    assert result.passed, result.summary()["verdict"]
    assert result.verdict.compared == VECTORS and result.vectors == VECTORS
    # stalls on both sides must cost cycles, or the bench did not apply them
    unstalled = simulate(block, vectors=200, seed=seed, rtl_out=rtl_out, out=tmp_path / "clean")
    assert unstalled.passed
    assert unstalled.cycles == block.model({"vectors": 200}).cycles
    assert result.cycles > VECTORS * block.p.vector_length * 1.2


@pytest.mark.verilator
def test_edge_vectors_zeros_and_maxima(rtl_out, tmp_path):
    block = blocks.get("mac_array", **POINTS["widest_signed"])
    shape = (6, block.p.vector_length, block.p.lanes)
    low, high = -(1 << 31), (1 << 31) - 1
    a = np.stack([np.zeros(shape[1:]), np.full(shape[1:], low), np.full(shape[1:], high),
                  np.full(shape[1:], low), np.full(shape[1:], -1), np.full(shape[1:], high)]).astype(np.int64)
    b = np.stack([np.full(shape[1:], high), np.full(shape[1:], low), np.full(shape[1:], high),
                  np.full(shape[1:], high), np.full(shape[1:], low), np.full(shape[1:], -1)]).astype(np.int64)
    result = simulate(block, {"a": a, "b": b}, seed=5, backpressure=0.5, rtl_out=rtl_out, out=tmp_path)
    assert result.passed, result.summary()["verdict"]
    terms = block.p.lanes * block.p.vector_length
    assert [int(v) for v in result.outputs["y"]] == [
        0, terms * low * low, terms * high * high, terms * low * high, terms * -low, terms * -high]
    assert result.outputs["y"].dtype == object  # 72-bit results come back as Python integers


class WrongGolden(type(blocks.get("mac_array"))):
    """A golden model that is off by one at vector 17: the scoreboard must catch it."""

    def golden(self, inputs):
        out = super().golden(inputs)
        out["y"] = out["y"].copy()
        out["y"][17] += 1
        return out


@pytest.mark.verilator
def test_scoreboard_catches_a_wrong_value(rtl_out, tmp_path):
    block = WrongGolden(**POINTS["unsigned"])
    result = simulate(block, vectors=50, seed=3, backpressure=0.2, rtl_out=rtl_out, out=tmp_path)
    assert not result.passed
    assert result.verdict.mismatches == 1
    assert result.verdict.first.index == (17,)
    assert result.verdict.first.expected == result.verdict.first.actual + 1
