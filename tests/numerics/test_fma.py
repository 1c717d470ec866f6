"""Fused multiply-add (``hwgen.numerics.rtl.FloatFMA``, through the ``fp_fma`` block).

Every simulation is scored against the block's ``golden()`` (``golden.fp_fma``), bit for bit,
under valid gaps and backpressure. The twin itself is checked here against an exact
``fractions.Fraction`` reference written from the IEEE rules (no binary floating point: a
float64 ``a*b + c`` is not exact for these formats, and rounding it again would round twice).

Coverage: the full cross product of special-value triples and 100,000 random triples per format
on Verilator (fp16, bf16, fp32), every triple of the 6-bit (3,2) and (4,1) formats on Verilator
and of the 4-bit (2,1) format with ftz on Amaranth's simulator, samples at fp16/bf16/fp32/(6,9) and
latencies 0..4 on Amaranth's simulator, and lint of every preset at every latency.
"""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
import pytest
from amaranth.hdl import Fragment

from hwgen import blocks
from hwgen.blocks.fp.golden import special_values as block_special_values
from hwgen.numerics import golden
from hwgen.numerics.formats import PRESETS, FloatFormat, parse_format
from hwgen.numerics.rtl import FloatFMA
from sim.pysim import simulate_pysim
from sim.runner import simulate
from tests.support.numerics import (check_float_format_parameters, check_unstalled_cycles,
                                    lint_clean)
from tests.support.suite_points import in_suite_or_long, lint_points

NAMES = ("a", "b", "c")
FORMATS = ("fp16", "bf16", "fp32", "6,9")
VERILATOR_TRIPLES = 100_000


# -- an exact reference, from the definition ------------------------------------------------------

def _value(bits: int, fmt: FloatFormat, ftz: bool):
    """("nan",), ("inf", sign) or ("num", sign, magnitude as a Fraction); ftz reads subnormals
    as zeros."""
    M = fmt.man_bits
    sign, exp, man = bits >> (fmt.width - 1), (bits >> M) & fmt.exp_max, bits & ((1 << M) - 1)
    if exp == fmt.exp_max:
        return ("nan",) if man else ("inf", sign)
    if exp == 0:
        return ("num", sign, Fraction(0 if ftz else man, 1 << (fmt.bias - 1 + M)))
    return ("num", sign, (man | 1 << M) * Fraction(2) ** (exp - fmt.bias - M))


def _nearest(sign: int, magnitude: Fraction, fmt: FloatFormat, ftz: bool) -> int:
    """The pattern nearest to ``magnitude`` (ties to even), Inf past the largest finite value;
    with ftz a subnormal result becomes zero."""
    M = fmt.man_bits
    exp = 1 - fmt.bias                      # below the normal range the quantum stays fixed
    while magnitude >= Fraction(2) ** (exp + 1):
        exp += 1
    scaled = magnitude / Fraction(2) ** (exp - M)
    units, rest = divmod(scaled.numerator, scaled.denominator)
    if 2 * rest > scaled.denominator or (2 * rest == scaled.denominator and units % 2):
        units += 1
    if units < 1 << M:                      # subnormal or zero
        bits = 0 if ftz else units
    else:                                   # a carry out of the significand lands in the field
        bits = min(((exp + fmt.bias) << M) + units - (1 << M), fmt.exp_max << M)
    return sign << (fmt.width - 1) | bits


def exact_fma(a: int, b: int, c: int, fmt: FloatFormat, ftz: bool) -> int:
    x, y, z = (_value(v, fmt, ftz) for v in (a, b, c))
    if "nan" in (x[0], y[0], z[0]):
        return fmt.canonical_nan
    product_sign = x[1] ^ y[1]
    if "inf" in (x[0], y[0]):
        if (x[0] == "num" and x[2] == 0) or (y[0] == "num" and y[2] == 0):
            return fmt.canonical_nan                                   # Inf * 0
        if z[0] == "inf" and z[1] != product_sign:
            return fmt.canonical_nan                                   # Inf - Inf
        return fmt.inf(product_sign)
    if z[0] == "inf":
        return fmt.inf(z[1])
    product = x[2] * y[2]
    total = (-product if product_sign else product) + (-z[2] if z[1] else z[2])
    if total == 0:
        # -0 only when both addends are -0; a cancellation of nonzero addends is +0
        sign = product_sign & z[1] if product == 0 and z[2] == 0 else 0
    else:
        sign = int(total < 0)
    return _nearest(sign, abs(total), fmt, ftz)


def exact_reference(inputs, fmt, ftz) -> np.ndarray:
    return np.array([exact_fma(int(a), int(b), int(c), fmt, ftz)
                     for a, b, c in zip(*(inputs[k] for k in NAMES))], dtype=np.uint64)


