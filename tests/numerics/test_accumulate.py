"""The pipelined accumulator (``FloatAccumulator``, block ``fp_accumulate``): its twin's order of
summation, its error against exact sums, and the RTL bit-exact against the twin with the
model's cycles, at several adder latencies and formats, under gaps and backpressure."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from hwgen import blocks
from hwgen.numerics import golden
from hwgen.numerics.accumulator import accumulator_geometry
from hwgen.numerics.formats import PRESETS
from sim.pysim import simulate_pysim
from tests.support.numerics import ordered_sum

MINUS_ZERO = {name: 1 << (fmt.width - 1) for name, fmt in PRESETS.items()}


@pytest.mark.parametrize("fmt_name, slots", [("bf16", 1), ("bf16", 3), ("fp16", 7), ("fp32", 9)])
def test_the_twin_sums_in_the_documented_order(fmt_name, slots):
    fmt = PRESETS[fmt_name]
    rng = np.random.default_rng(slots)
    block = blocks.get("fp_accumulate", fmt=fmt_name, latency=slots - 1)
    inputs = block.stimulus(rng, 60)
    sums = golden.fp_accumulate(inputs["x"], inputs["last"], fmt, slots)
    ends = np.flatnonzero(inputs["last"]) + 1
    starts = np.concatenate(([0], ends[:-1]))
    for total, start, end in zip(sums.tolist(), starts.tolist(), ends.tolist()):
        assert total == ordered_sum(inputs["x"][start:end].tolist(), fmt, slots)
    # the order matters: the same runs summed with another number of slots differ somewhere
    other = golden.fp_accumulate(inputs["x"], inputs["last"], fmt, slots + 1)
    assert (other != sums).any()


def test_a_single_element_is_itself_and_signed_zeros_follow_ieee():
    fmt = PRESETS["bf16"]
    one, minus_one = 0x3F80, 0xBF80
    x = [one, 0x8000, 0x8000, 0x0000, 0x8000, one, minus_one, fmt.canonical_nan | 5]
    last = [1, 1, 0, 1, 1, 0, 1, 1]
    assert golden.fp_accumulate(x, last, fmt, 4).tolist() == [
        one,            # one element
        0x8000,         # -0 alone stays -0
        0x0000,         # -0 + +0 = +0
        0x8000,         # -0
        0x0000,         # 1 + -1 = +0 exactly
        fmt.canonical_nan,  # a NaN with a payload becomes the canonical NaN
    ]


@pytest.mark.parametrize("fmt_name", ["bf16", "fp16", "fp32"])
def test_the_error_against_the_exact_sum_is_within_the_bound(fmt_name):
    """|sum - exact| <= gamma_d * sum(|x|), d = ceil(n / slots) - 1 + levels: an element meets
    at most that many roundings (its slot's adds after its own, then the tree's levels), and
    gamma_d = d u / (1 - d u) with u = 2**-precision (round to nearest). Sums are 1-400
    elements long, kept to d u <= 1/2; values N(0, 1), a share scaled by 100."""
    fmt = PRESETS[fmt_name]
    rng = np.random.default_rng(11)
    u = Fraction(1, 2 ** fmt.precision)
    checked = 0
    for slots in (1, 4, 7, 9):
        levels = accumulator_geometry(slots - 1)["levels"]
        # lengths where the bound means something (d u <= 1/2: bf16 sums of a few hundred
        # elements through one slot can lose every bit)
        longest = min(400, slots * (2 ** (fmt.precision - 1) - levels))
        lengths = rng.integers(1, longest + 1, size=25)
        values = rng.normal(0.0, 1.0, size=int(lengths.sum())) * rng.choice([1.0, 100.0], size=int(lengths.sum()))
        x = golden.encode(values, fmt)
        last = np.zeros(len(x), dtype=np.uint64)
        last[np.cumsum(lengths) - 1] = 1
        sums = golden.decode(golden.fp_accumulate(x, last, fmt, slots), fmt)
        exact_values = golden.decode(x, fmt)
        start = 0
        for total, length in zip(sums.tolist(), lengths.tolist()):
            terms = [Fraction(v) for v in exact_values[start:start + length].tolist()]
            start += length
            d = math.ceil(length / slots) - 1 + levels
            bound = d * u / (1 - d * u) * sum(abs(t) for t in terms)
            assert abs(Fraction(total) - sum(terms)) <= bound, (slots, length)
            checked += 1
    print(f"{fmt_name}: {checked} sums within the bound (all finite: valid draws {checked}/{checked})")


@pytest.mark.parametrize("fmt_name, latency, ftz", [
    ("bf16", 0, False), ("bf16", 2, False), ("bf16", 6, False), ("fp32", 8, False),
    ("fp16", 3, True), ("fp32", 1, True),
])
def test_rtl_is_bit_exact_with_the_model_cycles(fmt_name, latency, ftz):
    block = blocks.get("fp_accumulate", fmt=fmt_name, latency=latency, ftz=ftz)
    inputs = block.stimulus(np.random.default_rng(latency), 40)
    clean = simulate_pysim(block, inputs)
    assert clean.passed, clean.summary()["verdict"]
    # one element per cycle, no bubble between sums: the model's cycles
    assert clean.cycles == block.model(block.workload(inputs)).cycles == len(inputs["x"]) + \
        accumulator_geometry(latency)["latency"] + 1
    for seed in (1, 2):
        stalled = simulate_pysim(block, inputs, seed=seed, idle=0.3, backpressure=0.4)
        assert stalled.passed, (seed, stalled.summary()["verdict"])


def test_sums_of_one_element_leave_one_per_cycle():
    block = blocks.get("fp_accumulate", fmt="bf16", latency=4)
    rng = np.random.default_rng(3)
    x = golden.encode(rng.normal(size=50), PRESETS["bf16"])
    inputs = {"x": x, "last": np.ones(50, dtype=np.uint64)}
    result = simulate_pysim(block, inputs)
    assert result.passed and result.cycles == block.model(block.workload(inputs)).cycles
    stalled = simulate_pysim(block, inputs, seed=4, idle=0.2, backpressure=0.5)
    assert stalled.passed, stalled.summary()["verdict"]


def test_a_stream_that_does_not_end_its_last_sum_is_refused():
    block = blocks.get("fp_accumulate", fmt="bf16", latency=1)
    with pytest.raises(ValueError, match=r"fp_accumulate field 'last' must be 1 at the final element"):
        block.golden({"x": np.array([0x3F80, 0x3F80], dtype=np.uint64),
                      "last": np.array([1, 0], dtype=np.uint64)})


@pytest.mark.parametrize("fmt_name, adder_latency, spacing", [
    ("fp32", 8, 6), ("bf16", 7, 6), ("fp32", 2, 4), ("fp16", 3, 3), ("bf16", 0, 1)])
def test_spaced_accumulator_is_bit_exact_with_its_latency(fmt_name, adder_latency, spacing):
    """SpacedFloatAccumulator: sums of 1-12 elements (specials among them) at random gaps of at
    least ``spacing`` cycles, each next sum after the previous result, equal to the twin with the
    geometry's slots, every result exactly ``latency`` cycles after its last element."""
    from amaranth.sim import Simulator

    from hwgen.numerics.spaced_accumulator import spaced_accumulator_geometry
    from hwgen.numerics.rtl import SpacedFloatAccumulator

    fmt = PRESETS[fmt_name]
    geometry = spaced_accumulator_geometry(adder_latency, spacing)
    dut = SpacedFloatAccumulator(fmt, adder_latency=adder_latency, spacing=spacing)
    rng = np.random.default_rng(adder_latency * 10 + spacing)
    specials = [0, MINUS_ZERO[fmt_name], fmt.inf(0), fmt.inf(1), fmt.canonical_nan, 1]
    sums = []
    for _ in range(40):
        values = golden.encode(rng.normal(size=int(rng.integers(1, 13))), fmt).tolist()
        if rng.random() < 0.3:
            values[int(rng.integers(len(values)))] = specials[int(rng.integers(len(specials)))]
        sums.append([int(v) for v in values])
    seen = []

    async def bench(ctx):
        for values in sums:
            for index, value in enumerate(values):
                ctx.set(dut.x, value)
                ctx.set(dut.last, index == len(values) - 1)
                ctx.set(dut.x_valid, 1)
                await ctx.tick()
                ctx.set(dut.x_valid, 0)
                gap = spacing - 1 + int(rng.integers(0, 3))
                if index < len(values) - 1 and gap:
                    await ctx.tick().repeat(gap)
            waited = 0
            while True:
                waited += 1
                if ctx.get(dut.y_valid):
                    break
                await ctx.tick()
            seen.append((ctx.get(dut.y), waited))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    flat = np.array([v for values in sums for v in values], dtype=np.uint64)
    ends = np.concatenate([[0] * (len(values) - 1) + [1] for values in sums])
    want = golden.fp_accumulate(flat, ends, fmt, geometry["slots"])
    assert [value for value, _ in seen] == [int(v) for v in want]
    assert {waited for _, waited in seen} == {geometry["latency"]}
