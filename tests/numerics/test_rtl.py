"""Floating-point RTL (``hwgen.numerics.rtl``, through the ``fp_mul`` and ``fp_add`` blocks).

Every simulation is scored twice, bit-exactly:

* against the block's ``golden()``, i.e. the independent NumPy twins in
  ``hwgen.numerics.golden``;
* against references written here: NumPy's own float16/float32 arithmetic for fp16/fp32, and
  an exact ``Fraction`` model for the other formats (bf16, (6,9), fp8, tiny ones). The two
  references are checked against each other at fp16/fp32, and the exact model also explains
  every mismatch report.

The rules (RNE, overflow to Inf, subnormals, canonical NaN, signed zeros, FTZ/DAZ) are those in
``hwgen/numerics/rtl/__init__.py``; the two references implement them from scratch.
"""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
import pytest
from amaranth.hdl import Fragment

from hwgen import blocks
from hwgen.blocks.fp.golden import special_values
from hwgen.numerics import golden
from hwgen.numerics.formats import PRESETS, FloatFormat, parse_format
from hwgen.numerics.rtl import FloatAdder, FloatMultiplier
from sim.pysim import simulate_pysim
from sim.runner import simulate
from tests.support.numerics import (check_float_format_parameters, check_unstalled_cycles,
                                    lint_clean, run_operator)
from tests.support.suite_points import in_suite_or_long, lint_points

OPS = ("mul", "add", "sub")
FORMATS = ("fp16", "bf16", "fp32", "6,9")
# Random pairs per pysim configuration. Each (op, format) runs two configurations (no FTZ at
# latency 0, FTZ at latency 2) with different seeds, so it sees 2x this many plus the special
# cross product in each; Verilator adds 100,000 more per (op, format) for fp16, bf16 and fp32.
PYSIM_PAIRS = 3_000
VERILATOR_PAIRS = 100_000


# -- references ---------------------------------------------------------------------------------

def _flush(bits: int, fmt: FloatFormat) -> int:
    """A subnormal bit pattern becomes the zero of its sign; others are unchanged."""
    if (bits >> fmt.man_bits) & fmt.exp_max == 0:
        return bits & (1 << (fmt.width - 1))
    return bits


def _decode(bits: int, fmt: FloatFormat):
    """("nan",), ("inf", sign) or ("num", sign, magnitude as a Fraction)."""
    M = fmt.man_bits
    sign, exp, man = bits >> (fmt.width - 1), (bits >> M) & fmt.exp_max, bits & ((1 << M) - 1)
    if exp == fmt.exp_max:
        return ("nan",) if man else ("inf", sign)
    if exp == 0:
        return ("num", sign, man * Fraction(2) ** (1 - fmt.bias - M))
    return ("num", sign, (man | 1 << M) * Fraction(2) ** (exp - fmt.bias - M))


def _encode(sign: int, magnitude: Fraction, fmt: FloatFormat) -> int:
    """Round ``magnitude`` to nearest, ties to even; past the largest finite value: Inf."""
    M = fmt.man_bits
    if magnitude == 0:
        return sign << (fmt.width - 1)
    exp = magnitude.numerator.bit_length() - magnitude.denominator.bit_length()
    if Fraction(2) ** exp > magnitude:
        exp -= 1                            # now 2**exp <= magnitude < 2**(exp + 1)
    exp = max(exp, 1 - fmt.bias)            # below the normal range the quantum stays fixed
    scaled = magnitude / Fraction(2) ** (exp - M)
    units, rest = divmod(scaled.numerator, scaled.denominator)
    rest = Fraction(rest, scaled.denominator)
    if rest > Fraction(1, 2) or (rest == Fraction(1, 2) and units % 2):
        units += 1
    # Subnormal: units < 2**M and the field is 0. Normal: the implicit one is units' bit M, and a
    # carry out of the significand lands in the exponent field by itself.
    bits = units if units < 1 << M else ((exp + fmt.bias) << M) + units - (1 << M)
    return (sign << (fmt.width - 1)) | min(bits, fmt.exp_max << M)


