"""Fused multiply-add, IEEE-754 style: ``a * b + c`` rounded once, to nearest even."""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring

from ..formats import FloatFormat
from .common import (Stages, normalize, operator_ports, override_special, round_pack,
                     special_layout, unpack)

__all__ = ["FloatFMA"]

# Zero bits kept below the product in the sum window; the lowest is a sticky bit for the part
# of c that falls out of the window. c only loses bits when it lies below a product of a normal
# and a nonzero operand (a product of two subnormals is too small for any nonzero c to lie below
# it), and such a product is at least 2**(p - 1) units of its last place. So the sum cancels at
# most one of the product's leading bits, and the sticky bit stays two places below the
# result's last place: the window holds the sum rounded to odd there, which rounds to nearest
# like the exact sum. (Two bits are not enough.)
BELOW = 3
# Zero bits between the product's top bit and c's last place when c sits at its highest
# position. When c lies further up, the product, moved down at least one more place, is wholly
# two or more places below c's last place: less than half a last place of the result even when
# subtracting costs c a leading bit. Only whether it is zero matters, so it becomes the sticky
# bit. (Zero bits are not enough.)
GAP = 1


def _signed_for(low: int, high: int):
    """A signed shape holding every integer in ``low..high``."""
    return signed(max(abs(low), abs(high) + 1).bit_length() + 1)


