"""The pipelined operators' plans (hwgen.numerics.plans), the measured table target_mhz reads
(hwgen/numerics/fmax.json), and the latency target_mhz chooses."""

from __future__ import annotations

import inspect

import pytest

from hwgen import blocks
from hwgen.core.params import ParamError
from hwgen.numerics import plans, timing
from hwgen.numerics.rtl import (FloatAdder, FloatCompare, FloatConverter, FloatExp, FloatFMA,
                               FloatGelu, FloatInverseSqrt, FloatMinMax, FloatMultiplier,
                               FloatReciprocal, FloatToInt, IntToFloat)

PIPELINED = [("fp_mul", "multiply", FloatMultiplier, plans.MULTIPLY),
             ("fp_add", "add", FloatAdder, plans.ADD),
             ("fp_fma", "fma", FloatFMA, plans.FMA),
             ("fp_minmax", "minmax", FloatMinMax, plans.COMPARE),
             ("fp_compare", "compare", FloatCompare, plans.COMPARE)]
# every block whose latency target_mhz chooses from the table by format: the operators, and the
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


# -- the function units: plans ranked by kind, measured at the default size -------------------

FUNCTION_UNITS = [("fp_recip", "reciprocal", FloatReciprocal), ("fp_rsqrt", "rsqrt", FloatInverseSqrt),
                  ("fp_exp", "exp", FloatExp), ("fp_gelu", "gelu", FloatGelu)]


@pytest.mark.parametrize("block, operator, cls", FUNCTION_UNITS)
def test_function_plans_rank_kinds_at_the_unit_default(block, operator, cls):
    function = plans.FUNCTIONS[operator]
    # the rank and table are for the unit's default size, which the block's default is too
    assert inspect.signature(cls).parameters[function.structure].default == function.default
    assert blocks.block_class(block).params[function.structure].default == function.default
    assert cls.POINTS == function.points
    assert cls.RANK == function.rank and len(set(function.rank)) == len(function.rank)
    sizes = blocks.block_class(block).params[function.structure]
    for size in range(sizes.min, sizes.max + 1):
        points = function.points(size)
        plan = function.plan(size)
        if size == function.default:
            assert set(function.rank) <= {plans.cut_kind(p) for p in points}
        for latency, cuts in plan.items():
            assert len(cuts) == latency and list(cuts) == [p for p in points if p in cuts]
            assert set(plan[latency - 1] if latency else ()) <= set(cuts)
    assert (blocks.block_class(block).params["latency"].max
            == function.max_latency(range(sizes.min, sizes.max + 1)))


@pytest.mark.parametrize("block, operator, cls", FUNCTION_UNITS)
def test_function_table_and_target(block, operator, cls):
    function = plans.FUNCTIONS[operator]
    assert timing.table()["source_hash"][operator] == timing.source_hash(operator), (
        f"hwgen/numerics/fmax.json is stale: {operator} changed since it was measured; "
        f"regenerate it with: python bench/numerics_area.py --skip-generic --only {operator} "
        f"--write-docs")
    for fmt in ("fp16", "bf16"):
        fmax = timing.table()["fmax"][operator][fmt]
        assert len(fmax) == len(function.plan())
        for latency, mhz in enumerate(fmax):
            chosen = blocks.get(block, fmt=fmt, target_mhz=mhz).p.latency
            assert chosen <= latency and fmax[chosen] >= mhz
            assert all(earlier < mhz for earlier in fmax[:chosen])
        # at another size, the latency cuts every point of the kinds the table's latency cuts
        default_cuts = function.plan()[blocks.get(block, fmt=fmt).p.latency]
        kinds = {plans.cut_kind(p) for p in default_cuts}
        size = function.default + 1
        latency = blocks.get(block, fmt=fmt, **{function.structure: size}).p.latency
        cuts = function.plan(size)[latency]
        assert {plans.cut_kind(p) for p in cuts} == kinds
        assert all(plans.cut_kind(p) not in kinds for p in function.points(size) if p not in cuts)
    best = max(timing.table()["fmax"][operator]["bf16"])
    with pytest.raises(ParamError, match=rf"target_mhz=999 is beyond {operator} at fmt='bf16': its best is {best:.1f}"):
        blocks.get(block, target_mhz=999.0)



# -- fp_convert: two plans, a table by pair of formats ----------------------------------------

def test_conversions_share_the_plans_their_block_reads():
    assert FloatConverter.PLAN is IntToFloat.PLAN is plans.CONVERT
    assert FloatConverter.CUTS == IntToFloat.CUTS == plans.CONVERT_POINTS
    assert FloatToInt.PLAN is plans.TO_INT and FloatToInt.CUTS == plans.TO_INT_POINTS
    for plan, points in ((plans.CONVERT, plans.CONVERT_POINTS), (plans.TO_INT, plans.TO_INT_POINTS)):
        for latency, cuts in plan.items():
            assert len(set(cuts)) == latency and set(cuts) <= set(points)
    assert blocks.block_class("fp_convert").params["latency"].max == max(
        plans.max_latency(plans.CONVERT), plans.max_latency(plans.TO_INT))


@pytest.mark.parametrize("operator", ["convert", "to_int"])
def test_convert_table_and_target(operator):
    assert timing.table()["source_hash"][operator] == timing.source_hash(operator), (
        f"hwgen/numerics/fmax.json is stale: {operator} changed since it was measured; "
        f"regenerate it with: python bench/numerics_area.py --skip-generic --only {operator} "
        f"--write-docs")
    for pair, fmax in timing.table()["fmax"][operator].items():
        assert len(fmax) == len(timing.PLANS[operator]), pair
        fmt_in, fmt_out = pair.split(">")
        for latency, mhz in enumerate(fmax):
            chosen = blocks.get("fp_convert", fmt_in=fmt_in, fmt_out=fmt_out, target_mhz=mhz).p.latency
            assert chosen <= latency and fmax[chosen] >= mhz
            assert all(earlier < mhz for earlier in fmax[:chosen])
    # an unmeasured pair takes the largest latency a measured pair needs; a target is refused
    needed = max(timing.latency_for(operator, pair, 105.0) for pair in timing.table()["fmax"][operator])
    fmt_out = "int16" if operator == "to_int" else "6,9"
    assert blocks.get("fp_convert", fmt_in="fp32", fmt_out=fmt_out).p.latency == needed
    with pytest.raises(ParamError, match=rf"target_mhz=50: no measured Fmax for {operator} at "
                                         rf"fmt_in='fp32' -> fmt_out='{fmt_out}' \(measured: "):
        blocks.get("fp_convert", fmt_in="fp32", fmt_out=fmt_out, target_mhz=50.0)
    best = max(timing.table()["fmax"]["convert"]["fp32>bf16"])
    with pytest.raises(ParamError, match=rf"target_mhz=999 is beyond convert at fmt_in='fp32' -> "
                                         rf"fmt_out='bf16': its best is {best:.1f}"):
        blocks.get("fp_convert", target_mhz=999.0)