def exact_op(op: str, a: int, b: int, fmt: FloatFormat, ftz: bool) -> int:
    """One result, from the definition, with exact rational arithmetic."""
    if ftz:
        a, b = _flush(a, fmt), _flush(b, fmt)
    x, y = _decode(a, fmt), _decode(b, fmt)
    if x[0] == "nan" or y[0] == "nan":
        return fmt.canonical_nan
    if op == "sub":
        y = (y[0], y[1] ^ 1, *y[2:])
    if op == "mul":
        sign = x[1] ^ y[1]
        if "inf" in (x[0], y[0]):
            if (x[0] == "num" and x[2] == 0) or (y[0] == "num" and y[2] == 0):
                return fmt.canonical_nan
            return fmt.inf(sign)
        result = _encode(sign, x[2] * y[2], fmt)
    else:
        if x[0] == "inf" or y[0] == "inf":
            if x[0] == y[0] == "inf" and x[1] != y[1]:
                return fmt.canonical_nan
            return fmt.inf(x[1] if x[0] == "inf" else y[1])
        total = (-x[2] if x[1] else x[2]) + (-y[2] if y[1] else y[2])
        # an exact zero is -0 only when both operands are -0
        sign = (x[1] & y[1]) if total == 0 else int(total < 0)
        result = _encode(sign, abs(total), fmt)
    return _flush(result, fmt) if ftz else result


def exact_reference(op, a, b, fmt, ftz) -> np.ndarray:
    return np.array([exact_op(op, int(x), int(y), fmt, ftz) for x, y in zip(a, b)],
                    dtype=np.uint64)


NUMPY_TYPES = {"fp16": (np.float16, np.uint16), "fp32": (np.float32, np.uint32)}


def numpy_reference(op, a, b, fmt, ftz) -> np.ndarray:
    """NumPy's IEEE float16/float32 arithmetic (float16 goes through float32, which is wide
    enough that the double rounding is harmless), with NaNs made canonical and FTZ applied
    around it."""
    ftype, utype = NUMPY_TYPES[fmt.name]
    sign = np.uint64(1 << (fmt.width - 1))

    def flush(bits):
        bits = np.asarray(bits, dtype=np.uint64)
        subnormal = (bits >> np.uint64(fmt.man_bits)) & np.uint64(fmt.exp_max) == 0
        return np.where(subnormal, bits & sign, bits) if ftz else bits

    x = flush(a).astype(utype).view(ftype)
    y = flush(b).astype(utype).view(ftype)
    with np.errstate(all="ignore"):
        z = {"mul": np.multiply, "add": np.add, "sub": np.subtract}[op](x, y).astype(ftype)
    out = flush(z.view(utype).astype(np.uint64))
    return np.where(np.isnan(z), np.uint64(fmt.canonical_nan), out).astype(np.uint64)


def reference(op, a, b, fmt, ftz) -> np.ndarray:
    if fmt.name in NUMPY_TYPES:
        return numpy_reference(op, a, b, fmt, ftz)
    return exact_reference(op, a, b, fmt, ftz)


# -- helpers ------------------------------------------------------------------------------------

def deepest(op) -> int:
    """The operator's largest latency: every cut of its plan registered."""
    return blocks.block_class("fp_mul" if op == "mul" else "fp_add").params["latency"].max


def make_block(op, fmt, ftz=False, latency=1):
    """``latency="max"``: the operator's largest."""
    if latency == "max":
        latency = deepest(op)
    params = dict(fmt=fmt, ftz=ftz, latency=latency)
    if op == "mul":
        block = blocks.get("fp_mul", **params)
    else:
        block = blocks.get("fp_add", op=op, **params)
    return block


def special_set(fmt: FloatFormat) -> np.ndarray:
    """The block's special values and the twins' set."""
    values = set(special_values(fmt).tolist()) | set(golden.special_values(fmt).tolist())
    return np.array(sorted(values), dtype=np.uint64)


def cross_product(fmt: FloatFormat) -> dict[str, np.ndarray]:
    values = special_set(fmt)
    a, b = (np.array(v, dtype=np.uint64) for v in zip(*itertools.product(values, values)))
    return {"a": a, "b": b}


