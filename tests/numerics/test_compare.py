"""Floating-point minimum/maximum and comparison (``hwgen/numerics/rtl/compare.py``, through the
``fp_minmax`` and ``fp_compare`` blocks).

Every simulation is scored twice, bit-exactly: against the block's ``golden()`` (the twins
``golden.fp_min``, ``fp_max``, ``fp_compare``), and against a reference written here from the
IEEE 754-2019 rules on float64 values (every format here decodes exactly into float64): the
comparison is float64's own ``<``, ``==``, ``>``; minimum/maximum pick the smaller/larger operand,
with min(-0, +0) = -0, max(-0, +0) = +0 and the canonical NaN for any NaN operand; ``ftz``
reads subnormal operands (and returns them) as zeros of their sign. The twins themselves are
checked against NumPy's float16/float32 comparisons and fmin/fmax at the end.
"""

from __future__ import annotations

import gc
import itertools
import warnings

import numpy as np
import pytest
from amaranth.hdl import Fragment, UnusedElaboratable

from hwgen import blocks
from hwgen.blocks.fp.golden import special_values
from hwgen.core.params import ParamError
from hwgen.numerics import golden
from hwgen.numerics.formats import PRESETS, FloatFormat
from hwgen.numerics.rtl import FloatCompare, FloatMinMax
from sim.pysim import simulate_pysim
from sim.runner import simulate
from tests.support.numerics import (check_float_format_parameters, check_unstalled_cycles,
                                    lint_clean)
from tests.support.suite_points import in_suite_or_long, lint_points

OPS = ("min", "max", "compare")
LT, EQ, GT, UNORDERED = 1, 2, 4, 8          # the one-hot flag word of fp_compare


# -- the reference ------------------------------------------------------------------------------

def flushed(bits, fmt: FloatFormat, ftz: bool) -> np.ndarray:
    """With ``ftz``, subnormal patterns become the zero of their sign."""
    bits = np.asarray(bits, dtype=np.uint64)
    if not ftz:
        return bits
    subnormal = (bits >> np.uint64(fmt.man_bits)) & np.uint64(fmt.exp_max) == 0
    return np.where(subnormal, bits & np.uint64(1 << (fmt.width - 1)), bits)


def values(bits, fmt: FloatFormat) -> np.ndarray:
    """The float64 value of each pattern (exact: at most 53 significand bits here)."""
    bits = np.asarray(bits, dtype=np.uint64)
    sign = (bits >> np.uint64(fmt.width - 1)).astype(bool)
    exp = ((bits >> np.uint64(fmt.man_bits)) & np.uint64(fmt.exp_max)).astype(np.int64)
    man = (bits & np.uint64((1 << fmt.man_bits) - 1)).astype(np.float64)
    with np.errstate(over="ignore"):
        normal = np.ldexp(man + 2.0 ** fmt.man_bits, exp - fmt.bias - fmt.man_bits)
    magnitude = np.where(exp == 0, np.ldexp(man, 1 - fmt.bias - fmt.man_bits), normal)
    magnitude = np.where(exp == fmt.exp_max, np.where(man == 0, np.inf, np.nan), magnitude)
    return np.where(sign, -magnitude, magnitude)


def reference(op, a, b, fmt: FloatFormat, ftz: bool) -> np.ndarray:
    a, b = flushed(a, fmt, ftz), flushed(b, fmt, ftz)
    x, y = values(a, fmt), values(b, fmt)
    nan = np.isnan(x) | np.isnan(y)
    if op == "compare":
        word = (x < y) * LT | (x == y) * EQ | (x > y) * GT | nan * UNORDERED
        return word.astype(np.uint64)
    sign = np.uint64(1 << (fmt.width - 1))
    # Two zeros: minimum is -0 if either is, maximum +0 if either is. Other equal values have
    # one encoding, so a == b.
    if op == "min":
        zero = (a | b) & sign
        out = np.where(x < y, a, np.where(y < x, b, np.where((x == 0) & (y == 0), zero, a)))
    else:
        zero = a & b & sign
        out = np.where(x > y, a, np.where(y > x, b, np.where((x == 0) & (y == 0), zero, a)))
    return np.where(nan, np.uint64(fmt.canonical_nan), out).astype(np.uint64)


# -- helpers ------------------------------------------------------------------------------------

def make_block(op, fmt, ftz=False, latency=1):
    if op == "compare":
        return blocks.get("fp_compare", fmt=fmt, ftz=ftz, latency=latency)
    return blocks.get("fp_minmax", op=op, fmt=fmt, ftz=ftz, latency=latency)


