"""Floating-point addition and subtraction, IEEE-754 style, round to nearest even."""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import wiring

from .. import plans
from ..formats import FloatFormat
from .common import (Stages, count_shift, count_zeros, operator_ports, override_special, pack, round_nearest,
                     shift_normal, special_layout, unpack)

__all__ = ["FloatAdder"]

# Bits kept below the larger operand's significand while aligning the smaller one: guard, round
# and sticky. With the sticky bit OR-ed in (round to odd), three are enough for a correctly
# rounded sum whatever the cancellation.
EXTRA = 3


class FloatAdder(wiring.Component):
    """``y = a + b`` (or ``a - b`` with ``subtract``) on bit patterns of ``fmt``.

    Datapath: unpack; order the operands by magnitude; shift the smaller significand right by
    the exponent difference into ``EXTRA`` extra bits, OR-ing whatever falls out into the lowest
    one (so it stays inexact-aware); add or subtract; normalize (leading-zero count and left
    shift, stopping at the subnormal boundary); round to nearest even and pack.

    Signs: the result takes the larger operand's sign, except that an exact zero from operands
    of opposite sign is +0 (so ``x - x = +0``, ``-0 + -0 = -0``). NaN operands and
    ``Inf - Inf`` give the canonical NaN; otherwise an infinite operand gives itself.

    Pipeline cuts, in datapath order (``CUTS``): after the operands are ordered by magnitude,
    after the alignment distance, after the alignment shift, after the add, after the
    leading-zero count, after the shift decision, after the normalizing shift, after the
    rounding add. ``PLAN`` (``hwgen.numerics.plans``) gives the cuts each ``latency`` registers,
    placed by measured Fmax; ``cuts`` overrides it (the search itself). Latencies past the plan
    add registers at the output. Registers advance while ``en`` is high (``en`` exists only
    when ``latency > 0``).
    """

    CUTS = ("ordered", "distance", "aligned", "sum", "zeros", "counted", "normalized", "rounded")
    PLAN = plans.ADD

    def __init__(self, fmt: FloatFormat, *, ftz: bool = False, latency: int = 0,
                 subtract: bool = False, cuts: tuple[str, ...] | None = None):
        self.fmt, self.ftz, self.latency, self.subtract = fmt, ftz, latency, subtract
        self.cuts = cuts
        word = unsigned(fmt.width)
        super().__init__(operator_ports(self, {"a": word, "b": word}, word, latency))

    def elaborate(self, platform):
        m = Module()
        fmt = self.fmt
        p = fmt.precision
        stages = Stages(m, getattr(self, "en", None), self.latency, self.PLAN, self.CUTS, self.cuts)

        ua = unpack(m, fmt, self.a, ftz=self.ftz, name="ua")
        ub = unpack(m, fmt, self.b, ftz=self.ftz, name="ub")
        # Subtraction is addition of -b; flipping a NaN's sign is harmless (it becomes canonical).
        sign_b = ub.sign ^ int(self.subtract)

        special = Signal(special_layout())
        m.d.comb += [
            special.nan.eq(ua.nan | ub.nan | (ua.inf & ub.inf & (ua.sign != sign_b))),
            special.inf.eq(ua.inf | ub.inf),
            special.sign.eq(Mux(ua.inf, ua.sign, sign_b)),
        ]

        # Order by magnitude: (effective exponent, significand) compares like the value.
        swap = Cat(ub.sig, ub.exp) > Cat(ua.sig, ua.exp)
        s = stages.cut("ordered", special=special, sign=Mux(swap, sign_b, ua.sign), sub=ua.sign ^ sign_b,
                       exp=Mux(swap, ub.exp, ua.exp), sig=Mux(swap, ub.sig, ua.sig),
                       small_exp=Mux(swap, ua.exp, ub.exp), small_sig=Mux(swap, ua.sig, ub.sig))

        # Align: the smaller significand, with EXTRA zero bits below it, moves right by the
        # exponent difference. The shift is double width so that what falls off lands in the
        # lower half; it is OR-ed into the lowest kept bit (a sticky bit: the aligned operand is
        # rounded to odd), which is all the later rounding needs to know about it. Past
        # p + EXTRA places everything has fallen off, so longer distances are clamped.
        span = p + EXTRA
        distance = Signal(range(fmt.exp_max), name="distance")
        m.d.comb += distance.eq(s.exp - s.small_exp)
        if fmt.exp_max - 1 > span:
            distance = Mux(distance > span, span, distance)
        s = stages.cut("distance", special=s.special, sign=s.sign, sub=s.sub, exp=s.exp, sig=s.sig,
                       small_sig=s.small_sig, distance=distance)

        shifted = (Cat(Const(0, span), Const(0, EXTRA), s.small_sig) >> s.distance)[:2 * span]
        aligned = Signal(span, name="aligned")
        m.d.comb += aligned.eq(Cat(shifted[span] | shifted[:span].any(), shifted[span + 1:]))

        s = stages.cut("aligned", special=s.special, sign=s.sign, sub=s.sub,
                       exp=s.exp, sig=s.sig, small=aligned)

        # One carry bit above: the sum's top bit weighs 2**(exp + 1 - bias). The larger
        # magnitude comes first, so the difference is never negative.
        big = Cat(Const(0, EXTRA), s.sig)
        total = Signal(span + 1, name="total")
        m.d.comb += total.eq(Mux(s.sub, big - s.small, big + s.small))
        # An exact zero from opposite signs is +0 under round to nearest.
        sign = Mux(s.sub & ~total.any(), 0, s.sign)

        s = stages.cut("sum", special=s.special, sign=sign, exp=s.exp + 1, sig=total)

        counted = count_zeros(m, s.exp, s.sig, name="norm")
        s = stages.cut("zeros", special=s.special, sign=s.sign, exp=s.exp, sig=s.sig, **counted)

        shift = count_shift(m, s.exp, s.sig, name="norm", zeros=s.zeros, room=s.room)
        s = stages.cut("counted", special=s.special, sign=s.sign, sig=s.sig, **shift)

        norm_sig = shift_normal(m, s.sig, s.left, name="norm")
        s = stages.cut("normalized", special=s.special, sign=s.sign, exp=s.exp, sig=norm_sig)

        rounded = round_nearest(m, fmt, s.sig, name="round")
        s = stages.cut("rounded", special=s.special, sign=s.sign, exp=s.exp, rounded=rounded)

        packed = pack(m, fmt, s.sign, s.exp, s.rounded, ftz=self.ftz, name="round")
        m.d.comb += self.y.eq(stages.output(override_special(fmt, s.special, packed)))
        return m
