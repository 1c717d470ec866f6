"""Floating-point addition and subtraction, IEEE-754 style, round to nearest even."""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import wiring

from ..formats import FloatFormat
from .common import (Stages, normalize, operator_ports, override_special, round_pack,
                     special_layout, unpack)

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

    Pipeline cuts for ``latency``: 1 after the add; 2 after alignment and after normalization; 3
    all three; more add registers at the output. Registers advance while ``en`` is high
    (``en`` exists only when ``latency > 0``).
    """

    PLAN = {0: (), 1: ("sum",), 2: ("aligned", "normalized"), 3: ("aligned", "sum", "normalized")}

    def __init__(self, fmt: FloatFormat, *, ftz: bool = False, latency: int = 0,
                 subtract: bool = False):
        self.fmt, self.ftz, self.latency, self.subtract = fmt, ftz, latency, subtract
        word = unsigned(fmt.width)
        super().__init__(operator_ports(self, {"a": word, "b": word}, word, latency))

    def elaborate(self, platform):
        m = Module()
        fmt = self.fmt
        p = fmt.precision
        stages = Stages(m, getattr(self, "en", None), self.latency, self.PLAN)

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
        big_exp, big_sig = Mux(swap, ub.exp, ua.exp), Mux(swap, ub.sig, ua.sig)
        small_exp, small_sig = Mux(swap, ua.exp, ub.exp), Mux(swap, ua.sig, ub.sig)
        big_sign = Mux(swap, sign_b, ua.sign)
        effective_sub = ua.sign ^ sign_b

        # Align: the smaller significand, with EXTRA zero bits below it, moves right by the
        # exponent difference. The shift is double width so that what falls off lands in the
        # lower half; it is OR-ed into the lowest kept bit (a sticky bit: the aligned operand is
        # rounded to odd), which is all the later rounding needs to know about it. Past
        # p + EXTRA places everything has fallen off, so longer distances are clamped.
        span = p + EXTRA
        distance = Signal(range(fmt.exp_max), name="distance")
        m.d.comb += distance.eq(big_exp - small_exp)
        if fmt.exp_max - 1 > span:
            distance = Mux(distance > span, span, distance)
        shifted = (Cat(Const(0, span), Const(0, EXTRA), small_sig) >> distance)[:2 * span]
        aligned = Signal(span, name="aligned")
        m.d.comb += aligned.eq(Cat(shifted[span] | shifted[:span].any(), shifted[span + 1:]))

        s = stages.cut("aligned", special=special, sign=big_sign, sub=effective_sub,
                       exp=big_exp, sig=big_sig, small=aligned)

        # One carry bit above: the sum's top bit weighs 2**(exp + 1 - bias). The larger
        # magnitude comes first, so the difference is never negative.
        big = Cat(Const(0, EXTRA), s.sig)
        total = Signal(span + 1, name="total")
        m.d.comb += total.eq(Mux(s.sub, big - s.small, big + s.small))
        # An exact zero from opposite signs is +0 under round to nearest.
        sign = Mux(s.sub & ~total.any(), 0, s.sign)

        s = stages.cut("sum", special=s.special, sign=sign, exp=s.exp + 1, sig=total)

        norm_exp, norm_sig = normalize(m, s.exp, s.sig, name="norm")
        s = stages.cut("normalized", special=s.special, sign=s.sign, exp=norm_exp, sig=norm_sig)

        packed = round_pack(m, fmt, s.sign, s.exp, s.sig, ftz=self.ftz, name="round")
        m.d.comb += self.y.eq(stages.output(override_special(fmt, s.special, packed)))
        return m
