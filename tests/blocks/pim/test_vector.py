"""pim_vector_unit: the golden model against float64 and hand-worked reduction orders, special
values, the 1/n table, fields and parameters; the pipeline's latencies and stages at the clock
target; the RTL bit-exact against the golden model on Amaranth's simulator and on Verilator under
idle gaps and backpressure on every stream, back to back and with y stalled while the pipeline is
full; the cycle model against unstalled runs; lint."""

from __future__ import annotations

import numpy as np
import pytest

from hwgen import blocks, toolchain
from hwgen.core.params import ParamError
from hwgen.generate import generate
from hwgen.blocks.pim.vector import golden as vg
from hwgen.blocks.pim.vector import model as vector_model
from hwgen.blocks.pim.vector.params import MAX_LEN_LIMIT
from hwgen.blocks.pim.vector.pipeline import (BROADCAST_MULTIPLIERS, DEFAULT_TARGET_MHZ, OPERATORS,
                                              max_target_mhz, pipeline)
from hwgen.blocks.pim.vector.units import reciprocal_entries
from hwgen.formal import formal_point
from hwgen.numerics import golden as g
from hwgen.numerics import timing
from hwgen.numerics.formats import PRESETS
from sim.pysim import simulate_pysim
from sim.runner import simulate
from tests.support.numerics import ordered_sum

BF16, FP32 = PRESETS["bf16"], PRESETS["fp32"]
ONE = 0x3F80
NAN = BF16.canonical_nan

# Verilator points: the defaults, and odd lanes with ftz on a short buffer.
POINTS = {
    "default": dict(),
    "odd_ftz": dict(lanes=3, max_len=256, ftz=True),
}


def values(bits) -> np.ndarray:
    return g.decode(np.asarray(bits, dtype=np.uint64), BF16)


def special_ops(lanes: int, max_len: int) -> list[dict]:
    """Hand-made ops on the edges: zeros, large magnitudes, infinities, NaN, subnormals, a
    softmax row with one huge element, a constant LayerNorm row, every special pattern."""
    specials = g.special_values(BF16)
    big = vg.bf16([3e38, -3e38, 1e30, -1e30])
    const = np.full(5 * lanes + 1, vg.bf16(2.5))
    huge_row = vg.bf16(np.linspace(-4, 4, 2 * lanes + 1))
    huge_row[lanes] = vg.bf16(3e38)
    rng = np.random.default_rng(99)
    return [
        {"op": "add", "x": specials, "r": specials[::-1].copy()},
        {"op": "add", "x": big, "r": big[[1, 0, 3, 2]]},            # exact cancellation: +0
        {"op": "gelu", "x": specials},
        {"op": "softmax", "x": np.zeros(lanes + 1, dtype=np.uint64)},
        {"op": "softmax", "x": huge_row},
        {"op": "softmax", "x": vg.bf16([1.0, -np.inf, 2.0])},
        {"op": "softmax", "x": vg.bf16([1.0, np.nan, 2.0])},
        {"op": "softmax", "x": vg.bf16([1.0, np.inf, 2.0])},
        {"op": "softmax", "x": specials[specials != NAN]},
        {"op": "layernorm", "x": const, "gamma": vg.bf16(rng.normal(1, 0.1, const.size)),
         "beta": vg.bf16(rng.normal(0, 0.1, const.size))},
        {"op": "layernorm", "x": vg.bf16(rng.normal(0, 1e18, 2 * lanes)),
         "gamma": np.full(2 * lanes, ONE), "beta": np.zeros(2 * lanes, dtype=np.uint64)},
        {"op": "layernorm", "x": specials, "gamma": specials[::-1].copy(),
         "beta": np.roll(specials, 3)},
        {"op": "gelu", "x": np.arange(1, 2 * lanes + 2, dtype=np.uint64)},   # subnormals
        {"op": "softmax", "x": vg.bf16(rng.normal(0, 3, max_len))},
        {"op": "layernorm", "x": vg.bf16(rng.normal(0, 2, max_len - 1)),
         "gamma": vg.bf16(rng.normal(1, 0.1, max_len - 1)),
         "beta": vg.bf16(rng.normal(0, 0.1, max_len - 1))},
    ]


