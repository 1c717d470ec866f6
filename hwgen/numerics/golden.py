"""Bit-exact golden twins of the numerics library: the IEEE-754 floating-point operators, the
fixed-point requantization and the function units (reciprocal, inverse square root, exp, GELU).

These are the independent reference the numerics RTL is checked against, written from the
IEEE-754 rules and the documented algorithms, not from any RTL. The sections below the
floating-point operators (fixed point, function units) carry their own notes. Every float
function takes NumPy arrays (or anything ``np.asarray`` accepts) of unsigned bit patterns of a
:class:`FloatFormat` and returns ``np.uint64`` arrays of the broadcast shape.

Semantics, shared by every operator:

* Rounding is round to nearest, ties to even, with one rounding per operation (``fp_fma``
  rounds ``a*b + c`` once). Overflow gives a signed infinity. With ``ftz=False`` subnormals are
  fully supported (gradual underflow); there are no exception flags, so tininess detection does
  not matter.
* Any NaN input, quiet or signalling, gives the canonical quiet NaN ``fmt.canonical_nan``
  (sign 0, exponent all ones, only the top mantissa bit set). So do the invalid operations
  Inf*0, Inf-Inf, and fma with Inf*0 or with a*b = +-Inf and c the opposite infinity.
* Signs of zeros: a product's sign is ``sign_a ^ sign_b`` (zeros and infinities included). An
  exact zero sum is +0 unless both addends are -0 (for fma the addends are the exact a*b and
  c), so x + (-x) = +0, (-0) + (-0) = -0, (+0) + (-0) = +0.
* ``ftz=True``: every subnormal input is first replaced by zero of its sign (DAZ), the operation
  is computed as with ``ftz=False``, then a subnormal result is replaced by zero of its sign.
  A result that rounds up to the smallest normal stays normal.

Formats: ``FloatFormat(exp_bits, man_bits)`` with 1 + exp_bits + man_bits <= 64 bits. Our
``fp8_e4m3`` preset is the plain IEEE-style (4, 3) format (all-ones exponent = Inf/NaN, largest
finite 240), *not* the OCP E4M3FN variant (no infinities, largest finite 448).

How exactness is guaranteed: each operand is decoded into ``(sign, integer significand,
power-of-two exponent)``; the exact result is formed with Python integers (products multiply
significands and add exponents, sums align both addends to the smaller exponent), and one
rounding routine, :func:`round_exact`, turns any exact ``(-1)**sign * mag * 2**exp`` into a bit
pattern. Nothing goes through binary floating point, so there is no double rounding to argue
about for any format. The per-element work runs in Python (about 1-3 us per element), which
is fast enough for 1e5-element test vectors; classification-only operators (min, max, compare,
decode) are vectorized.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from functools import cache

import numpy as np

from ..core.ints import int_dtype
from .formats import OVERFLOWS, PRESETS, ROUNDINGS, FixedFormat, FloatFormat

__all__ = [
    "as_bits", "decode", "encode", "exp_coefficients", "exp_constants", "EXP_DEFAULTS", "fp_accumulate",
    "fp_add",
    "fp_compare", "fp_convert", "fp_exp", "fp_fma", "fp_gelu", "fp_max", "fp_min", "fp_mul",
    "fp_recip", "fp_rsqrt", "fp_sub", "fp_to_int", "fx_requantize", "fx_value",
    "gelu_coefficients", "GELU_DEFAULTS", "gelu_widths", "int_to_fp", "is_nan", "OVERFLOWS",
    "RECIP_GUARD", "recip_table", "round_exact", "ROUNDINGS", "RSQRT_GUARD", "rsqrt_magic",
    "RSQRT_SIGMA", "special_values",
]

# Operand kinds after decoding.
_FINITE, _INF, _NAN = 0, 1, 2


@dataclass(frozen=True)
class _Consts:
    """A format's constants, computed once, for the per-element loops."""
    m: int             # mantissa (fraction) bits
    width: int
    sign_bit: int      # 1 << (width - 1)
    exp_max: int       # all-ones exponent field
    man_mask: int
    hidden: int        # the implicit leading one, 1 << m
    emin_q: int        # exponent of the last significand bit of subnormals and the lowest binade
    inf: int           # +Inf pattern
    nan: int           # canonical quiet NaN


@cache
def _consts(fmt: FloatFormat) -> _Consts:
    if fmt.width > 64:
        raise ValueError(f"float format ({fmt.exp_bits},{fmt.man_bits}) is {fmt.width} bits wide: "
                         f"the golden twins hold patterns in uint64, at most 64 bits")
    m = fmt.man_bits
    return _Consts(m=m, width=fmt.width, sign_bit=1 << (fmt.width - 1), exp_max=fmt.exp_max,
                   man_mask=(1 << m) - 1, hidden=1 << m, emin_q=1 - fmt.bias - m,
                   inf=fmt.inf(0), nan=fmt.canonical_nan)


# ---------------------------------------------------------------------------------------------
# Scalar core: decode, the one rounding routine, exact sums.
# ---------------------------------------------------------------------------------------------

def _decode1(bits: int, k: _Consts, daz: bool) -> tuple[int, int, int, int]:
    """``(kind, sign, mag, exp)``; a finite value is ``(-1)**sign * mag * 2**exp``.

    With ``daz`` a subnormal decodes as zero of its sign (the ftz input rule)."""
    sign = bits >> (k.width - 1)
    e = (bits >> k.m) & k.exp_max
    f = bits & k.man_mask
    if e == k.exp_max:
        return (_NAN if f else _INF), sign, 0, 0
    if e == 0:
        return _FINITE, sign, (0 if daz else f), k.emin_q
    return _FINITE, sign, f | k.hidden, e - 1 + k.emin_q


def _round1(sign: int, mag: int, exp: int, k: _Consts, ftz: bool) -> int:
    """Round the exact value ``(-1)**sign * mag * 2**exp`` (``mag >= 0`` an integer) to the
    nearest pattern, ties to even; overflow gives Inf; with ``ftz`` a subnormal result becomes
    zero of its sign. A zero ``mag`` gives zero with ``sign``."""
    if mag == 0:
        return sign * k.sign_bit
    # The result's last place: m bits below the leading one, but never below the subnormal
    # quantum (gradual underflow).
    q = max(exp + mag.bit_length() - 1 - k.m, k.emin_q)
    shift = q - exp
    if shift > 0:
        keep = mag >> shift
        rest = mag - (keep << shift)
        half = 1 << (shift - 1)
        if rest > half or (rest == half and keep & 1):
            keep += 1
    else:
        keep = mag << -shift           # exact: the value already sits on the grid
    if keep >> (k.m + 1):              # rounding carried into a new binade: keep == 2**(m+1)
        keep >>= 1
        q += 1
    if keep >> k.m:                    # normal
        e_field = q - k.emin_q + 1
        if e_field >= k.exp_max:
            return sign * k.sign_bit | k.inf
        return sign * k.sign_bit | (e_field << k.m) | (keep & k.man_mask)
    # subnormal (q == emin_q) or rounded to zero
    if ftz:
        keep = 0
    return sign * k.sign_bit | keep


