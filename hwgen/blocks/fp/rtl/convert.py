"""``fp_convert``: format conversion on a stream of values: float to float, integer to float,
float to integer.

Each beat on ``operands`` carries one pattern ``a`` of ``fmt_in`` (for an integer format its
two's complement pattern), each beat on ``result`` the pattern ``y`` of ``fmt_out``: rounded to
nearest even, overflowing to infinity (float results) or saturating (integer results).
Handshake and pipeline are those of every :class:`~hwgen.blocks.fp.rtl.FloatBlock`.
"""

from __future__ import annotations

import numpy as np

from ....core.block import register
from ....numerics import golden
from ....numerics.formats import FloatFormat
from ....numerics.rtl import FloatConverter, FloatToInt, IntToFloat
from .. import golden as stimulus
from ..params import CONVERT_PARAMS, IntFormat, convert_format
from . import FloatBlock

__all__ = ["FpConvert", "convert_stimulus"]


@register
class FpConvert(FloatBlock):
    name = "fp_convert"
    params = CONVERT_PARAMS
    summary = "format conversion float <-> float / int, round to nearest even, saturating ints"
    operand_names = ("a",)
    op = "convert"

    @property
    def fmt_in(self) -> FloatFormat | IntFormat:
        return convert_format(self.p.fmt_in)

    @property
    def fmt_out(self) -> FloatFormat | IntFormat:
        return convert_format(self.p.fmt_out)

    @property
    def fmt(self) -> FloatFormat:
        """The float side (the input's when both are floats)."""
        return self.fmt_in if isinstance(self.fmt_in, FloatFormat) else self.fmt_out

    @property
    def in_width(self) -> int:
        return self.fmt_in.width

    @property
    def out_width(self) -> int:
        return self.fmt_out.width

    def info(self):
        return {**super().info(), "fmt_in": self.fmt_in.name, "fmt_out": self.fmt_out.name}

    def field_dtypes(self):
        # an integer format (IntFormat: width, signed) comes back as int8..int64 / uint8..uint64
        return {"a": self.fmt_in, "y": self.fmt_out}

    def _check_operand(self, fields, key):
        # a signed integer input may also be given as two's complement values (int8 arrays)
        fin = self.fmt_in
        values = np.asarray(fields[key]) if key in fields else None
        if (isinstance(fin, IntFormat) and fin.signed and values is not None
                and values.dtype.kind == "i" and values.size and int(values.min()) < 0):
            low = -(1 << (fin.width - 1))
            if int(values.min()) < low:
                raise ValueError(f"{self.name} field '{key}' holds values below {low} "
                                 f"({fin.name})")
            mask = np.uint64((1 << fin.width) - 1)
            fields = {**fields, key: values.astype(np.int64).view(np.uint64) & mask}
        return super()._check_operand(fields, key)

    def operator(self):
        fin, fout, latency = self.fmt_in, self.fmt_out, self.p.latency
        if isinstance(fin, IntFormat):
            return IntToFloat(fin.width, fin.signed, fout, latency=latency)
        if isinstance(fout, IntFormat):
            return FloatToInt(fin, fout.width, fout.signed, latency=latency)
        return FloatConverter(fin, fout, ftz=self.p.ftz, latency=latency)

    def reference(self, operands):
        fin, fout, a = self.fmt_in, self.fmt_out, operands["a"]
        if isinstance(fin, IntFormat):
            return golden.int_to_fp(int_values(a, fin), fin.signed, fin.width, fout)
        if isinstance(fout, IntFormat):
            return int_patterns(golden.fp_to_int(a, fin, fout.signed, fout.width), fout)
        return golden.fp_convert(a, fin, fout, self.p.ftz)

    def stimulus(self, rng, n):
        return {"a": convert_stimulus(rng, n, self.fmt_in, self.fmt_out)}


# -- integer patterns <-> values --------------------------------------------------------------------