# -- helpers --------------------------------------------------------------------------------------

def specials(fmt: FloatFormat) -> np.ndarray:
    """The twins' special values and the block stimulus's (a superset: adds payload NaNs)."""
    values = set(golden.special_values(fmt).tolist()) | set(block_special_values(fmt).tolist())
    return np.array(sorted(values), dtype=np.uint64)


def triples(values_a, values_b, values_c) -> dict[str, np.ndarray]:
    columns = zip(*itertools.product(values_a.tolist(), values_b.tolist(), values_c.tolist()))
    return {k: np.array(v, dtype=np.uint64) for k, v in zip(NAMES, columns)}


def every_triple(fmt: FloatFormat) -> dict[str, np.ndarray]:
    patterns = np.arange(1 << fmt.width, dtype=np.uint64)
    return triples(patterns, patterns, patterns)


def concat(*parts) -> dict[str, np.ndarray]:
    return {k: np.concatenate([part[k] for part in parts]) for k in NAMES}


def mismatches(inputs, got, want, fmt, ftz, limit=8) -> str:
    """The first differing triples, with the exact reference's answer (to tell who is wrong)."""
    lines = []
    for i in np.flatnonzero(got != want)[:limit]:
        a, b, c = (int(inputs[k][i]) for k in NAMES)
        lines.append(f"  fma({a:#x}, {b:#x}, {c:#x}) fmt={fmt.name} ftz={ftz}: got "
                     f"{int(got[i]):#x}, expected {int(want[i]):#x}, "
                     f"exact {exact_fma(a, b, c, fmt, ftz):#x}")
    return f"{int(np.sum(got != want))} of {len(got)} differ:\n" + "\n".join(lines)


def check(result, inputs, fmt, ftz):
    if not result.passed:
        got = result.outputs.get("y")
        detail = "" if got is None else mismatches(
            inputs, np.asarray(got, dtype=np.uint64), result.expected["y"], fmt, ftz)
        pytest.fail(f"{result.summary()['verdict']}\n{detail}")
    assert len(result.outputs["y"]) == len(inputs["a"])


# -- the twin against the exact reference ---------------------------------------------------------

def test_exact_reference_known_cases():
    fp16, bf16 = PRESETS["fp16"], PRESETS["bf16"]
    one, one_up, one_down, minus_one = 0x3C00, 0x3C01, 0x3BFF, 0xBC00
    # (1 + 2**-10)(1 - 2**-11) - 1 = 2**-11 - 2**-21: fused keeps it; rounding a*b first
    # would give 1 - 1 = 0.
    assert exact_fma(one_up, one_down, minus_one, fp16, False) == 0x0FFE
    assert exact_fma(one_up, one_up, minus_one, fp16, False) == 0x1800       # 2**-9 + 2**-20: tie
    assert exact_fma(0x4000, 0x3800, minus_one, fp16, False) == 0x0000       # 2 * 0.5 - 1 = +0
    assert exact_fma(0x8000, one, 0x8000, fp16, False) == 0x8000             # -0 + -0 = -0
    assert exact_fma(0x8000, one, 0x0000, fp16, False) == 0x0000             # -0 + +0 = +0
    assert exact_fma(0x7C00, 0x0000, one, fp16, False) == fp16.canonical_nan  # Inf * 0
    assert exact_fma(0x7C00, one, 0xFC00, fp16, False) == fp16.canonical_nan  # Inf - Inf
    assert exact_fma(0x7C00, minus_one, 0xFC00, fp16, False) == 0xFC00
    assert exact_fma(0x7BFF, 0x4000, 0xFBFF, fp16, False) == 0x7BFF          # 2 max - max
    assert exact_fma(0x7BFF, 0x4000, 0x0000, fp16, False) == 0x7C00          # overflow
    assert exact_fma(0x0001, 0x3800, 0x0000, fp16, False) == 0x0000          # tie to even: 0
    assert exact_fma(0x0001, 0x3800, 0x0001, fp16, False) == 0x0002          # 1.5 ulp: tie up
    assert exact_fma(0x0001, one, 0x0001, fp16, True) == 0x0000              # DAZ
    assert exact_fma(0x0400, 0x3800, 0x0000, fp16, True) == 0x0000           # flushed result
    assert exact_fma(0x3F80, 0x3F80, 0x3380, bf16, False) == 0x3F80          # 1 + 2**-24
    assert exact_fma(0x3F80, 0x3F81, 0x3B80, bf16, False) == 0x3F82          # tie to even
    # (1 + 2**-7)**2 + 2**-8 lies 2**-14 above a tie; rounding a*b first would make it a tie
    assert exact_fma(0x3F81, 0x3F81, 0x3B80, bf16, False) == 0x3F83