def _exact_sum(s1: int, m1: int, e1: int, s2: int, m2: int, e2: int) -> tuple[int, int, int]:
    """The exact sum of two finite signed values, as ``(sign, mag, exp)``.

    Zero results follow IEEE RNE: -0 only when both addends are zeros of negative sign."""
    if m1 == 0 and m2 == 0:
        return s1 & s2, 0, 0
    if m1 == 0:
        return s2, m2, e2
    if m2 == 0:
        return s1, m1, e1
    e = min(e1, e2)
    v1 = m1 << (e1 - e)
    v2 = m2 << (e2 - e)
    if s1 == s2:
        return s1, v1 + v2, e
    if v1 >= v2:
        return s1 if v1 > v2 else 0, v1 - v2, e     # exact cancellation gives +0
    return s2, v2 - v1, e


def round_exact(sign: int, mag: int, exp: int, fmt: FloatFormat, ftz: bool = False) -> int:
    """The pattern nearest (ties to even) to ``(-1)**sign * mag * 2**exp``; overflow gives
    Inf. This is the single rounding routine behind every operator here."""
    if mag < 0:
        raise ValueError("round_exact: mag must be >= 0 (the sign goes in sign)")
    return _round1(int(sign) & 1, int(mag), int(exp), _consts(fmt), ftz)


# ---------------------------------------------------------------------------------------------
# Scalar operators
# ---------------------------------------------------------------------------------------------

def _mul1(a: int, b: int, k: _Consts, ftz: bool, kout: _Consts | None = None) -> int:
    kout = kout or k   # a widening multiply decodes in one format and rounds into another
    ka, sa, ma, ea = _decode1(a, k, ftz)
    kb, sb, mb, eb = _decode1(b, k, ftz)
    if ka == _NAN or kb == _NAN:
        return kout.nan
    s = sa ^ sb
    if ka == _INF or kb == _INF:
        if (ka == _FINITE and ma == 0) or (kb == _FINITE and mb == 0):
            return kout.nan                                # Inf * 0
        return s * kout.sign_bit | kout.inf
    return _round1(s, ma * mb, ea + eb, kout, ftz)


def _add1(a: int, b: int, k: _Consts, ftz: bool) -> int:
    ka, sa, ma, ea = _decode1(a, k, ftz)
    kb, sb, mb, eb = _decode1(b, k, ftz)
    if ka == _NAN or kb == _NAN:
        return k.nan
    if ka == _INF and kb == _INF:
        return sa * k.sign_bit | k.inf if sa == sb else k.nan      # Inf - Inf
    if ka == _INF:
        return sa * k.sign_bit | k.inf
    if kb == _INF:
        return sb * k.sign_bit | k.inf
    return _round1(*_exact_sum(sa, ma, ea, sb, mb, eb), k, ftz)


def _fma1(a: int, b: int, c: int, k: _Consts, ftz: bool) -> int:
    ka, sa, ma, ea = _decode1(a, k, ftz)
    kb, sb, mb, eb = _decode1(b, k, ftz)
    kc, sc, mc, ec = _decode1(c, k, ftz)
    if ka == _NAN or kb == _NAN or kc == _NAN:
        return k.nan
    sp = sa ^ sb
    if ka == _INF or kb == _INF:
        if (ka == _FINITE and ma == 0) or (kb == _FINITE and mb == 0):
            return k.nan                                   # Inf * 0
        if kc == _INF and sc != sp:
            return k.nan                                   # (+-Inf) + (-+Inf)
        return sp * k.sign_bit | k.inf
    if kc == _INF:
        return sc * k.sign_bit | k.inf
    return _round1(*_exact_sum(sp, ma * mb, ea + eb, sc, mc, ec), k, ftz)


def _convert1(a: int, kin: _Consts, kout: _Consts, ftz: bool) -> int:
    kind, s, m, e = _decode1(a, kin, ftz)
    if kind == _NAN:
        return kout.nan
    if kind == _INF:
        return s * kout.sign_bit | kout.inf
    return _round1(s, m, e, kout, ftz)


# ---------------------------------------------------------------------------------------------
# Array plumbing
# ---------------------------------------------------------------------------------------------

def _int_values(x, name: str) -> np.ndarray:
    """``x`` as an integer (or object-of-int) array; floats and bools are refused, because a
    float array here is almost always a value passed where a bit pattern was meant."""
    arr = np.asarray(x)
    if arr.dtype.kind in "iu":
        return arr
    if arr.size == 0:                     # np.asarray([]) is float64; nothing to misread
        return arr.astype(np.uint64)
    if arr.dtype.kind == "O" and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                                     for v in arr.ravel().tolist()):
        return arr
    raise TypeError(f"{name}: expected integers, got an array of dtype {arr.dtype}")


def as_bits(x, fmt: FloatFormat, name: str = "bits") -> np.ndarray:
    """``x`` validated as ``fmt`` bit patterns, as a ``np.uint64`` array.

    Patterns are unsigned: a signed view of them (e.g. ``int16`` from ``float16.view``) must
    be viewed as unsigned first, since a negative value is more likely a mistake."""
    k = _consts(fmt)
    arr = _int_values(x, name)
    if arr.dtype.kind == "O":
        values = arr.ravel().tolist()
        if any(v < 0 or v >> k.width for v in values):
            raise ValueError(f"{name}: bit patterns must lie in 0..2**{k.width}-1")
        return np.array(values, dtype=np.uint64).reshape(arr.shape)
    if arr.dtype.kind == "i" and arr.size and arr.min() < 0:
        raise ValueError(f"{name}: bit patterns must be unsigned, got a negative value")
    out = arr.astype(np.uint64)
    if k.width < 64 and out.size and (out >> np.uint64(k.width)).any():
        raise ValueError(f"{name}: bit patterns must lie in 0..2**{k.width}-1")
    return out


def _map(func, arrays: list[np.ndarray]) -> np.ndarray:
    """Apply the scalar ``func`` elementwise over broadcast uint64 arrays."""
    arrays = np.broadcast_arrays(*arrays)
    columns = [a.ravel().tolist() for a in arrays]
    out = [func(*args) for args in zip(*columns)]
    return np.array(out, dtype=np.uint64).reshape(arrays[0].shape)


def _fields(bits: np.ndarray, k: _Consts):
    """Vectorized (sign, exponent field, fraction) of uint64 patterns."""
    sign = bits >> np.uint64(k.width - 1)
    e = (bits >> np.uint64(k.m)) & np.uint64(k.exp_max)
    f = bits & np.uint64(k.man_mask)
    return sign, e, f


def _daz(bits: np.ndarray, k: _Consts) -> np.ndarray:
    """Subnormal patterns replaced by zero of their sign (the ftz input rule)."""
    _, e, f = _fields(bits, k)
    subnormal = (e == 0) & (f != 0)
    return np.where(subnormal, bits & np.uint64(k.sign_bit), bits)


def is_nan(bits, fmt: FloatFormat) -> np.ndarray:
    """Whether each pattern is a NaN (quiet or signalling)."""
    k = _consts(fmt)
    _, e, f = _fields(as_bits(bits, fmt), k)
    return (e == np.uint64(k.exp_max)) & (f != 0)


# ---------------------------------------------------------------------------------------------
# Public operators
# ---------------------------------------------------------------------------------------------

def fp_mul(a, b, fmt: FloatFormat, ftz: bool = False, out_fmt: FloatFormat | None = None) -> np.ndarray:
    """``round(a * b)``; with ``out_fmt``, operands in ``fmt`` and one rounding into
    ``out_fmt`` (a widening multiply: bf16 x bf16 into fp32 is exact)."""
    k = _consts(fmt)
    kout = _consts(out_fmt) if out_fmt is not None else k
    return _map(lambda x, y: _mul1(x, y, k, ftz, kout), [as_bits(a, fmt, "a"), as_bits(b, fmt, "b")])


