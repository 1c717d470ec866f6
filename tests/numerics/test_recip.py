"""Reciprocal and inverse-square-root function units (``fp_recip``, ``fp_rsqrt``).

* The RTL (``hwgen.numerics.rtl.recip``) is checked bit-exactly against the twins
  (``hwgen.numerics.golden``): exhaustively over all 65,536 fp16 and bf16 inputs on
  Verilator at the default parameters (with idle gaps and backpressure), and on Amaranth's
  simulator at other table sizes, iteration counts, latencies and with ftz.
* The twins are checked against float64 ``1/x`` and ``1/sqrt(x)``: the documented error
  bound holds over every input, and the special values follow the IEEE/maths definitions,
  written out here independently of both.
"""

from __future__ import annotations

import inspect
from functools import partial

import numpy as np
import pytest
from amaranth.hdl import Fragment

from hwgen import blocks
from hwgen.numerics import golden
from hwgen.numerics.formats import PRESETS, FloatFormat
from hwgen.numerics.rtl import FloatInverseSqrt, FloatReciprocal
from hwgen.numerics.rtl.recip import reciprocal_seeds, rsqrt_magic

from tests.support.numerics import (check_16_bit_formats_only, check_unary_pysim,
                                    check_unstalled_cycles, lint_clean, run_operator,
                                    simulate_every_16_bit_input)

UNITS = ("fp_recip", "fp_rsqrt")
FORMATS = ("fp16", "bf16")
ALL = np.arange(1 << 16, dtype=np.uint64)


def twin(name, a, fmt, ftz=False, **params):
    return getattr(golden, name)(a, fmt, ftz, **params)


