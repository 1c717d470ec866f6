"""pim_bank_mac: the PIM bank MAC unit (``hwgen.blocks.common.bank_mac.rtl.BankMac``), its NumPy golden
model (``mac_golden``) and the stream block around it.

* the golden model against hand-computed cases (the tree order shows in the results) and
  against an independent second implementation built from the scalar twins of
  ``hwgen.numerics.golden``;
* the core's timing contract (``mac_latency``, loads ordered with MACs, load and MAC in one
  cycle) cycle by cycle on Amaranth's simulator;
* the interleaved accumulator's order (``interleaved_reads``): by hand, and equal to the
  in-order loop with one partial sum;
* the block on both simulators against its golden model, with idle gaps and back-pressure;
  unstalled Verilator cycle counts against the performance model; lint; parameter and input
  errors.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from amaranth.sim import Simulator

from hwgen import blocks, toolchain
from hwgen.blocks.pim.bank import golden as mg
from hwgen.blocks.pim.bank.rtl import Op
from hwgen.blocks.common.bank_mac.rtl import BankMac, mac_latency
from hwgen.core.params import ParamError
from hwgen.generate import generate
from hwgen.numerics import golden as twins
from hwgen.numerics.formats import PRESETS
from sim.pysim import simulate_pysim
from sim.runner import simulate

FP32, BF16, FP16 = PRESETS["fp32"], PRESETS["bf16"], PRESETS["fp16"]
FLOAT_CONFIGS = [("bf16", "fp32"), ("fp16", "fp32"), ("bf16", "bf16")]


def enc(values, fmt):
    return twins.encode(np.asarray(values, dtype=np.float64), fmt)


def dec(bits, fmt):
    return twins.decode(np.asarray(bits, dtype=np.uint64), fmt)


# -- golden model: hand-computed cases ------------------------------------------------------------

def test_products_and_odd_lane_pass_up():
    # products 0.5, 0.5, 6: level 1 adds (0.5 + 0.5), 6 passes up; level 2 gives 7
    s = mg.bank_dot(enc([[1, 2, 3]], BF16), enc([[0.5, 0.25, 2]], BF16), "bf16", "fp32")
    assert dec(s, FP32).tolist() == [7.0]


def test_tree_order_is_pairwise():
    # [1, 2**24, 1, -2**24]: pairwise (1 + 2**24) rounds to 2**24 (tie to even) and
    # (1 - 2**24) is exact, so the sum is 1; a left-to-right sum would give 0.
    s = mg.bank_dot(enc([[1, 2**24, 1, -2**24]], BF16), enc([[1, 1, 1, 1]], BF16), "bf16", "fp32")
    assert dec(s, FP32).tolist() == [1.0]
    # three lanes: (2**24 + 1) -> 2**24, then + 1 -> 2**24 again; (1 + 1) first would not round
    s = mg.bank_dot(enc([[2**24, 1, 1]], BF16), enc([[1, 1, 1]], BF16), "bf16", "fp32")
    assert dec(s, FP32).tolist() == [2.0**24]


def test_bf16_accumulator_rounds_every_step():
    # in bf16, 1 + 2**-8 is a tie between 1 and 1 + 2**-7: it rounds to even, 1
    s = mg.bank_dot(enc([[1, 2**-8, 2**-8, 0]], BF16), enc([[1, 1, 1, 1]], BF16), "bf16", "bf16")
    assert dec(s, BF16).tolist() == [1.0]
    wide = mg.bank_dot(enc([[1, 2**-8, 2**-8, 0]], BF16), enc([[1, 1, 1, 1]], BF16), "bf16", "fp32")
    assert dec(wide, FP32).tolist() == [1 + 2**-7]
    total = mg.accumulate(enc([1.0], BF16), enc([2**-8], BF16), "bf16", "bf16")
    assert dec(total, BF16).tolist() == [1.0]


def test_fp16_products_are_exact_in_fp32():
    largest = 65504.0
    s = mg.bank_dot(enc([[largest, 2**-24]], FP16), enc([[largest, 2**-24]], FP16), "fp16", "fp32")
    assert dec(s, FP32).tolist() == [np.float32(largest * largest + 2.0**-48)]
    # bf16 operands can overflow fp32 in the product: max * max = Inf
    assert mg.bank_dot([[BF16.inf() - 1]], [[BF16.inf() - 1]], "bf16").tolist() == [FP32.inf()]


def test_signed_zeros_nan_and_infinities():
    neg0, pos0 = 0x8000, 0
    assert mg.bank_dot([[neg0]], [[pos0]], "bf16").tolist() == [1 << 31]        # -0
    assert mg.accumulate([0], [1 << 31], "bf16").tolist() == [0]                # +0 + -0 = +0
    assert mg.accumulate([1 << 31], [1 << 31], "bf16").tolist() == [1 << 31]    # -0 + -0 = -0
    nan = mg.bank_dot([[BF16.inf(), 0x3F80]], [[0, 0x3F80]], "bf16")             # Inf * 0
    assert nan.tolist() == [FP32.canonical_nan]
    assert mg.accumulate([FP32.inf(1)], [FP32.inf()], "bf16").tolist() == [FP32.canonical_nan]
    assert mg.accumulate([FP32.canonical_nan | 5], [0], "bf16").tolist() == [FP32.canonical_nan]
    assert mg.bank_dot([[0x7F81]], [[0x3F80]], "bf16", "bf16").tolist() == [BF16.canonical_nan]


def test_ftz_flushes_operands_and_results():
    smallest = 1                                             # bf16's smallest subnormal
    one = 0x3F80
    assert dec(mg.bank_dot([[smallest]], [[one]], "bf16"), FP32).tolist() == [2.0**-133]
    assert mg.bank_dot([[smallest]], [[one]], "bf16", ftz=True).tolist() == [0]
    # normal operands whose product is subnormal: flushed to a zero of its sign
    tiny = enc([-(2.0**-70)], BF16)[0]
    assert mg.bank_dot([[tiny]], [[enc([2.0**-70], BF16)[0]]], "bf16", ftz=True).tolist() == [1 << 31]
    # a subnormal accumulator (a loaded bias) reads as zero when added to
    assert mg.accumulate([1], [0], "bf16", ftz=True).tolist() == [0]
    assert mg.accumulate([1], [0], "bf16").tolist() == [1]


def test_integers_exact_and_wrapping():
    assert mg.bank_dot([[-128, 127, -1]], [[-128, -128, 5]], "int8").tolist() == [123]
    # unsigned arrays are two's-complement patterns
    assert mg.bank_dot(np.array([[0x80, 0xFF]], np.uint8), [[2, 3]], "int8").tolist() == [-259]
    assert mg.accumulate([32767], [1], "int16", acc_bits=16).tolist() == [-32768]
    out = mg.dot_rows(np.full((2, 2, 1), -128), np.full((2, 1), -128), "int8", acc_bits=16,
                      bias=[0, -32768])
    assert out.tolist() == [-32768, 0]   # 2 * 16384 = 32768 wraps in 16 bits
    with pytest.raises(ValueError, match=r"-128..127"):
        mg.bank_dot([[128]], [[1]], "int8")


def test_dot_rows_bias_and_no_beats():
    w = enc(np.ones((2, 3, 4)), BF16)
    x = enc(np.ones((3, 4)), BF16)
    bias = enc([10.0, -12.0], FP32)
    assert dec(mg.dot_rows(w, x, "bf16", bias=bias), FP32).tolist() == [22.0, 0.0]
    nan_bias = [FP32.canonical_nan | 1, 0]
    assert mg.dot_rows(w[:, :0], x[:0], "bf16", bias=nan_bias).tolist() == nan_bias
    with pytest.raises(ValueError, match="rows, beats, lanes"):
        mg.dot_rows(w[0], x, "bf16")


# -- golden model: the NumPy path against the scalar twins ---------------------------------------

def twin_dot(w, x, dtype, acc, ftz):
    """The reduction contract, step by step, with the exact scalar twins."""
    element, fmt = PRESETS[dtype], PRESETS[acc]
    if element != fmt:
        w, x = twins.fp_convert(w, element, fmt, ftz), twins.fp_convert(x, element, fmt, ftz)
    level = twins.fp_mul(w, x, fmt, ftz)
    while level.shape[-1] > 1:
        pairs = level.shape[-1] // 2
        sums = twins.fp_add(level[..., 0:2 * pairs:2], level[..., 1:2 * pairs:2], fmt, ftz)
        if level.shape[-1] % 2:
            sums = np.concatenate([sums, level[..., -1:]], axis=-1)
        level = sums
    return level[..., 0]


def float_operands(rng, shape, fmt):
    """Moderate values, uniform patterns and special values, mixed per element."""
    moderate = np.uint64(fmt.bias << fmt.man_bits) + rng.integers(
        -(8 << fmt.man_bits), 8 << fmt.man_bits, size=shape).astype(np.uint64)
    moderate |= rng.integers(0, 2, size=shape, dtype=np.uint64) << np.uint64(fmt.width - 1)
    uniform = rng.integers(0, 1 << fmt.width, size=shape, dtype=np.uint64)
    special = rng.choice(twins.special_values(fmt), size=shape)
    pick = rng.random(shape)
    return np.where(pick < 0.5, moderate, np.where(pick < 0.8, uniform, special))


@pytest.mark.parametrize("ftz", [False, True])
@pytest.mark.parametrize("dtype,acc", FLOAT_CONFIGS)
def test_numpy_path_matches_twins(dtype, acc, ftz):
    rng = np.random.default_rng(2 * FLOAT_CONFIGS.index((dtype, acc)) + ftz)
    element, fmt = PRESETS[dtype], PRESETS[acc]
    for lanes in (1, 2, 3, 16):
        w, x = float_operands(rng, (1500, lanes), element), float_operands(rng, (1500, lanes), element)
        sums = mg.bank_dot(w, x, dtype, acc, ftz)
        np.testing.assert_array_equal(sums, twin_dot(w, x, dtype, acc, ftz))
        total = float_operands(rng, (1500,), fmt)
        np.testing.assert_array_equal(mg.accumulate(total, sums, dtype, acc, ftz),
                                      twins.fp_add(total, sums, fmt, ftz))
    # dot_rows: a whole matrix against beat-by-beat twin accumulation
    w, x = float_operands(rng, (40, 5, 16), element), float_operands(rng, (5, 16), element)
    bias = float_operands(rng, (40,), fmt)
    expected = bias
    for beat in range(5):
        expected = twins.fp_add(expected, twin_dot(w[:, beat], x[beat], dtype, acc, ftz), fmt, ftz)
    np.testing.assert_array_equal(mg.dot_rows(w, x, dtype, acc, bias=bias, ftz=ftz), expected)


def test_int_dot_rows_against_python_integers():
    rng = np.random.default_rng(4)
    w = rng.integers(-32768, 32767, size=(30, 64, 16), endpoint=True)
    x = rng.integers(-32768, 32767, size=(64, 16), endpoint=True)
    w[0], x[:] = -32768, np.where(rng.random((64, 16)) < 0.5, -32768, x)
    expected = [sum(int(a) * int(b) for a, b in zip(w[r].ravel(), x.ravel())) for r in range(30)]
    assert mg.dot_rows(w, x, "int16").tolist() == expected


def test_dot_rows_is_fast():
    rng = np.random.default_rng(5)
    w = rng.integers(0, 1 << 16, size=(1024, 64, 16), dtype=np.uint64)
    x = rng.integers(0, 1 << 16, size=(64, 16), dtype=np.uint64)
    started = time.perf_counter()
    out = mg.dot_rows(w, x, "bf16")
    assert out.shape == (1024,) and time.perf_counter() - started < 10
    # rows do not depend on each other
    np.testing.assert_array_equal(out[:3], mg.dot_rows(w[:3], x, "bf16"))
    # one row through the twins, so the fast path is the right one at this size too
    row = np.zeros(1, np.uint64)
    for beat in range(64):
        row = twins.fp_add(row, twin_dot(w[7:8, beat], x[beat], "bf16", "fp32", False), FP32)
    assert out[7] == row[0]


# -- the core, cycle by cycle ------------------------------------------------------------------

def run_core(core: BankMac, steps: list[dict]) -> list[int]:
    """``acc`` in every cycle (index c = the value during cycle c), driving ``steps[c]``."""
    eb = core.element_bits
    observed = [0]

    def packed(values):
        return sum((int(v) & ((1 << eb) - 1)) << (lane * eb) for lane, v in enumerate(values))

    async def bench(ctx):
        for step in steps:
            ctx.set(core.mac, step["mac"])
            ctx.set(core.load, step["load"])
            ctx.set(core.bias, int(step["bias"]))
            ctx.set(core.weights.as_value(), packed(step["w"]))
            ctx.set(core.vector.as_value(), packed(step["x"]))
            await ctx.tick()
            observed.append(ctx.get(core.acc))

    sim = Simulator(core)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return observed


def reference_core(steps, dtype, acc, ftz, acc_bits):
    """The accumulator pattern after each cycle's strobes, from the contract: a load with a
    MAC in the same cycle starts the sum from the bias."""
    is_int = acc == "int"

    def loaded(bias):
        pattern = np.array([bias], np.uint64)
        return mg.wrap(pattern.view(np.int64), acc_bits) if is_int else pattern

    state, after = np.zeros(1, np.int64 if is_int else np.uint64), []
    for step in steps:
        if step["mac"]:
            s = mg.bank_dot(step["w"][None], step["x"][None], dtype, acc, ftz)
            start = loaded(step["bias"]) if step["load"] else state
            state = mg.accumulate(start, s, dtype, acc, ftz, acc_bits)
        elif step["load"]:
            state = loaded(step["bias"])
        after.append(int(state[0]) & ((1 << acc_bits) - 1))
    return after


CORE_POINTS = {
    "bf16_fp32": dict(dtype="bf16", lanes=3),
    "fp16_ftz": dict(dtype="fp16", lanes=2, ftz=True, mul_latency=1, level_latency=2),
    "bf16_acc": dict(dtype="bf16", acc="bf16", lanes=4, mul_latency=0, level_latency=0),
    "int8": dict(dtype="int8", lanes=5, max_beats=4),
}


@pytest.mark.parametrize("point", CORE_POINTS)
def test_core_timing_contract(point):
    params = CORE_POINTS[point]
    core = BankMac(**params)
    rng = np.random.default_rng(sorted(CORE_POINTS).index(point))
    dtype, lanes = params["dtype"], params["lanes"]
    acc = "int" if dtype.startswith("int") else params.get("acc", "fp32")
    steps = []
    for _ in range(240):
        if acc == "int":
            w, x = rng.integers(-128, 128, size=(2, lanes))
            bias = int(rng.integers(0, 1 << core.acc_bits))
        else:
            w, x = float_operands(rng, (2, lanes), PRESETS[dtype])
            bias = int(float_operands(rng, (1,), PRESETS[acc])[0])
        # strobes every cycle, in every combination, loads and MACs back to back
        steps.append({"mac": int(rng.random() < 0.6), "load": int(rng.random() < 0.25),
                      "bias": bias, "w": w, "x": x})
    steps += [{"mac": 0, "load": 0, "bias": 0, "w": steps[0]["w"], "x": steps[0]["x"]}] * core.latency
    observed = run_core(core, steps)
    after = reference_core(steps, dtype, acc, params.get("ftz", False), core.acc_bits)
    latency = mac_latency(dtype, params.get("acc", "auto"), lanes,
                          mul_latency=params.get("mul_latency", 2),
                          level_latency=params.get("level_latency", 1))
    assert latency == core.latency
    # acc in cycle c includes exactly the strobes of cycles <= c - latency
    expected = [0] * latency + after
    assert observed[:len(expected)] == expected[:len(observed)]
    assert sum(s["mac"] and s["load"] for s in steps) > 20


def test_interleaved_order_with_one_slot_is_the_in_order_loop():
    """With one partial sum the interleaved order is the one-cycle loop's: ((+0 + s1) + s2)...,
    the closing -0 changing nothing; checked against the in-order golden on random streams
    (finite biases: a loaded NaN's payload would become canonical)."""
    rng = np.random.default_rng(12)
    for dtype, acc in FLOAT_CONFIGS:
        block = blocks.get("pim_bank_mac", dtype=dtype, acc=acc, lanes=4, acc_latency=0)
        inputs = block.stimulus(rng, 400)
        fmt = PRESETS["bf16" if acc == "bf16" else "fp32"]
        finite = (inputs["bias"] >> np.uint64(fmt.man_bits)) & np.uint64(fmt.exp_max) != fmt.exp_max
        inputs["bias"] = np.where(finite, inputs["bias"], np.uint64(0))
        macs = inputs["op"] == Op.MAC.value
        sums = mg.bank_dot(inputs["w"][macs], inputs["x"][macs], dtype, acc)
        got = mg.interleaved_reads(inputs["op"], sums, inputs["bias"], fmt, 1)
        assert got.tolist() == block.golden(inputs)["y"].tolist()


def test_interleaved_order_by_hand():
    """Three partial sums. The first sum's elements are +0 (the cleared start), the MACs' 1,
    2**24, 1, -2**24, 3 and the read's closing -0: slot j holds elements j, j + 3, ...; the
    tree's leaves are the slots newest element first, so (slot0 + slot2) + (slot1 + -0).
    fp32 rounds 2**24 + 3 and the sum of the first pair, so the order shows: in order the sum
    would be 3, here it is 5. The read starts the next sum from 5; a read-and-clear from +0,
    a load from its bias."""
    f = np.float32
    big = f(2.0 ** 24)
    slot0 = (f(0) + f(1)) + f(-0.0)      # elements 0 (+0), 3 (1), 6 (-0)
    slot1 = f(1) + -big                   # elements 1, 4
    slot2 = big + f(3)                    # elements 2, 5: 2**24 + 3 rounds to 2**24 + 4
    first = (slot0 + slot2) + (slot1 + f(-0.0))
    assert float(first) == 5.0            # in order: ((((1 + 2**24) + 1) - 2**24) + 3) = 3
    second = (f(-0.0) + f(0.5)) + (first + f(-0.0))   # elements first, 0.5, -0
    ops = [Op.MAC] * 5 + [Op.READ, Op.MAC, Op.READ_CLEAR, Op.LOAD, Op.READ]
    sums = enc([1.0, 2.0 ** 24, 1.0, -2.0 ** 24, 3.0, 0.5], FP32)
    bias = np.zeros(len(ops), np.uint64)
    bias[8] = enc([7.0], FP32)[0]
    got = mg.interleaved_reads(np.array([op.value for op in ops]), sums, bias, FP32, 3)
    assert dec(got, FP32).tolist() == [float(first), float(second), 7.0]


# -- the block -------------------------------------------------------------------------------------

PYSIM_POINTS = {
    "bf16_lanes3": dict(dtype="bf16", lanes=3, max_beats=8),
    "fp16_ftz": dict(dtype="fp16", lanes=4, ftz=True, level_latency=2),
    "bf16_acc_ftz": dict(dtype="bf16", acc="bf16", lanes=5, ftz=True, mul_latency=1),
    "int16_one_lane": dict(dtype="int16", lanes=1, max_beats=3, acc_width=40),
    "int8_no_registers": dict(dtype="int8", lanes=6, max_beats=5, mul_latency=0, level_latency=0),
    # interleaved float accumulators: loads and reads hold the operations back
    "bf16_interleaved": dict(dtype="bf16", lanes=3, acc_latency=2, mul_latency=3, level_latency=2),
    "bf16_acc_interleaved_ftz": dict(dtype="bf16", acc="bf16", lanes=2, ftz=True, acc_latency=1),
}


@pytest.mark.parametrize("point", PYSIM_POINTS)
def test_pysim_bit_exact(point):
    block = blocks.get("pim_bank_mac", **PYSIM_POINTS[point])
    seed = sorted(PYSIM_POINTS).index(point) + 20
    stalled = simulate_pysim(block, vectors=250, seed=seed, idle=0.3, backpressure=0.3)
    assert stalled.passed, stalled.summary()["verdict"]
    clean = simulate_pysim(block, vectors=150, seed=seed + 1)
    assert clean.passed, clean.summary()["verdict"]
    inputs = block.stimulus(np.random.default_rng(seed + 1), 150)
    assert clean.cycles == block.model(block.workload(inputs)).cycles
    controls = int((inputs["op"][:-1] != Op.MAC.value).sum())
    assert clean.cycles == 150 + block.latency + block.hold * controls


def read_heavy(block, rng, n):
    """Mostly back-to-back reads: under back-pressure they fill the result FIFO, so an
    operation accepted without a free entry for its read would lose a result."""
    inputs = block.stimulus(rng, n)
    ops = rng.choice([Op.MAC.value, Op.READ.value, Op.READ_CLEAR.value], p=[0.2, 0.5, 0.3], size=n)
    inputs["op"][len(inputs["op"]) // 10:] = ops[len(inputs["op"]) // 10:]
    return inputs


@pytest.mark.parametrize("point", ["bf16_lanes3", "int8_no_registers"])
def test_pysim_reads_under_heavy_back_pressure(point):
    block = blocks.get("pim_bank_mac", **PYSIM_POINTS[point])
    inputs = read_heavy(block, np.random.default_rng(9), 200)
    result = simulate_pysim(block, inputs, seed=9, backpressure=0.7)
    assert result.passed, result.summary()["verdict"]
    assert result.verdict.compared > 150


def test_int_accumulator_wraps_beyond_checked_range():
    # int8, 1 lane, max_beats=1: a 16-bit accumulator; two products of (-128)**2 wrap
    block = blocks.get("pim_bank_mac", dtype="int8", lanes=1, max_beats=1)
    assert block.acc_bits == 16
    ops = [Op.MAC, Op.READ, Op.MAC, Op.READ_CLEAR, Op.LOAD, Op.MAC, Op.READ_CLEAR]
    inputs = {"op": np.array([op.value for op in ops]), "w": np.full((7, 1), -128),
              "x": np.full((7, 1), -128), "bias": np.array([0, 0, 0, 0, -32768, 0, 0])}
    result = simulate_pysim(block, inputs, backpressure=0.5)
    assert result.passed, result.summary()["verdict"]
    assert result.outputs["y"].tolist() == [16384, -32768, -16384]


VERILATOR_POINTS = {
    "bf16_fp32_lanes16": dict(dtype="bf16"),
    "int8_lanes16": dict(dtype="int8"),
    "fp16_ftz_lanes5": dict(dtype="fp16", lanes=5, ftz=True),
    "bf16_acc_lanes3": dict(dtype="bf16", acc="bf16", lanes=3, mul_latency=1, level_latency=0),
}


@pytest.mark.verilator
@pytest.mark.parametrize("point", VERILATOR_POINTS)
def test_verilator(point, rtl_out, tmp_path):
    block = blocks.get("pim_bank_mac", **VERILATOR_POINTS[point])
    generated = generate(block, rtl_out)
    assert toolchain.lint(generated.verilog, generated.top) == []

    seed = sorted(VERILATOR_POINTS).index(point) + 40
    stalled = simulate(block, vectors=3000, seed=seed, idle=0.3, backpressure=0.3,
                       rtl_out=rtl_out, out=tmp_path / "stalled")
    assert stalled.passed, stalled.summary()["verdict"]
    assert stalled.cycles > 3000 * 1.3  # the stalls happened
    heavy = simulate(block, read_heavy(block, np.random.default_rng(seed), 2000), seed=seed,
                     backpressure=0.7, rtl_out=rtl_out, out=tmp_path / "read_heavy")
    assert heavy.passed, heavy.summary()["verdict"]

    rng = np.random.default_rng(seed)
    workloads = [block.stimulus(rng, n) for n in (1, 40, 2000)]
    # one that ends on MACs after its last read: the model counts to the last read's value
    trailing = block.stimulus(rng, 30)
    trailing["op"][-5:] = Op.MAC.value
    for index, inputs in enumerate(workloads + [trailing]):
        clean = simulate(block, inputs, seed=seed, rtl_out=rtl_out, out=tmp_path / f"clean{index}")
        assert clean.passed, clean.summary()["verdict"]
        assert clean.cycles == block.model(block.workload(inputs)).cycles


# -- parameters and inputs ---------------------------------------------------------------------

@pytest.mark.parametrize("params,message", [
    (dict(dtype="fp8"), "dtype='fp8' is out of range: allowed one of bf16, fp16, int8, int16"),
    (dict(lanes=0), "lanes=0 is out of range: allowed 1..64"),
    (dict(lanes=65), "lanes=65 is out of range: allowed 1..64"),
    (dict(dtype="fp16", acc="bf16"), "acc=bf16 needs dtype=bf16"),
    (dict(dtype="bf16", acc="int"), "acc=int needs an integer dtype"),
    (dict(dtype="int8", acc="fp32"), "acc=fp32 needs a float dtype"),
    (dict(dtype="int8", acc_width=20), (r"acc_width=20 cannot hold max_beats x lanes \(1024 "
                                        r"products of int8\) exactly: allowed 0 \(automatic, 26\) "
                                        r"or 26..64")),
    (dict(dtype="bf16", acc_width=32), "acc_width=32 applies to integer accumulators only"),
    (dict(max_beats=0), "max_beats=0 is out of range: allowed 1..4096"),
    (dict(mul_latency=9), "mul_latency=9 is out of range: allowed 0..8"),
    (dict(level_latency=-1), "level_latency=-1 is out of range: allowed 0..9"),
    (dict(dtype="int8", acc_latency=2), "acc_latency=2: an integer accumulator adds in one cycle"),
])
def test_param_errors(params, message):
    with pytest.raises(ParamError, match=message):
        blocks.get("pim_bank_mac", **params)
    with pytest.raises(ParamError, match=message):
        BankMac(**params)


def test_int16_widest_accumulation_is_allowed():
    block = blocks.get("pim_bank_mac", dtype="int16", max_beats=4096, lanes=64, acc_width=64)
    assert block.acc_bits == 64


def test_input_errors():
    block = blocks.get("pim_bank_mac", dtype="bf16", lanes=2)
    good = block.stimulus(np.random.default_rng(1), 5)
    with pytest.raises(ValueError, match="missing 'bias'"):
        block.fields_to_beats({k: v for k, v in good.items() if k != "bias"})
    with pytest.raises(ValueError, match=r"'w' must have shape \(5, 2\)"):
        block.fields_to_beats({**good, "w": good["w"][:, :1]})
    with pytest.raises(ValueError, match="outside 0..65535"):
        block.fields_to_beats({**good, "x": good["x"] + 70000})
    with pytest.raises(ValueError, match="outside 0..3"):
        block.fields_to_beats({**good, "op": good["op"] + 4})
    with pytest.raises(ValueError, match="must hold integers"):
        block.fields_to_beats({**good, "bias": good["bias"].astype(float)})
    ints = blocks.get("pim_bank_mac", dtype="int8", lanes=2, max_beats=1)
    fields = ints.stimulus(np.random.default_rng(1), 5)
    with pytest.raises(ValueError, match=r"outside -128..127"):
        ints.fields_to_beats({**fields, "w": fields["w"] * 0 + 128})
    assert ints.acc_bits == 17
    with pytest.raises(ValueError, match=r"outside -65536..65535"):
        ints.fields_to_beats({**fields, "bias": fields["bias"] * 0 + 65536})


def test_model_counts_to_the_last_read():
    block = blocks.get("pim_bank_mac", mul_latency=2, level_latency=1, acc_latency=0)
    ops = np.array([Op.MAC.value, Op.READ.value, Op.MAC.value, Op.LOAD.value])
    work = block.workload({"op": ops})
    assert work == {"ops": 4, "macs": 2, "loads": 1, "reads": 1, "last_read": 1,
                    "controls_before_last_read": 0}
    estimate = block.model(work)
    assert estimate.cycles == 2 + block.latency == 2 + 8
    assert estimate.bytes_in == 2 * 2 * 16 * 2 + 4 and estimate.bytes_out == 4
    assert block.model(block.workload({"op": ops[[0, 2]]})).cycles == 0
    # the default, an interleaved accumulator: a load holds the operations back
    interleaved = blocks.get("pim_bank_mac")
    assert (interleaved.hold, interleaved.latency) == (47, 90)
    ops = np.array([Op.MAC.value, Op.LOAD.value, Op.MAC.value, Op.READ.value])
    work = interleaved.workload({"op": ops})
    assert work["controls_before_last_read"] == 1
    assert interleaved.model(work).cycles == 4 + 47 + 90