def fp_add(a, b, fmt: FloatFormat, ftz: bool = False) -> np.ndarray:
    """``round(a + b)``."""
    k = _consts(fmt)
    return _map(lambda x, y: _add1(x, y, k, ftz), [as_bits(a, fmt, "a"), as_bits(b, fmt, "b")])


def fp_sub(a, b, fmt: FloatFormat, ftz: bool = False) -> np.ndarray:
    """``round(a - b)``, i.e. ``a + (-b)``: flipping b's sign bit is exact, and a NaN b stays a
    NaN (which then becomes the canonical NaN)."""
    k = _consts(fmt)
    neg_b = as_bits(b, fmt, "b") ^ np.uint64(k.sign_bit)
    return _map(lambda x, y: _add1(x, y, k, ftz), [as_bits(a, fmt, "a"), neg_b])


def fp_accumulate(x, last, fmt: FloatFormat, slots: int, ftz: bool = False) -> np.ndarray:
    """The sums of ``x`` over runs ending where ``last`` is 1, in the order of an interleaved
    accumulator with ``slots`` partial sums (``hwgen.numerics.rtl.FloatAccumulator``).

    Within a sum of ``n`` elements, partial sum ``j`` (``0 <= j < slots``) is ``((-0 + x[j]) +
    x[j + slots]) + ...``, rounded at each step. The leaves of a tree are the partial sums
    newest first (leaf ``k`` holds element ``n - 1 - k``; ``k < min(n, slots)``), padded with
    -0 to a power of two, and are added pairwise, ``(l0 + l1), (l2 + l3), ...``, level by
    level. Adding -0
    changes no value (``x + -0 = x``, +0 included), so a sum of one element is that element
    (a NaN becomes the canonical NaN). ``last`` must end the final run."""
    k = _consts(fmt)
    values = as_bits(x, fmt, "x").ravel()
    ends = np.asarray(last).ravel()
    if ends.shape != values.shape:
        raise ValueError(f"last: shape {ends.shape} differs from x's {values.shape}")
    if slots < 1:
        raise ValueError(f"slots must be >= 1, not {slots}")
    if values.size == 0:
        return np.zeros(0, dtype=np.uint64)
    if not ends[-1]:
        raise ValueError("last: the final element must end a sum (last = 1)")
    minus_zero = np.uint64(k.sign_bit)
    stops = np.flatnonzero(ends) + 1
    starts = np.concatenate(([0], stops[:-1]))
    rounds = int(np.max((stops - starts + slots - 1) // slots))
    # every sum's elements laid out as (sums, rounds * slots), padded with -0
    grid = np.full((len(stops), rounds * slots), minus_zero, dtype=np.uint64)
    for row, (start, stop) in enumerate(zip(starts.tolist(), stops.tolist())):
        grid[row, :stop - start] = values[start:stop]
    grid = grid.reshape(len(stops), rounds, slots)
    partial = np.full((len(stops), slots), minus_zero, dtype=np.uint64)
    for step in range(rounds):
        partial = _map(lambda a, b: _add1(a, b, k, ftz), [partial, grid[:, step, :]])
    # leaf k: the partial sum holding the sum's element n - 1 - k (the newest first)
    leaves = 1 << (slots - 1).bit_length()
    level = np.full((len(stops), leaves), minus_zero, dtype=np.uint64)
    lengths = stops - starts
    for leaf in range(slots):
        element = lengths - 1 - leaf
        has = element >= 0
        level[has, leaf] = partial[has, element[has] % slots]
    while level.shape[1] > 1:
        level = _map(lambda a, b: _add1(a, b, k, ftz), [level[:, 0::2], level[:, 1::2]])
    return level[:, 0]


def fp_fma(a, b, c, fmt: FloatFormat, ftz: bool = False) -> np.ndarray:
    """``round(a * b + c)`` with a single rounding of the exact value."""
    k = _consts(fmt)
    return _map(lambda x, y, z: _fma1(x, y, z, k, ftz),
                [as_bits(a, fmt, "a"), as_bits(b, fmt, "b"), as_bits(c, fmt, "c")])


def fp_convert(a, fmt_in: FloatFormat, fmt_out: FloatFormat, ftz: bool = False) -> np.ndarray:
    """``a``'s exact value (after DAZ when ``ftz``) rounded into ``fmt_out``. NaN gives
    ``fmt_out.canonical_nan``, +-Inf gives +-Inf, +-0 gives +-0."""
    kin, kout = _consts(fmt_in), _consts(fmt_out)
    return _map(lambda x: _convert1(x, kin, kout, ftz), [as_bits(a, fmt_in, "a")])


def _order_key(bits: np.ndarray, k: _Consts) -> np.ndarray:
    """An int64 key, monotonic in value over non-NaN patterns, with -0 just below +0."""
    sign, _, _ = _fields(bits, k)
    mag = (bits & np.uint64(k.sign_bit - 1)).astype(np.int64)
    return np.where(sign == 1, -mag - 1, mag)


def _min_max(a, b, fmt: FloatFormat, ftz: bool, take_min: bool) -> np.ndarray:
    k = _consts(fmt)
    a, b = np.broadcast_arrays(as_bits(a, fmt, "a"), as_bits(b, fmt, "b"))
    if ftz:
        a, b = _daz(a, k), _daz(b, k)
    ka, kb = _order_key(a, k), _order_key(b, k)
    pick_a = (ka <= kb) if take_min else (ka >= kb)
    out = np.where(pick_a, a, b)
    nan = is_nan(a, fmt) | is_nan(b, fmt)
    return np.where(nan, np.uint64(k.nan), out).astype(np.uint64)


def fp_min(a, b, fmt: FloatFormat, ftz: bool = False) -> np.ndarray:
    """IEEE 754-2019 ``minimum``: a NaN operand gives the canonical NaN; min(-0, +0) = -0.
    With ``ftz`` subnormal inputs count (and come out) as zeros of their sign."""
    return _min_max(a, b, fmt, ftz, take_min=True)


def fp_max(a, b, fmt: FloatFormat, ftz: bool = False) -> np.ndarray:
    """IEEE 754-2019 ``maximum``: a NaN operand gives the canonical NaN; max(-0, +0) = +0.
    With ``ftz`` subnormal inputs count (and come out) as zeros of their sign."""
    return _min_max(a, b, fmt, ftz, take_min=False)


def fp_compare(a, b, fmt: FloatFormat, ftz: bool = False) -> dict[str, np.ndarray]:
    """IEEE comparison as four bool arrays ``lt``, ``eq``, ``gt``, ``unordered``: exactly one
    is True per element. Unordered when either operand is NaN; -0 == +0; with ``ftz``
    subnormals compare as zeros."""
    k = _consts(fmt)
    a, b = np.broadcast_arrays(as_bits(a, fmt, "a"), as_bits(b, fmt, "b"))
    if ftz:
        a, b = _daz(a, k), _daz(b, k)
    unordered = is_nan(a, fmt) | is_nan(b, fmt)
    ka, kb = _order_key(a, k), _order_key(b, k)
    magnitude = np.uint64(k.sign_bit - 1)
    both_zero = ((a & magnitude) == 0) & ((b & magnitude) == 0)
    eq = ~unordered & ((ka == kb) | both_zero)
    lt = ~unordered & ~eq & (ka < kb)
    gt = ~unordered & ~eq & (ka > kb)
    return {"lt": lt, "eq": eq, "gt": gt, "unordered": unordered}


def _check_int_width(int_width: int):
    if not 1 <= int_width <= 64:
        raise ValueError(f"int_width {int_width} is out of range: allowed 1..64")


def _int_limits(signed: bool, int_width: int) -> tuple[int, int]:
    if signed:
        return -(1 << (int_width - 1)), (1 << (int_width - 1)) - 1
    return 0, (1 << int_width) - 1


def int_to_fp(x, signed: bool, int_width: int, fmt: FloatFormat) -> np.ndarray:
    """Integer *values* (not two's-complement patterns) rounded into ``fmt``; 0 gives +0 and
    values beyond the largest finite give Inf. Integers are never subnormal (the smallest
    normal is at most 1 in every format), so there is no ftz."""
    _check_int_width(int_width)
    k = _consts(fmt)
    arr = _int_values(x, "x")
    values = arr.ravel().tolist()
    low, high = _int_limits(signed, int_width)
    if any(v < low or v > high for v in values):
        raise ValueError(f"x: values must lie in {low}..{high} "
                         f"({'signed' if signed else 'unsigned'} {int_width}-bit)")
    out = [_round1(1 if v < 0 else 0, abs(v), 0, k, False) for v in values]
    return np.array(out, dtype=np.uint64).reshape(arr.shape)


def _to_int1(a: int, k: _Consts, low: int, high: int) -> int:
    kind, s, m, e = _decode1(a, k, False)
    if kind == _NAN:
        return 0
    if kind == _INF:
        return low if s else high
    if e >= 0:
        n = m << e
    else:
        n = m >> -e
        rest = m - (n << -e)
        half = 1 << (-e - 1)
        if rest > half or (rest == half and n & 1):
            n += 1
    n = -n if s else n
    return min(max(n, low), high)


def fp_to_int(a, fmt: FloatFormat, signed: bool, int_width: int) -> np.ndarray:
    """``a`` rounded to the nearest integer (ties to even), saturated to the ``int_width``-bit
    signed or unsigned range; +-Inf saturate, NaN gives 0, negative values saturate to 0 when
    unsigned. Subnormals are used exactly. Returns int64 values when ``signed``, else uint64."""
    _check_int_width(int_width)
    k = _consts(fmt)
    low, high = _int_limits(signed, int_width)
    bits = as_bits(a, fmt, "a")
    out = [_to_int1(v, k, low, high) for v in bits.ravel().tolist()]
    return np.array(out, dtype=np.int64 if signed else np.uint64).reshape(bits.shape)


def decode(bits, fmt: FloatFormat) -> np.ndarray:
    """The float64 value of each pattern: exact for every format here (at most 53 significand
    bits and an exponent range inside float64's), NaN for any NaN, +-Inf, -0.0 for -0."""
    k = _consts(fmt)
    bits = as_bits(bits, fmt)
    sign, e, f = _fields(bits, k)
    normal = e != 0
    mag = np.where(normal, f | np.uint64(k.hidden), f).astype(np.float64)   # < 2**53: exact
    special = e == np.uint64(k.exp_max)
    exp = np.where(normal & ~special, e.astype(np.int64) - 1 + k.emin_q, k.emin_q)
    value = np.ldexp(mag, exp.astype(np.int32))
    value = np.where(special, np.where(f == 0, np.inf, np.nan), value)
    return np.where(sign == 1, -value, value)


def encode(values, fmt: FloatFormat, ftz: bool = False) -> np.ndarray:
    """float64 values rounded (ties to even, once, from their exact value) into ``fmt``;
    NaN gives the canonical NaN. Handy for building stimulus from readable numbers."""
    k = _consts(fmt)
    arr = np.asarray(values, dtype=np.float64)
    out = []
    for v in arr.ravel().tolist():
        if math.isnan(v):
            out.append(k.nan)
        elif math.isinf(v):
            out.append((v < 0) * k.sign_bit | k.inf)
        else:
            sign = 1 if math.copysign(1.0, v) < 0 else 0
            num, den = abs(v).as_integer_ratio()          # den is a power of two
            out.append(_round1(sign, num, 1 - den.bit_length(), k, ftz))
    return np.array(out, dtype=np.uint64).reshape(arr.shape)


def special_values(fmt: FloatFormat) -> np.ndarray:
    """The special-value set, as sorted unique uint64 patterns: +-0, +-min subnormal, +-max
    subnormal, +-min normal, +-max normal, +-1, +-Inf, the canonical qNaN, a signalling NaN
    (sign set, fraction 1; absent when man_bits == 1, where every NaN is quiet), and the
    patterns one ulp either side (in value) of each finite one. Neighbours that would fall
    outside the finite range are Inf, which is in the set already."""
    k = _consts(fmt)
    one = fmt.bias << k.m
    finite = [0, 1, k.man_mask, k.hidden, k.inf - 1, one]          # positive magnitudes
    values = set()
    for mag in finite:
        for neighbour in (mag - 1, mag, mag + 1):
            if neighbour >= 0:      # the neighbour below +0 is -min subnormal, added anyway
                values.add(neighbour)
                values.add(neighbour | k.sign_bit)
    values.update({k.inf, k.inf | k.sign_bit, k.nan})
    if k.m > 1:
        values.add(k.sign_bit | k.inf | 1)                           # sNaN: top fraction bit clear
    return np.array(sorted(values), dtype=np.uint64)


# ---------------------------------------------------------------------------------------------
# Fixed point: requantization
# ---------------------------------------------------------------------------------------------
#
# Exact NumPy model of fixed-point requantization (the golden twin of
# ``hwgen.numerics.rtl.fixed``).
#
# ``fx_requantize`` re-expresses raw values of one :class:`FixedFormat` in another: it moves the
# binary point (dropping or adding fraction bits), rounds what is dropped, and brings the result
# into the output range. Everything is Python-integer arithmetic, so it is exact for any width a
# ``FixedFormat`` allows (up to 256 bits), whatever NumPy's dtypes can hold.
#
# Rounding, when fraction bits are dropped (a value ``v = r * 2**-s`` in units of the output's
# last place, ``s`` the number of dropped bits):
#
# * ``truncate``: drop the bits, i.e. round toward -infinity (``floor``), what an arithmetic
#   shift does in two's complement;
# * ``half_up``: to nearest, ties toward +infinity (``floor(v + 1/2)``);
# * ``half_even``: to nearest, ties to the even neighbour (convergent rounding, no bias).
#
# Overflow, when the rounded value does not fit the output format:
#
# * ``wrap``: keep the low ``width`` bits (two's complement modulo ``2**width``), what plain
#   truncation of the high bits does in hardware;
# * ``saturate``: clamp to the nearest representable value.
#
# Adding fraction bits is exact (a left shift); only ``overflow`` can then matter.



def _check_modes(rounding: str, overflow: str):
    if rounding not in ROUNDINGS:
        raise ValueError(f"rounding={rounding!r}: allowed one of {', '.join(ROUNDINGS)}")
    if overflow not in OVERFLOWS:
        raise ValueError(f"overflow={overflow!r}: allowed one of {', '.join(OVERFLOWS)}")


def _raw_values(values, fmt: FixedFormat, name: str) -> tuple[list[int], tuple[int, ...]]:
    """The raw integers of ``values`` as a flat list of Python ints, checked against ``fmt``."""
    arr = np.asarray(values)
    if arr.size and arr.dtype.kind not in "iuO":
        raise TypeError(f"{name}: expected raw integers, got an array of dtype {arr.dtype}")
    flat = arr.ravel().tolist()
    if any(isinstance(v, bool) or not isinstance(v, int) for v in flat):
        raise TypeError(f"{name}: expected raw integers")
    if any(v < fmt.min_raw or v > fmt.max_raw for v in flat):
        raise ValueError(f"{name}: raw values must lie in {fmt.min_raw}..{fmt.max_raw} "
                         f"({fmt.name}, {fmt.width} bits {'signed' if fmt.signed else 'unsigned'})")
    return flat, arr.shape


def _shift_round(v: int, shift: int, rounding: str) -> int:
    """``v * 2**-shift`` rounded to an integer (``shift > 0``)."""
    floor = v >> shift                     # Python's >> floors, for negative v too
    rest = v - (floor << shift)            # 0 <= rest < 2**shift
    half = 1 << (shift - 1)
    if rounding == "truncate":
        return floor
    if rounding == "half_up":
        return floor + (rest >= half)
    return floor + (rest > half or (rest == half and floor & 1))           # half_even


def _fit(v: int, fmt: FixedFormat, overflow: str) -> int:
    if overflow == "saturate":
        return min(max(v, fmt.min_raw), fmt.max_raw)
    v &= (1 << fmt.width) - 1
    if fmt.signed and v >> (fmt.width - 1):
        v -= 1 << fmt.width
    return v


def fx_requantize(values, fmt_in: FixedFormat, fmt_out: FixedFormat, rounding: str = "truncate",
                  overflow: str = "saturate") -> np.ndarray:
    """Raw values of ``fmt_in`` as raw values of ``fmt_out``: the binary point moves by
    ``fmt_in.frac_bits - fmt_out.frac_bits`` places, dropped bits round per ``rounding``, and a
    result outside ``fmt_out`` wraps or saturates per ``overflow``.

    ``values`` are integers (any integer dtype, or Python ints in an object array) within
    ``fmt_in``'s raw range. Returns ``int64`` (signed) or ``uint64`` (unsigned) arrays for
    outputs up to 64 bits, Python ints in an object array beyond."""
    _check_modes(rounding, overflow)
    flat, shape = _raw_values(values, fmt_in, "values")
    shift = fmt_in.frac_bits - fmt_out.frac_bits
    if shift > 0:
        scaled = [_shift_round(v, shift, rounding) for v in flat]
    else:
        scaled = [v << -shift for v in flat]
    out = [_fit(v, fmt_out, overflow) for v in scaled]
    return np.array(out, dtype=int_dtype(fmt_out.width, fmt_out.signed)).reshape(shape)


def fx_value(values, fmt: FixedFormat) -> np.ndarray:
    """The real values of raw ``values`` as float64 (exact up to 53 significant bits), for
    reading results; the arithmetic above never goes through floating point."""
    flat, shape = _raw_values(values, fmt, "values")
    return np.array([v * 2.0 ** -fmt.frac_bits for v in flat], dtype=np.float64).reshape(shape)


# ---------------------------------------------------------------------------------------------
# Function units: reciprocal and inverse square root
# ---------------------------------------------------------------------------------------------
#
# Bit-exact golden twins of the reciprocal and inverse-square-root function units.
#
# ``fp_recip(a, fmt)`` approximates ``1 / a`` and ``fp_rsqrt(a, fmt)`` approximates
# ``1 / sqrt(a)``. Neither is correctly rounded: each is the documented fixed-point algorithm
# below (a seed, then Newton-Raphson steps on integers with explicit truncations), followed by
# one round to nearest, ties to even, of the fixed-point result. These twins reproduce every
# integer step from the algorithm's description (not from the RTL), vectorized over NumPy
# arrays, and round with :func:`hwgen.numerics.golden.round_exact`.
#
# Common notation (``fmt`` has ``M`` fraction bits, precision ``p = M + 1``, bias ``B``):
#
# * A finite nonzero input is decoded as ``x = (-1)**s * (m / 2**M) * 2**e`` with the integer
#   significand ``m`` in ``[2**M, 2**(M+1))``: a subnormal input is normalized first, shifting
#   its significand left by its leading-zero count ``lz`` (within ``p`` bits) and lowering ``e``
#   by as much. So ``e = E - B - lz`` with ``E`` the effective exponent (the exponent field,
#   or 1 for subnormals).
# * Fixed-point values carry ``W`` fraction bits: the integer ``v`` means ``v / 2**W``. Every
#   ``>>`` below is a truncation (floor) of a non-negative integer.
# * ``ftz``: subnormal inputs read as zeros of their sign, subnormal results flush to zero of
#   their sign (a result rounding up to the smallest normal stays normal).
#
# fp_recip (``seed_bits`` = s, ``iterations`` = n; ``W = p + RECIP_GUARD``)
# --------------------------------------------------------------------------
# 1. Seed table. ``t = min(s, M)`` index bits, ``T = t + 3`` table fraction bits. Entry ``i``
#    (``0 <= i < 2**t``) is ``round(2**T / mid_i)``, the reciprocal of the midpoint
#    ``mid_i = 1 + (2i + 1) / 2**(t+1)`` of the interval of significands it serves, rounded to
#    nearest (no ties can occur: ``2**T / mid_i = 2**(T+t+1) / (2**(t+1) + 2i + 1)`` has an odd
#    denominator). Every entry is below ``2**T``.
# 2. ``y0 = table[(m - 2**M) >> (M - t)] << (W - T)``.
# 3. ``n`` times: ``u = (m * y) >> M`` (``m*y``, W fraction bits), ``d = 2**(W+1) - u``
#    (``2 - m*y``), ``y = (y * d) >> W``. (``y`` stays below ``2**W``: Newton's step never
#    exceeds ``1/m`` and the truncations only lower it.)
# 4. Result: ``(-1)**s * y * 2**(-W - e)``, rounded once (RNE, overflow to Inf, gradual
#    underflow or ftz flush).
#
# Specials: ``1/(+-0) = +-Inf`` (a subnormal under ftz counts as zero), ``1/(+-Inf) = +-0``,
# NaN in gives the canonical NaN.
#
# fp_rsqrt (``iterations`` = n; ``W = p + RSQRT_GUARD``)
# -------------------------------------------------------
# 1. Seed, the fast-inverse-square-root bit trick on the input's bit pattern, extended so that
#    it also works for subnormal inputs: ``X = ((e + B) << M) + (m - 2**M)`` is the bit pattern
#    ``x`` would have with an unbounded exponent field (for a normal input it *is* ``x``'s
#    pattern; for a subnormal one ``e + B <= 0`` and ``X`` may be negative).
#    ``Y = magic - (X >> 1)`` (arithmetic shift, i.e. floor), with
#    ``magic = round(3/2 * (B - 0.0450466) * 2**M)`` (the constant that gives fp32's
#    ``0x5F3759DF``; fp16: ``0x59BB``, bf16: ``0x5F37``). ``Y`` is then decoded like a pattern:
#    exponent field ``Ey = Y >> M``, significand ``my = 2**M + (Y & (2**M - 1))``; the seed is
#    ``my * 2**(Ey - B - M)``.
# 2. Even/odd exponent split: ``k = e >> 1`` (floor), ``mx = m << (e & 1)``, so
#    ``x = (mx / 2**M) * 2**(2k)`` with ``mx / 2**M`` in ``[1, 4)`` and
#    ``1/sqrt(x) = r * 2**(-k)`` with ``r = 1/sqrt(mx / 2**M)`` in ``(1/2, 1]``.
#    The seed of ``r`` in fixed point: ``q = Ey - B + k`` (the seed's scale relative to
#    ``2**(-k)``, always in ``-2..0``), ``y0 = (my << (W - M - 2)) << (q + 2)``.
# 3. ``n`` times: ``v = (y * y) >> W`` (``y**2``), ``u = (mx * v) >> M`` (``x * y**2``),
#    ``d = 3 * 2**W - u``, ``y = (y * d) >> (W + 1)`` (``y * (3 - x*y**2) / 2``).
# 4. Result: ``y * 2**(-W - k)``, rounded once (RNE). For fp16 and bf16 every result is normal.
#
# Specials: ``rsqrt(+0) = +Inf``, ``rsqrt(-0) = -Inf`` (subnormals under ftz count as zeros),
# ``rsqrt(+Inf) = +0``, any other negative input (``-Inf`` included) or NaN gives the
# canonical NaN.

# Fraction bits of the Newton-Raphson datapath beyond the format's precision.
RECIP_GUARD = 6
RSQRT_GUARD = 6
# The bit trick's offset: magic = round(3/2 * (bias - sigma) * 2**M).
RSQRT_SIGMA = Fraction("0.0450466")

RECIP_SEED_BITS = 7
RECIP_ITERATIONS = 1
RSQRT_ITERATIONS = 2


def _round_half_up(value: Fraction) -> int:
    return (2 * value.numerator + value.denominator) // (2 * value.denominator)


@cache
def recip_table(seed_bits: int, man_bits: int) -> tuple[int, ...]:
    """The reciprocal seed table: ``2**min(seed_bits, man_bits)`` entries of
    ``min(seed_bits, man_bits) + 3`` fraction bits, ``round(2**T / mid_i)``."""
    t = min(seed_bits, man_bits)
    frac = t + 3
    return tuple(_round_half_up(Fraction(1 << frac) / (1 + Fraction(2 * i + 1, 1 << (t + 1))))
                 for i in range(1 << t))


def rsqrt_magic(fmt: FloatFormat) -> int:
    """``round(3/2 * (bias - 0.0450466) * 2**man_bits)``: 0x59BB (fp16), 0x5F37 (bf16),
    0x5F3759DF (fp32)."""
    return _round_half_up(Fraction(3, 2) * (fmt.bias - RSQRT_SIGMA) * (1 << fmt.man_bits))


def _check(name: str, value: int, low: int, high: int):
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name}={value!r} is out of range: allowed {low}..{high}")


def _ints(values: np.ndarray, bits: int) -> np.ndarray:
    """``values`` as int64 when ``bits``-bit intermediates fit, else Python ints (object)."""
    return values.astype(np.int64) if bits <= 62 else values.astype(np.int64).astype(object)


def _decode(a, fmt: FloatFormat, ftz: bool):
    """Fields of each pattern: ``sign, m, e`` (normalized finite value), and the masks
    ``nan, inf, zero`` (zero includes subnormals when ``ftz``)."""
    M = fmt.man_bits
    bits = as_bits(a, fmt, "a").astype(np.int64)
    sign = bits >> (fmt.width - 1)
    field = (bits >> M) & fmt.exp_max
    frac = bits & ((1 << M) - 1)
    special = field == fmt.exp_max
    nan = special & (frac != 0)
    inf = special & (frac == 0)
    zero = (field == 0) & ((frac == 0) | ftz)
    sig = np.where(field == 0, frac, frac | (1 << M))
    lz = np.zeros_like(sig)
    for _ in range(M):                       # leading zeros within p bits, at most M if nonzero
        low = (sig != 0) & (((sig << lz) >> M) == 0)
        lz = lz + low
    m = sig << lz
    e = np.maximum(field, 1) - fmt.bias - lz
    return sign, m, e, nan, inf, zero


def _finish(sign, mag, exp, finite, fmt: FloatFormat, ftz: bool, special: np.ndarray):
    """Round the finite lanes, take ``special`` (already patterns) elsewhere."""
    out = special.astype(np.uint64)
    lanes = np.flatnonzero(finite)
    if lanes.size:
        values = [round_exact(int(s), int(v), int(x), fmt, ftz)
                  for s, v, x in zip(sign[lanes].tolist(), mag[lanes].tolist(),
                                     exp[lanes].tolist())]
        out[lanes] = np.array(values, dtype=np.uint64)
    return out


def fp_recip(a, fmt: FloatFormat, ftz: bool = False, *, seed_bits: int = RECIP_SEED_BITS,
             iterations: int = RECIP_ITERATIONS) -> np.ndarray:
    """The reciprocal unit's ``1 / a`` (see the module docstring for the exact algorithm)."""
    _check("seed_bits", seed_bits, 1, 16)
    _check("iterations", iterations, 0, 3)
    M, p = fmt.man_bits, fmt.precision
    W = p + RECIP_GUARD
    t = min(seed_bits, M)
    table = np.array(recip_table(seed_bits, M), dtype=np.int64)
    sign, m, e, nan, inf, zero = _decode(a, fmt, ftz)

    index = (m - (1 << M)) >> (M - t)
    y = _ints(table[np.clip(index, 0, len(table) - 1)] << (W - (t + 3)), 2 * W + 4)
    m = _ints(m, 2 * W + 4)
    for _ in range(iterations):
        u = (m * y) >> M
        d = (1 << (W + 1)) - u
        y = (y * d) >> W

    sign_bit = sign.astype(np.uint64) << np.uint64(fmt.width - 1)
    special = np.where(nan, np.uint64(fmt.canonical_nan),
                       np.where(zero, sign_bit | np.uint64(fmt.inf()), sign_bit))  # inf: +-0
    finite = ~(nan | inf | zero)
    return _finish(sign, y, -W - e, finite, fmt, ftz, special)


def fp_rsqrt(a, fmt: FloatFormat, ftz: bool = False, *,
             iterations: int = RSQRT_ITERATIONS) -> np.ndarray:
    """The inverse-square-root unit's ``1 / sqrt(a)`` (see the module docstring)."""
    _check("iterations", iterations, 0, 3)
    M, B = fmt.man_bits, fmt.bias
    W = fmt.precision + RSQRT_GUARD
    sign, m, e, nan, inf, zero = _decode(a, fmt, ftz)

    X = ((e + B) << M) + (m - (1 << M))        # the pattern with an unbounded exponent field
    Y = rsqrt_magic(fmt) - (X >> 1)            # NumPy's >> on int64 is an arithmetic shift
    ey = Y >> M
    my = (1 << M) + (Y & ((1 << M) - 1))
    k = e >> 1
    mx = m << (e & 1)
    q = ey - B + k
    valid = ~(nan | inf | zero) & (sign == 0)
    if np.any(valid & ((q < -2) | (q > 0))):
        raise AssertionError("rsqrt seed scale outside -2..0")   # the documented invariant
    y = _ints((my << (W - M - 2)) << np.clip(q + 2, 0, 2), 2 * W + 8)
    mx = _ints(mx, 2 * W + 8)
    for _ in range(iterations):
        v = (y * y) >> W
        u = (mx * v) >> M
        d = 3 * (1 << W) - u
        y = (y * d) >> (W + 1)

    sign_bit = sign.astype(np.uint64) << np.uint64(fmt.width - 1)
    special = np.where(zero, sign_bit | np.uint64(fmt.inf()),
                       np.where(inf & (sign == 0), np.uint64(0), np.uint64(fmt.canonical_nan)))
    return _finish(sign, y, -W - k, valid, fmt, ftz, special)


# ---------------------------------------------------------------------------------------------
# Function units: exponential and GELU
# ---------------------------------------------------------------------------------------------
#
# Bit-exact golden twins of the exponential and GELU function units (``fp_exp``, ``fp_gelu``).
#
# Written from the documented fixed-point algorithms below (docs/fp_exp.md, docs/fp_gelu.md),
# not from the RTL: every integer step (widths, truncations, table entries) is reproduced here
# with vectorized NumPy int64 arithmetic, and the one final rounding is
# :func:`hwgen.numerics.golden.round_exact` (round to nearest even, overflow to Inf, gradual
# underflow; with ``ftz`` a subnormal result becomes zero of its sign, a result rounding up to the
# smallest normal stays normal). Inputs are ``fmt`` bit patterns; outputs ``np.uint64`` patterns.
#
# ``fmt`` is fp16 or bf16 (the block's allowed formats); other formats of at most 16 bits are
# accepted (int64 then holds every intermediate), but only fp16 and bf16 are tested.
#
# Notation: ``p = fmt.precision``, ``M = fmt.man_bits``. A finite input decodes to
# ``(-1)**s * sig * 2**(e - bias - M)`` with ``e`` the *effective* exponent (1 for zeros and
# subnormals) and ``sig`` the significand with its leading bit explicit. With ``ftz`` a subnormal
# input reads as zero of its sign first (DAZ).
#
# fp_exp (``y = base**x``, base e or 2)
# -------------------------------------
# Widths: ``F = p + 6`` fraction bits of ``t``; ``W = p + 6`` fraction bits of the polynomial.
#
# 1. Saturation: ``k_sat`` is the least ``k`` with ``2**k * log2(base) >= bias + M + 3``. An input
#    with ``e - bias >= k_sat`` (or an infinity) has ``|t| >= bias + M + 3``: positive gives +Inf
#    (overflow), negative gives +0 (below half the smallest subnormal).
# 2. ``t = x * log2(base)`` in fixed point. ``L = round(math.log2(math.e) * 2**LF)`` with
#    ``LF = F + k_sat + 2`` (for base 2: ``L = 1``, ``LF = 0``). The magnitude is truncated:
#    ``T_mag = floor(sig * L * 2**(e - bias - M - LF + F))``; ``T = -T_mag`` if the sign is set.
# 3. ``n = T >> F`` (floor), ``f = T & (2**F - 1)``; segment ``i = f >> R`` (the top
#    ``table_bits`` bits of ``f``), offset ``r = f & (2**R - 1)`` with ``R = F - table_bits``.
# 4. Coefficients ``a_k[i] = round(math.ldexp(2.0 ** (i / 2**table_bits) * math.log(2.0) ** k
#    / math.factorial(k), W))`` (float64, Python ``round``) for ``k = 0..degree``: the Taylor
#    expansion of ``2**(i/2**tb + r) = 2**(i/2**tb) * exp(r ln 2)`` around the segment start.
# 5. Horner, floor after each product: ``acc = a_d[i]``; for ``k = d-1..0``:
#    ``acc = a_k[i] + ((acc * r) >> F)``. ``acc * 2**-W`` approximates ``2**f``.
# 6. ``y = round(acc * 2**(n - W))``, one rounding (subnormal results rounded from the exact
#    ``acc * 2**(n - W)``).
#
# Specials: NaN gives the canonical NaN; exp(+Inf) = +Inf, exp(-Inf) = +0; exp(+-0) = 1 exactly
# (``T = 0``, ``a_0[0] = 2**W``). Every finite result is positive.
#
# fp_gelu (``y = x * Phi(x)``)
# ----------------------------
# ``Phi`` is the standard normal CDF, ``Q(x) = 1 - Phi(x) = Phi(-x)``. Widths: ``Fx = p + 6``
# fraction bits of ``|x|``; ``W = p + 20`` fraction bits of ``Q`` (``Q(-4)`` is about ``2**-15``:
# the extra bits keep ``Phi(x) = Q(|x|)`` relatively accurate on the negative side).
#
# 1. ``range`` a power of two, ``lg = log2(range)``. ``|x| >= range`` (``e - bias >= lg``, or an
#    infinity): ``y = x`` for positive ``x`` (the input pattern itself), ``-0`` for negative.
# 2. ``A = floor(|x| * 2**Fx) = floor(sig * 2**(e - bias - M + Fx))``, ``A < range * 2**Fx``.
#    ``R = Fx + lg - log2(segments)``; segment ``i = A >> R``, signed offset from its midpoint
#    ``r = (A & (2**R - 1)) - 2**(R - 1)``.
# 3. Coefficients of the Taylor expansion of ``Q`` around the midpoint ``m_i = (i + 0.5) * range
#    / segments``, for ``k = 0..degree``: ``c_0 = round(math.ldexp(0.5 * math.erfc(m /
#    math.sqrt(2.0)), W))``, and for ``k >= 1`` ``c_k = round(math.ldexp((-1) ** k * He(k - 1, m)
#    * phi(m) / math.factorial(k), W))`` with ``phi(m) = math.exp(-m * m / 2.0) /
#    math.sqrt(2.0 * math.pi)`` and the Hermite polynomials ``He(0) = 1``, ``He(1) = m``,
#    ``He(j + 1) = m * He(j) - j * He(j - 1)`` (``Q^(k) = (-1)**k He_{k-1} phi``).
# 4. Horner, floor after each product: ``acc = c_d[i]``; ``acc = c_k[i] + ((acc * r) >> Fx)``.
#    ``q = max(acc, 0)``.
# 5. ``phi_w = q`` for negative ``x``, ``2**W - q`` for positive: ``Phi(x) ~ phi_w * 2**-W``.
# 6. ``y = round((-1)**s * sig * phi_w * 2**(e - bias - M - W))``: the exact product, rounded once.
#
# Specials: NaN gives the canonical NaN; GELU(+Inf) = +Inf; GELU(-Inf) = -0 (the limit, from
# below); GELU(+-0) = +-0 (``sig = 0``, sign kept).

EXP_DEFAULTS = {"base": "e", "table_bits": 5, "degree": 2}
GELU_DEFAULTS = {"range": 8, "segments": 64, "degree": 3}


# -- shared integer plumbing ------------------------------------------------------------------

def _unpack(bits: np.ndarray, fmt: FloatFormat, ftz: bool):
    """Vectorized (sign, effective exponent, significand, nan, inf) as int64 arrays."""
    M = fmt.man_bits
    bits = bits.astype(np.int64)
    sign = (bits >> (fmt.width - 1)) & 1
    field = (bits >> M) & fmt.exp_max
    man = bits & ((1 << M) - 1)
    normal = field != 0
    special = field == fmt.exp_max
    sig = np.where(normal, man | (1 << M), 0 if ftz else man)
    return sign, np.where(normal, field, 1), sig, special & (man != 0), special & (man == 0)


def _shift(value: np.ndarray, amount: np.ndarray) -> np.ndarray:
    """``floor(value * 2**amount)`` for non-negative int64 ``value`` and any int ``amount``."""
    left = np.clip(amount, 0, 62)
    right = np.clip(-amount, 0, 63)
    return np.where(amount >= 0, value << left, value >> right)


def _round_all(sign, mag, exp, fmt: FloatFormat, ftz: bool) -> np.ndarray:
    out = [round_exact(s, m, e, fmt, ftz) for s, m, e in zip(sign.tolist(), mag.tolist(),
                                                             exp.tolist())]
    return np.array(out, dtype=np.uint64)


def _check_fmt(fmt: FloatFormat) -> None:
    # int64 holds every intermediate for formats of at most 16 bits (GELU's widest product,
    # acc * r, has about 2 * precision + 28 bits).
    if fmt.width > 16:
        raise ValueError(f"fp_exp/fp_gelu twins support formats of at most 16 bits (fp16, "
                         f"bf16), not ({fmt.exp_bits},{fmt.man_bits})")


def _fmt(fmt) -> FloatFormat:
    return PRESETS[fmt] if isinstance(fmt, str) else fmt


# -- exp --------------------------------------------------------------------------------------

@cache
def exp_constants(fmt: FloatFormat, base: str) -> dict:
    """The documented widths and constants of fp_exp for ``fmt`` and ``base``."""
    if base not in ("e", "2"):
        raise ValueError(f"base={base!r} is out of range: allowed one of e, 2")
    p = fmt.precision
    log2_base = math.log2(math.e) if base == "e" else 1.0
    k_sat = 0
    while 2 ** k_sat * log2_base < fmt.bias + fmt.man_bits + 3:
        k_sat += 1
    F = W = p + 6
    if base == "e":
        LF = F + k_sat + 2
        L = round(math.ldexp(math.log2(math.e), LF))
    else:
        LF, L = 0, 1
    return {"F": F, "W": W, "k_sat": k_sat, "LF": LF, "L": L}


@cache
def exp_coefficients(table_bits: int, degree: int, W: int) -> tuple[tuple[int, ...], ...]:
    """``a[k][i]``: the documented table of 2**f Taylor coefficients (see module docstring)."""
    return tuple(
        tuple(round(math.ldexp(2.0 ** (i / 2 ** table_bits) * math.log(2.0) ** k
                               / math.factorial(k), W))
              for i in range(2 ** table_bits))
        for k in range(degree + 1))


def _exp_params(table_bits: int, degree: int) -> None:
    if table_bits not in range(2, 9):
        raise ValueError(f"table_bits={table_bits!r} is out of range: allowed 2..8")
    if degree not in range(1, 5):
        raise ValueError(f"degree={degree!r} is out of range: allowed 1..4")


def fp_exp(a, fmt, ftz: bool = False, *, base: str = "e", table_bits: int = 5,
           degree: int = 2) -> np.ndarray:
    """``base ** a`` (base ``"e"`` or ``"2"``) by the fixed-point table + Taylor algorithm of the
    module docstring; bit-exact with the ``fp_exp`` block."""
    fmt = _fmt(fmt)
    _check_fmt(fmt)
    _exp_params(table_bits, degree)
    c = exp_constants(fmt, base)
    F, W = c["F"], c["W"]
    R = F - table_bits
    bits = as_bits(a, fmt, "a")
    shape = bits.shape
    sign, e, sig, nan, inf = _unpack(bits.ravel(), fmt, ftz)

    sat = inf | (e - fmt.bias >= c["k_sat"])
    t_mag = _shift(sig * c["L"], e - fmt.bias - fmt.man_bits - c["LF"] + F)
    t_mag = np.where(sat, 0, t_mag)
    t = np.where(sign == 1, -t_mag, t_mag)
    n = t >> F
    f = t & ((1 << F) - 1)
    i, r = f >> R, f & ((1 << R) - 1)

    table = np.array(exp_coefficients(table_bits, degree, W), dtype=np.int64)
    acc = table[degree][i]
    for k in range(degree - 1, -1, -1):
        acc = table[k][i] + ((acc * r) >> F)

    y = _round_all(np.zeros_like(acc), acc, n - W, fmt, ftz)
    y = np.where(sat & (sign == 0), np.uint64(fmt.inf(0)), y)
    y = np.where(sat & (sign == 1), np.uint64(0), y)
    y = np.where(nan, np.uint64(fmt.canonical_nan), y)
    return y.astype(np.uint64).reshape(shape)


# -- gelu -------------------------------------------------------------------------------------

def gelu_widths(fmt: FloatFormat) -> dict:
    return {"Fx": fmt.precision + 6, "W": fmt.precision + 20}


@cache
def gelu_coefficients(range_: int, segments: int, degree: int, W: int
                      ) -> tuple[tuple[int, ...], ...]:
    """``c[k][i]``: Taylor coefficients of ``Q(x) = 1 - Phi(x)`` around segment midpoints."""
    table = []
    for k in range(degree + 1):
        row = []
        for i in range(segments):
            m = (i + 0.5) * range_ / segments
            if k == 0:
                value = 0.5 * math.erfc(m / math.sqrt(2.0))
            else:
                he_prev, he = 0.0, 1.0                   # He_{-1} (unused), He_0
                for j in range(k - 1):                   # up to He_{k-1}
                    he_prev, he = he, m * he - j * he_prev
                phi = math.exp(-m * m / 2.0) / math.sqrt(2.0 * math.pi)
                value = (-1) ** k * he * phi / math.factorial(k)
            row.append(round(math.ldexp(value, W)))
        table.append(tuple(row))
    return tuple(table)


def _gelu_params(range_: int, segments: int, degree: int) -> None:
    if range_ not in (4, 8):
        raise ValueError(f"range={range_!r} is out of range: allowed one of 4, 8")
    if segments not in (8, 16, 32, 64, 128, 256):
        raise ValueError(f"segments={segments!r} is out of range: allowed one of 8, 16, 32, 64, "
                         f"128, 256")
    if degree not in range(1, 6):
        raise ValueError(f"degree={degree!r} is out of range: allowed 1..5")


def fp_gelu(a, fmt, ftz: bool = False, *, range: int = 8, segments: int = 64,
            degree: int = 3) -> np.ndarray:
    """``GELU(a) = a * Phi(a)`` by the piecewise-Taylor algorithm of the module docstring;
    bit-exact with the ``fp_gelu`` block."""
    range_ = range
    fmt = _fmt(fmt)
    _check_fmt(fmt)
    _gelu_params(range_, segments, degree)
    w = gelu_widths(fmt)
    Fx, W = w["Fx"], w["W"]
    lg = range_.bit_length() - 1
    R = Fx + lg - (segments.bit_length() - 1)
    bits = as_bits(a, fmt, "a")
    shape = bits.shape
    flat = bits.ravel()
    sign, e, sig, nan, inf = _unpack(flat, fmt, ftz)

    big = inf | (e - fmt.bias >= lg)
    A = _shift(sig, e - fmt.bias - fmt.man_bits + Fx)
    A = np.where(big, 0, A)
    i = A >> R
    r = (A & ((1 << R) - 1)) - (1 << (R - 1))

    table = np.array(gelu_coefficients(range_, segments, degree, W), dtype=np.int64)
    acc = table[degree][i]
    for k in reversed(np.arange(degree)):      # `range` is the parameter here
        acc = table[k][i] + ((acc * r) >> Fx)
    q = np.maximum(acc, 0)
    phi_w = np.where(sign == 1, q, (1 << W) - q)

    y = _round_all(sign, sig * phi_w, e - fmt.bias - fmt.man_bits - W, fmt, ftz)
    y = np.where(big & (sign == 0), flat, y)
    y = np.where(big & (sign == 1), np.uint64(1 << (fmt.width - 1)), y)
    y = np.where(nan, np.uint64(fmt.canonical_nan), y)
    return y.astype(np.uint64).reshape(shape)