@pytest.mark.parametrize("ftz", [False, True])
@pytest.mark.parametrize("fmt", FORMATS + ("fp8_e4m3", "3,2"))
def test_golden_matches_exact_reference(fmt, ftz):
    """``golden.fp_fma`` (through the block's golden()) on the block's stimulus and a sample of
    special triples, against the Fraction reference."""
    block = blocks.get("fp_fma", fmt=fmt, ftz=ftz)
    values = specials(block.fmt)
    rng = np.random.default_rng(21)
    cross = triples(values, values, values)
    sample = {k: v[rng.permutation(len(v))[:1000]] for k, v in cross.items()}
    inputs = concat(sample, block.stimulus(rng, 2500))
    twin = np.asarray(block.golden(inputs)["y"], dtype=np.uint64)
    want = exact_reference(inputs, block.fmt, ftz)
    assert np.array_equal(twin, want), mismatches(inputs, twin, want, block.fmt, ftz)


# -- the RTL on Amaranth's simulator --------------------------------------------------------------

@pytest.mark.parametrize("ftz, latency", [(False, 0), (True, 2)])
@pytest.mark.parametrize("fmt", FORMATS)
def test_pysim(fmt, ftz, latency):
    block = blocks.get("fp_fma", fmt=fmt, ftz=ftz, latency=latency)
    seed = 40 + 4 * FORMATS.index(fmt) + 2 * ftz + latency
    rng = np.random.default_rng(seed)
    values = specials(block.fmt)
    cross = triples(values, values, values)
    sample = {k: v[rng.permutation(len(v))[:1500]] for k, v in cross.items()}
    inputs = concat(sample, block.stimulus(rng, 2000))
    result = simulate_pysim(block, inputs, seed=seed, idle=0.2, backpressure=0.3)
    check(result, inputs, block.fmt, ftz)


# the largest latency: every cut of the plan registered
DEEPEST = blocks.block_class("fp_fma").params["latency"].max


@pytest.mark.parametrize("latency", [1, 3, DEEPEST])
@pytest.mark.parametrize("fmt", ["fp16", "6,9"])
def test_pysim_other_latencies(fmt, latency):
    ftz = latency == 3
    block = blocks.get("fp_fma", fmt=fmt, ftz=ftz, latency=latency)
    inputs = block.stimulus(np.random.default_rng(latency), 600)
    result = simulate_pysim(block, inputs, seed=latency, idle=0.2, backpressure=0.3)
    check(result, inputs, block.fmt, ftz)


def test_pysim_exhaustive_smallest_format():
    """Every triple of the 4-bit (2,1) format, with ftz (its normal values are 1, 1.5, 2 and 3,
    so products and sums leave the normal range in every direction)."""
    block = blocks.get("fp_fma", fmt="2,1", ftz=True, latency=1)
    inputs = every_triple(block.fmt)
    result = simulate_pysim(block, inputs, seed=5, idle=0.1, backpressure=0.1)
    check(result, inputs, block.fmt, True)
    want = exact_reference(inputs, block.fmt, True)
    got = np.asarray(result.outputs["y"], dtype=np.uint64)
    assert np.array_equal(got, want), mismatches(inputs, got, want, block.fmt, True)


# -- the RTL on Verilator -------------------------------------------------------------------------

# One latency and ftz setting per format; pysim covers latencies 0 and 2 at every format.
VERILATOR_POINTS = [("fp16", False, 1), ("bf16", True, 3), ("fp32", False, DEEPEST)]
# fp16 with ``-m long`` (Amaranth's simulator runs it in the suite; Verilator runs bf16 and fp32
# here and the default, bf16, in the flow)
VERILATOR_IN_SUITE = VERILATOR_POINTS[1:]


@pytest.mark.verilator
@pytest.mark.parametrize("fmt, ftz, latency", in_suite_or_long(VERILATOR_POINTS, VERILATOR_IN_SUITE))
def test_verilator(fmt, ftz, latency, rtl_out, tmp_path):
    """All special-value triples, then 100,000 triples of the block's stimulus."""
    block = blocks.get("fp_fma", fmt=fmt, ftz=ftz, latency=latency)
    seed = 3 + [point[0] for point in VERILATOR_POINTS].index(fmt)
    values = specials(block.fmt)
    random = block.stimulus(np.random.default_rng(seed), VERILATOR_TRIPLES)
    inputs = concat(triples(values, values, values), random)
    result = simulate(block, inputs, seed=seed, idle=0.1, backpressure=0.2, rtl_out=rtl_out,
                      out=tmp_path / "stalled")
    check(result, inputs, block.fmt, ftz)

    short = {k: v[-2000:] for k, v in inputs.items()}
    check_unstalled_cycles(block, short, latency, seed, rtl_out, tmp_path / "clean")


