"""Exponential and GELU function units (``fp_exp``, ``fp_gelu``).

* The RTL (``hwgen.numerics.rtl.exp``) is checked bit-exactly against the twins
  (``hwgen.numerics.golden``): exhaustively over all 65,536 fp16 and bf16 inputs on
  Verilator at the default parameters (with idle gaps and backpressure), and on Amaranth's
  simulator at other table sizes, degrees, bases, ranges, latencies and with ftz.
* The twins are checked against float64 ``exp``, ``exp2`` and ``x * Phi(x)`` (through
  ``math.erfc``): the documented error bounds hold over every input, and the special values
  follow the IEEE/maths definitions, written out here independently of both.
"""

from __future__ import annotations

import inspect
import math
from functools import partial

import numpy as np
import pytest
from amaranth.hdl import Fragment

from hwgen import blocks
from hwgen.numerics import golden
from hwgen.numerics.formats import PRESETS, FloatFormat
from hwgen.numerics.rtl import FloatExp, FloatGelu
from hwgen.numerics.rtl.exp import exp_table, gelu_table
from tests.support.numerics import (check_16_bit_formats_only, check_unary_pysim,
                                    check_unstalled_cycles, lint_clean,
                                    simulate_every_16_bit_input)

FORMATS = ("fp16", "bf16")
ALL = np.arange(1 << 16, dtype=np.uint64)
_erfc = np.vectorize(math.erfc, otypes=[np.float64])


def exact(name: str, x: np.ndarray) -> np.ndarray:
    """float64 references: e**x, 2**x, and x * Phi(x) with Phi(x) = erfc(-x / sqrt 2) / 2
    (erfc keeps the negative tail's relative accuracy)."""
    with np.errstate(all="ignore"):
        if name == "exp":
            return np.exp(x)
        if name == "exp2":
            return np.exp2(x)
        return x * 0.5 * _erfc(-x / math.sqrt(2.0))


def ulp_errors(fmt: FloatFormat, got: np.ndarray, x: np.ndarray, name: str,
               keep: np.ndarray | None = None) -> np.ndarray:
    """|result - exact| in units of the format's last place at the exact value, for every
    input whose exact result is finite, nonzero and not beyond the largest finite value (and
    in ``keep``, when given)."""
    want = exact(name, x)
    largest = golden.decode(np.uint64(fmt.inf() - 1), fmt)
    mask = np.isfinite(want) & (want != 0) & (np.abs(want) <= largest)
    if keep is not None:
        mask &= keep
    want, value = want[mask], golden.decode(got, fmt)[mask]
    binade = np.maximum(np.floor(np.log2(np.abs(want))), 1 - fmt.bias)
    return np.abs(value - want) / np.ldexp(1.0, (binade - fmt.man_bits).astype(np.int32))


def twin(name: str, a, fmt, ftz=False, **params) -> np.ndarray:
    if name == "exp2":
        return golden.fp_exp(a, fmt, ftz, base="2", **params)
    return getattr(golden, f"fp_{name}")(a, fmt, ftz, **params)


def _bits(fmt: FloatFormat, values) -> np.ndarray:
    return golden.encode(np.array(values, dtype=np.float64), fmt)


# -- the twins --------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", ["exp", "exp2"])
def test_twin_exp_error_bound_at_defaults(name, fmt):
    """Documented accuracy: every finite nonzero result (subnormals included) within 0.52 ulp
    of the exact value, i.e. at most 0.02 ulp worse than correct rounding."""
    fmt = PRESETS[fmt]
    x = golden.decode(ALL, fmt)
    errors = ulp_errors(fmt, twin(name, ALL, fmt), x, name)
    assert errors.size > 30_000
    assert errors.max() <= 0.52
    # the error of a rounding and nothing more, on the inputs that are neither 0, Inf nor 1
    assert errors[errors > 0].mean() < 0.26


@pytest.mark.parametrize("fmt, inside_bound, overall_bound", [("fp16", 0.62, 0.62),
                                                              ("bf16", 0.52, 256.0)])