def vectors(block, seed, pairs) -> dict[str, np.ndarray]:
    """The special cross product, then ``pairs`` pairs of the block's own stimulus."""
    random = block.stimulus(np.random.default_rng(seed), pairs)
    cross = cross_product(block.fmt)
    return {k: np.concatenate([cross[k], random[k]]) for k in ("a", "b")}


def mismatches(inputs, got, want, fmt, ftz, op, limit=8) -> str:
    """The first differing pairs, with what the exact reference says (to tell who is wrong)."""
    lines = []
    for i in np.flatnonzero(got != want)[:limit]:
        a, b = int(inputs["a"][i]), int(inputs["b"][i])
        lines.append(f"  {op}({a:#x}, {b:#x}) fmt={fmt.name} ftz={ftz}: got {int(got[i]):#x}, "
                     f"expected {int(want[i]):#x}, exact {exact_op(op, a, b, fmt, ftz):#x}")
    return f"{int(np.sum(got != want))} of {len(got)} differ:\n" + "\n".join(lines)


def check(result, inputs, op, fmt, ftz):
    """The simulation passed against golden() and matches the references here too."""
    if not result.passed:
        expected = result.expected["y"]
        got = result.outputs.get("y")
        detail = mismatches(inputs, got, expected, fmt, ftz, op) if got is not None else ""
        pytest.fail(f"{result.summary()['verdict']}\n{detail}")
    got = np.asarray(result.outputs["y"], dtype=np.uint64)
    want = reference(op, inputs["a"], inputs["b"], fmt, ftz)
    assert np.array_equal(got, want), mismatches(inputs, got, want, fmt, ftz, op)


# -- the references themselves ------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["fp16", "fp32"])
@pytest.mark.parametrize("ftz", [False, True])
@pytest.mark.parametrize("op", OPS)
def test_exact_reference_agrees_with_numpy(op, fmt, ftz):
    fmt = PRESETS[fmt]
    block = make_block(op, fmt.name, ftz)
    inputs = vectors(block, seed=5, pairs=3000)
    exact = exact_reference(op, inputs["a"], inputs["b"], fmt, ftz)
    ours = numpy_reference(op, inputs["a"], inputs["b"], fmt, ftz)
    assert np.array_equal(exact, ours), mismatches(inputs, ours, exact, fmt, ftz, op)


def test_exact_reference_known_cases():
    bf16 = PRESETS["bf16"]
    one, two = 0x3F80, 0x4000
    half_ulp_of_one = 0x3B80                         # 2**-8: 1 + this is a tie
    assert exact_op("add", one, half_ulp_of_one, bf16, False) == one          # tie to even
    assert exact_op("add", 0x3F81, half_ulp_of_one, bf16, False) == 0x3F82    # tie to even, up
    assert exact_op("sub", two, two, bf16, False) == 0x0000                   # x - x = +0
    assert exact_op("add", 0x8000, 0x8000, bf16, False) == 0x8000             # -0 + -0 = -0
    assert exact_op("mul", 0x7F7F, two, bf16, False) == 0x7F80                # overflow: Inf
    assert exact_op("mul", 0x0001, 0x3F00, bf16, False) == 0x0000             # min_sub/2 ties to 0
    assert exact_op("mul", 0x0001, 0x3F40, bf16, False) == 0x0001             # 0.75 min_sub
    assert exact_op("mul", 0x0001, 0x3F40, bf16, True) == 0x0000              # DAZ
    assert exact_op("mul", 0x7F80, 0x8000, bf16, False) == bf16.canonical_nan  # Inf * 0
    assert exact_op("add", 0xFF81, one, bf16, False) == bf16.canonical_nan    # sNaN in
    assert exact_op("add", 0x007F, 0x0001, bf16, False) == 0x0080             # subnormals sum
    assert exact_op("add", 0x007F, 0x0001, bf16, True) == 0x0000              # DAZ: +0 + +0
    # 2**-126 * (1 - 2**-8) is half a subnormal step below the smallest normal: the tie goes
    # to the even neighbour, the smallest normal, which FTZ keeps.
    assert exact_op("mul", 0x0080, 0x3F7F, bf16, True) == 0x0080
    assert exact_op("mul", 0x0080, 0x3F00, bf16, True) == 0x0000              # subnormal: flushed


