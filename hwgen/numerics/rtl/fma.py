"""Fused multiply-add, IEEE-754 style: ``a * b + c`` rounded once, to nearest even."""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import wiring

from .. import plans
from ..formats import FloatFormat
from .common import (Stages, count_shift, count_zeros, operator_ports, override_special, pack,
                     partial_products, round_nearest, shift_right_sticky, special_layout,
                     sum_partials, unpack)

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
# The normalizing shift of the 3p + 5-bit window is done in two steps, between which the
# pipeline may cut: whole groups of GROUP places, then the rest (0..GROUP-1 places).
GROUP = 4


def _shift_part(sig: Value, left: Value, right: Value | None) -> Value:
    """``sig`` moved ``left`` places left (as wide as it was) or, when ``right`` is nonzero,
    ``right`` places right with the dropped bits OR-ed into the lowest (a sticky bit); both
    shifters side by side, one choice after them (count_shift makes ``left`` zero whenever
    ``right`` is not). Since the lowest bit stays a sticky bit, two right shifts in turn
    equal one by their sum (likewise two left shifts), which is what lets the normalizing
    shift be split into whole groups and the rest."""
    moved = (sig << left)[:len(sig)]
    if right is None:
        return moved
    if (1 << len(right)) - 1 >= len(sig):
        return Mux(right.any(), shift_right_sticky(sig, right), moved)
    # The rest of a split shift (under GROUP places): its sticky bit gathers only the bits the
    # amount can reach (shift_right_sticky's mask compares the amount with every bit of the
    # window, which for a short amount would be constant compares)
    kept = (sig >> right)[:len(sig)]
    lost = Cat(*[sig[bit] & (right > bit) for bit in range((1 << len(right)) - 1)]).any()
    return Mux(right.any(), Cat(kept[0] | lost, kept[1:]), moved)


def _sum_carry_save(m: Module, terms: list[Value], constant: int, shape, name: str) -> Signal:
    """``sum(terms) + constant`` modulo ``2**width`` (``shape``'s width, read in ``shape``):
    the terms are first reduced to two by carry-save (3:2) steps, one LUT level each, so the
    sum costs one carry chain, not one per term (which the exponent sums of an FMA's first
    stage otherwise chain up)."""
    width = shape.width
    values = [Value.cast(term).as_unsigned()[:width] for term in terms]
    values.append(Const(constant % (1 << width), width))
    while len(values) > 2:
        x, y, z, *values = values
        values += [x ^ y ^ z, Cat(Const(0, 1), ((x & y) | (x & z) | (y & z))[:width - 1])]
    total = Signal(shape, name=name)
    m.d.comb += total.eq((values[0] + values[1])[:width])
    return total


def _signed_for(low: int, high: int):
    """A signed shape holding every integer in ``low..high``."""
    return signed(max(abs(low), abs(high) + 1).bit_length() + 1)