def test_twin_gelu_error_bound_at_defaults(fmt, inside_bound, overall_bound):
    """Documented accuracy: within 0.62 ulp (fp16) / 0.52 ulp (bf16) for x > -4; for fp16 over
    every input. bf16's results for x <= -4 (|GELU| < 1.3e-4, down to 1e-40) need more relative
    precision than the polynomial's fixed point holds: within 256 ulp (100%), and in absolute
    terms below 2**-21 (fp16: 2**-24)."""
    fmt = PRESETS[fmt]
    x = golden.decode(ALL, fmt)
    got = twin("gelu", ALL, fmt)
    inside = ulp_errors(fmt, got, x, "gelu", keep=x > -4)
    assert inside.size > 45_000 and inside.max() <= inside_bound
    overall = ulp_errors(fmt, got, x, "gelu")
    assert overall.max() <= overall_bound
    finite = np.isfinite(x)
    tail = finite & (x <= -4)
    absolute = np.abs(golden.decode(got, fmt)[tail] - exact("gelu", x[tail]))
    assert absolute.max() < 2.0 ** (-24 if fmt == PRESETS["fp16"] else -21)


@pytest.mark.parametrize("name, params, low, high", [
    ("exp", dict(table_bits=2, degree=1), 5.0, 40.0),        # (ln2/4)**2/2 ~ 2**-6 relative
    ("exp", dict(table_bits=8, degree=1), 0.52, 0.8),
    ("exp", dict(table_bits=3, degree=3), 0.5, 0.52),
    ("gelu", dict(range=4, segments=16, degree=3), 1.0, 8.0),
    ("gelu", dict(range=4, segments=64, degree=2), 0.62, 1.2),
])
def test_twin_error_follows_the_algorithm(name, params, low, high):
    """Smaller tables and lower degrees cost what the Taylor remainder says (fp16, x > -4)."""
    fmt = PRESETS["fp16"]
    x = golden.decode(ALL, fmt)
    errors = ulp_errors(fmt, twin(name, ALL, fmt, **params), x, name, keep=x > -4)
    assert low <= errors.max() <= high


def test_tables():
    """The RTL's tables (its own code) equal the twin's, and mean what they document."""
    for table_bits, degree in ((2, 1), (5, 2), (8, 4)):
        for frac in (14, 17):
            table = exp_table(table_bits, degree, frac)
            assert [list(row) for row in golden.exp_coefficients(table_bits, degree,
                                                                      frac)] == table
            assert table[0][0] == 1 << frac                       # 2**0 exactly: exp(0) = 1
            starts = 2.0 ** (np.arange(1 << table_bits) / 2 ** table_bits)
            assert np.all(np.abs(np.array(table[1]) / 2 ** frac - starts * math.log(2))
                          <= 2.0 ** -(frac + 1))
    for range_, segments, degree in ((4, 16, 5), (8, 64, 3), (8, 256, 1)):
        for frac in (28, 31):
            table = gelu_table(range_, segments, degree, frac)
            assert [list(row) for row in golden.gelu_coefficients(range_, segments, degree,
                                                                      frac)] == table
            mids = (np.arange(segments) + 0.5) * range_ / segments
            q = 0.5 * _erfc(mids / math.sqrt(2.0))
            assert np.all(np.abs(np.array(table[0]) / 2 ** frac - q) <= 2.0 ** -(frac + 1))
            slope = -np.exp(-mids ** 2 / 2) / math.sqrt(2 * math.pi)  # Q' = -phi
            assert np.all(np.abs(np.array(table[1]) / 2 ** frac - slope) <= 2.0 ** -(frac + 1))
    # the log2(e) constant: fp16 t has 17 fraction bits, k_sat = 5, so LF = 24
    constants = golden.exp_constants(PRESETS["fp16"], "e")
    assert constants["LF"] == 24 and constants["k_sat"] == 5
    assert constants["L"] == round(math.log2(math.e) * 2 ** 24) == 0x1715476
    assert golden.exp_constants(PRESETS["bf16"], "2")["k_sat"] == 8   # |x| < 256 matters