def int_values(patterns, fmt: IntFormat) -> np.ndarray:
    """Two's complement ``fmt`` patterns as integer values (int64, or uint64 when unsigned)."""
    patterns = np.asarray(patterns, dtype=np.uint64)
    if not fmt.signed:
        return patterns
    # Sign-extend: shift the sign bit to bit 63, reinterpret, shift back arithmetically.
    up = np.uint64(64 - fmt.width)
    return (patterns << up).view(np.int64) >> np.int64(64 - fmt.width)


def int_patterns(values, fmt: IntFormat) -> np.ndarray:
    """Integer values (in ``fmt``'s range) as ``fmt``'s two's complement patterns (uint64)."""
    values = np.asarray(values)
    mask = np.uint64((1 << fmt.width) - 1)
    if values.dtype.kind == "i":
        return values.astype(np.int64).view(np.uint64) & mask
    return values.astype(np.uint64) & mask


# -- stimulus -------------------------------------------------------------------------------------

def _tie_bits(rng, n, drop) -> tuple[np.ndarray, np.ndarray]:
    """For each of ``n`` values losing ``drop`` low bits (0 where none are lost): a pattern for
    those bits that is exactly half an ulp, or one below or above it; and the mask of those
    bits. Where ``drop`` is 0 both are 0."""
    drop = np.asarray(drop, dtype=np.int64)
    safe = np.clip(drop, 1, 63).astype(np.uint64)
    half = np.uint64(1) << (safe - np.uint64(1))
    mask = (half << np.uint64(1)) - np.uint64(1)
    step = rng.integers(-1, 2, size=n)
    tie = np.where(step < 0, half - np.uint64(1), np.where(step > 0, half + np.uint64(1), half))
    keep = drop > 0
    return np.where(keep, tie & mask, 0).astype(np.uint64), np.where(keep, mask, 0).astype(np.uint64)


def _float_patterns(fmt: FloatFormat, sign, exp_field, man) -> np.ndarray:
    return ((np.asarray(sign, dtype=np.uint64) << np.uint64(fmt.width - 1))
            | (np.asarray(exp_field, dtype=np.uint64) << np.uint64(fmt.man_bits))
            | np.asarray(man, dtype=np.uint64))


def _engineered_float_in(rng, n, fin: FloatFormat, out) -> np.ndarray:
    """Floats of ``fin`` whose value lies where rounding into ``out`` can go wrong, with the
    bits ``out`` drops set to a tie or a neighbour of it half of the time. For a float ``out``:
    thirds around its overflow threshold, across its subnormal range, and anywhere in its
    normal range. For an integer ``out``: values up to a few binades past its saturation
    limits (and the few just inside), and small ones around 1/2, 1, 3/2."""
    if isinstance(out, FloatFormat):
        emin, emax = 1 - out.bias, out.exp_max - 1 - out.bias
        quantum = emin - out.man_bits            # weight of out's last subnormal bit
        t = np.select(
            [rng.random(n) < 1 / 3, rng.random(n) < 0.5],
            [rng.integers(emax - 1, emax + 2, size=n),
             rng.integers(quantum - 2, emin + 2, size=n)],
            rng.integers(emin, emax + 1, size=n))
        kept = np.where(t < emin, t - quantum, out.man_bits)   # fraction bits out keeps
    else:
        k = out.width - 1 if out.signed else out.width
        t = np.where(rng.random(n) < 0.5, rng.integers(k - 2, k + 2, size=n),
                     rng.integers(-2, min(k, fin.man_bits) + 1, size=n))
        kept = t                                              # bits above the binary point
    field = np.clip(t + fin.bias, 0, fin.exp_max - 1)
    drop = np.clip(fin.man_bits - kept, 0, fin.man_bits)
    man = rng.integers(0, 1 << fin.man_bits, size=n, dtype=np.uint64)
    tie, mask = _tie_bits(rng, n, drop)
    man = np.where(rng.random(n) < 0.5, (man & ~mask) | tie, man)
    return _float_patterns(fin, rng.integers(0, 2, size=n), field, man)