class FloatFMA(wiring.Component):
    """``y = a * b + c`` on bit patterns of ``fmt``, with one rounding.

    Datapath (``p = fmt.precision``; operands unpacked at their true scale, so subnormals need no
    pre-normalization):

    * multiply the significands exactly into ``2p`` bits; in parallel, align c in a window of
      ``3p + 4`` bits: ``BELOW`` bits, the product's ``2p``, ``GAP`` bits, then c's ``p`` at
      the top. c starts at the top and moves right by its distance below the product (what falls
      out of the window is OR-ed into the lowest bit, a sticky bit). When c lies so far above the
      product that it would have to move left, or the product is zero, c stays at the top and the
      product collapses into the sticky bit (it lies two or more places below c's last place);
    * add or subtract the two window values (magnitude and sign of the difference);
    * normalize (leading-zero shift, or right shift below the subnormal range), round to nearest
      even, pack.

    Signs and specials: an exact zero sum is -0 only when the exact product and c are both
    negative zeros (``x*y - x*y = +0``). NaN operands, ``Inf * 0`` and ``Inf - Inf`` (the product
    infinite, c the opposite infinity) give the canonical NaN; an infinite product or c gives
    that infinity.

    Pipeline cuts for ``latency``, splitting the four steps (multiply and align; add; normalize;
    round) about evenly: 1 after the add; 2 after the multiplier and alignment and after
    normalization; 3 after each of the first three steps; more add registers at the output.
    Registers advance while ``en`` is high (``en`` exists only when ``latency > 0``).
    """

    PLAN = {0: (), 1: ("sum",), 2: ("aligned", "normalized"),
            3: ("aligned", "sum", "normalized")}

    def __init__(self, fmt: FloatFormat, *, ftz: bool = False, latency: int = 0):
        self.fmt, self.ftz, self.latency = fmt, ftz, latency
        word = unsigned(fmt.width)
        super().__init__(operator_ports(self, {"a": word, "b": word, "c": word}, word, latency))

    def elaborate(self, platform):
        m = Module()
        fmt = self.fmt
        p, bias, top = fmt.precision, fmt.bias, fmt.exp_max  # effective exponents lie in 1..top
        stages = Stages(m, getattr(self, "en", None), self.latency, self.PLAN)

        ua = unpack(m, fmt, self.a, ftz=self.ftz, name="ua")
        ub = unpack(m, fmt, self.b, ftz=self.ftz, name="ub")
        uc = unpack(m, fmt, self.c, ftz=self.ftz, name="uc")
        product_sign = ua.sign ^ ub.sign
        product_inf = ua.inf | ub.inf
        special = Signal(special_layout())
        m.d.comb += [
            special.nan.eq(ua.nan | ub.nan | uc.nan | (ua.inf & ub.zero) | (ua.zero & ub.inf)
                           | (product_inf & uc.inf & (product_sign != uc.sign))),
            special.inf.eq(product_inf | uc.inf),
            special.sign.eq(Mux(product_inf, product_sign, uc.sign)),
        ]

        # Window positions: the product's top bit sits at BELOW + 2p - 1, c's top bit (at its
        # highest) at span - 1. The product's top bit has biased exponent ea + eb - bias + 1
        # (as in FloatMultiplier), c's top bit ec, so c belongs `distance` places below its
        # highest position: distance = (span - 1) - (BELOW + 2p - 1 + ec - (ea + eb - bias + 1)).
        span = BELOW + 3 * p + GAP
        lift = p + GAP + 1 - bias
        distance = Signal(_signed_for(2 - top + lift, 2 * top - 1 + lift), name="distance")
        m.d.comb += distance.eq(ua.exp + ub.exp - uc.exp + lift)
        product_below_c = ua.zero | ub.zero
        if 2 - top + lift < 0:  # built only where c can lie that far up (no constant compare)
            product_below_c |= distance < 0
        collapse = Signal(name="collapse")  # the product becomes a sticky bit below c
        m.d.comb += collapse.eq(product_below_c)

        # c moves right by the distance (none when the product collapses); past `span` places
        # it has left the window entirely, so longer distances are clamped (where they occur).
        # The shift is double width so that what falls out lands in the lower half and becomes
        # the sticky bit.
        shift = Signal(range(span + 1), name="shift")
        clamped = distance[:len(shift)]
        if 2 * top - 1 + lift > span:
            clamped = Mux(distance > span, span, clamped)
        m.d.comb += shift.eq(Mux(collapse, 0, clamped))
        shifted = (Cat(Const(0, span), Const(0, span - p), uc.sig) >> shift)[:2 * span]
        aligned_c = Signal(span, name="aligned_c")
        m.d.comb += aligned_c.eq(Cat(shifted[span] | shifted[:span].any(), shifted[span + 1:]))

        # The window's top bit (one carry bit above the two addends, at position `span`) has
        # biased exponent ec + 1 when c is at its highest, else that plus the distance.
        exp = Signal(_signed_for(min(2, 3 + lift), max(top + 1, 2 * top + 1 + lift)),
                     name="window_exp")
        m.d.comb += exp.eq(Mux(collapse, uc.exp + 1, ua.exp + ub.exp + lift + 1))

        s = stages.cut("aligned", special=special, product_sign=product_sign, c_sign=uc.sign,
                       collapse=collapse, exp=exp, product=ua.sig * ub.sig, c=aligned_c)

        product = Mux(s.collapse, s.product.any(), Cat(Const(0, BELOW), s.product))
        subtract = s.product_sign != s.c_sign
        difference = Signal(signed(span + 1), name="difference")
        m.d.comb += difference.eq(product - s.c)
        c_larger = difference < 0
        total = Signal(span + 1, name="total")
        m.d.comb += total.eq(Mux(subtract, Mux(c_larger, -difference, difference), product + s.c))
        # The larger addend gives the sign; an exact zero is -0 only if both addends are -0
        # (with opposite signs it is +0 under round to nearest).
        sign = Mux(total.any(), Mux(c_larger, s.c_sign, s.product_sign),
                   s.product_sign & s.c_sign)

        s = stages.cut("sum", special=s.special, sign=sign, exp=s.exp, sig=total)

        norm_exp, norm_sig = normalize(m, s.exp, s.sig, name="norm")
        s = stages.cut("normalized", special=s.special, sign=s.sign, exp=norm_exp, sig=norm_sig)

        packed = round_pack(m, fmt, s.sign, s.exp, s.sig, ftz=self.ftz, name="round")
        m.d.comb += self.y.eq(stages.output(override_special(fmt, s.special, packed)))
        return m
