"""Reciprocal and inverse square root: a seed, Newton-Raphson steps in fixed point, one RNE.

Both units decode the operand with ``unpack``, normalize a subnormal significand with a
leading-zero count, iterate on integers whose widths and truncations are fixed here (and
restated in ``hwgen.numerics.golden``, the independent twin), and finish with one
``normalize`` / ``round_pack`` and the special-value overrides. The datapath keeps
``W = precision + 6`` fraction bits, enough that the truncations cost a few hundredths of an
ulp and the final rounding decides the result.
"""

from __future__ import annotations

from fractions import Fraction

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring

from .. import plans
from ..formats import FloatFormat
from .common import Stages, leading_zeros, operator_ports, override_special, special_layout, unpack
from .finish import normalize_round

__all__ = ["FloatInverseSqrt", "FloatReciprocal", "reciprocal_seeds", "rsqrt_magic"]

GUARD_BITS = 6                      # datapath fraction bits beyond the format's precision
MAX_ITERATIONS = 3
RSQRT_SIGMA = Fraction("0.0450466")  # the bit trick's offset; fp32's 0x5F3759DF comes from it


def _nearest(value: Fraction) -> int:
    return (2 * value.numerator + value.denominator) // (2 * value.denominator)


def reciprocal_seeds(index_bits: int) -> list[int]:
    """Entry ``i`` approximates the reciprocal of the midpoint of significand interval ``i``,
    ``1 + (2i + 1) / 2**(index_bits + 1)``, rounded to nearest with ``index_bits + 3``
    fraction bits (the odd denominator rules out ties)."""
    frac = index_bits + 3
    return [_nearest(Fraction(1 << frac) / (1 + Fraction(2 * i + 1, 1 << (index_bits + 1))))
            for i in range(1 << index_bits)]


def rsqrt_magic(fmt: FloatFormat) -> int:
    """``round(3/2 * (bias - sigma) * 2**man_bits)``: the bit trick's constant, derived as
    for fp32 (``0x5F3759DF``); fp16 ``0x59BB``, bf16 ``0x5F37``."""
    return _nearest(Fraction(3, 2) * (fmt.bias - RSQRT_SIGMA) * (1 << fmt.man_bits))


def _carry(s) -> dict:
    """What a Newton-Raphson step passes on through its cuts: the special cases, the exponent,
    the significand (``m`` or ``mx``) and the iterate ``y``."""
    names = ("special", "to_zero", "exp", "m", "mx", "y")
    return {name: getattr(s, name) for name in names if hasattr(s, name)}


class _FunctionUnit(wiring.Component):
    """Ports and parameter checks shared by the two units: ``a`` in, ``y`` out, ``en`` when
    pipelined. ``cuts`` overrides the plan (the plan search itself)."""

    def __init__(self, fmt: FloatFormat, *, ftz: bool, latency: int, iterations: int,
                 cuts: tuple[str, ...] | None):
        if not 0 <= iterations <= MAX_ITERATIONS:
            raise ValueError(f"iterations={iterations} is out of range: allowed "
                             f"0..{MAX_ITERATIONS}")
        self.fmt, self.ftz, self.latency, self.iterations = fmt, ftz, latency, iterations
        self.cuts = cuts
        self.frac_bits = fmt.precision + GUARD_BITS
        word = unsigned(fmt.width)
        super().__init__(operator_ports(self, {"a": word}, word, latency))

    def _stages(self, m: Module) -> Stages:
        points = self.POINTS(self.iterations)
        return Stages(m, getattr(self, "en", None), self.latency,
                      plans.ranked_plan(points, self.RANK), points, self.cuts)

    def _normalized_significand(self, m: Module, sig):
        """``(sig << lz, lz)``: the leading one at the top of ``precision`` bits. Under ftz a
        nonzero significand is already normal, so no counter is built."""
        if self.ftz:
            return sig, Const(0, 1)
        lz = Signal(range(self.fmt.precision + 1), name="lz")
        norm = Signal(self.fmt.precision, name="norm_sig")
        m.d.comb += [lz.eq(leading_zeros(sig)), norm.eq((sig << lz)[:self.fmt.precision])]
        return norm, lz

    def _finish(self, m: Module, stages: Stages, s):
        """Normalize ``s.y`` (its top bit at biased exponent ``s.exp``), round, and apply the
        zero result and the NaN/infinity overrides."""
        fmt = self.fmt
        packed, s = normalize_round(m, stages, fmt, s.exp, s.y, sign=s.special.sign,
                                    ftz=self.ftz, special=s.special, to_zero=s.to_zero)
        signed_zero = Cat(Const(0, fmt.width - 1), s.special.sign)
        value = Mux(s.to_zero, signed_zero, packed)
        m.d.comb += self.y.eq(stages.output(override_special(fmt, s.special, value)))


