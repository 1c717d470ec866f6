"""The floating-point golden twins (hwgen/numerics/golden.py) against the world and against
an independent exact reference.

"The world" is NumPy's own IEEE float16/float32/float64 arithmetic and conversions, and
ml_dtypes' bfloat16 and float8 types. The independent reference below works on
``fractions.Fraction`` values and rounds with Python's ``round()`` (ties to even); it shares no
code with the twins, which do integer bit manipulation.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from hwgen.numerics import golden as g
from hwgen.numerics.formats import PRESETS, FloatFormat

import ml_dtypes  # in the test extra (>= 0.5, which has the IEEE-like float8_e4m3)

FP16, FP32, BF16 = PRESETS["fp16"], PRESETS["fp32"], PRESETS["bf16"]
E4M3, E5M2 = PRESETS["fp8_e4m3"], PRESETS["fp8_e5m2"]
FP64 = FloatFormat(11, 52)
ODD = FloatFormat(6, 9)
TINY = FloatFormat(2, 1)

NP_TYPES = {FP16: (np.float16, np.uint16), FP32: (np.float32, np.uint32), FP64: (np.float64, np.uint64)}


# ---------------------------------------------------------------------------------------------
# Independent exact reference (Fractions)
# ---------------------------------------------------------------------------------------------

NAN = ("nan",)


def ref_value(bits: int, fmt: FloatFormat):
    """("nan",) | ("inf", sign) | ("fin", sign, magnitude as a Fraction)."""
    bits = int(bits)
    sign = bits >> (fmt.width - 1)
    e = (bits >> fmt.man_bits) & fmt.exp_max
    f = bits & ((1 << fmt.man_bits) - 1)
    if e == fmt.exp_max:
        return NAN if f else ("inf", sign)
    frac = Fraction(f, 1 << fmt.man_bits)
    if e == 0:
        return ("fin", sign, frac * Fraction(2) ** (1 - fmt.bias))
    return ("fin", sign, (1 + frac) * Fraction(2) ** (e - fmt.bias))


def ref_daz(x, fmt):
    if x[0] == "fin" and x[2] < Fraction(2) ** (1 - fmt.bias):
        return ("fin", x[1], Fraction(0))
    return x


def ref_round(v: Fraction, zero_sign: int, fmt: FloatFormat, ftz=False) -> int:
    """The pattern nearest to v, ties to even, by Fraction arithmetic and round()."""
    width, m = fmt.width, fmt.man_bits
    if v == 0:
        return zero_sign << (width - 1)
    sign = 1 if v < 0 else 0
    a = abs(v)
    e = a.numerator.bit_length() - a.denominator.bit_length()
    if Fraction(2) ** e > a:
        e -= 1                                     # now 2**e <= a < 2**(e+1)
    emin, emax = 1 - fmt.bias, fmt.exp_max - 1 - fmt.bias
    ulp = Fraction(2) ** (max(e, emin) - m)
    r = round(a / ulp) * ulp                       # Fraction.__round__: half to even
    largest = (2 - Fraction(1, 1 << m)) * Fraction(2) ** emax
    if r > largest:
        return fmt.inf(sign)
    if r < Fraction(2) ** emin:                    # subnormal (or zero)
        field = 0 if ftz else int(r / Fraction(2) ** (emin - m))
        return (sign << (width - 1)) | field
    e = r.numerator.bit_length() - r.denominator.bit_length()
    if Fraction(2) ** e > r:
        e -= 1
    frac = (r / Fraction(2) ** e - 1) * (1 << m)
    assert frac.denominator == 1
    return (sign << (width - 1)) | ((e + fmt.bias) << m) | int(frac)


def ref_signed(x) -> Fraction:
    return -x[2] if x[1] else x[2]


def ref_product(x, y):
    """The exact product in the extended domain, or NAN for NaN inputs and Inf*0."""
    if x == NAN or y == NAN:
        return NAN
    sign = x[1] ^ y[1]
    if x[0] == "inf" or y[0] == "inf":
        if (x[0] == "fin" and x[2] == 0) or (y[0] == "fin" and y[2] == 0):
            return NAN
        return ("inf", sign)
    return ("fin", sign, x[2] * y[2])


def ref_sum(x, y):
    if x == NAN or y == NAN:
        return NAN
    if x[0] == "inf" and y[0] == "inf":
        return x if x[1] == y[1] else NAN
    if x[0] == "inf":
        return x
    if y[0] == "inf":
        return y
    v = ref_signed(x) + ref_signed(y)
    if v == 0:
        # exact zero sum: -0 only for (-0) + (-0) (two negatives can only cancel if both are 0)
        return ("fin", x[1] & y[1], Fraction(0))
    return ("fin", 1 if v < 0 else 0, abs(v))


def ref_bits(x, fmt, ftz=False) -> int:
    if x == NAN:
        return fmt.canonical_nan
    if x[0] == "inf":
        return fmt.inf(x[1])
    return ref_round(ref_signed(x), x[1], fmt, ftz)


def _operands(fmt, ftz, *patterns):
    values = [ref_value(p, fmt) for p in patterns]
    return [ref_daz(v, fmt) for v in values] if ftz else values


def ref_mul(a, b, fmt, ftz=False):
    return ref_bits(ref_product(*_operands(fmt, ftz, a, b)), fmt, ftz)


def ref_add(a, b, fmt, ftz=False):
    return ref_bits(ref_sum(*_operands(fmt, ftz, a, b)), fmt, ftz)


def ref_sub(a, b, fmt, ftz=False):
    x, y = _operands(fmt, ftz, a, b)
    y = y if y == NAN else (y[0], 1 - y[1], *y[2:])
    return ref_bits(ref_sum(x, y), fmt, ftz)


def ref_fma(a, b, c, fmt, ftz=False):
    x, y, z = _operands(fmt, ftz, a, b, c)
    return ref_bits(ref_sum(ref_product(x, y), z), fmt, ftz)


def check_against_ref(got, ref_fn, fmt, *cols, ftz=False):
    want = [ref_fn(*args, fmt, ftz) for args in zip(*(np.asarray(c).tolist() for c in cols))]
    got = np.asarray(got).tolist()
    bad = [i for i, (x, y) in enumerate(zip(got, want)) if x != y]
    assert not bad, (f"{len(bad)} mismatches, first: inputs "
                     f"{[hex(int(c[bad[0]])) for c in cols]} got {got[bad[0]]:#x} want {want[bad[0]]:#x}")


# ---------------------------------------------------------------------------------------------
# Stimulus
# ---------------------------------------------------------------------------------------------

def random_bits(rng, fmt, n):
    """Uniform over the whole bit-pattern space."""
    return rng.integers(0, 1 << fmt.width, size=n, dtype=np.uint64)


def make_bits(rng, fmt, exp_fields):
    """Random sign and fraction with the given exponent fields (clipped to finite ones)."""
    exp_fields = np.clip(np.asarray(exp_fields, dtype=np.int64), 0, fmt.exp_max - 1).astype(np.uint64)
    n = exp_fields.size
    sign = rng.integers(0, 2, size=n, dtype=np.uint64)
    frac = rng.integers(0, 1 << fmt.man_bits, size=n, dtype=np.uint64)
    return (sign << np.uint64(fmt.width - 1)) | (exp_fields << np.uint64(fmt.man_bits)) | frac


def exp_field(bits, fmt):
    return ((np.asarray(bits, dtype=np.uint64) >> np.uint64(fmt.man_bits)) & np.uint64(fmt.exp_max)).astype(np.int64)


def near_pairs(rng, fmt, n, spread):
    """Pairs whose exponents differ by at most ``spread``: cancellation, carries, sticky bits."""
    a = make_bits(rng, fmt, rng.integers(0, fmt.exp_max, size=n))
    b = make_bits(rng, fmt, exp_field(a, fmt) + rng.integers(-spread, spread + 1, size=n))
    return a, b


def product_pairs(rng, fmt, n, targets):
    """Pairs whose product's unbiased exponent is near one of ``targets`` (underflow and
    overflow boundaries)."""
    ea = rng.integers(1, fmt.exp_max, size=n)
    t = rng.choice(np.asarray(targets), size=n) + rng.integers(-2, 3, size=n)
    eb = t - (ea - fmt.bias) + fmt.bias
    return make_bits(rng, fmt, ea), make_bits(rng, fmt, eb)


def boundary_targets(fmt):
    emin, emax = 1 - fmt.bias, fmt.exp_max - 1 - fmt.bias
    return [emin - fmt.man_bits - 1, emin - fmt.man_bits // 2, emin - 1, emin, emax, emax + 1]


def special_pairs(fmt):
    s = g.special_values(fmt)
    a, b = np.meshgrid(s, s, indexing="ij")
    return a.ravel(), b.ravel()


def stimulus_pairs(rng, fmt, n_uniform):
    parts = [(random_bits(rng, fmt, n_uniform), random_bits(rng, fmt, n_uniform)),
             near_pairs(rng, fmt, n_uniform // 4, 2),
             near_pairs(rng, fmt, n_uniform // 8, fmt.man_bits + 3),
             product_pairs(rng, fmt, n_uniform // 4, boundary_targets(fmt)),
             special_pairs(fmt)]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


# ---------------------------------------------------------------------------------------------
# 1. Arithmetic against NumPy
# ---------------------------------------------------------------------------------------------

def np_op(op, a, b, fmt):
    ftype, utype = NP_TYPES[fmt]
    x = a.astype(utype).view(ftype)
    y = b.astype(utype).view(ftype)
    with np.errstate(all="ignore"):
        r = op(x, y)
    return r, r.view(utype).astype(np.uint64)


def assert_matches_numpy(got, ref_float, ref_bits, fmt, inputs):
    nan = np.isnan(ref_float)
    assert (got[nan] == fmt.canonical_nan).all(), "NumPy NaN must be the twin's canonical NaN"
    bad = np.flatnonzero(~nan & (got != ref_bits))
    assert bad.size == 0, (f"{bad.size} mismatches, first: inputs "
                           f"{[hex(int(x[bad[0]])) for x in inputs]} got {int(got[bad[0]]):#x} "
                           f"numpy {int(ref_bits[bad[0]]):#x}")


@pytest.mark.parametrize("fmt", [FP16, FP32], ids=["fp16", "fp32"])
@pytest.mark.parametrize("name, op", [("mul", np.multiply), ("add", np.add), ("sub", np.subtract)])
def test_arithmetic_matches_numpy(fmt, name, op):
    # float16 arithmetic in NumPy is done in float32 and rounded to float16: exact for + - *
    # since 24 >= 2*11 + 2 (double rounding is innocuous).
    rng = np.random.default_rng(2024)
    a, b = stimulus_pairs(rng, fmt, 100_000)
    twin = {"mul": g.fp_mul, "add": g.fp_add, "sub": g.fp_sub}[name]
    got = twin(a, b, fmt)
    assert got.dtype == np.uint64 and got.shape == a.shape
    ref_float, ref_bits = np_op(op, a, b, fmt)
    assert_matches_numpy(got, ref_float, ref_bits, fmt, (a, b))


@pytest.mark.parametrize("name, op", [("mul", np.multiply), ("add", np.add), ("sub", np.subtract)])
def test_float64_arithmetic_matches_numpy(name, op):
    """The widest allowed format, (11, 52), is IEEE binary64: exercises 64-bit patterns."""
    rng = np.random.default_rng(64)
    a, b = stimulus_pairs(rng, FP64, 20_000)
    twin = {"mul": g.fp_mul, "add": g.fp_add, "sub": g.fp_sub}[name]
    ref_float, ref_bits = np_op(op, a, b, FP64)
    assert_matches_numpy(twin(a, b, FP64), ref_float, ref_bits, FP64, (a, b))


def test_min_max_compare_match_numpy():
    rng = np.random.default_rng(7)
    a, b = stimulus_pairs(rng, FP32, 20_000)
    x, y = a.astype(np.uint32).view(np.float32), b.astype(np.uint32).view(np.float32)
    nan = np.isnan(x) | np.isnan(y)
    for twin, op in [(g.fp_min, np.minimum), (g.fp_max, np.maximum)]:
        got = twin(a, b, FP32)
        assert (got[nan] == FP32.canonical_nan).all()
        # value equality (NumPy does not define which zero min(-0, +0) returns) ...
        assert (g.decode(got, FP32)[~nan] == op(x, y)[~nan]).all()
        # ... and the result is always one of the operands
        assert ((got == a) | (got == b))[~nan].all()
    cmp = g.fp_compare(a, b, FP32)
    assert (cmp["unordered"] == nan).all()
    assert (cmp["lt"] == (x < y)).all() and (cmp["eq"] == (x == y)).all() and (cmp["gt"] == (x > y)).all()
    total = cmp["lt"].astype(int) + cmp["eq"] + cmp["gt"] + cmp["unordered"]
    assert (total == 1).all()


def test_min_max_zeros_and_nans():
    pz, nz, one = 0x0000, 0x8000, 0x3C00
    assert int(g.fp_min(pz, nz, FP16)) == nz and int(g.fp_min(nz, pz, FP16)) == nz
    assert int(g.fp_max(pz, nz, FP16)) == pz and int(g.fp_max(nz, pz, FP16)) == pz
    snan = 0xFC01
    for f in (g.fp_min, g.fp_max):
        assert int(f(one, snan, FP16)) == FP16.canonical_nan
        assert int(f(0x7E00, one, FP16)) == FP16.canonical_nan
    cmp = g.fp_compare([pz, one, snan], [nz, 0x4000, snan], FP16)
    assert cmp["eq"].tolist() == [True, False, False]
    assert cmp["lt"].tolist() == [False, True, False]
    assert cmp["unordered"].tolist() == [False, False, True]
    # ftz: subnormals are zeros for min/max/compare
    assert g.fp_compare(0x0001, 0x8003, FP16, ftz=True)["eq"].item()
    assert g.fp_compare(0x0001, 0x8003, FP16)["gt"].item()
    assert int(g.fp_min(0x0001, 0x8003, FP16, ftz=True)) == nz
    assert int(g.fp_max(0x0001, 0x0000, FP16, ftz=True)) == pz


# ---------------------------------------------------------------------------------------------
# 2. fma against the exact reference
# ---------------------------------------------------------------------------------------------

def fma_triples(rng, fmt, n):
    q = n // 5
    moderate = lambda k: make_bits(rng, fmt, fmt.bias + rng.integers(-fmt.man_bits - 2, fmt.man_bits + 3, size=k))
    # uniform
    a1, b1, c1 = (random_bits(rng, fmt, q) for _ in range(3))
    # comparable magnitudes of a*b and c
    a2, b2 = moderate(q), moderate(q)
    c2 = make_bits(rng, fmt, exp_field(a2, fmt) + exp_field(b2, fmt) - fmt.bias + rng.integers(-3, 4, size=q))
    # c close to -a*b: massive cancellation, the result is (nearly) the product's rounding error
    a3, b3 = moderate(q), moderate(q)
    c3 = (g.fp_mul(a3, b3, fmt) ^ np.uint64(1 << (fmt.width - 1))).astype(np.int64)
    c3 = c3 + rng.integers(-2, 3, size=q)
    c3 = np.where(exp_field(np.clip(c3, 0, None), fmt) == fmt.exp_max, 0, np.clip(c3, 0, (1 << fmt.width) - 1))
    c3 = c3.astype(np.uint64)
    # products near underflow / overflow, c small or near the boundary
    a4, b4 = product_pairs(rng, fmt, q, boundary_targets(fmt))
    c4 = make_bits(rng, fmt, rng.integers(0, 3, size=q))
    # specials, sampled from the full cross product
    s = g.special_values(fmt)
    a5, b5, c5 = (rng.choice(s, size=n - 4 * q) for _ in range(3))
    return (np.concatenate(x) for x in [(a1, a2, a3, a4, a5), (b1, b2, b3, b4, b5), (c1, c2, c3, c4, c5)])


@pytest.mark.parametrize("fmt", [FP16, BF16, FP32, ODD], ids=["fp16", "bf16", "fp32", "e6m9"])
def test_fma_matches_exact_reference(fmt):
    rng = np.random.default_rng(31)
    a, b, c = fma_triples(rng, fmt, 20_000)
    check_against_ref(g.fp_fma(a, b, c, fmt), ref_fma, fmt, a, b, c)


def test_fma_is_single_rounding():
    # fp32: (1 + 2**-23)**2 = 1 + 2**-22 + 2**-46 exactly; minus (1 + 2**-22) leaves 2**-46,
    # which a separately rounded multiply would already have lost.
    a, c = 0x3F800001, 0xBF800002                    # 1 + 2**-23, -(1 + 2**-22)
    assert int(g.fp_fma(a, a, c, FP32)) == 0x28800000                    # 2**-46
    assert int(g.fp_add(g.fp_mul(a, a, FP32), c, FP32)) == 0


# ---------------------------------------------------------------------------------------------
# 3. Conversions against NumPy and ml_dtypes
# ---------------------------------------------------------------------------------------------

def all_patterns(fmt):
    return np.arange(1 << fmt.width, dtype=np.uint64)


def fp32_sample(rng, n, around=None):
    """Random fp32 patterns: uniform, plus exponents near ``around`` (a target format's range)."""
    parts = [random_bits(rng, FP32, n), g.special_values(FP32)]
    if around is not None:
        lo, hi = around
        parts.append(make_bits(rng, FP32, rng.integers(lo, hi + 1, size=n)))
    return np.concatenate(parts)


def target_range(fmt):
    """fp32 exponent fields spanning fmt's subnormals to just past its overflow."""
    emin, emax = 1 - fmt.bias, fmt.exp_max - 1 - fmt.bias
    return emin - fmt.man_bits - 3 + FP32.bias, emax + 2 + FP32.bias


def assert_convert_matches(a, fmt_in, fmt_out, ref_float, ref_bits):
    got = g.fp_convert(a, fmt_in, fmt_out)
    with np.errstate(all="ignore"):
        ref_float = np.asarray(ref_float, dtype=np.float64)
    assert_matches_numpy(got, ref_float, ref_bits, fmt_out, (a,))


def test_convert_fp32_fp16_matches_numpy():
    rng = np.random.default_rng(5)
    a = fp32_sample(rng, 50_000, target_range(FP16))
    with np.errstate(all="ignore"):
        r = a.astype(np.uint32).view(np.float32).astype(np.float16)
    assert_convert_matches(a, FP32, FP16, r, r.view(np.uint16).astype(np.uint64))
    h = all_patterns(FP16)
    with np.errstate(all="ignore"):
        r = h.astype(np.uint16).view(np.float16).astype(np.float32)
    assert_convert_matches(h, FP16, FP32, r, r.view(np.uint32).astype(np.uint64))


def test_convert_fp64_matches_numpy():
    rng = np.random.default_rng(6)
    a = np.concatenate([random_bits(rng, FP64, 20_000), g.special_values(FP64),
                        make_bits(rng, FP64, rng.integers(1023 - 160, 1023 + 130, size=20_000))])
    d = a.view(np.float64)
    for fmt in (FP32, FP16):
        ftype, utype = NP_TYPES[fmt]
        with np.errstate(all="ignore"):
            r = d.astype(ftype)
        assert_convert_matches(a, FP64, fmt, r, r.view(utype).astype(np.uint64))
    s = fp32_sample(rng, 20_000)
    with np.errstate(all="ignore"):
        r = s.astype(np.uint32).view(np.float32).astype(np.float64)
    assert_convert_matches(s, FP32, FP64, r, r.view(np.uint64))


def ml_types():
    """(our format, ml_dtypes type) pairs with the same IEEE-like semantics: all-ones exponent
    for Inf/NaN, gradual underflow, RNE, overflow to Inf.

    ml_dtypes.float8_e4m3 (ml_dtypes >= 0.5) is the IEEE-like E4M3 (largest finite 240, Inf at
    0x78), which is our fp8_e4m3, so it is compared. ml_dtypes.float8_e4m3fn (OCP "FN": no
    Inf, the all-ones exponent holds normal numbers up to 448, NaN only at 0x7F/0xFF) is a
    *different* format and is not compared; neither are the *fnuz types. float8_e3m4 (ml_dtypes
    >= 0.5) is IEEE-like too and is compared as FloatFormat(3, 4).
    """
    return [(BF16, ml_dtypes.bfloat16), (E5M2, ml_dtypes.float8_e5m2),
            (E4M3, ml_dtypes.float8_e4m3), (FloatFormat(3, 4), ml_dtypes.float8_e3m4)]


def test_convert_matches_ml_dtypes():
    rng = np.random.default_rng(8)
    utypes = {8: np.uint8, 16: np.uint16}
    for fmt, mltype in ml_types():
        utype = utypes[fmt.width]
        # the ml_dtypes type really is our format: same largest finite and Inf pattern
        assert float(ml_dtypes.finfo(mltype).max) == g.decode(fmt.inf(0) - 1, fmt)
        assert np.array(np.inf, dtype=mltype).view(utype) == fmt.inf(0)
        # narrowing from fp32 (direct, single rounding) and from fp16 (exhaustive)
        a = fp32_sample(rng, 30_000, target_range(fmt))
        with np.errstate(all="ignore"):
            r = a.astype(np.uint32).view(np.float32).astype(mltype)
        assert_convert_matches(a, FP32, fmt, r.astype(np.float64), r.view(utype).astype(np.uint64))
        if fmt.width < 16:
            h = all_patterns(FP16)
            with np.errstate(all="ignore"):
                r = h.astype(np.uint16).view(np.float16).astype(mltype)
            assert_convert_matches(h, FP16, fmt, r.astype(np.float64), r.view(utype).astype(np.uint64))
        # widening (exact) over every pattern
        p = all_patterns(fmt)
        with np.errstate(all="ignore"):
            r = p.astype(utype).view(mltype).astype(np.float32)
        assert_convert_matches(p, fmt, FP32, r, r.view(np.uint32).astype(np.uint64))


def test_convert_exhaustive_small_formats_against_reference():
    """Every fp16 pattern into the fp8s and odd formats, with and without ftz; (6,9) -> fp16."""
    h = all_patterns(FP16)[::7]
    for fmt in (E4M3, E5M2, TINY, FloatFormat(3, 2)):
        for ftz in (False, True):
            got = g.fp_convert(h, FP16, fmt, ftz=ftz)
            want = [ref_bits(ref_daz(ref_value(x, FP16), FP16) if ftz else ref_value(x, FP16), fmt, ftz)
                    for x in h.tolist()]
            assert got.tolist() == want, (fmt, ftz)
    o = all_patterns(ODD)
    got = g.fp_convert(o, ODD, FP16)
    assert got.tolist() == [ref_bits(ref_value(x, ODD), FP16) for x in o.tolist()]


def test_convert_specials_and_ftz():
    snan16, qnan16 = 0x7C01, 0xFE00
    assert g.fp_convert([snan16, qnan16], FP16, FP32).tolist() == [FP32.canonical_nan] * 2
    assert g.fp_convert([0x7F800001, 0xFFC00000], FP32, E4M3).tolist() == [E4M3.canonical_nan] * 2
    assert g.fp_convert([0xFF800000, 0x7F800000, 0x80000000, 0], FP32, FP16).tolist() == \
        [0xFC00, 0x7C00, 0x8000, 0]
    # fp16 subnormal -> fp32 is normal, but with ftz the input is flushed first
    assert int(g.fp_convert(0x8001, FP16, FP32)) == 0xB3800000          # -2**-24
    assert int(g.fp_convert(0x8001, FP16, FP32, ftz=True)) == 0x80000000
    # fp32 value that is an fp16 subnormal: kept, or flushed to zero of its sign
    assert int(g.fp_convert(0xB3800000, FP32, FP16)) == 0x8001
    assert int(g.fp_convert(0xB3800000, FP32, FP16, ftz=True)) == 0x8000
    # just under fp16's min normal, rounding up to it: stays normal under ftz
    x = 0x387FFFFF                                                      # 2**-14 * (1 - 2**-24)
    assert int(g.fp_convert(x, FP32, FP16, ftz=True)) == 0x0400
    # overflow: 65520 is the tie between 65504 and 2**16 and rounds (to even) to Inf
    assert int(g.fp_convert(0x477FF000, FP32, FP16)) == 0x7C00          # 65520
    assert int(g.fp_convert(0x477FEFFF, FP32, FP16)) == 0x7BFF          # just below
    assert int(g.fp_convert(0x43770000, FP32, E4M3)) == 0x77            # 247 -> 240
    assert int(g.fp_convert(0x43780000, FP32, E4M3)) == 0x78            # 248: tie, even is 2**8 = Inf
    assert int(g.fp_convert(0x43800000, FP32, E4M3)) == 0x78            # 256 -> Inf


# ---------------------------------------------------------------------------------------------
# 4. Integers, ftz, signed zeros, invalid operations
# ---------------------------------------------------------------------------------------------

def test_int_to_fp_matches_numpy_and_reference():
    rng = np.random.default_rng(9)
    for width, signed in [(32, True), (64, True), (16, False), (64, False)]:
        low, high = (-(1 << width - 1), (1 << width - 1) - 1) if signed else (0, (1 << width) - 1)
        dtype = np.int64 if signed else np.uint64
        x = np.concatenate([rng.integers(low, high, size=5000, dtype=dtype, endpoint=True),
                            np.array([low, high, 0, 1, 2, 3, (1 << 24) + 1, (1 << 24) + 3] if high > 1 << 25
                                     else [low, high, 0, 1, 2, 3], dtype=dtype)])
        for fmt in (FP32, FP64, FP16, BF16, E4M3):
            got = g.int_to_fp(x, signed, width, fmt)
            assert got.tolist() == [ref_round(Fraction(v), 0, fmt) for v in x.tolist()]
            if fmt in (FP32, FP64):
                ftype, utype = NP_TYPES[fmt]
                assert (got == x.astype(ftype).view(utype)).all(), (width, signed, fmt)
    assert int(g.int_to_fp(65519, False, 17, FP16)) == 0x7BFF
    assert int(g.int_to_fp(65520, False, 17, FP16)) == 0x7C00            # tie rounds to even = Inf
    assert int(g.int_to_fp(-(1 << 24) - 1, True, 32, FP32)) == 0xCB800000   # tie to even: -2**24
    assert int(g.int_to_fp(0, True, 8, FP32)) == 0                       # +0
    with pytest.raises(ValueError):
        g.int_to_fp(128, True, 8, FP32)
    with pytest.raises(ValueError):
        g.int_to_fp(-1, False, 8, FP32)


def test_fp_to_int():
    vals = [2.5, 3.5, -2.5, 0.5, 1.5, -0.5, -0.75, 127.5, 126.5, -128.5, -129.0, 1e9, -1e9,
            np.inf, -np.inf, np.nan, 2.0**-149, 0.0, -0.0]
    bits = np.array(vals, dtype=np.float32).view(np.uint32).astype(np.uint64)
    assert g.fp_to_int(bits, FP32, True, 8).tolist() == \
        [2, 4, -2, 0, 2, 0, -1, 127, 126, -128, -128, 127, -128, 127, -128, 0, 0, 0, 0]
    assert g.fp_to_int(bits, FP32, False, 8).tolist() == \
        [2, 4, 0, 0, 2, 0, 0, 128, 126, 0, 0, 255, 0, 255, 0, 0, 0, 0, 0]
    assert g.fp_to_int(bits, FP32, True, 8).dtype == np.int64
    assert g.fp_to_int(bits, FP32, False, 8).dtype == np.uint64
    # against NumPy's rint over random fp32 and fp64 (RNE), saturated
    rng = np.random.default_rng(10)
    for fmt in (FP32, FP64):
        ftype, utype = NP_TYPES[fmt]
        a = np.concatenate([random_bits(rng, fmt, 5000), g.special_values(fmt),
                            make_bits(rng, fmt, fmt.bias + rng.integers(-3, 66, size=5000))])
        v = a.astype(utype).view(ftype)
        for signed, width in [(True, 32), (False, 32), (True, 64), (False, 64), (True, 1)]:
            low, high = (-(1 << width - 1), (1 << width - 1) - 1) if signed else (0, (1 << width) - 1)
            want = [0 if np.isnan(x) else high if x == np.inf else low if x == -np.inf
                    else min(max(int(np.rint(x)), low), high) for x in v.tolist()]
            assert g.fp_to_int(a, fmt, signed, width).tolist() == want, (fmt, signed, width)
    # exp_bits = 2: a subnormal can round to 1
    assert int(g.fp_to_int(0b0011, FloatFormat(2, 2), True, 4)) == 1     # 0.75 -> 1


def test_int_round_trips():
    rng = np.random.default_rng(11)
    x = rng.integers(-(1 << 24), 1 << 24, size=5000, endpoint=True)
    assert (g.fp_to_int(g.int_to_fp(x, True, 32, FP32), FP32, True, 32) == x).all()
    y = rng.integers(0, 1 << 11, size=2000, endpoint=True)
    assert (g.fp_to_int(g.int_to_fp(y, False, 12, FP16), FP16, False, 12) == y).all()
    # every fp16 integer value survives fp -> int -> fp
    h = all_patterns(FP16)
    v = g.decode(h, FP16)
    ints = h[np.isfinite(v) & (v == np.round(v)) & (v != 0)]
    back = g.int_to_fp(g.fp_to_int(ints, FP16, True, 32), True, 32, FP16)
    assert (back == ints).all()


def test_ftz_mul_add():
    min_normal, half = 0x0400, 0x3800
    assert int(g.fp_mul(min_normal, half, FP16)) == 0x0200                # subnormal
    assert int(g.fp_mul(min_normal, half, FP16, ftz=True)) == 0x0000
    assert int(g.fp_mul(min_normal | 0x8000, half, FP16, ftz=True)) == 0x8000   # keeps its sign
    # (1 - 2**-10) * 2**-14 * (1 + 2**-10) = 2**-14 * (1 - 2**-20): below the smallest normal
    # but rounds up to it, so it stays normal under ftz
    assert int(g.fp_mul(0x3BFE, 0x0401, FP16)) == 0x0400
    assert int(g.fp_mul(0x3BFE, 0x0401, FP16, ftz=True)) == 0x0400
    # 2**-14 - 2**-14 * (1 + 2**-10) = -2**-24: subnormal result
    assert int(g.fp_add(0x0400, 0x8401, FP16)) == 0x8001
    assert int(g.fp_add(0x0400, 0x8401, FP16, ftz=True)) == 0x8000
    assert int(g.fp_sub(0x0400, 0x0401, FP16, ftz=True)) == 0x8000
    # DAZ: subnormal inputs are zeros of their sign
    assert int(g.fp_add(0x0001, 0x0001, FP16)) == 0x0002
    assert int(g.fp_add(0x0001, 0x0001, FP16, ftz=True)) == 0x0000
    assert int(g.fp_add(0x8001, 0x8001, FP16, ftz=True)) == 0x8000        # (-0) + (-0)
    assert int(g.fp_add(0x8001, 0x0000, FP16, ftz=True)) == 0x0000        # (-0) + (+0)
    assert int(g.fp_add(0x0400, 0x0001, FP16, ftz=True)) == 0x0400
    assert int(g.fp_mul(0x7C00, 0x0001, FP16, ftz=True)) == FP16.canonical_nan   # Inf * 0
    assert int(g.fp_mul(0x7C00, 0x0001, FP16)) == 0x7C00
    assert int(g.fp_mul(0x0001, 0x6400, FP16, ftz=True)) == 0x0000        # tiny*1024 -> 0*1024
    assert int(g.fp_mul(0x0001, 0x6400, FP16)) == 0x0400
    # fma: DAZ on c, flush of the result
    assert int(g.fp_fma(0x3C00, 0x0400, 0x8001, FP16)) == 0x03FF
    assert int(g.fp_fma(0x3C00, 0x0400, 0x8001, FP16, ftz=True)) == 0x0400


@pytest.mark.parametrize("fmt", [FP16, BF16, E4M3], ids=["fp16", "bf16", "e4m3"])
def test_ftz_against_reference(fmt):
    rng = np.random.default_rng(12)
    n = 4000
    low = lambda: make_bits(rng, fmt, rng.integers(0, 3, size=n))
    a, b = low(), low()
    check_against_ref(g.fp_add(a, b, fmt, ftz=True), ref_add, fmt, a, b, ftz=True)
    check_against_ref(g.fp_sub(a, b, fmt, ftz=True), ref_sub, fmt, a, b, ftz=True)
    pa, pb = product_pairs(rng, fmt, n, boundary_targets(fmt))
    check_against_ref(g.fp_mul(pa, pb, fmt, ftz=True), ref_mul, fmt, pa, pb, ftz=True)
    check_against_ref(g.fp_fma(pa, pb, a, fmt, ftz=True), ref_fma, fmt, pa, pb, a, ftz=True)


def test_signed_zeros():
    pz, nz, one, mone, two, inf, ninf = 0x0000, 0x8000, 0x3C00, 0xBC00, 0x4000, 0x7C00, 0xFC00
    min_sub, nmin_sub = 0x0001, 0x8001
    f = FP16
    assert int(g.fp_add(one, mone, f)) == pz
    assert int(g.fp_add(mone, one, f)) == pz
    assert int(g.fp_sub(one, one, f)) == pz
    assert int(g.fp_sub(mone, mone, f)) == pz
    assert int(g.fp_add(nz, nz, f)) == nz
    assert int(g.fp_add(pz, nz, f)) == pz and int(g.fp_add(nz, pz, f)) == pz
    assert int(g.fp_sub(nz, pz, f)) == nz and int(g.fp_sub(pz, pz, f)) == pz
    assert int(g.fp_sub(nz, nz, f)) == pz
    assert int(g.fp_add(nz, one, f)) == one
    assert int(g.fp_mul(nz, two, f)) == nz and int(g.fp_mul(nz, mone, f)) == pz
    assert int(g.fp_mul(nmin_sub, min_sub, f)) == nz                       # underflow keeps sign
    assert int(g.fp_mul(ninf, mone, f)) == inf and int(g.fp_mul(ninf, two, f)) == ninf
    # fma: the sign rule on the exact a*b + c
    assert int(g.fp_fma(pz, mone, nz, f)) == nz            # (-0) + (-0)
    assert int(g.fp_fma(nz, mone, nz, f)) == pz            # (+0) + (-0)
    assert int(g.fp_fma(pz, one, nz, f)) == pz
    assert int(g.fp_fma(nz, one, nz, f)) == nz
    assert int(g.fp_fma(one, one, mone, f)) == pz          # exact cancellation
    assert int(g.fp_fma(mone, one, one, f)) == pz
    assert int(g.fp_fma(nmin_sub, min_sub, pz, f)) == nz   # exact value is negative, rounds to -0
    assert int(g.fp_fma(nmin_sub, min_sub, nz, f)) == nz
    assert int(g.fp_fma(min_sub, min_sub, nz, f)) == pz


def test_invalid_operations_and_nans():
    f = FP16
    pz, nz, one, inf, ninf, snan, nsnan, qnan = 0, 0x8000, 0x3C00, 0x7C00, 0xFC00, 0x7C01, 0xFD55, 0xFE00
    cn = f.canonical_nan
    assert cn == 0x7E00
    assert g.fp_mul([inf, ninf, pz, nz], [pz, pz, ninf, inf], f).tolist() == [cn] * 4
    assert g.fp_add([inf, ninf], [ninf, inf], f).tolist() == [cn] * 2
    assert g.fp_sub([inf, ninf], [inf, ninf], f).tolist() == [cn] * 2
    assert int(g.fp_add(inf, inf, f)) == inf and int(g.fp_sub(ninf, inf, f)) == ninf
    assert int(g.fp_add(inf, 0x7BFF, f)) == inf
    assert g.fp_fma([inf, pz, inf, one, inf], [pz, ninf, pz, inf, one], [one, one, snan, ninf, inf], f).tolist() \
        == [cn, cn, cn, cn, inf]
    assert int(g.fp_fma(one, one, ninf, f)) == ninf
    assert int(g.fp_fma(ninf, one, ninf, f)) == ninf
    assert int(g.fp_fma(0x7BFF, 0x7BFF, ninf, f)) == ninf   # a*b overflows only when rounded
    for nan in (snan, nsnan, qnan, 0xFFFF):
        assert int(g.fp_mul(nan, one, f)) == cn and int(g.fp_mul(one, nan, f)) == cn
        assert int(g.fp_add(nan, inf, f)) == cn and int(g.fp_sub(inf, nan, f)) == cn
        assert int(g.fp_fma(one, one, nan, f)) == cn and int(g.fp_fma(nan, pz, inf, f)) == cn
        assert int(g.fp_convert(nan, f, E5M2)) == E5M2.canonical_nan
    assert g.is_nan([snan, qnan, inf, one], f).tolist() == [True, True, False, False]


# ---------------------------------------------------------------------------------------------
# 5. Odd formats, exhaustively where small
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", [TINY, FloatFormat(3, 2), FloatFormat(2, 3)], ids=["e2m1", "e3m2", "e2m3"])
@pytest.mark.parametrize("ftz", [False, True])
def test_small_formats_exhaustive(fmt, ftz):
    p = all_patterns(fmt)
    a, b = (x.ravel() for x in np.meshgrid(p, p, indexing="ij"))
    for twin, ref in [(g.fp_mul, ref_mul), (g.fp_add, ref_add), (g.fp_sub, ref_sub)]:
        check_against_ref(twin(a, b, fmt, ftz=ftz), ref, fmt, a, b, ftz=ftz)
    if fmt.width <= 4:
        a, b, c = (x.ravel() for x in np.meshgrid(p, p, p, indexing="ij"))
    else:
        rng = np.random.default_rng(13)
        a, b, c = (rng.choice(p, size=8000) for _ in range(3))
    check_against_ref(g.fp_fma(a, b, c, fmt, ftz=ftz), ref_fma, fmt, a, b, c, ftz=ftz)


def test_odd_format_against_reference():
    rng = np.random.default_rng(14)
    a, b = stimulus_pairs(rng, ODD, 10_000)
    check_against_ref(g.fp_mul(a, b, ODD), ref_mul, ODD, a, b)
    check_against_ref(g.fp_add(a, b, ODD), ref_add, ODD, a, b)


# ---------------------------------------------------------------------------------------------
# decode / encode / special values / input handling
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", [TINY, E4M3, E5M2, ODD, FP16], ids=["e2m1", "e4m3", "e5m2", "e6m9", "fp16"])
def test_decode_is_exact(fmt):
    p = all_patterns(fmt)
    got = g.decode(p, fmt)
    for bits, value in zip(p.tolist(), got.tolist()):
        ref = ref_value(bits, fmt)
        if ref == NAN:
            assert np.isnan(value)
        elif ref[0] == "inf":
            assert value == (-np.inf if ref[1] else np.inf)
        else:
            assert Fraction(value) == ref_signed(ref) and np.signbit(value) == bool(ref[1])
    if fmt == FP16:
        assert np.array_equal(got, p.astype(np.uint16).view(np.float16).astype(np.float64), equal_nan=True)


def test_decode_encode_float64_extremes():
    s = g.special_values(FP64)
    v = g.decode(s, FP64)
    assert np.array_equal(v, s.view(np.float64), equal_nan=True)
    finite = np.isfinite(v)
    assert (g.encode(v[finite], FP64) == s[finite]).all()
    assert g.encode([1.0, -0.0, 0.1, np.nan, -np.inf], FP16).tolist() == [0x3C00, 0x8000, 0x2E66, 0x7E00, 0xFC00]
    assert int(g.encode(2.0**-25, FP16)) == 0            # tie with 0: even
    assert int(g.encode(2.0**-25 * 1.5, FP16)) == 1


@pytest.mark.parametrize("fmt", [TINY, E4M3, E5M2, BF16, FP16, FP32, ODD, FP64],
                         ids=["e2m1", "e4m3", "e5m2", "bf16", "fp16", "fp32", "e6m9", "fp64"])
def test_special_values(fmt):
    s = g.special_values(fmt)
    assert s.dtype == np.uint64 and (np.diff(s.astype(object)) > 0).all()   # sorted, unique
    assert (s < (1 << fmt.width)).all()
    v = g.decode(s, fmt)
    m, bias = fmt.man_bits, fmt.bias
    min_sub = 2.0 ** (1 - bias - m)
    min_norm = 2.0 ** (1 - bias)
    max_norm = (2 - 2.0 ** -m) * 2.0 ** (fmt.exp_max - 1 - bias)
    key_values = [0.0, min_sub, min_norm - min_sub, min_norm, max_norm, 1.0, np.inf]
    have = set(v[~np.isnan(v)].tolist())
    assert all(x in have and -x in have for x in key_values)
    # one pattern either side, by magnitude (patterns are monotonic in magnitude)
    sign = 1 << (fmt.width - 1)
    for x in key_values[1:-1]:
        p = int(g.encode(x, fmt))
        for q in (p - 1, p + 1):
            assert q in s.tolist() and (q | sign) in s.tolist(), (fmt, x, q)
    assert sign | 1 in s.tolist()                              # -min subnormal, below +0
    assert (v == 0).sum() == 2 and np.signbit(v[v == 0]).tolist() == [False, True]
    assert fmt.canonical_nan in s.tolist()
    nans = s[np.isnan(v)]
    quiet = (nans >> np.uint64(m - 1)) & np.uint64(1)
    assert quiet.any() and (m == 1 or (quiet == 0).any())     # a qNaN and (if one exists) an sNaN


def test_input_handling():
    got = g.fp_mul(np.array([[0x3C00], [0x4000]], dtype=np.int32), np.array([0x3C00, 0x4000, 0xC000]), FP16)
    assert got.shape == (2, 3) and got.dtype == np.uint64
    assert got.tolist() == [[0x3C00, 0x4000, 0xC000], [0x4000, 0x4400, 0xC400]]
    assert g.fp_add(0x3C00, 0x3C00, FP16).shape == ()
    assert g.fp_add([], [], FP16).shape == (0,)
    assert int(g.fp_add(np.uint64(0x3FF0000000000000), np.uint64(0xBFF0000000000000), FP64)) == 0
    with pytest.raises(ValueError):
        g.fp_mul(-1, 0, FP16)
    with pytest.raises(ValueError):
        g.fp_mul(1 << 16, 0, FP16)
    with pytest.raises(TypeError):
        g.fp_mul(1.0, 0, FP16)