def _fixed_int_in(fin: IntFormat, out: FloatFormat) -> np.ndarray:
    """Integer patterns every run should see: 0, +-1, the extremes, powers of two and their
    neighbours, and the integers around ``out``'s overflow threshold (when in range)."""
    low = -(1 << (fin.width - 1)) if fin.signed else 0
    high = (1 << (fin.width - 1)) - 1 if fin.signed else (1 << fin.width) - 1
    fixed = {0, 1, low, high, low + 1, high - 1}
    for e in range(fin.width):
        for v in ((1 << e) - 1, 1 << e, (1 << e) + 1):
            fixed.update({v, -v})
    largest = int(golden.decode(out.inf() - 1, out)[()])
    half_ulp = 1 << max(largest.bit_length() - out.precision - 1, 0)
    for v in (largest, largest + half_ulp, largest + 2 * half_ulp):
        for d in (-1, 0, 1):
            fixed.update({v + d, -(v + d)})
    return np.array([v & ((1 << fin.width) - 1) for v in sorted(fixed) if low <= v <= high],
                    dtype=np.uint64)


def _engineered_int_in(rng, n, fin: IntFormat, out: FloatFormat) -> np.ndarray:
    """Integer patterns: 30% magnitudes around ``out``'s largest finite value (where the
    conversion overflows, when the integers reach it), the rest magnitudes of random bit
    length whose bits below ``out``'s precision are (70% of the time) a tie or a neighbour of
    it; random signs when signed."""
    low = -(1 << (fin.width - 1)) if fin.signed else 0
    high = (1 << (fin.width - 1)) - 1 if fin.signed else (1 << fin.width) - 1
    largest = int(golden.decode(out.inf() - 1, out)[()])
    half_ulp = 1 << max(largest.bit_length() - out.precision - 1, 0)
    bits = rng.integers(1, fin.width + 1, size=n)                 # magnitude bit length
    top = np.uint64(1) << (bits - 1).astype(np.uint64)
    magnitude = top | (rng.integers(0, 1 << 64, size=n, dtype=np.uint64) & (top - np.uint64(1)))
    tie, mask = _tie_bits(rng, n, bits - out.precision)
    magnitude = np.where(rng.random(n) < 0.7, (magnitude & ~mask) | tie, magnitude)
    magnitude = magnitude.astype(object)
    if largest < high:           # the integers reach out's overflow threshold
        near = largest + rng.integers(-2 * half_ulp, 4 * half_ulp + 1, size=n).astype(object)
        magnitude = np.where(rng.random(n) < 0.3, near, magnitude)
    negative = fin.signed & (rng.random(n) < 0.5)
    values = [max(low, min(high, -int(v) if s else int(v))) for v, s in zip(magnitude, negative)]
    return np.array([v & ((1 << fin.width) - 1) for v in values], dtype=np.uint64)


def _leading(fin, out) -> np.ndarray:
    """What goes first: the fixed integers, or the float special values."""
    if isinstance(fin, IntFormat):
        return _fixed_int_in(fin, out)
    values = set(stimulus.special_values(fin).tolist()) | set(golden.special_values(fin).tolist())
    return np.array(sorted(values), dtype=np.uint64)


def convert_stimulus(rng: np.random.Generator, n: int, fin, out) -> np.ndarray:
    """``n`` input patterns of ``fin`` for a conversion into ``out``.

    An input of at most 16 bits with ``n >= 2**width`` gets every pattern (shuffled, then
    repeated up to ``n``). Otherwise: the float special values (``_leading``: for integers 0,
    +-1, the extremes, powers of two and neighbours) first, then 40% uniform bit patterns and
    60% engineered around ``out``'s overflow, subnormal and rounding-tie boundaries
    (``_engineered_float_in``, ``_engineered_int_in``), in random order.
    """
    width = fin.width
    if width <= 16 and n >= 1 << width:
        every = rng.permutation(np.arange(1 << width, dtype=np.uint64))
        return np.resize(every, n)
    uniform = rng.integers(0, 1 << width, size=n, dtype=np.uint64)
    if isinstance(fin, IntFormat):
        engineered = _engineered_int_in(rng, n, fin, out)
    else:
        engineered = _engineered_float_in(rng, n, fin, out)
    mixed = np.where(rng.random(n) < 0.4, uniform, engineered)
    return np.concatenate([_leading(fin, out), mixed])[:n].astype(np.uint64)