@pytest.mark.verilator
@pytest.mark.parametrize("fmt", ["3,2", "4,1"])
def test_verilator_exhaustive_tiny_format(fmt, rtl_out, tmp_path):
    """Every one of the 262,144 triples of a 6-bit format: each alignment, cancellation,
    rounding, subnormal and overflow case it has. (3,2) has the finer significands; (4,1) the
    wide exponent range relative to its precision that a subnormal times a large normal needs
    to leave c's lowest bits below the window (where the sticky bit meets the rounding bit)."""
    block = blocks.get("fp_fma", fmt=fmt, ftz=False, latency=2)
    inputs = every_triple(block.fmt)
    result = simulate(block, inputs, seed=2, idle=0.05, backpressure=0.05, rtl_out=rtl_out,
                      out=tmp_path)
    check(result, inputs, block.fmt, False)


# -- lint, parameters, ports, stimulus, model -----------------------------------------------------

# Every preset and tiny formats at two latencies (ftz alternating), and the widest format there is.
LINT_POINTS = lint_points((*PRESETS, "6,9", "3,2", "2,1"), DEEPEST + 1)


@pytest.mark.parametrize("fmt, latency", LINT_POINTS + [("11,52", 3)])
def test_lint(fmt, latency, rtl_out):
    lint_clean("fp_fma", dict(fmt=fmt, latency=latency, ftz=bool(latency % 2)), rtl_out)


def test_parameters():
    check_float_format_parameters("fp_fma")


def test_ports_info_and_model():
    fmt = parse_format("fp16")
    for latency in (0, 3):
        operator = FloatFMA(fmt, latency=latency)
        assert set(operator.signature.members) == {"a", "b", "c", "y"} | (
            {"en"} if latency else set())
        assert all(len(getattr(operator, port)) == 16 for port in ("a", "b", "c", "y"))
        Fragment.get(operator, None)  # elaborates
    block = blocks.get("fp_fma", fmt="fp32", latency=2)
    payload = block.signature.members["operands"].signature.members["payload"].shape
    assert payload.size == 96 and list(payload.members) == list(NAMES)
    assert block.info() == {"latency": 3, "width": 32, "exp_bits": 8, "man_bits": 23,
                            "in_width": 32, "out_width": 32}
    estimate = block.model({"pairs": 10})
    assert (estimate.cycles, estimate.latency, estimate.busy) == (13, 3, 10)
    assert (estimate.bytes_in, estimate.bytes_out) == (120, 40)
    with pytest.raises(ValueError, match="'c' is missing"):
        block.fields_to_beats({"a": np.zeros(2, dtype=np.uint64), "b": np.zeros(2, np.uint64)})


def test_stimulus():
    """Deterministic, well-formed, and reaching the cases an FMA can get wrong."""
    block = blocks.get("fp_fma", fmt="fp16")
    first = block.stimulus(np.random.default_rng(1), 8000)
    again = block.stimulus(np.random.default_rng(1), 8000)
    fmt = block.fmt
    for k in NAMES:
        assert np.array_equal(first[k], again[k])
        assert first[k].dtype == np.uint64 and first[k].shape == (8000,)
        assert int(first[k].max()) < 1 << 16
        assert set(block_special_values(fmt).tolist()) <= set(first[k].tolist())
    a, b, c = (first[k] for k in NAMES)
    fused = golden.fp_fma(a, b, c, fmt)
    unfused = golden.fp_add(golden.fp_mul(a, b, fmt), c, fmt)
    product = golden.fp_mul(a, b, fmt)
    magnitude = np.uint64(0x7FFF)
    exponent = lambda x: (x >> np.uint64(10)) & np.uint64(0x1F)  # noqa: E731
    finite = lambda x: exponent(x) != 0x1F  # noqa: E731
    assert np.sum(fused != unfused) > 400                        # the single rounding matters
    nonzero_product = finite(product) & (product & magnitude != 0)
    assert np.sum(nonzero_product & (fused & magnitude == 0)) > 5           # exact cancellation
    # massive cancellation: the result 8 or more binades below the rounded product
    drop = exponent(product).astype(np.int64) - exponent(fused).astype(np.int64)
    assert np.sum(nonzero_product & (drop > fmt.precision - 3)) > 200
    assert np.sum((fused & magnitude) == 0x7C00) > 200           # overflow to Inf
    assert np.sum(exponent(fused) == 0) > 400                    # subnormal or zero results
    # c more than precision + 2 binades above a nonzero product (the product is a sticky bit),
    # and below it
    gap = exponent(c).astype(np.int64) - exponent(product).astype(np.int64)
    usable = nonzero_product & finite(c) & (c & magnitude != 0)
    assert np.sum(usable & (gap > fmt.precision + 2)) > 100
    assert np.sum(usable & (gap < -fmt.precision - 2)) > 100
