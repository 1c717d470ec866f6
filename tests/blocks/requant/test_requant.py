"""requant on Verilator: rounding ties, saturation at both ends, wide inputs, under stalls."""

from __future__ import annotations

import pytest

from hwgen import blocks
from sim.runner import simulate

POINTS = {
    "default": dict(),
    "unsigned_truncate": dict(in_width=20, out_width=6, shift=5, signed=False, rounding="truncate"),
    "wide_in_64_out": dict(in_width=100, out_width=64, shift=30, signed=True),
    "no_shift_widen": dict(in_width=8, out_width=16, shift=0, signed=True),
    "half_even_wrap": dict(in_width=24, out_width=8, shift=6, signed=True, rounding="half_even",
                           overflow="wrap"),
}


@pytest.mark.verilator
@pytest.mark.parametrize("point", POINTS)
def test_bit_exact_under_backpressure(point, rtl_out, tmp_path):
    block = blocks.get("requant", **POINTS[point])
    result = simulate(block, vectors=2000, seed=7, idle=0.3, backpressure=0.3, rtl_out=rtl_out,
                      out=tmp_path)
    assert result.passed, result.summary()["verdict"]
    assert result.verdict.compared == 2000
    clean = simulate(block, vectors=300, seed=8, rtl_out=rtl_out, out=tmp_path / "clean")
    assert clean.passed and clean.cycles == block.model({"samples": 300}).cycles