def exact(name, x: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return 1 / x if name == "fp_recip" else 1 / np.sqrt(x)


def ulp_errors(fmt: FloatFormat, got: np.ndarray, x: np.ndarray, name: str) -> np.ndarray:
    """|result - exact| in units of the format's last place at the exact value, for every
    input whose exact result is finite, nonzero and not beyond the largest finite value."""
    want = exact(name, x)
    largest = golden.decode(np.uint64(fmt.inf() - 1), fmt)
    keep = np.isfinite(want) & (want != 0) & (np.abs(want) <= largest)
    want, value = want[keep], golden.decode(got, fmt)[keep]
    binade = np.maximum(np.floor(np.log2(np.abs(want))), 1 - fmt.bias)
    return np.abs(value - want) / np.ldexp(1.0, (binade - fmt.man_bits).astype(np.int32))


# -- the twins --------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", UNITS)
def test_twin_error_bound_at_defaults(name, fmt):
    """The documented accuracy: every finite result within 0.52 ulp of the exact value (at
    most 0.02 ulp worse than correct rounding), and rounding errors on average as small as
    correct rounding gives (about 0.25 ulp)."""
    fmt = PRESETS[fmt]
    errors = ulp_errors(fmt, twin(name, ALL, fmt), golden.decode(ALL, fmt), name)
    assert errors.size > 30_000
    assert errors.max() <= 0.52
    assert errors.mean() < 0.26


@pytest.mark.parametrize("name, params, low, high", [
    ("fp_recip", dict(seed_bits=7, iterations=0), 1.0, 10.0),     # the bare table seed
    ("fp_recip", dict(seed_bits=3, iterations=1), 1.0, 10.0),
    ("fp_recip", dict(seed_bits=2, iterations=3), 0.5, 0.52),
    ("fp_rsqrt", dict(iterations=0), 10.0, 80.0),                 # the bit trick: ~3.4%
    ("fp_rsqrt", dict(iterations=1), 1.0, 4.0),
])
def test_twin_error_follows_the_algorithm(name, params, low, high):
    """Fewer steps or a smaller table cost what Newton-Raphson's quadratic convergence says."""
    fmt = PRESETS["fp16"]
    errors = ulp_errors(fmt, twin(name, ALL, fmt, **params), golden.decode(ALL, fmt), name)
    assert low <= errors.max() <= high


def test_tables_and_magic():
    assert rsqrt_magic(PRESETS["fp32"]) == 0x5F3759DF            # the classic constant
    assert golden.rsqrt_magic(PRESETS["fp16"]) == rsqrt_magic(PRESETS["fp16"]) == 0x59BB
    assert golden.rsqrt_magic(PRESETS["bf16"]) == rsqrt_magic(PRESETS["bf16"]) == 0x5F37
    for seed_bits in (2, 7, 10):
        table = golden.recip_table(seed_bits, 10)
        assert list(table) == reciprocal_seeds(seed_bits)
        frac = seed_bits + 3
        mids = 1 + (2 * np.arange(1 << seed_bits) + 1) / 2 ** (seed_bits + 1)
        assert np.all(np.abs(np.array(table) / 2 ** frac - 1 / mids) <= 2.0 ** -(frac + 1))
        assert max(table) < 1 << frac
    assert len(golden.recip_table(10, 7)) == 1 << 7      # bf16: at most man_bits bits


def _bits(fmt: FloatFormat, values) -> np.ndarray:
    return golden.encode(np.array(values, dtype=np.float64), fmt)


@pytest.mark.parametrize("fmt", FORMATS)
def test_twin_special_values(fmt):
    fmt = PRESETS[fmt]
    inf, nan, sign = fmt.inf(), fmt.canonical_nan, 1 << (fmt.width - 1)
    largest, min_sub = fmt.inf() - 1, 1
    snan = sign | fmt.inf() | 1
    recip = {0: inf, sign: sign | inf, inf: 0, sign | inf: sign, nan: nan, snan: nan,
             min_sub: inf, sign | min_sub: sign | inf}       # 1/min subnormal overflows
    for a, want in recip.items():
        assert int(twin("fp_recip", [a], fmt)[0]) == want, hex(a)
    rsqrt = {0: inf, sign: sign | inf, inf: 0, sign | inf: nan, nan: nan, snan: nan,
             sign | min_sub: nan, sign | _bits(fmt, [1.0])[0]: nan}
    for a, want in rsqrt.items():
        assert int(twin("fp_rsqrt", [a], fmt)[0]) == want, hex(a)
    # exact cases: powers of two (4**k for rsqrt) come out exact
    powers = _bits(fmt, [1.0, 2.0, 0.5, 4.0, -8.0, 2.0 ** -20])
    assert np.array_equal(twin("fp_recip", powers, fmt),
                          _bits(fmt, [1.0, 0.5, 2.0, 0.25, -0.125, 2.0 ** 20]))
    squares = _bits(fmt, [1.0, 4.0, 0.25, 16.0, 2.0 ** -20])
    assert np.array_equal(twin("fp_rsqrt", squares, fmt),
                          _bits(fmt, [1.0, 0.5, 2.0, 0.25, 2.0 ** 10]))
    # ftz: subnormal inputs are zeros of their sign
    assert int(twin("fp_recip", [sign | min_sub], fmt, True)[0]) == sign | inf
    assert int(twin("fp_rsqrt", [sign | min_sub], fmt, True)[0]) == sign | inf
    assert int(twin("fp_rsqrt", [min_sub], fmt, True)[0]) == inf
    # the largest value's reciprocal is subnormal (or flushed under ftz)
    tiny = int(twin("fp_recip", [largest], fmt)[0])
    assert 0 < tiny < 1 << fmt.man_bits
    assert int(twin("fp_recip", [sign | largest], fmt, True)[0]) == sign


def test_twin_subnormal_inputs_are_accurate():
    """Subnormal inputs are normalized before the seed (the bit trick on a raw subnormal
    pattern would be far off)."""
    for fmt in (PRESETS["fp16"], PRESETS["bf16"]):
        subnormals = np.arange(1, 1 << fmt.man_bits, dtype=np.uint64)
        x = golden.decode(subnormals, fmt)
        for name in UNITS:
            errors = ulp_errors(fmt, twin(name, subnormals, fmt), x, name)
            assert errors.size > 0 and errors.max() <= 0.52


def test_twin_arguments():
    fp16 = PRESETS["fp16"]
    with pytest.raises(ValueError, match="iterations=4 is out of range: allowed 0..3"):
        golden.fp_recip([0], fp16, iterations=4)
    with pytest.raises(ValueError, match="seed_bits=0 is out of range"):
        golden.fp_recip([0], fp16, seed_bits=0)
    with pytest.raises(ValueError, match="iterations=-1 is out of range"):
        golden.fp_rsqrt([0], fp16, iterations=-1)
    with pytest.raises(TypeError):
        golden.fp_rsqrt(np.array([1.0]), fp16)
    assert golden.fp_recip(np.zeros((2, 3), dtype=np.uint64), fp16).shape == (2, 3)


# -- the RTL on Amaranth's simulator ------------------------------------------------------------

def edge_inputs(fmt: FloatFormat, rng, n: int) -> np.ndarray:
    """Special values, every subnormal (both signs, for fp16 a sample), and random patterns."""
    M, sign = fmt.man_bits, np.uint64(1 << (fmt.width - 1))
    subnormals = np.arange(1 << M, dtype=np.uint64)
    subnormals = rng.choice(subnormals, size=min(len(subnormals), 300), replace=False)
    parts = [golden.special_values(fmt), subnormals, subnormals | sign,
             rng.integers(0, 1 << fmt.width, size=n, dtype=np.uint64)]
    return np.concatenate(parts).astype(np.uint64)


def deepest(name: str) -> int:
    """The block's largest latency: every cut point of its largest size registered."""
    return blocks.block_class(name).params["latency"].max


PYSIM_POINTS = [
    ("fp_recip", dict(fmt="fp16", seed_bits=3, iterations=2, ftz=True, latency=0)),
    ("fp_recip", dict(fmt="bf16", seed_bits=10, iterations=0, latency=4)),
    ("fp_recip", dict(fmt="fp16", seed_bits=2, iterations=3, latency=deepest("fp_recip"))),
    ("fp_rsqrt", dict(fmt="fp16", iterations=1, ftz=True, latency=2)),
    ("fp_rsqrt", dict(fmt="bf16", iterations=3, latency=deepest("fp_rsqrt"))),
    ("fp_rsqrt", dict(fmt="fp16", iterations=0, latency=1)),
]


@pytest.mark.parametrize("name, params", PYSIM_POINTS)
def test_pysim(name, params):
    check_unary_pysim(name, params, seed=PYSIM_POINTS.index((name, params)),
                      inputs=partial(edge_inputs, n=2000), twin=partial(twin, name))


@pytest.mark.parametrize("fmt", ["fp8_e4m3", "fp8_e5m2", "fp32"])
def test_operators_on_other_formats(fmt):
    """The units (not the blocks, which take fp16 and bf16) work for any format: every fp8
    pattern, or a sample of fp32 ones, against the twins."""
    fmt = PRESETS[fmt]
    if fmt.width <= 8:
        inputs = np.arange(1 << fmt.width, dtype=np.uint64)
    else:
        inputs = np.concatenate([golden.special_values(fmt), np.random.default_rng(8).integers(
            0, 1 << fmt.width, size=400, dtype=np.uint64)])
    for ftz in (False, True):
        got = run_operator(FloatReciprocal(fmt, ftz=ftz, seed_bits=5, iterations=2), inputs)
        assert np.array_equal(got, twin("fp_recip", inputs, fmt, ftz, seed_bits=5, iterations=2))
        got = run_operator(FloatInverseSqrt(fmt, ftz=ftz, iterations=1), inputs)
        assert np.array_equal(got, twin("fp_rsqrt", inputs, fmt, ftz, iterations=1))


# -- the RTL on Verilator, exhaustively ---------------------------------------------------------

@pytest.mark.verilator
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", UNITS)
def test_verilator_exhaustive(name, fmt, rtl_out, tmp_path):
    """All 65,536 inputs, shuffled, at the default parameters, with idle gaps and
    backpressure; then an unstalled run whose cycle count is the model's."""
    block = blocks.get(name, fmt=fmt)      # the default latency: the plan's 105 MHz one
    a, got = simulate_every_16_bit_input(block, rtl_out, tmp_path / "stalled")
    assert np.array_equal(got, twin(name, a, block.fmt))
    # and the twin's error bound therefore holds for the hardware
    errors = ulp_errors(block.fmt, got, golden.decode(a, block.fmt), name)
    assert errors.max() <= 0.52
    check_unstalled_cycles(block, {"a": a[:1000]}, block.p.latency, 5, rtl_out, tmp_path / "clean")


# -- lint, parameters, ports, stimulus ----------------------------------------------------------

@pytest.mark.parametrize("point", range(5))
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", UNITS)
def test_lint(name, fmt, point, rtl_out):
    # ftz and the algorithm parameters vary with the point, so each is linted in both forms;
    # the last point is the deepest pipeline
    latency = (0, 1, 2, 3, deepest(name))[point]
    params = dict(fmt=fmt, latency=latency, ftz=bool(point % 2), iterations=(0, 1, 2, 1, 3)[point])
    if name == "fp_recip":
        params["seed_bits"] = (2, 7, 10, 4, 9)[point]
    lint_clean(name, params, rtl_out)


@pytest.mark.parametrize("name", UNITS)
def test_parameters(name):
    block = blocks.get(name)
    assert block.fmt == PRESETS["bf16"] and block.p.latency == block.params["latency"].default
    assert block.p.iterations == (1 if name == "fp_recip" else 2)
    assert blocks.get(name, fmt="fp16", iterations="3", ftz="yes").p.iterations == 3
    check_16_bit_formats_only(name)
    if name == "fp_recip":
        assert blocks.get(name).p.seed_bits == 7


def test_twin_defaults_are_the_block_defaults():
    """The accuracy bench calls the twins with their defaults: they must be the blocks'."""
    for name in UNITS:
        defaults = {key: p.default for key, p in
                    inspect.signature(getattr(golden, name)).parameters.items()
                    if p.kind is p.KEYWORD_ONLY}
        block = blocks.get(name)
        values = block.param_values
        assert defaults and defaults == {key: values[key] for key in defaults}
        assert set(defaults) == set(values) - {"fmt", "ftz", "latency", "target_mhz"}


# A constructor that refuses its arguments still leaves an (unused) Elaboratable behind.
@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
def test_operator_arguments_and_ports():
    fp16 = PRESETS["fp16"]
    with pytest.raises(ValueError, match="iterations=4 is out of range"):
        FloatReciprocal(fp16, iterations=4)
    with pytest.raises(ValueError, match="seed_bits=0 is out of range"):
        FloatReciprocal(fp16, seed_bits=0)
    with pytest.raises(ValueError, match="latency must be >= 0"):
        FloatInverseSqrt(fp16, latency=-1)
    for latency in (0, 3):
        for unit in (FloatReciprocal(fp16, latency=latency),
                     FloatInverseSqrt(fp16, latency=latency)):
            assert set(unit.signature.members) == {"a", "y"} | ({"en"} if latency else set())
            Fragment.get(unit, None)  # elaborates (and so counts as used)
    block = blocks.get("fp_rsqrt", fmt="fp16")
    assert block.signature.members["operands"].signature.members["payload"].shape.size == 16
    assert block.info()["latency"] == block.p.latency + 1 and block.info()["out_width"] == 16
    estimate = block.model({"pairs": 10})
    assert (estimate.cycles, estimate.bytes_in, estimate.bytes_out) == (10 + block.p.latency + 1, 20, 20)


def test_stimulus():
    block = blocks.get("fp_recip", fmt="fp16")
    first = block.stimulus(np.random.default_rng(1), 70_000)["a"]
    again = block.stimulus(np.random.default_rng(1), 70_000)["a"]
    assert np.array_equal(first, again) and first.dtype == np.uint64 and first.shape == (70_000,)
    assert np.array_equal(np.sort(first[:1 << 16]), ALL)          # every pattern once, then more
    assert not np.array_equal(first[:1 << 16], ALL)               # shuffled
    assert block.stimulus(np.random.default_rng(1), 10)["a"].shape == (10,)
    assert block.stimulus(np.random.default_rng(1), 0)["a"].shape == (0,)