def special_set(fmt: FloatFormat) -> np.ndarray:
    values_ = set(special_values(fmt).tolist()) | set(golden.special_values(fmt).tolist())
    return np.array(sorted(values_), dtype=np.uint64)


def vectors(block, seed, pairs) -> dict[str, np.ndarray]:
    """The full special cross product, then ``pairs`` pairs of the block's own stimulus."""
    specials = special_set(block.fmt)
    a, b = (np.array(v, dtype=np.uint64) for v in zip(*itertools.product(specials, specials)))
    random = block.stimulus(np.random.default_rng(seed), pairs)
    return {"a": np.concatenate([a, random["a"]]), "b": np.concatenate([b, random["b"]])}


def all_pairs(fmt: FloatFormat) -> dict[str, np.ndarray]:
    patterns = np.arange(1 << fmt.width, dtype=np.uint64)
    a, b = (np.ascontiguousarray(v).ravel() for v in np.meshgrid(patterns, patterns))
    return {"a": a, "b": b}


def mismatches(inputs, got, want, op, fmt, ftz, limit=8) -> str:
    lines = [f"  {op}({int(inputs['a'][i]):#x}, {int(inputs['b'][i]):#x}) fmt={fmt.name} "
             f"ftz={ftz}: got {int(got[i]):#x}, expected {int(want[i]):#x}"
             for i in np.flatnonzero(got != want)[:limit]]
    return f"{int(np.sum(got != want))} of {len(got)} differ:\n" + "\n".join(lines)


def check(result, inputs, op, fmt, ftz):
    """The run passed against golden() and agrees with the reference here."""
    if not result.passed:
        got = result.outputs.get("y")
        detail = ""
        if got is not None and len(got) == len(inputs["a"]):
            detail = mismatches(inputs, np.asarray(got, dtype=np.uint64), result.expected["y"],
                                op, fmt, ftz)
        pytest.fail(f"{result.summary()['verdict']}\n{detail}")
    got = np.asarray(result.outputs["y"], dtype=np.uint64)
    want = reference(op, inputs["a"], inputs["b"], fmt, ftz)
    assert np.array_equal(got, want), mismatches(inputs, got, want, op, fmt, ftz)


# -- hand-checked cases -------------------------------------------------------------------------

# fp16 patterns
PZ, NZ, ONE, NEG_ONE, TWO, NEG_TWO = 0x0000, 0x8000, 0x3C00, 0xBC00, 0x4000, 0xC000
INF, NEG_INF, MAX, QNAN, SNAN, NEG_QNAN = 0x7C00, 0xFC00, 0x7BFF, 0x7E00, 0x7C01, 0xFE01
MIN_SUB, NEG_MIN_SUB, NEG_SUB3 = 0x0001, 0x8001, 0x8003
CANONICAL = 0x7E00

# (a, b, min, max, compare) without ftz, then what changes with ftz
KNOWN = [
    (PZ, NZ, NZ, PZ, EQ),
    (NZ, PZ, NZ, PZ, EQ),
    (ONE, TWO, ONE, TWO, LT),
    (NEG_ONE, NEG_TWO, NEG_TWO, NEG_ONE, GT),
    (NEG_INF, MAX, NEG_INF, MAX, LT),
    (INF, INF, INF, INF, EQ),
    (NEG_ONE, NEG_ONE, NEG_ONE, NEG_ONE, EQ),
    (ONE, SNAN, CANONICAL, CANONICAL, UNORDERED),
    (NEG_QNAN, ONE, CANONICAL, CANONICAL, UNORDERED),
    (QNAN, QNAN, CANONICAL, CANONICAL, UNORDERED),
    (MIN_SUB, NZ, NZ, MIN_SUB, GT),
    (MIN_SUB, NEG_SUB3, NEG_SUB3, MIN_SUB, GT),
    (NEG_SUB3, NEG_MIN_SUB, NEG_SUB3, NEG_MIN_SUB, LT),
    (MIN_SUB, PZ, PZ, MIN_SUB, GT),
]
KNOWN_FTZ = {  # index: (min, max, compare); subnormals read and come out as signed zeros
    10: (NZ, PZ, EQ),
    11: (NZ, PZ, EQ),
    12: (NZ, NZ, EQ),
    13: (PZ, PZ, EQ),
}