# -- the RTL on Amaranth's simulator ------------------------------------------------------------

# FTZ with and without, on a combinational and a two-stage pipelined operator (the pipeline
# registers do not depend on FTZ: test_pysim_other_latencies and Verilator pair them otherwise).
@pytest.mark.parametrize("ftz, latency", [(False, 0), (True, 2)])
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("op", OPS)
def test_pysim(op, fmt, ftz, latency):
    block = make_block(op, fmt, ftz, latency)
    seed = 100 + 10 * OPS.index(op) + 4 * FORMATS.index(fmt) + 2 * ftz + latency
    inputs = vectors(block, seed, PYSIM_PAIRS)
    result = simulate_pysim(block, inputs, seed=seed, idle=0.2, backpressure=0.3)
    check(result, inputs, op, block.fmt, ftz)


@pytest.mark.parametrize("latency", [1, 3, "max"])
@pytest.mark.parametrize("fmt", ["fp16", "6,9"])
@pytest.mark.parametrize("op", OPS)
def test_pysim_other_latencies(op, fmt, latency):
    ftz = latency == 3
    block = make_block(op, fmt, ftz, latency)
    seed = block.p.latency
    inputs = vectors(block, seed=seed, pairs=500)
    result = simulate_pysim(block, inputs, seed=seed, idle=0.2, backpressure=0.3)
    check(result, inputs, op, block.fmt, ftz)


@pytest.mark.parametrize("ftz", [False, True])
@pytest.mark.parametrize("op", OPS)
def test_exhaustive_tiny_format(op, ftz):
    """Every pair of a 6-bit (3,2) format: each rounding, subnormal and overflow case there is."""
    block = make_block(op, "3,2", ftz, latency=1)
    patterns = np.arange(1 << block.fmt.width, dtype=np.uint64)
    a, b = (np.ascontiguousarray(v).ravel() for v in np.meshgrid(patterns, patterns))
    inputs = {"a": a, "b": b}
    result = simulate_pysim(block, inputs, seed=3, idle=0.1, backpressure=0.1)
    check(result, inputs, op, block.fmt, ftz)


# -- the RTL on Verilator -----------------------------------------------------------------------

# One latency (and FTZ setting) per format, chosen to cover what pysim runs least.
VERILATOR_POINTS = [("fp16", False, 1), ("bf16", True, 3), ("fp32", False, "max")]


# Subtraction is addition with the second sign inverted: one point of it (bf16, FTZ) on
# Verilator, multiplication and addition at all three. The suite runs one point per format
# (each op once; Amaranth's simulator runs every op at every format, and the exhaustive fp8
# runs below every op on Verilator), the other four with ``-m long``.
VERILATOR_RUNS = [(op, *point) for op in OPS for point in VERILATOR_POINTS
                  if op != "sub" or point[0] == "bf16"]
VERILATOR_IN_SUITE = [("add", "fp16", False, 1), ("mul", "fp32", False, "max"), ("sub", "bf16", True, 3)]


@pytest.mark.verilator
@pytest.mark.parametrize("op, fmt, ftz, latency", in_suite_or_long(VERILATOR_RUNS, VERILATOR_IN_SUITE))
def test_verilator(op, fmt, ftz, latency, rtl_out, tmp_path):
    block = make_block(op, fmt, ftz, latency)
    seed = 7 + OPS.index(op)
    inputs = vectors(block, seed, VERILATOR_PAIRS)
    result = simulate(block, inputs, seed=seed, idle=0.1, backpressure=0.2, rtl_out=rtl_out,
                      out=tmp_path / "stalled")
    check(result, inputs, op, block.fmt, ftz)

    short = {k: v[:2000] for k, v in inputs.items()}
    check_unstalled_cycles(block, short, block.p.latency, seed, rtl_out, tmp_path / "clean")