@pytest.mark.parametrize("fmt", FORMATS)
def test_twin_exp_special_values(fmt):
    fmt = PRESETS[fmt]
    inf, nan, sign, one = fmt.inf(), fmt.canonical_nan, 1 << (fmt.width - 1), fmt.bias << fmt.man_bits
    snan = sign | fmt.inf() | 1
    for name in ("exp", "exp2"):
        cases = {0: one, sign: one, inf: inf, sign | inf: 0, nan: nan, snan: nan,
                 1: one, sign | 1: one,                           # e**tiny rounds to 1
                 fmt.inf() - 1: inf, sign | (fmt.inf() - 1): 0}   # overflow, underflow
        for a, want in cases.items():
            assert int(twin(name, [a], fmt)[0]) == want, (name, hex(a))
    # exp2 of an integer is exact: 2**n from the largest normal power to the smallest subnormal
    n = np.arange(-fmt.bias - fmt.man_bits + 1, fmt.bias + 1)
    assert np.array_equal(twin("exp2", _bits(fmt, n), fmt), _bits(fmt, 2.0 ** n))
    assert int(twin("exp2", _bits(fmt, [fmt.bias + 1.0]), fmt)[0]) == inf
    assert int(twin("exp2", _bits(fmt, [-fmt.bias - fmt.man_bits - 1.0]), fmt)[0]) == 0
    # subnormal results, flushed under ftz; ftz inputs: a subnormal x gives exactly 1
    low = _bits(fmt, [-fmt.bias - fmt.man_bits / 2])
    assert 0 < int(twin("exp2", low, fmt)[0]) < 1 << fmt.man_bits
    assert int(twin("exp2", low, fmt, True)[0]) == 0
    assert int(twin("exp", [sign | 1], fmt, True)[0]) == one
    # monotonic over the finite inputs of either sign
    for name in ("exp", "exp2"):
        up = golden.decode(twin(name, np.arange(0, fmt.inf(), dtype=np.uint64), fmt), fmt)
        assert np.all(up[1:] >= up[:-1])
        down = golden.decode(twin(name, np.arange(sign, sign | fmt.inf(), dtype=np.uint64),
                                  fmt), fmt)
        assert np.all(down[1:] <= down[:-1])


@pytest.mark.parametrize("fmt", FORMATS)
def test_twin_gelu_special_values(fmt):
    fmt = PRESETS[fmt]
    inf, nan, sign = fmt.inf(), fmt.canonical_nan, 1 << (fmt.width - 1)
    snan = sign | fmt.inf() | 1
    cases = {0: 0, sign: sign, inf: inf, sign | inf: sign, nan: nan, snan: nan,
             fmt.inf() - 1: fmt.inf() - 1, sign | (fmt.inf() - 1): sign}
    for a, want in cases.items():
        assert int(twin("gelu", [a], fmt)[0]) == want, hex(a)
    for range_ in (4, 8):
        # from range on, x itself (positive) or -0 (negative)
        edge = _bits(fmt, [range_, range_ * 1.5, -range_, -range_ * 3])
        assert np.array_equal(twin("gelu", edge, fmt, range=range_),
                              np.array([edge[0], edge[1], sign, sign], dtype=np.uint64))
    # tiny x: GELU(x) = x/2 (1 + x*sqrt(2/pi) + ...) rounds to x/2 for the smallest subnormals
    tiny = np.array([2, 4, sign | 2, sign | 8], dtype=np.uint64)
    assert np.array_equal(twin("gelu", tiny, fmt), np.array([1, 2, sign | 1, sign | 4]))
    assert np.array_equal(twin("gelu", tiny, fmt, True), tiny & np.uint64(sign))
    # GELU(1) = Phi(1) = 0.8413447, GELU(-1) = -0.1586553
    assert np.array_equal(twin("gelu", _bits(fmt, [1.0, -1.0]), fmt),
                          _bits(fmt, [0.8413447460685429, -0.15865525393145707]))


def test_twin_arguments():
    fp16 = PRESETS["fp16"]
    with pytest.raises(ValueError, match="table_bits=9 is out of range: allowed 2..8"):
        golden.fp_exp([0], fp16, table_bits=9)
    with pytest.raises(ValueError, match="degree=0 is out of range: allowed 1..4"):
        golden.fp_exp([0], fp16, degree=0)
    with pytest.raises(ValueError, match="base='10' is out of range: allowed one of e, 2"):
        golden.fp_exp([0], fp16, base="10")
    with pytest.raises(ValueError, match="range=5 is out of range: allowed one of 4, 8"):
        golden.fp_gelu([0], fp16, range=5)
    with pytest.raises(ValueError, match="segments=48 is out of range"):
        golden.fp_gelu([0], fp16, segments=48)
    with pytest.raises(ValueError, match="degree=6 is out of range: allowed 1..5"):
        golden.fp_gelu([0], fp16, degree=6)
    with pytest.raises(TypeError):
        golden.fp_exp(np.array([1.0]), fp16)
    with pytest.raises(ValueError, match="at most 16 bits"):
        golden.fp_gelu([0], PRESETS["fp32"])
    assert golden.fp_gelu(np.zeros((2, 3), dtype=np.uint64), fp16).shape == (2, 3)
    assert golden.fp_exp(np.zeros((2, 3), dtype=np.uint64), "bf16").shape == (2, 3)