class FloatFMA(wiring.Component):
    """``y = a * b + c`` on bit patterns of ``fmt``, with one rounding.

    Datapath (``p = fmt.precision``; operands unpacked at their true scale, so subnormals need no
    pre-normalization):

    * from the exponents, c's distance below the product and the window's exponent (each by
      a carry-save step and one carry chain);
    * multiply the significands exactly into ``2p`` bits; in parallel, align c in a window of
      ``3p + 4`` bits: ``BELOW`` bits, the product's ``2p``, ``GAP`` bits, then c's ``p`` at
      the top. c starts at the top and moves right by its distance below the product (what falls
      out of the window is OR-ed into the lowest bit, a sticky bit). When c lies so far above the
      product that it would have to move left, or the product is zero, c stays at the top and the
      product collapses into the sticky bit (it lies two or more places below c's last place):
      its significand is masked to zero before the multiplier and the sticky bit is set when
      the product is nonzero, so that the add takes the product as it comes;
    * add or subtract the two window values (magnitude and sign of the difference);
    * normalize (leading-zero shift, or right shift below the subnormal range) in two steps,
      whole groups of ``GROUP`` places and then the rest; round to nearest even, pack.

    Signs and specials: an exact zero sum is -0 only when the exact product and c are both
    negative zeros (``x*y - x*y = +0``). NaN operands, ``Inf * 0`` and ``Inf - Inf`` (the product
    infinite, c the opposite infinity) give the canonical NaN; an infinite product or c gives
    that infinity.

    Pipeline cuts, in datapath order (``CUTS``): after the unpacking and c's distance; after
    the distance's clamp and the window's exponent; after the multipliers' partial products
    and c's alignment; after the product is summed; after the add; after the leading-zero
    count; after the normalizing shift decision; after the shift by whole groups of ``GROUP``
    places; after the rest of the shift; after the rounding add. ``PLAN``
    (``hwgen.numerics.plans``) gives the cuts each ``latency`` registers, placed by measured
    Fmax; ``cuts`` overrides it (the search itself). Latencies past the plan add registers at
    the output. Registers advance while ``en`` is high (``en`` exists only when
    ``latency > 0``).
    """

    CUTS = ("unpacked", "distance", "partial", "aligned", "sum", "zeros", "counted", "grouped",
            "normalized", "rounded")
    PLAN = plans.FMA

    def __init__(self, fmt: FloatFormat, *, ftz: bool = False, latency: int = 0,
                 cuts: tuple[str, ...] | None = None):
        self.fmt, self.ftz, self.latency, self.cuts = fmt, ftz, latency, cuts
        word = unsigned(fmt.width)
        super().__init__(operator_ports(self, {"a": word, "b": word, "c": word}, word, latency))

    def elaborate(self, platform):
        m = Module()
        fmt = self.fmt
        p, bias, top = fmt.precision, fmt.bias, fmt.exp_max  # effective exponents lie in 1..top
        stages = Stages(m, getattr(self, "en", None), self.latency, self.PLAN, self.CUTS, self.cuts)

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
        distance_shape = _signed_for(2 - top + lift, 2 * top - 1 + lift)
        # -ec = ~ec + 1, with ec zero-extended to the distance's width before the inversion
        negated_c = ~Cat(uc.exp, Const(0, distance_shape.width - len(uc.exp)))
        distance = _sum_carry_save(m, [ua.exp, ub.exp, negated_c], lift + 1, distance_shape,
                                   "distance")
        # The window's top bit (one carry bit above the two addends, at position `span`) has
        # biased exponent ec + 1 when c is at its highest, else that plus the distance: both
        # are formed here, beside the distance, and chosen after the cut.
        exp_shape = _signed_for(min(2, 3 + lift), max(top + 1, 2 * top + 1 + lift))
        exp_c_top = Signal(exp_shape, name="exp_c_top")
        m.d.comb += exp_c_top.eq(uc.exp + 1)
        exp_product = _sum_carry_save(m, [ua.exp, ub.exp], lift + 1, exp_shape, "exp_product")

        s = stages.cut("unpacked", special=special, product_sign=product_sign, c_sign=uc.sign,
                       product_zero=ua.zero | ub.zero, distance=distance, exp_c_top=exp_c_top,
                       exp_product=exp_product, a=ua.sig, b=ub.sig, c=uc.sig)

        # The product collapses into a sticky bit below c when it is zero or c lies above it
        # (a negative distance). A collapsing product is masked to zero before the multiplier
        # and enters the window as its sticky bit (set when it is nonzero), so the add needs no
        # choice between the two forms of the product.
        collapse = Signal(name="collapse")
        if 2 - top + lift < 0:  # built only where c can lie that far up (no constant compare)
            m.d.comb += collapse.eq(s.product_zero | (s.distance < 0))
        else:
            m.d.comb += collapse.eq(s.product_zero)

        # c moves right by the distance (none when the product collapses); past `span` places
        # it has left the window entirely, so longer distances are clamped (where they occur).
        # What falls out becomes the sticky bit.
        shift = Signal(range(span + 1), name="shift")
        clamped = s.distance[:len(shift)]
        if 2 * top - 1 + lift > span:
            clamped = Mux(s.distance > span, span, clamped)
        m.d.comb += shift.eq(Mux(collapse, 0, clamped))
        exp = Signal(exp_shape, name="window_exp")
        m.d.comb += exp.eq(Mux(collapse, s.exp_c_top, s.exp_product))

        s = stages.cut("distance", special=s.special, product_sign=s.product_sign, c_sign=s.c_sign,
                       sticky=collapse & ~s.product_zero, exp=exp,
                       a=s.a & (~collapse).replicate(p), b=s.b, c=s.c, shift=shift)

        aligned_c = Signal(span, name="aligned_c")
        m.d.comb += aligned_c.eq(shift_right_sticky(Cat(Const(0, span - p), s.c), s.shift))
        partials = partial_products(s.a, s.b)
        s = stages.cut("partial", special=s.special, product_sign=s.product_sign, c_sign=s.c_sign,
                       sticky=s.sticky, exp=s.exp, c=aligned_c,
                       **{f"pp{k}": value for k, (_, value) in enumerate(partials)})
        product = sum_partials([(shift, getattr(s, f"pp{k}"))
                                for k, (shift, _) in enumerate(partials)], 2 * p)

        s = stages.cut("aligned", special=s.special, product_sign=s.product_sign, c_sign=s.c_sign,
                       sticky=s.sticky, exp=s.exp, product=product, c=s.c)

        product = Cat(s.sticky, Const(0, BELOW - 1), s.product)
        subtract = s.product_sign != s.c_sign
        # both differences at once, so that the magnitude needs no negation after a subtraction
        difference = Signal(signed(span + 1), name="difference")
        m.d.comb += difference.eq(product - s.c)
        c_larger = difference < 0
        total = Signal(span + 1, name="total")
        m.d.comb += total.eq(Mux(subtract, Mux(c_larger, s.c - product, difference), product + s.c))
        # The larger addend gives the sign; an exact zero is -0 only if both addends are -0
        # (with opposite signs it is +0 under round to nearest).
        sign = Mux(total.any(), Mux(c_larger, s.c_sign, s.product_sign),
                   s.product_sign & s.c_sign)

        s = stages.cut("sum", special=s.special, sign=sign, exp=s.exp, sig=total)

        counted = count_zeros(m, s.exp, s.sig, name="norm")
        s = stages.cut("zeros", special=s.special, sign=s.sign, exp=s.exp, sig=s.sig, **counted)

        shift = count_shift(m, s.exp, s.sig, name="norm", zeros=s.zeros, room=s.room)
        s = stages.cut("counted", special=s.special, sign=s.sign, sig=s.sig, **shift)

        # whole groups first (the low bits of each amount zeroed), then the rest
        step = (GROUP - 1).bit_length()
        right = getattr(s, "right", None)
        groups = _shift_part(s.sig, Cat(Const(0, step), s.left[step:]),
                             None if right is None else Cat(Const(0, step), right[step:]))
        rest = {"left": s.left[:step]} | ({} if right is None else {"right": right[:step]})
        s = stages.cut("grouped", special=s.special, sign=s.sign, exp=s.exp, sig=groups, **rest)

        norm_sig = _shift_part(s.sig, s.left, getattr(s, "right", None))
        s = stages.cut("normalized", special=s.special, sign=s.sign, exp=s.exp, sig=norm_sig)

        rounded = round_nearest(m, fmt, s.sig, name="round")
        s = stages.cut("rounded", special=s.special, sign=s.sign, exp=s.exp, rounded=rounded)

        packed = pack(m, fmt, s.sign, s.exp, s.rounded, ftz=self.ftz, name="round")
        m.d.comb += self.y.eq(stages.output(override_special(fmt, s.special, packed)))
        return m
