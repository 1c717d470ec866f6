"""The pipelined operators' plans (hwgen.numerics.plans), the measured table target_mhz reads
(hwgen/numerics/fmax.json), and the latency target_mhz chooses."""

from __future__ import annotations

import pytest

from hwgen import blocks
from hwgen.core.params import ParamError
from hwgen.numerics import plans, timing
from hwgen.numerics.rtl import FloatAdder, FloatFMA, FloatMultiplier

PIPELINED = [("fp_mul", "multiply", FloatMultiplier, plans.MULTIPLY),
             ("fp_add", "add", FloatAdder, plans.ADD),
             ("fp_fma", "fma", FloatFMA, plans.FMA)]
# every block whose latency target_mhz chooses from the table: the operators, and the
# accumulator (its adders' latency, its own measured speed)
TARGETED = [(block, operator, plan) for block, operator, _, plan in PIPELINED] + [
    ("fp_accumulate", "accumulate", plans.ADD)]


@pytest.mark.parametrize("block, operator, cls, plan", PIPELINED)
def test_each_latency_registers_that_many_cut_points(block, operator, cls, plan):
    assert cls.PLAN is plan and sorted(plan) == list(range(len(plan)))
    for latency, cuts in plan.items():
        assert len(set(cuts)) == latency and set(cuts) <= set(cls.CUTS), (latency, cuts)
    assert blocks.block_class(block).params["latency"].max == plans.max_latency(plan)


@pytest.mark.parametrize("block, operator, plan", TARGETED)
def test_the_shipped_table_measures_the_current_operators(block, operator, plan):
    assert timing.table()["source_hash"][operator] == timing.source_hash(operator), (
        f"hwgen/numerics/fmax.json is stale: {operator} changed since it was measured; "
        f"regenerate it with: python bench/numerics_area.py --skip-generic --only {operator} "
        f"--write-docs")
    for fmt in ("fp16", "bf16", "fp32"):
        assert len(timing.table()["fmax"][operator][fmt]) == len(plan), (operator, fmt)
    assert blocks.block_class(block).params["latency"].max == plans.max_latency(plan)


@pytest.mark.parametrize("block, operator, plan", TARGETED)
def test_target_mhz_takes_the_smallest_latency_that_reaches_it(block, operator, plan):
    for fmt in ("fp16", "bf16", "fp32"):
        fmax = timing.table()["fmax"][operator][fmt]
        for latency, mhz in enumerate(fmax):
            chosen = blocks.get(block, fmt=fmt, target_mhz=mhz).p.latency
            assert chosen <= latency and fmax[chosen] >= mhz
            assert all(earlier < mhz for earlier in fmax[:chosen])
    # an explicit latency is kept; a format spelled as E,M is its preset
    assert blocks.get(block, fmt="fp16", target_mhz=50.0, latency=2).p.latency == 2
    assert (blocks.get(block, fmt="5,10", target_mhz=100.0).p.latency
            == blocks.get(block, fmt="fp16", target_mhz=100.0).p.latency)


@pytest.mark.parametrize("block, operator, plan", TARGETED)
def test_an_unreachable_target_is_refused_with_the_best(block, operator, plan):
    best = max(timing.table()["fmax"][operator]["fp32"])
    with pytest.raises(ParamError, match=rf"target_mhz=999 is beyond {operator} at fmt='fp32': its best is {best:.1f}"):
        blocks.get(block, fmt="fp32", target_mhz=999.0)
    with pytest.raises(ParamError, match=r"target_mhz=50: no measured Fmax .* fmt='6,9' \(measured: bf16, fp16, fp32\)"):
        blocks.get(block, fmt="6,9", target_mhz=50.0)