@pytest.mark.parametrize("ftz", [False, True])
@pytest.mark.parametrize("op", OPS)
def test_known_cases(op, ftz):
    block = make_block(op, "fp16", ftz, latency=0)
    inputs = {"a": np.array([case[0] for case in KNOWN], dtype=np.uint64),
              "b": np.array([case[1] for case in KNOWN], dtype=np.uint64)}
    column = OPS.index(op)
    want = [KNOWN_FTZ[i][column] if ftz and i in KNOWN_FTZ else case[2 + column]
            for i, case in enumerate(KNOWN)]
    assert reference(op, inputs["a"], inputs["b"], block.fmt, ftz).tolist() == want
    result = simulate_pysim(block, inputs, seed=4, idle=0.3, backpressure=0.3)
    assert result.passed, result.summary()["verdict"]
    assert np.asarray(result.outputs["y"]).tolist() == want


# -- the RTL on Amaranth's simulator ------------------------------------------------------------

@pytest.mark.parametrize("latency", [0, 2])
@pytest.mark.parametrize("ftz", [False, True])
@pytest.mark.parametrize("op", OPS)
def test_pysim_odd_format(op, ftz, latency):
    """(6,9): about 100,000 pairs over the twelve runs (special cross product included)."""
    block = make_block(op, "6,9", ftz, latency)
    seed = 20 + 4 * OPS.index(op) + 2 * ftz + latency
    inputs = vectors(block, seed, 6000)
    result = simulate_pysim(block, inputs, seed=seed, idle=0.2, backpressure=0.3)
    check(result, inputs, op, block.fmt, ftz)


# Verilator runs one operation per preset; pysim runs the others (and both ftz settings).
@pytest.mark.parametrize("fmt", ["fp16", "bf16", "fp32"])
@pytest.mark.parametrize("op", OPS)
def test_pysim_presets(op, fmt):
    ftz = fmt == "bf16"
    block = make_block(op, fmt, ftz, latency=1)
    seed = 40 + 3 * OPS.index(op) + len(fmt)
    inputs = vectors(block, seed, 3000)
    result = simulate_pysim(block, inputs, seed=seed, idle=0.2, backpressure=0.3)
    check(result, inputs, op, block.fmt, ftz)


@pytest.mark.parametrize("latency", [1, 2])
@pytest.mark.parametrize("op", OPS)
def test_pysim_other_latencies(op, latency):
    ftz = latency == 2
    block = make_block(op, "fp16", ftz, latency)
    inputs = vectors(block, latency, 300)
    result = simulate_pysim(block, inputs, seed=latency, idle=0.3, backpressure=0.4)
    check(result, inputs, op, block.fmt, ftz)


@pytest.mark.parametrize("ftz", [False, True])
@pytest.mark.parametrize("op", OPS)
def test_exhaustive_tiny_format(op, ftz):
    """Every pair of a 6-bit (3,2) format."""
    block = make_block(op, "3,2", ftz, latency=2)
    inputs = all_pairs(block.fmt)
    result = simulate_pysim(block, inputs, seed=5, idle=0.1, backpressure=0.1)
    check(result, inputs, op, block.fmt, ftz)


# -- the RTL on Verilator -----------------------------------------------------------------------

# One build per point; each preset gets the comparison and one of min/max, ftz on and off.
VERILATOR_POINTS = [
    ("compare", "fp16", False, 1), ("max", "fp16", True, 2),
    ("compare", "bf16", True, 2), ("min", "bf16", False, 0),
    ("compare", "fp32", False, 0), ("max", "fp32", True, 1),
]
# one point per format in the suite (each op once), the other three with ``-m long``
VERILATOR_IN_SUITE = [("compare", "fp16", False, 1), ("min", "bf16", False, 0), ("max", "fp32", True, 1)]


@pytest.mark.verilator
@pytest.mark.parametrize("op, fmt, ftz, latency", in_suite_or_long(VERILATOR_POINTS, VERILATOR_IN_SUITE))
def test_verilator(op, fmt, ftz, latency, rtl_out, tmp_path):
    block = make_block(op, fmt, ftz, latency)
    seed = 60 + VERILATOR_POINTS.index((op, fmt, ftz, latency))
    inputs = vectors(block, seed, 100_000)
    result = simulate(block, inputs, seed=seed, idle=0.1, backpressure=0.2, rtl_out=rtl_out,
                      out=tmp_path / "stalled")
    check(result, inputs, op, block.fmt, ftz)

    short = {k: v[:2000] for k, v in inputs.items()}
    check_unstalled_cycles(block, short, latency, seed, rtl_out, tmp_path / "clean")