@pytest.mark.verilator
@pytest.mark.parametrize("op", OPS)
def test_verilator_exhaustive_fp8(op, rtl_out, tmp_path):
    """Every one of the 65,536 fp8_e4m3 pairs, against both the golden model and the exact
    reference."""
    block = make_block(op, "fp8_e4m3", ftz=False, latency=2)
    patterns = np.arange(256, dtype=np.uint64)
    a, b = (np.ascontiguousarray(v).ravel() for v in np.meshgrid(patterns, patterns))
    inputs = {"a": a, "b": b}
    result = simulate(block, inputs, seed=2, idle=0.05, backpressure=0.05, rtl_out=rtl_out,
                      out=tmp_path)
    check(result, inputs, op, block.fmt, False)


# -- twins --------------------------------------------------------------------------------------

@pytest.mark.parametrize("ftz", [False, True])
@pytest.mark.parametrize("fmt", FORMATS + ("fp8_e4m3", "fp8_e5m2", "3,2"))
@pytest.mark.parametrize("op", OPS)
def test_golden_twins_match_references(op, fmt, ftz):
    """``hwgen.numerics.golden`` (through the block's golden()) agrees with the references."""
    block = make_block(op, fmt, ftz)
    inputs = vectors(block, seed=11, pairs=20_000)
    twin = np.asarray(block.golden(inputs)["y"], dtype=np.uint64)
    want = reference(op, inputs["a"], inputs["b"], block.fmt, ftz)
    assert np.array_equal(twin, want), mismatches(inputs, twin, want, block.fmt, ftz, op)


# -- lint, parameters, ports, stimulus, model -----------------------------------------------------

# every latency up to each operator's largest, on turning formats
@pytest.mark.parametrize("name, fmt, latency", [
    (name, fmt, latency) for name, op in (("fp_mul", "mul"), ("fp_add", "add"))
    for fmt, latency in lint_points(tuple(PRESETS) + ("6,9", "2,1", "11,52"), deepest(op) + 1)])
def test_lint(name, fmt, latency, rtl_out):
    # FTZ and subtraction alternate with the latency, so both settings are linted on most formats.
    params = dict(fmt=fmt, latency=latency, ftz=bool(latency % 2))
    if name == "fp_add":
        params["op"] = "sub" if latency % 2 else "add"
    lint_clean(name, params, rtl_out)


@pytest.mark.parametrize("name", ["fp_mul", "fp_add"])
def test_parameters(name):
    check_float_format_parameters(name)


def test_info_and_model():
    block = blocks.get("fp_add", fmt="fp32", latency=3)
    assert block.info() == {"latency": 4, "width": 32, "exp_bits": 8, "man_bits": 23,
                            "in_width": 32, "out_width": 32}
    estimate = block.model({"pairs": 10})
    assert (estimate.cycles, estimate.latency, estimate.busy) == (14, 4, 10)
    assert (estimate.bytes_in, estimate.bytes_out) == (80, 40)
    assert block.model({"pairs": 0}).cycles == 0


def test_ports():
    fmt = parse_format("bf16")
    for latency in (0, 2):
        for operator in (FloatMultiplier(fmt, latency=latency),
                         FloatAdder(fmt, latency=latency, subtract=True)):
            members = operator.signature.members
            assert set(members) == {"a", "b", "y"} | ({"en"} if latency else set())
            assert all(len(getattr(operator, port)) == 16 for port in ("a", "b", "y"))
            Fragment.get(operator, None)  # elaborates (and so counts as used)
    block = blocks.get("fp_mul", fmt="fp16")
    ports = block.signature.members
    assert ports["operands"].signature.members["payload"].shape.size == 32
    assert block.fields_to_beats({"y": np.zeros(3, dtype=np.uint64)})["result"].shape == (3,)