# -- golden model ---------------------------------------------------------------------------------

@pytest.mark.parametrize("lanes, expected", [(1, 1.0), (2, 0.0), (3, 1.0), (4, 0.0)])
def test_max_order_is_the_documented_tree_then_running_value(lanes, expected):
    # The running-value reduction (the maximum's order), on a sum where the order shows:
    # [1, 1e8, -1e8, 1] in fp32 (1e8's ulp is 8, so 1e8 + 1 rounds back to 1e8):
    # lanes 1: ((((0 + 1) + 1e8) - 1e8) + 1) = 1;      lanes 2: 0 + 1e8 + -1e8 = 0;
    # lanes 3: (1 + 1e8) - 1e8 = 0, then (1 + 0) + 0 = 1; lanes 4: 1e8 + -1e8 = 0.
    x = g.encode([1.0, 1e8, -1e8, 1.0], FP32)
    total = vg.vector_reduce(x, lanes, lambda a, b: g.fp_add(a, b, FP32), vg.POS_ZERO)
    assert g.decode(np.uint64(total), FP32) == expected


@pytest.mark.parametrize("values, lanes, slots, expected", [
    # one lane, so the beat sums are the elements: one partial sum is the running sum
    # (((-0 + 1e8) + 3) - 1e8) + 3 = 3 (1e8 + 3 rounds back to 1e8);
    ([1e8, 3.0, -1e8, 3.0], 1, 1, 3.0),
    # two partial sums: elements 0, 2 give 1e8 - 1e8 = 0 and 1, 3 give 6; 6 + 0 = 6
    ([1e8, 3.0, -1e8, 3.0], 1, 2, 6.0),
    # eight: leaves newest first, 3, -1e8, 3, 1e8, -0...: (3 - 1e8) + (1e8 + 3) = -1e8 + 1e8 = 0
    ([1e8, 3.0, -1e8, 3.0], 1, 8, 0.0),
    # two lanes: the beats' trees first, 1e8 + 3 = 1e8 and -1e8 + 3 = -1e8, so 0 in any order
    ([1e8, 3.0, -1e8, 3.0], 2, 8, 0.0),
    # three lanes: beats (1 + 1e8) - 1e8 = 0 and (1 + 0) + 0 = 1; leaves 1, 0: 1
    ([1.0, 1e8, -1e8, 1.0], 3, 8, 1.0),
])
def test_sum_order_is_the_documented_tree_then_accumulator(values, lanes, slots, expected):
    total = vg.vector_sum(g.encode(values, FP32), lanes, slots)
    assert g.decode(np.uint64(total), FP32) == expected


def written_out_sum(values: list[int], lanes: int, slots: int) -> int:
    """The documented order of a vector sum, element by element: each beat's pairwise tree
    (padding +0), then the beat sums in the accumulator's order (``ordered_sum``: slot j adds
    beat sums j, j + slots, ... to -0, leaf k is the slot of beat beats - 1 - k, the leaves
    added pairwise)."""
    def add(a, b):
        return int(g.fp_add(a, b, FP32))
    beats = [values[i:i + lanes] + [vg.POS_ZERO] * (lanes - len(values[i:i + lanes]))
             for i in range(0, len(values), lanes)]
    sums = []
    for level in beats:
        while len(level) > 1:
            level = [add(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)] + \
                    (level[-1:] if len(level) % 2 else [])
        sums.append(level[0])
    return ordered_sum(sums, FP32, slots)