class FloatReciprocal(_FunctionUnit):
    """``y ~= 1 / a`` on bit patterns of ``fmt``: table seed, Newton-Raphson, one RNE.

    With ``a = m * 2**e`` (``m`` in ``[1, 2)``, subnormals normalized first) the unit
    approximates ``1/m`` in ``(1/2, 1]`` and scales it by ``2**-e``:

    1. seed ``y0``: a table of ``2**t`` entries (``t = min(seed_bits, man_bits)``), indexed
       by ``m``'s top ``t`` fraction bits, each the reciprocal of its interval's midpoint with
       ``t + 3`` fraction bits (:func:`reciprocal_seeds`), aligned to ``W`` fraction bits;
    2. ``iterations`` Newton-Raphson steps ``y <- y * (2 - m*y)``, every product truncated
       to ``W`` fraction bits: ``u = (m*y) >> M``, ``d = 2**(W+1) - u``, ``y = (y*d) >> W``;
    3. ``y * 2**(-W - e)`` normalized (a result below the normal range shifts right with a
       sticky bit) and rounded once to nearest even; overflow gives Inf.

    ``1/(+-0) = +-Inf``, ``1/(+-Inf) = +-0``, NaN gives the canonical NaN. Pipeline cuts
    (``hwgen.numerics.plans.reciprocal_points``): before the seed table (the normalized
    operand), after the seed, after each step's product, difference and new ``y``, and in the
    finish; ``latency`` registers them in the measured order ``RANK``
    (``plans.RECIPROCAL_RANK``); more registers go at the output.
    """

    POINTS = staticmethod(plans.reciprocal_points)
    RANK = plans.RECIPROCAL_RANK

    def __init__(self, fmt: FloatFormat, *, ftz: bool = False, latency: int = 0,
                 seed_bits: int = 7, iterations: int = 1, cuts: tuple[str, ...] | None = None):
        if seed_bits < 1:
            raise ValueError(f"seed_bits={seed_bits} is out of range: allowed >= 1")
        self.seed_bits = seed_bits
        super().__init__(fmt, ftz=ftz, latency=latency, iterations=iterations, cuts=cuts)

    def elaborate(self, platform):
        m = Module()
        fmt, W = self.fmt, self.frac_bits
        M, bias = fmt.man_bits, fmt.bias
        stages = self._stages(m)

        ua = unpack(m, fmt, self.a, ftz=self.ftz, name="ua")
        special = Signal(special_layout())
        m.d.comb += [special.nan.eq(ua.nan), special.inf.eq(ua.zero), special.sign.eq(ua.sign)]
        sig, lz = self._normalized_significand(m, ua.sig)

        # y's top bit (weight 1) times 2**-e, e = exp - bias - lz: biased exponent
        # 2*bias - exp + lz, from 0 (the largest inputs) to 2*bias - 1 + M.
        exp = Signal(signed((2 * bias + M).bit_length() + 1), name="recip_exp")
        m.d.comb += exp.eq(2 * bias - ua.exp + lz)

        s = stages.cut("operand", special=special, to_zero=ua.inf, exp=exp, m=sig)
        index_bits = min(self.seed_bits, M)
        seeds = reciprocal_seeds(index_bits)
        seed = Signal(index_bits + 3, name="seed_entry")
        with m.Switch(s.m[M - index_bits:M]):
            for index, entry in enumerate(seeds):
                with m.Case(index):
                    m.d.comb += seed.eq(entry)
        y0 = Cat(Const(0, W - (index_bits + 3)), seed, Const(0, 1))    # W + 1 bits, below 1

        s = stages.cut("seed", **_carry(s), y=y0)
        for step in range(1, self.iterations + 1):
            s = stages.cut(f"product{step}", **_carry(s), u=(s.m * s.y)[M:])  # m*y, W fraction bits
            d = (Const(1 << (W + 1), W + 2) - s.u)[:W + 2]                 # 2 - m*y, in (0, 2)
            s = stages.cut(f"difference{step}", **_carry(s), d=d)
            y = (s.y * s.d)[W:][:W + 1]                                     # y*(2 - m*y), below 1
            s = stages.cut(f"step{step}", **dict(_carry(s), y=y))
        self._finish(m, stages, s)
        return m


