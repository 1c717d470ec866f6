"""Bit-exact golden twins of the IEEE-754 floating-point operators.

These are the independent reference the numerics RTL is checked against, written from the
IEEE-754 rules, not from any RTL. Every function takes NumPy arrays (or anything
``np.asarray`` accepts) of unsigned bit patterns of a :class:`FloatFormat` and returns
``np.uint64`` arrays of the broadcast shape.

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
from functools import cache

import numpy as np

from .formats import FloatFormat

__all__ = [
    "as_bits", "decode", "encode", "fp_add", "fp_compare", "fp_convert", "fp_fma", "fp_max",
    "fp_min", "fp_mul", "fp_sub", "fp_to_int", "int_to_fp", "is_nan", "round_exact",
    "special_values",
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

def _mul1(a: int, b: int, k: _Consts, ftz: bool) -> int:
    ka, sa, ma, ea = _decode1(a, k, ftz)
    kb, sb, mb, eb = _decode1(b, k, ftz)
    if ka == _NAN or kb == _NAN:
        return k.nan
    s = sa ^ sb
    if ka == _INF or kb == _INF:
        if (ka == _FINITE and ma == 0) or (kb == _FINITE and mb == 0):
            return k.nan                                   # Inf * 0
        return s * k.sign_bit | k.inf
    return _round1(s, ma * mb, ea + eb, k, ftz)


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

def fp_mul(a, b, fmt: FloatFormat, ftz: bool = False) -> np.ndarray:
    """``round(a * b)``."""
    k = _consts(fmt)
    return _map(lambda x, y: _mul1(x, y, k, ftz), [as_bits(a, fmt, "a"), as_bits(b, fmt, "b")])


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