@pytest.mark.verilator
@pytest.mark.parametrize("op, ftz", [("compare", False), ("min", True)])
def test_verilator_exhaustive_fp8(op, ftz, rtl_out, tmp_path):
    """Every one of the 65,536 fp8_e4m3 pairs."""
    block = make_block(op, "fp8_e4m3", ftz, latency=2)
    inputs = all_pairs(block.fmt)
    result = simulate(block, inputs, seed=2, idle=0.05, backpressure=0.05, rtl_out=rtl_out,
                      out=tmp_path)
    check(result, inputs, op, block.fmt, ftz)


# -- the twins against NumPy --------------------------------------------------------------------

NUMPY_TYPES = {"fp16": (np.float16, np.uint16), "fp32": (np.float32, np.uint32)}


def numpy_pairs(fmt: FloatFormat, rng) -> tuple[np.ndarray, np.ndarray]:
    """fp16: every pattern against random, equal, mirrored, neighbouring and zero partners
    (about 400,000 pairs); fp32: 300,000 pairs of the compare stimulus. Plus the special cross
    product."""
    if fmt.width == 16:
        a = np.arange(1 << 16, dtype=np.uint64)
        sign = np.uint64(0x8000)
        partners = [rng.integers(0, 1 << 16, size=a.size, dtype=np.uint64), a, a ^ sign,
                    (a & sign) | np.clip((a & ~sign) + np.uint64(1), 0, 0x7FFF),
                    rng.choice(np.array([0, 0x8000], dtype=np.uint64), size=a.size),
                    rng.permutation(a)]
        a, b = np.tile(a, len(partners)), np.concatenate(partners)
    else:
        pairs = make_block("compare", fmt.name).stimulus(rng, 300_000)
        a, b = pairs["a"], pairs["b"]
    specials = special_set(fmt)
    cross = [np.array(v, dtype=np.uint64) for v in zip(*itertools.product(specials, specials))]
    return np.concatenate([a, cross[0]]), np.concatenate([b, cross[1]])


@pytest.mark.parametrize("fmt, ftz", [("fp16", False), ("fp16", True), ("fp32", True)])
def test_twins_match_numpy(fmt, ftz):
    """fp32 without ftz is in test_numerics_golden.py; this adds float16, ftz, and the
    zero-sign rule NumPy leaves open, checked on its own."""
    fmt = PRESETS[fmt]
    ftype, utype = NUMPY_TYPES[fmt.name]
    a, b = numpy_pairs(fmt, np.random.default_rng(17))
    fa, fb = flushed(a, fmt, ftz), flushed(b, fmt, ftz)
    x, y = fa.astype(utype).view(ftype), fb.astype(utype).view(ftype)
    # this file's reference decodes like NumPy
    with np.errstate(invalid="ignore"):       # widening a signalling NaN
        widened = a.astype(utype).view(ftype).astype(np.float64)
    assert np.array_equal(values(a, fmt), widened, equal_nan=True)

    nan = np.isnan(x) | np.isnan(y)
    flags = golden.fp_compare(a, b, fmt, ftz)
    assert np.array_equal(flags["unordered"], nan)
    assert np.array_equal(flags["lt"], np.less(x, y))
    assert np.array_equal(flags["eq"], np.equal(x, y))
    assert np.array_equal(flags["gt"], np.greater(x, y))

    sign = np.uint64(1 << (fmt.width - 1))
    zeros = (x == 0) & (y == 0)
    for twin, numpy_op, zero_sign in [(golden.fp_min, np.fmin, fa | fb),
                                      (golden.fp_max, np.fmax, fa & fb)]:
        got = twin(a, b, fmt, ftz)
        assert (got[nan] == fmt.canonical_nan).all()
        assert ((got == fa) | (got == fb))[~nan].all(), "the result is an operand (flushed)"
        value = got.astype(utype).view(ftype)
        assert np.array_equal(value[~nan], numpy_op(x, y)[~nan])
        # the zero sign: minimum is -0 when either zero is, maximum only when both are
        combos = set(zip((fa & sign)[zeros].tolist(), (fb & sign)[zeros].tolist()))
        assert len(combos) == 4, "every sign combination of two zeros"
        assert np.array_equal(got[zeros], zero_sign[zeros] & sign)


# -- lint, parameters, ports, stimulus ----------------------------------------------------------

# latencies 0..2: the plan's (more registers would only sit at the output)
@pytest.mark.parametrize("fmt, latency", lint_points(tuple(PRESETS) + ("2,1", "11,52"), 3))
@pytest.mark.parametrize("name", ["fp_minmax", "fp_compare"])
def test_lint(name, fmt, latency, rtl_out):
    # ftz and min/max alternate with the latency, so both settings are linted on most formats.
    params = dict(fmt=fmt, latency=latency, ftz=bool(latency % 2))
    if name == "fp_minmax":
        params["op"] = "max" if latency % 2 else "min"
    lint_clean(name, params, rtl_out)