@pytest.mark.parametrize("lanes, slots", [(1, 1), (3, 2), (4, 8), (5, 6)])
def test_vector_sum_is_the_written_out_order(lanes, slots):
    rng = np.random.default_rng(lanes * 10 + slots)
    for length in (1, lanes, lanes + 1, 7 * lanes + 2, 40):
        values = g.encode(rng.normal(0, 1, length) * 10.0 ** rng.integers(-3, 8, length), FP32)
        assert vg.vector_sum(values, lanes, slots) == written_out_sum(values.tolist(), lanes, slots)


def test_inverse_length_table_is_exactly_rounded():
    # The RTL's table (float64 quotient rounded again to fp32) against the golden model's
    # exact quotient, for every length the parameter allows.
    table = reciprocal_entries(MAX_LEN_LIMIT)
    assert table[0] == 0
    assert table[1:] == [vg.inv_n(n) for n in range(1, MAX_LEN_LIMIT + 1)]
    assert vg.inv_n(3) == 0x3EAAAAAB and vg.inv_n(1024) == 0x3A800000


def ulps(y: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """|y - ref| in bf16 ulps at ref (normal range)."""
    exponent = np.floor(np.log2(np.maximum(np.abs(ref), 2.0 ** -126)))
    return np.abs(y - ref) / np.ldexp(1.0, (exponent - 7).astype(np.int32))


# Bounds over elements with |ref| >= 1% of their vector's largest (bench/pim_vector_accuracy.py
# measures 0.50, 0.50, 5.2 and 2.0 ulp): ADD and GELU are one correctly rounded (GELU: within
# 0.502 ulp on x > -4) operation; SOFTMAX rounds x - max to bf16 before exp (up to 2**-9 *
# 16 = 3% at |x - max| = 16), LAYERNORM chains rsqrt, fp32 steps and one final rounding.
ULP_BOUNDS = {"add": 0.5, "gelu": 0.51, "softmax": 8.0, "layernorm": 3.0}


def float64_reference(op: str, item: dict) -> np.ndarray:
    from math import erfc
    x = values(item["x"])
    if op == "add":
        return x + values(item["r"])
    if op == "gelu":
        return 0.5 * x * np.vectorize(erfc)(-x / np.sqrt(2))
    if op == "softmax":
        e = np.exp(x - x.max())
        return e / e.sum()
    return (x - x.mean()) / np.sqrt(x.var() + 1e-5) * values(item["gamma"]) + values(item["beta"])


@pytest.mark.parametrize("lanes", [1, 4, 5])
def test_golden_close_to_float64_on_gpt_like_vectors(lanes):
    rng = np.random.default_rng(lanes)
    for length in (1, lanes + 1, 64, 333):
        for op in vg.OPS:
            item = vg.gpt_like(op, length, rng)
            y = values(vg.apply(op, item, lanes=lanes))
            ref = float64_reference(op, item)
            big = np.abs(ref) >= 0.01 * np.abs(ref).max()
            assert ulps(y[big], ref[big]).max() <= ULP_BOUNDS[op], (op, length)
            # below 1% of the largest output, LayerNorm's cancellation: absolute error
            assert np.abs(y - ref).max() <= 2.0 ** -7 * np.abs(ref).max(), (op, length)


def test_special_values():
    lanes = 3
    ops = special_ops(lanes, 64)
    out = [vg.apply(item["op"], item, lanes=lanes) for item in ops]
    assert np.array_equal(out[1], np.zeros(4, dtype=np.uint64))          # x - x = +0
    assert np.all(out[3] == vg.bf16(1 / (lanes + 1)))                     # softmax(0)
    huge = out[4]
    assert huge[lanes] == ONE and not huge[np.arange(huge.size) != lanes].any()
    assert values(out[5])[1] == 0 and values(out[5])[0] > 0        # -Inf -> 0
    assert np.all(out[6] == NAN) and np.all(out[7] == NAN)         # NaN, +Inf
    ln_const = ops[9]
    # var = 0: (x - mean) = 0 exactly, so every output is beta (to bf16, exactly).
    assert np.array_equal(out[9], ln_const["beta"])
    big = values(ops[10]["x"])
    ref = (big - big.mean()) / big.std()
    assert np.allclose(values(out[10]), ref, rtol=2.0 ** -6, atol=2.0 ** -6)
    # With eps = 0 a constant row divides 0 by 0: NaN, as documented.
    zero_eps = vg.layernorm(ln_const["x"], ln_const["gamma"], ln_const["beta"], lanes=lanes, eps=0)
    assert np.all(zero_eps == NAN)


def test_pack_unpack_and_split_round_trip():
    lanes = 3
    rng = np.random.default_rng(4)
    ops = [vg.gpt_like(op, n, rng) for op, n in [("layernorm", 7), ("add", 3), ("softmax", 1),
                                                 ("gelu", 4)]]
    fields = vg.pack_sequence(ops, lanes)
    assert fields["a"].shape == (3 + 1 + 1 + 2, lanes) and fields["b"].shape == (6 + 1, lanes)
    assert fields["a"][2, 1] == 0 and fields["a"][2, 2] == 0     # padding lanes carry 0
    for original, back in zip(ops, vg.unpack_sequence(fields, lanes), strict=True):
        assert original.keys() == back.keys()
        assert all(np.array_equal(original[k], back[k]) for k in original if k != "op")
    y = vg.run_sequence(fields, lanes=lanes)["y"]
    parts = vg.split_outputs(y, fields["length"], lanes)
    assert [len(p) for p in parts] == [7, 3, 1, 4]
    assert np.array_equal(parts[1], vg.add(ops[1]["x"], ops[1]["r"]))
    assert y[2, 1] == 0 and y[2, 2] == 0                           # output padding is +0


# -- pipeline and cycle model ----------------------------------------------------------------------

def test_every_operator_is_the_shallowest_that_reaches_the_target():
    table = timing.table()["fmax"]
    for target in (DEFAULT_TARGET_MHZ, 60.0, 9.0):
        shape = pipeline(4, target)
        for role, (operator, fmt) in OPERATORS.items():
            speeds, latency = table[operator][fmt], shape.latency[role]
            # every operator for 30% more than the target, or its best
            goal = min(1.3 * target, max(speeds))
            assert speeds[latency] >= goal >= target, (role, target)
            if role in BROADCAST_MULTIPLIERS and speeds[0] < goal:
                assert latency == len(speeds) - 1, (role, target)   # every cut of the plan
            else:
                assert latency == 0 or speeds[latency - 1] < goal, (role, target)
    # the running maximum's one-cycle loop (latency 0) reaches every allowed target
    assert table["minmax"]["bf16"][0] >= max_target_mhz()
    assert set(pipeline(4, 9.0).latency.values()) == {0}


def test_pipeline_stages_at_the_default_target():
    """The stages and waits by hand at 100 MHz, 4 lanes (docs/pim_vector_unit.md): latencies
    (every operator for 130 MHz or its best) bf16 add 7, GELU 15, exp 15, bf16 mul 7 and fp32
    mul 7 (broadcast operands: every cut), to fp32 0, to bf16 3, fp32 add 8, FMA 10, rsqrt 11,
    recip 8, the accumulator's adder 8 (9 slots, 4 tree levels: 9 + 1 + 4 * 9 = 46 cycles);
    max 0; each operator adds its latency and a register."""
    shape = pipeline(4)
    assert shape.latency == {"add_bf16": 7, "gelu": 15, "exp": 15, "mul_bf16": 7, "to_fp32": 0,
                             "to_bf16": 3, "add_fp32": 8, "mul_fp32": 7, "fma_fp32": 10,
                             "rsqrt": 11, "recip": 8, "max": 0, "accumulate": 8}
    assert (shape.added, shape.gelu, shape.scaled, shape.exp, shape.e32) == (10, 18, 10, 26, 27)
    assert (shape.x32, shape.d, shape.prod, shape.affine, shape.normed) == (3, 12, 21, 32, 36)
    assert (shape.gamma_read, shape.gamma) == (18, 20)
    assert shape.output_delay == 37 and shape.fifo_depth == 38
    assert shape.term == {"layernorm_load": 4, "layernorm_middle": 22, "softmax_middle": 28}
    assert shape.tree_out == {"layernorm_load": 22, "layernorm_middle": 40, "softmax_middle": 46}
    assert (shape.sum_slots, shape.sum_latency, shape.beat_max) == (9, 46, 4)
    # LAYERNORM: mean after 22 + 46 + 7; rs after 40 + 46 + 7, + 1 (var), + 9 (+ eps),
    # + 4 (to bf16), + 12 (rsqrt), + 0 (to fp32). SOFTMAX: max after 4; 1 / sum after
    # 46 + 46 + 4 (to bf16) + 8 (recip).
    assert shape.first_wait == {"layernorm": 75, "softmax": 4}
    assert shape.second_wait == {"layernorm": 119, "softmax": 104}
    # the golden model's default order is the default block's accumulator's
    assert vg.SUM_SLOTS_DEFAULT == blocks.get("pim_vector_unit").pipeline.sum_slots == 9


def test_cycle_model_closed_form():
    assert vector_model.vector_cycles("add", 1, 4) == 2
    assert vector_model.vector_cycles("gelu", 9, 4) == 1 + 3
    assert vector_model.vector_cycles("softmax", 1024, 4) == 1 + 3 * 256 + 4 + 104
    # 16 lanes: four tree levels (36 cycles) where 4 lanes have two (18), max tree 4 levels
    assert vector_model.vector_cycles("layernorm", 2048, 16) == 1 + 3 * 128 + (75 + 18) + (119 + 18)
    assert vector_model.vector_cycles("softmax", 16, 16) == 1 + 3 + (4 + 2) + (104 + 18)
    # 2 lanes: one tree level (9 fewer cycles than 4 lanes) and one max level
    assert vector_model.sequence_cycles([("layernorm", 5), ("add", 5)], 2) == \
        (1 + 9 + 66 + 110) + (1 + 3) + 37
    assert vector_model.sequence_cycles([], 4) == 0
    block = blocks.get("pim_vector_unit", lanes=2, max_len=256)
    inputs = vg.pack_sequence([vg.gpt_like(op, 5, np.random.default_rng(0))
                               for op in ("layernorm", "add")], 2)
    assert block.model(block.workload(inputs)).cycles == 1 + 9 + 66 + 110 + 1 + 3 + 37
    with pytest.raises(ValueError, match="unknown op 'exp'"):
        vector_model.vector_cycles("exp", 4)
    with pytest.raises(ValueError, match="length=0"):
        vector_model.vector_cycles("add", 0)


def test_formal_point_has_the_shortest_pipeline():
    """The formal suite's point builds every operator at latency 0, so an ADD's result leaves
    9 edges after its beat: within the suite's cover depth (24 cycles)."""
    cls = blocks.block_class("pim_vector_unit")
    block = cls(**formal_point(cls))
    assert set(block.pipeline.latency.values()) == {0}
    assert block.pipeline.output_delay == 9


# -- parameters and fields --------------------------------------------------------------------------

@pytest.mark.parametrize("params, match", [
    (dict(lanes=0), r"lanes=0 is out of range: allowed 1..16"),
    (dict(lanes=17), r"lanes=17 is out of range: allowed 1..16"),
    (dict(max_len=255), r"max_len=255 is out of range: allowed 256..16384"),
    (dict(max_len=16385), r"max_len=16385 is out of range"),
    (dict(eps=-1), r"eps=-1 is out of range: allowed 0..2139095039"),
    (dict(eps=0x7F800000), r"eps=2139095040 is out of range"),
    (dict(ftz=1), r"ftz=1: expected true or false"),
    (dict(target_mhz=0.5), r"target_mhz=0.5 is out of range: allowed 1.0..105.86"),
    (dict(target_mhz=110.0), r"target_mhz=110.0 is out of range: allowed 1.0..105.86"),
    (dict(target_mhz=float("nan")), r"target_mhz=nan: expected a finite number"),
])
def test_param_errors(params, match):
    with pytest.raises(ParamError, match=match):
        blocks.get("pim_vector_unit", **params)


def test_bad_fields_are_rejected():
    block = blocks.get("pim_vector_unit", lanes=2, max_len=256)
    good = vg.pack_sequence([vg.gpt_like("add", 3, np.random.default_rng(1))], 2)
    block.fields_to_beats(good)
    cases = [
        ({"op": np.array([4])}, r"codes outside 0..3"),
        ({"length": np.array([0])}, r"lengths outside 1..256"),
        ({"length": np.array([257])}, r"lengths outside 1..256"),
        ({"length": np.array([5])}, r"need 3 beats on a and 3 on b, the fields hold 2 and 2"),
        ({"b": good["b"][:1]}, r"need 2 beats on a and 2 on b, the fields hold 2 and 1"),
        ({"a": good["a"] + 0x10000}, r"bf16 bit patterns"),
        ({"a": good["a"][:, :1]}, r"shape \(beats, 2\)"),
    ]
    for change, match in cases:
        with pytest.raises(ValueError, match=match):
            block.fields_to_beats({**good, **change})
    with pytest.raises(ValueError, match="missing 'b'"):
        block.fields_to_beats({k: v for k, v in good.items() if k != "b"})


# -- RTL: lint and Amaranth's simulator -------------------------------------------------------------

# (the defaults are linted by the flow, ``tests/test_cli.py::test_flow``)
@pytest.mark.parametrize("params", [dict(lanes=3, max_len=256, ftz=True), dict(lanes=1, max_len=300, eps=0)])
def test_lint_clean(params, rtl_out):
    block = blocks.get("pim_vector_unit", **params)
    generated = generate(block, rtl_out)
    assert toolchain.lint(generated.verilog, generated.top) == []


@pytest.mark.parametrize("params, seed", [(dict(lanes=3, max_len=256, ftz=True), 3),
                                          (dict(lanes=1, max_len=256), 4)])
def test_pysim_mixed_ops_under_stalls(params, seed):
    block = blocks.get("pim_vector_unit", **params)
    result = simulate_pysim(block, vectors=16, seed=seed, idle=0.3, backpressure=0.3)
    assert result.passed, result.summary()["verdict"]
    assert set(np.asarray(block.stimulus(np.random.default_rng(seed), 16)["op"]).tolist()) == {0, 1, 2, 3}


def test_pysim_special_values_and_unstalled_cycles():
    block = blocks.get("pim_vector_unit", lanes=2, max_len=256)
    inputs = vg.pack_sequence(special_ops(2, 20), 2)
    result = simulate_pysim(block, inputs, seed=6)
    assert result.passed, result.summary()["verdict"]
    assert result.cycles == block.model(block.workload(inputs)).cycles


# Back-to-back sequences: single-element and single-beat ops, every pair of kinds in a row
# (a one-pass op after a three-pass one and the reverse), at the default target and at two
# others (every operator at latency 0; a middle one).
BACK_TO_BACK = [
    (dict(lanes=2, max_len=256), [("add", 1), ("gelu", 2), ("layernorm", 1), ("softmax", 2),
                                  ("softmax", 3), ("add", 4), ("layernorm", 5), ("layernorm", 2),
                                  ("gelu", 1), ("softmax", 1), ("add", 2)]),
    (dict(lanes=1, max_len=256, target_mhz=9.0), [("layernorm", 3), ("add", 1), ("softmax", 1),
                                                   ("gelu", 2), ("softmax", 4), ("layernorm", 1)]),
    (dict(lanes=3, max_len=256, target_mhz=60.0, ftz=True), [("gelu", 3), ("softmax", 7),
                                                             ("add", 3), ("layernorm", 4),
                                                             ("add", 1)]),
]


@pytest.mark.parametrize("params, sequence", BACK_TO_BACK)
def test_pysim_back_to_back_ops_take_the_model_cycles(params, sequence):
    block = blocks.get("pim_vector_unit", **params)
    rng = np.random.default_rng(len(sequence))
    inputs = vg.pack_sequence([vg.gpt_like(op, n, rng) for op, n in sequence], block.p.lanes)
    result = simulate_pysim(block, inputs, seed=7)
    assert result.passed, result.summary()["verdict"]
    shape = block.pipeline
    by_hand = sum(vector_model.op_cycles(op, n, shape) for op, n in sequence) + shape.output_delay
    assert result.cycles == by_hand == block.model(block.workload(inputs)).cycles
    if block.p.target_mhz == DEFAULT_TARGET_MHZ:
        assert result.cycles == vector_model.sequence_cycles(sequence, block.p.lanes)


def test_pysim_y_stalled_while_the_pipeline_is_full():
    """y ready one cycle in ten: the output FIFO fills, the credits run out and the passes that
    produce wait, with every beat of the pipeline still delivered once, in order. Long ops at
    max_len, so the pipeline is full behind the FIFO for most of the run."""
    block = blocks.get("pim_vector_unit", lanes=4, max_len=256)
    rng = np.random.default_rng(12)
    sequence = [("gelu", 256), ("layernorm", 256), ("add", 200), ("softmax", 256), ("add", 4)]
    inputs = vg.pack_sequence([vg.gpt_like(op, n, rng) for op, n in sequence], 4)
    result = simulate_pysim(block, inputs, seed=13, backpressure=0.9)
    assert result.passed, result.summary()["verdict"]
    # y takes a beat in about one cycle in ten: the run is bound by y (243 beats, about 2430
    # cycles), far beyond the unstalled cycles (799), and the FIFO (38 entries) fills
    unstalled = block.model(block.workload(inputs)).cycles
    assert result.cycles > 5 * len(inputs["a"]) and result.cycles > 2 * unstalled


def test_y_held_takes_exactly_the_fifo_depth_then_drains_in_order():
    """A GELU of 60 beats with y not ready for 150 cycles: the unit takes exactly as many
    beats as the output FIFO holds (the credits), y stays valid with its payload unchanged,
    and once y is ready every result leaves in order, bit-exact."""
    from amaranth.sim import Simulator
    from hwgen.blocks.pim.vector.rtl import Op
    block = blocks.get("pim_vector_unit", lanes=2, max_len=256)
    fields = vg.pack_sequence([vg.gpt_like("gelu", 120, np.random.default_rng(3))], 2)
    expected = vg.run_sequence(fields, lanes=2)["y"].tolist()
    beats, release_at = fields["a"].tolist(), 150
    seen = {"held": [], "out": []}

    async def bench(ctx):
        ctx.set(block.op.payload, {"code": Op.GELU, "length": 120})
        ctx.set(block.op.valid, 1)
        await ctx.tick()
        ctx.set(block.op.valid, 0)
        sent = 0
        for cycle in range(400):
            ctx.set(block.y.ready, cycle >= release_at)
            ctx.set(block.a.valid, sent < len(beats))
            if sent < len(beats):
                ctx.set(block.a.payload, beats[sent])
            taken = sent < len(beats) and ctx.get(block.a.ready)
            if ctx.get(block.y.valid):
                payload = [int(v) for v in ctx.get(block.y.payload)]
                seen["out" if cycle >= release_at else "held"].append(payload)
            if cycle == release_at - 1:
                seen["taken_while_held"] = sent
            await ctx.tick()
            sent += bool(taken)

    sim = Simulator(block)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert seen["taken_while_held"] == block.pipeline.fifo_depth == 38
    held = seen["held"]
    assert len(held) > 100 and all(payload == expected[0] for payload in held)
    assert seen["out"] == expected


def test_pysim_full_length_vectors_under_stalls():
    block = blocks.get("pim_vector_unit", lanes=4, max_len=256)
    rng = np.random.default_rng(14)
    ops = [{"op": "softmax", "x": vg.bf16(rng.normal(0, 3, 256))},
           {"op": "layernorm", "x": vg.bf16(rng.normal(0, 2, 256)),
            "gamma": vg.bf16(rng.normal(1, 0.1, 256)), "beta": vg.bf16(rng.normal(0, 0.1, 256))},
           vg.gpt_like("add", 256, rng), vg.gpt_like("gelu", 256, rng)]
    inputs = vg.pack_sequence(ops, 4)
    result = simulate_pysim(block, inputs, seed=15, idle=0.3, backpressure=0.3)
    assert result.passed, result.summary()["verdict"]
    assert result.verdict.compared == inputs["a"].size


# -- RTL on Verilator -------------------------------------------------------------------------------

@pytest.mark.verilator
@pytest.mark.parametrize("point", POINTS)
def test_verilator_mixed_ops_under_stalls(point, rtl_out, tmp_path):
    block = blocks.get("pim_vector_unit", **POINTS[point])
    inputs = block.stimulus(np.random.default_rng(20), 120)
    stalled = simulate(block, inputs, seed=21, idle=0.3, backpressure=0.3, rtl_out=rtl_out,
                       out=tmp_path / "stalled")
    assert stalled.passed, stalled.summary()["verdict"]
    assert stalled.verdict.compared == inputs["a"].size
    clean = simulate(block, inputs, seed=21, rtl_out=rtl_out, out=tmp_path / "clean")
    assert clean.passed, clean.summary()["verdict"]
    assert clean.cycles == block.model(block.workload(inputs)).cycles
    # the stalls were applied (the waits for the statistics absorb much of them: about +4 %)
    assert stalled.cycles > clean.cycles


@pytest.mark.verilator
@pytest.mark.parametrize("point", POINTS)
def test_verilator_special_values_and_full_length(point, rtl_out, tmp_path):
    block = blocks.get("pim_vector_unit", **POINTS[point])
    inputs = vg.pack_sequence(special_ops(block.p.lanes, block.p.max_len), block.p.lanes)
    result = simulate(block, inputs, seed=22, idle=0.3, backpressure=0.3, rtl_out=rtl_out,
                      out=tmp_path)
    assert result.passed, result.summary()["verdict"]


@pytest.mark.verilator
def test_verilator_cycles_equal_the_model(rtl_out, tmp_path):
    block = blocks.get("pim_vector_unit", **POINTS["odd_ftz"])
    rng = np.random.default_rng(23)
    workloads = [
        [("add", 1)],
        [("gelu", 256)],
        [("softmax", 256), ("layernorm", 256)],
        [("layernorm", 4), ("softmax", 3), ("add", 2), ("gelu", 7), ("layernorm", 1)],
        [(vg.OPS[i % 4], int(n)) for i, n in enumerate(rng.integers(1, 256, 12))],
    ]
    for index, sequence in enumerate(workloads):
        inputs = vg.pack_sequence([vg.gpt_like(op, n, rng) for op, n in sequence], block.p.lanes)
        result = simulate(block, inputs, seed=index, rtl_out=rtl_out, out=tmp_path / str(index))
        assert result.passed, result.summary()["verdict"]
        predicted = vector_model.sequence_cycles(sequence, block.p.lanes)
        assert result.cycles == predicted == block.model(block.workload(inputs)).cycles, sequence