@pytest.mark.parametrize("name, params", [("fp_mul", {}), ("fp_add", {"op": "sub"})])
def test_stimulus(name, params):
    block = blocks.get(name, fmt="fp16", **params)
    first = block.stimulus(np.random.default_rng(1), 4000)
    again = block.stimulus(np.random.default_rng(1), 4000)
    assert all(np.array_equal(first[k], again[k]) for k in "ab")
    for k in "ab":
        values = first[k]
        assert values.dtype == np.uint64 and values.shape == (4000,)
        assert int(values.max()) < 1 << 16
        assert set(special_values(block.fmt).tolist()) <= set(values.tolist())
    fields = block.fields_to_beats(first)["operands"]
    assert fields["a"].shape == (4000,)
    # the engineered pairs reach their boundaries: exact cancellation and overflow/underflow
    y = reference(block.op, first["a"], first["b"], block.fmt, False)
    magnitude = y & np.uint64(0x7FFF)
    if name == "fp_add":
        assert np.sum(y == 0) > 50
    else:
        assert np.sum(magnitude == 0x7C00) > 200                  # overflowed to Inf
        assert np.sum((magnitude > 0) & (magnitude < 0x400)) > 50  # subnormal products


def test_fields_are_checked():
    block = blocks.get("fp_mul", fmt="fp16")
    with pytest.raises(ValueError, match="outside 0..65535"):
        block.fields_to_beats({"a": np.array([1 << 16]), "b": np.array([0])})
    with pytest.raises(ValueError, match=r"shape \(vectors,\)"):
        block.fields_to_beats({"a": np.zeros((2, 2), dtype=np.uint64), "b": np.zeros(4)})
    with pytest.raises(ValueError, match="integer bit patterns"):
        block.fields_to_beats({"a": np.zeros(2), "b": np.zeros(2, dtype=np.uint64)})
    with pytest.raises(ValueError, match="'b' is missing"):
        block.fields_to_beats({"a": np.zeros(2, dtype=np.uint64)})


@pytest.mark.parametrize("fmt_in, fmt_out, ftz", [("bf16", "fp32", False), ("bf16", "fp32", True),
                                                  ("fp16", "fp32", False), ("fp8_e4m3", "bf16", False),
                                                  ("fp16", "bf16", False)])
def test_widening_multiplier(fmt_in, fmt_out, ftz):
    """``FloatMultiplier(fmt, out_fmt=...)``: operands in one format, one rounding into another.
    Into fp32 the product is exact, so NumPy's float32 product of the widened operands is an
    independent reference; fp8/fp16 into bf16 round, and are checked against the exact
    Fraction reference. Special values cross product plus random pairs."""
    fin, fout = PRESETS[fmt_in], PRESETS[fmt_out]
    rng = np.random.default_rng(7)
    specials = golden.special_values(fin)
    a = np.concatenate([np.repeat(specials, len(specials)),
                        rng.integers(0, 1 << fin.width, 3000, dtype=np.uint64)]).astype(np.uint64)
    b = np.concatenate([np.tile(specials, len(specials)),
                        rng.integers(0, 1 << fin.width, 3000, dtype=np.uint64)]).astype(np.uint64)
    got = run_operator(FloatMultiplier(fin, out_fmt=fout, ftz=ftz), a, b)
    twin = golden.fp_mul(a, b, fin, ftz=ftz, out_fmt=fout)
    np.testing.assert_array_equal(got, twin)
    if fmt_out == "fp32" and not ftz:
        wide = golden.fp_convert(a, fin, fout), golden.fp_convert(b, fin, fout)
        with np.errstate(all="ignore"):
            product = (wide[0].astype(np.uint32).view(np.float32)
                       * wide[1].astype(np.uint32).view(np.float32))
        reference = product.view(np.uint32).astype(np.uint64)
        nan = np.isnan(product)
        reference[nan] = fout.canonical_nan
        np.testing.assert_array_equal(got, reference)
    else:
        checked = 0
        for x, y, g in zip(a.tolist(), b.tolist(), got.tolist()):
            dx, dy = (_decode(_flush(v, fin) if ftz else v, fin) for v in (x, y))
            if dx[0] == dy[0] == "num":
                want = _encode(dx[1] ^ dy[1], dx[2] * dy[2], fout)
                want = _flush(want, fout) if ftz else want
                assert g == want, (x, y)
                checked += 1
        assert checked > 3000