@pytest.mark.parametrize("name", ["fp_minmax", "fp_compare"])
def test_parameters(name):
    check_float_format_parameters(name)
    if name == "fp_minmax":
        assert blocks.get(name).p.op == "min"
    else:
        # a comparison returns every relation at once: it takes no op
        with pytest.raises(ParamError, match="fp_compare has no parameter op"):
            blocks.get(name, op="min")


def test_operator_arguments():
    fmt = PRESETS["fp16"]
    # An operator refused in its constructor is never elaborated; Amaranth would say so when
    # it is collected, so it is collected here, with that warning off.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnusedElaboratable)
        with pytest.raises(ValueError, match="op must be 'min' or 'max', not 'mid'"):
            FloatMinMax(fmt, op="mid")
        for operator in (FloatMinMax, FloatCompare):
            with pytest.raises(ValueError, match="latency must be >= 0, not -1"):
                operator(fmt, latency=-1)
        gc.collect()


def test_ports_info_and_model():
    fmt = PRESETS["bf16"]
    for latency in (0, 2):
        for operator, y_width in ((FloatMinMax(fmt, op="max", latency=latency), 16),
                                  (FloatCompare(fmt, latency=latency), 4)):
            members = operator.signature.members
            assert set(members) == {"a", "b", "y"} | ({"en"} if latency else set())
            assert (len(operator.a), len(operator.b), len(operator.y)) == (16, 16, y_width)
            Fragment.get(operator, None)
    block = blocks.get("fp_compare", fmt="fp32", latency=2)
    assert block.info() == {"latency": 3, "width": 32, "exp_bits": 8, "man_bits": 23,
                            "in_width": 32, "out_width": 4}
    assert block.signature.members["result"].signature.members["payload"].shape.width == 4
    estimate = block.model({"pairs": 10})
    assert (estimate.cycles, estimate.latency, estimate.bytes_in, estimate.bytes_out) == (13, 3, 80, 10)
    minmax = blocks.get("fp_minmax", fmt="fp16", op="max", latency=0)
    assert minmax.info()["out_width"] == 16 and minmax.model({"pairs": 5}).cycles == 6


def test_golden_packs_flags():
    block = blocks.get("fp_compare", fmt="fp16")
    a = np.array([ONE, TWO, ONE, QNAN], dtype=np.uint64)
    b = np.array([TWO, ONE, ONE, ONE], dtype=np.uint64)
    assert block.golden({"a": a, "b": b})["y"].tolist() == [LT, GT, EQ, UNORDERED]


@pytest.mark.parametrize("op", OPS)
def test_stimulus(op):
    block = make_block(op, "fp16")
    first = block.stimulus(np.random.default_rng(1), 20_000)
    again = block.stimulus(np.random.default_rng(1), 20_000)
    assert all(np.array_equal(first[k], again[k]) for k in "ab")
    a, b = first["a"], first["b"]
    for values_ in (a, b):
        assert values_.dtype == np.uint64 and values_.shape == (20_000,)
        assert int(values_.max()) < 1 << 16
        assert set(special_values(block.fmt).tolist()) <= set(values_.tolist())
    # the engineered shares are there: equal patterns, two zeros of opposite signs,
    # neighbouring encodings, mirrored signs, subnormals that ftz makes equal to each other
    sign, magnitude = np.uint64(0x8000), np.uint64(0x7FFF)
    finite = (a & magnitude) < np.uint64(0x7C00)
    assert np.sum(finite & (a == b)) > 500
    assert np.sum(((a | b) == sign) & (a != b)) > 200
    step = (a & magnitude).astype(np.int64) - (b & magnitude).astype(np.int64)
    assert np.sum(finite & ((a & sign) == (b & sign)) & (np.abs(step) == 1)) > 500
    assert np.sum(finite & (a == b ^ sign) & ((a & magnitude) != 0)) > 500
    subnormal = lambda v: ((v & np.uint64(0x7C00)) == 0) & ((v & np.uint64(0x3FF)) != 0)  # noqa: E731
    assert np.sum(subnormal(a) & subnormal(b) & ((a & sign) != (b & sign))) > 200
    # and every outcome of the comparison is common
    flags = reference("compare", a, b, block.fmt, False)
    assert all(np.sum(flags == flag) > 1000 for flag in (LT, EQ, GT, UNORDERED))