# -- the RTL on Amaranth's simulator ------------------------------------------------------------

def edge_inputs(fmt: FloatFormat, rng, n: int) -> np.ndarray:
    """Special values, a sample of subnormals (both signs), the saturation and range edges, and
    random patterns."""
    M, sign = fmt.man_bits, np.uint64(1 << (fmt.width - 1))
    subnormals = rng.choice(np.arange(1 << M, dtype=np.uint64), size=min(1 << M, 200),
                            replace=False)
    edges = _bits(fmt, [4, 8, 16, 32, 64, 128, 256, 11, 12, 88, 89, 90, 17, 18, 24, 25, 26])
    parts = [golden.special_values(fmt), subnormals, subnormals | sign, edges, edges | sign,
             edges - np.uint64(1), (edges - np.uint64(1)) | sign,
             rng.integers(0, 1 << fmt.width, size=n, dtype=np.uint64)]
    return np.concatenate(parts).astype(np.uint64)


def deepest(name: str) -> int:
    """The block's largest latency: every cut point of its largest size registered."""
    return blocks.block_class(name).params["latency"].max


PYSIM_POINTS = [
    ("fp_exp", dict(fmt="fp16", table_bits=3, degree=3, ftz=True, latency=0)),
    ("fp_exp", dict(fmt="bf16", base="2", table_bits=8, degree=1, latency=4)),
    ("fp_exp", dict(fmt="fp16", base="2", table_bits=2, degree=4, latency=deepest("fp_exp"))),
    ("fp_gelu", dict(fmt="fp16", range=4, segments=16, degree=5, ftz=True,
                     latency=deepest("fp_gelu"))),
    ("fp_gelu", dict(fmt="bf16", segments=256, degree=1, latency=4)),
    ("fp_gelu", dict(fmt="bf16", range=4, segments=8, degree=2, ftz=True, latency=3)),
    ("fp_gelu", dict(fmt="fp16", segments=32, degree=4, latency=0)),
]


@pytest.mark.parametrize("name, params", PYSIM_POINTS)
def test_pysim(name, params):
    unit = "exp" if name == "fp_exp" else "gelu"
    check_unary_pysim(name, params, seed=PYSIM_POINTS.index((name, params)),
                      inputs=partial(edge_inputs, n=1000), twin=partial(twin, unit))


# -- the RTL on Verilator, exhaustively ---------------------------------------------------------

VERILATOR_POINTS = [
    ("fp_exp", dict(fmt="fp16"), "exp"),
    ("fp_exp", dict(fmt="bf16"), "exp"),
    ("fp_exp", dict(fmt="bf16", base="2", ftz=True, latency=3), "exp2"),
    ("fp_gelu", dict(fmt="fp16"), "gelu"),
    ("fp_gelu", dict(fmt="bf16"), "gelu"),
]


@pytest.mark.verilator
@pytest.mark.parametrize("name, params, unit", VERILATOR_POINTS)
def test_verilator_exhaustive(name, params, unit, rtl_out, tmp_path):
    """All 65,536 inputs, shuffled, with idle gaps and backpressure; then an unstalled run
    whose cycle count is the model's. Defaults (the 105 MHz latency) except for the exp2 point."""
    block = blocks.get(name, **params)
    a, got = simulate_every_16_bit_input(block, rtl_out, tmp_path / "stalled")
    ftz = params.get("ftz", False)
    assert np.array_equal(got, twin(unit, a, block.fmt, ftz))
    if not ftz:   # and the twin's error bound therefore holds for the hardware
        x = golden.decode(a, block.fmt)
        errors = ulp_errors(block.fmt, got, x, unit, keep=x > -4)
        assert errors.max() <= 0.62
    check_unstalled_cycles(block, {"a": a[:1000]}, block.p.latency, 5, rtl_out, tmp_path / "clean")