class FloatInverseSqrt(_FunctionUnit):
    """``y ~= 1 / sqrt(a)`` on bit patterns of ``fmt``: bit-trick seed, Newton-Raphson, RNE.

    1. seed: ``Y = magic - (X >> 1)`` (:func:`rsqrt_magic`), ``X`` the operand's bit pattern
       with an unbounded exponent field (a subnormal is normalized first, so its exponent
       field may go to zero or below), decoded as a float: ``Ey = Y >> M``,
       ``my = 1.(Y mod 2**M)``;
    2. even/odd split: ``a = mx * 2**(2k)`` with ``mx`` in ``[1, 4)`` (``m`` shifted left once
       when the exponent is odd), so ``1/sqrt(a) = 2**-k / sqrt(mx)``; the seed of
       ``1/sqrt(mx)`` is ``my * 2**q`` with ``q = Ey - bias + k``, which the bit trick keeps in
       ``-2..0``: ``y0 = my << (W - M - 2 + (q + 2))``;
    3. ``iterations`` steps ``y <- y * (3 - mx*y**2) / 2``: ``v = (y*y) >> W``,
       ``u = (mx*v) >> M``, ``d = 3 * 2**W - u``, ``y = (y*d) >> (W + 1)``;
    4. ``y * 2**(-W - k)`` normalized and rounded once to nearest even.

    ``rsqrt(+-0) = +-Inf``, ``rsqrt(+Inf) = +0``; NaN and every other negative input give the
    canonical NaN. Pipeline cuts (``plans.rsqrt_points``) as in :class:`FloatReciprocal`, with
    each step's square ``y*y`` as one more; their order is ``plans.RSQRT_RANK``.
    """

    POINTS = staticmethod(plans.rsqrt_points)
    RANK = plans.RSQRT_RANK

    def __init__(self, fmt: FloatFormat, *, ftz: bool = False, latency: int = 0,
                 iterations: int = 2, cuts: tuple[str, ...] | None = None):
        super().__init__(fmt, ftz=ftz, latency=latency, iterations=iterations, cuts=cuts)

    def elaborate(self, platform):
        m = Module()
        fmt, W = self.fmt, self.frac_bits
        M, bias = fmt.man_bits, fmt.bias
        stages = self._stages(m)

        ua = unpack(m, fmt, self.a, ftz=self.ftz, name="ua")
        special = Signal(special_layout())
        m.d.comb += [
            special.nan.eq(ua.nan | (ua.sign & ~ua.zero)),   # -Inf and negative numbers too
            special.inf.eq(ua.zero),
            special.sign.eq(ua.sign),
        ]
        sig, lz = self._normalized_significand(m, ua.sig)

        # The biased exponent of the normalized operand, exp - lz in 1 - M .. exp_max - 1,
        # and the unbiased one e.
        field_width = max(fmt.exp_max, M).bit_length() + 1
        field = Signal(signed(field_width), name="norm_field")
        e = Signal(signed(field_width + 1), name="norm_e")
        m.d.comb += [field.eq(ua.exp - lz), e.eq(field - bias)]

        # The bit trick on the extended pattern X = field.fraction; X >> 1 drops its last bit.
        pattern = Cat(sig[:M], field).as_signed()
        trick = Signal(signed(len(pattern) + 1), name="trick")
        m.d.comb += trick.eq(rsqrt_magic(fmt) - pattern[1:].as_signed())
        seed_sig = Cat(trick[:M], Const(1, 1))

        k = e[1:].as_signed()                                # floor(e / 2)
        odd = e[0]
        mx = Signal(fmt.precision + 1, name="mx")
        m.d.comb += mx.eq(Mux(odd, Cat(Const(0, 1), sig), sig))
        scale = Signal(2, name="seed_scale")                 # q + 2, q = Ey - bias + k
        m.d.comb += scale.eq(trick[M:] + k - (bias - 2))
        y0 = (Cat(Const(0, W - M - 2), seed_sig) << scale)[:W + 1]

        # y's top bit (weight 1) times 2**-k: biased exponent bias - k, at least 1.
        exp_hi = bias - ((1 - bias - M) >> 1)
        exp = Signal(range(exp_hi + 1), name="rsqrt_exp")
        m.d.comb += exp.eq(bias - k)

        to_zero = ua.inf & ~ua.sign
        s = stages.cut("seed", special=special, to_zero=to_zero, exp=exp, mx=mx, y=y0)
        for step in range(1, self.iterations + 1):
            s = stages.cut(f"square{step}", **_carry(s), v=(s.y * s.y)[W:])  # y**2, W fraction bits
            s = stages.cut(f"product{step}", **_carry(s), u=(s.mx * s.v)[M:])  # mx * y**2
            d = (Const(3 << W, W + 2) - s.u)[:W + 2]                          # 3 - mx*y**2, about 2
            s = stages.cut(f"difference{step}", **_carry(s), d=d)
            y = (s.y * s.d)[W + 1:][:W + 1]                                   # y*(3 - mx*y**2)/2
            s = stages.cut(f"step{step}", **dict(_carry(s), y=y))
        self._finish(m, stages, s)
        return m