# -- lint, parameters, ports, stimulus ----------------------------------------------------------

@pytest.mark.parametrize("point", range(5))
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", ["fp_exp", "fp_gelu"])
def test_lint(name, fmt, point, rtl_out):
    # ftz and the algorithm parameters vary with the point, so each is linted in both forms;
    # the last point is the deepest pipeline
    latency = (0, 1, 2, 3, deepest(name))[point]
    params = dict(fmt=fmt, latency=latency, ftz=bool(point % 2))
    if name == "fp_exp":
        params.update(base="e2"[point % 2], table_bits=(5, 2, 8, 4, 6)[point],
                      degree=(2, 1, 4, 3, 4)[point])
    else:
        params.update(range=(8, 4)[point % 2], segments=(64, 8, 256, 16, 32)[point],
                      degree=(3, 1, 5, 2, 5)[point])
    lint_clean(name, params, rtl_out)


def test_parameters():
    exp, gelu = blocks.get("fp_exp"), blocks.get("fp_gelu")
    assert exp.fmt == PRESETS["bf16"] and not exp.p.ftz
    assert exp.p.latency == exp.params["latency"].default    # the plan's 105 MHz latency
    assert (exp.p.base, exp.p.table_bits, exp.p.degree) == ("e", 5, 2)
    assert (gelu.p.range, gelu.p.segments, gelu.p.degree) == (8, 64, 3)
    # the block defaults are the twins' defaults (the accuracy bench calls the twins bare)
    assert golden.EXP_DEFAULTS == {"base": "e", "table_bits": 5, "degree": 2}
    assert golden.GELU_DEFAULTS == {"range": 8, "segments": 64, "degree": 3}
    for function, defaults in ((golden.fp_exp, golden.EXP_DEFAULTS),
                               (golden.fp_gelu, golden.GELU_DEFAULTS)):
        signature = inspect.signature(function).parameters
        assert {name: signature[name].default for name in defaults} == defaults
    assert blocks.get("fp_exp", fmt="fp16", base="2", table_bits="8").op == "exp2"
    for name in ("fp_exp", "fp_gelu"):
        check_16_bit_formats_only(name)


# A constructor that refuses its arguments still leaves an (unused) Elaboratable behind.
@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
def test_operator_arguments_and_ports():
    fp16 = PRESETS["fp16"]
    with pytest.raises(ValueError, match="table_bits=1 is out of range: allowed 2..8"):
        FloatExp(fp16, table_bits=1)
    with pytest.raises(ValueError, match="base='3' is out of range: allowed one of e, 2"):
        FloatExp(fp16, base="3")
    with pytest.raises(ValueError, match="segments=12 is out of range"):
        FloatGelu(fp16, segments=12)
    with pytest.raises(ValueError, match="latency must be >= 0"):
        FloatGelu(fp16, latency=-1)
    for latency in (0, 3):
        for unit in (FloatExp(fp16, latency=latency), FloatGelu(fp16, latency=latency)):
            assert set(unit.signature.members) == {"a", "y"} | ({"en"} if latency else set())
            Fragment.get(unit, None)  # elaborates (and so counts as used)
    block = blocks.get("fp_gelu", fmt="fp16", latency=2)
    assert block.signature.members["operands"].signature.members["payload"].shape.size == 16
    assert block.info()["latency"] == 3 and block.info()["out_width"] == 16
    estimate = block.model({"pairs": 10})
    assert (estimate.cycles, estimate.bytes_in, estimate.bytes_out) == (13, 20, 20)


def test_stimulus():
    for name in ("fp_exp", "fp_gelu"):
        block = blocks.get(name, fmt="bf16")
        first = block.stimulus(np.random.default_rng(1), 70_000)["a"]
        again = block.stimulus(np.random.default_rng(1), 70_000)["a"]
        assert np.array_equal(first, again) and first.dtype == np.uint64
        assert np.array_equal(np.sort(first[:1 << 16]), ALL)       # every pattern once
        assert not np.array_equal(first[:1 << 16], ALL)            # shuffled
