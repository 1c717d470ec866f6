"""Floating-point multiplication, IEEE-754 style, round to nearest even."""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Signal, signed, unsigned
from amaranth.lib import wiring

from .. import plans
from ..formats import FloatFormat
from .common import (Stages, count_shift, count_zeros, partial_products, sum_partials, operator_ports, override_special, pack, round_nearest,
                     shift_normal, special_layout, unpack)

__all__ = ["FloatMultiplier"]


class FloatMultiplier(wiring.Component):
    """``y = a * b`` on bit patterns of ``fmt``.

    Datapath: unpack both operands (subnormals at their true scale, so none is pre-normalized);
    multiply the significands exactly into ``2 * precision`` bits; normalize, which shifts left
    past the leading zeros that subnormal inputs bring, or right (with a sticky bit) when the
    product lies below the subnormal range; round to nearest even and pack. NaN operands and
    ``Inf * 0`` give the canonical NaN, ``Inf * x`` a signed infinity; zeros need no special
    case (a zero significand packs as a signed zero).

    With ``out_fmt`` the operands are in ``fmt`` and the product rounds once into ``out_fmt``: a
    widening multiply (bf16 x bf16 into fp32 is exact) that needs only ``fmt``'s significand
    multiplier, where converting both operands first would need ``out_fmt``'s.

    Pipeline cuts, in datapath order (``CUTS``): after the unpacking (the DSP's inputs), after
    the partial products (its outputs), after their sum (the product), after the leading-zero
    count, after the shift decision, after the normalizing shift, after the rounding add.
    ``PLAN`` (``hwgen.numerics.plans``) gives the cuts each ``latency`` registers, placed by
    measured Fmax; ``cuts`` overrides it (the search itself). Latencies past the plan add
    registers at the output. Registers advance while ``en`` is high (``en`` exists only when
    ``latency > 0``).
    """

    PLAN = plans.MULTIPLY

    CUTS = ("unpacked", "partial", "product", "zeros", "counted", "normalized", "rounded")

    def __init__(self, fmt: FloatFormat, *, ftz: bool = False, latency: int = 0,
                 out_fmt: FloatFormat | None = None, cuts: tuple[str, ...] | None = None):
        self.fmt, self.ftz, self.latency, self.cuts = fmt, ftz, latency, cuts
        self.out_fmt = out_fmt or fmt
        word = unsigned(fmt.width)
        super().__init__(operator_ports(self, {"a": word, "b": word}, unsigned(self.out_fmt.width), latency))

    def elaborate(self, platform):
        m = Module()
        fmt, out = self.fmt, self.out_fmt
        stages = Stages(m, getattr(self, "en", None), self.latency, self.PLAN, self.CUTS, self.cuts)

        ua = unpack(m, fmt, self.a, ftz=self.ftz, name="ua")
        ub = unpack(m, fmt, self.b, ftz=self.ftz, name="ub")
        special = Signal(special_layout())
        m.d.comb += [
            special.nan.eq(ua.nan | ub.nan | (ua.inf & ub.zero) | (ua.zero & ub.inf)),
            special.inf.eq(ua.inf | ub.inf),
            special.sign.eq(ua.sign ^ ub.sign),
        ]
        # The product's top bit (2 * precision - 1) weighs 2**(ea + eb - 2 * bias + 1): its
        # biased exponent in the output format is ea + eb - 2 * bias + 1 + out bias, which can
        # be far below 1 or above exp_max.
        exp = Signal(signed(max(fmt.exp_bits, out.exp_bits) + 2))
        m.d.comb += exp.eq(ua.exp + ub.exp - (2 * fmt.bias - out.bias - 1))
        s = stages.cut("unpacked", special=special, sign=special.sign, exp=exp, a=ua.sig, b=ub.sig)

        # The significand product, as partial products of DSP-sized pieces summed after a cut
        # (fp32's 24 x 24 bits take four 18 x 18 multipliers and an adder tree)
        partials = partial_products(s.a, s.b)
        s = stages.cut("partial", special=s.special, sign=s.sign, exp=s.exp,
                       **{f"pp{k}": value for k, (_, value) in enumerate(partials)})
        product = sum_partials([(shift, getattr(s, f"pp{k}")) for k, (shift, _) in enumerate(partials)],
                               2 * fmt.precision)
        # round_pack needs the output precision plus a round and a sticky bit: zeros below a
        # narrow product do not change its value
        pad = max(0, out.precision + 2 - 2 * fmt.precision)
        sig = Cat(Const(0, pad), product) if pad else product

        s = stages.cut("product", special=s.special, sign=s.sign, exp=s.exp, sig=sig)

        counted = count_zeros(m, s.exp, s.sig, name="norm")
        s = stages.cut("zeros", special=s.special, sign=s.sign, exp=s.exp, sig=s.sig, **counted)

        shift = count_shift(m, s.exp, s.sig, name="norm", zeros=s.zeros, room=s.room)
        s = stages.cut("counted", special=s.special, sign=s.sign, sig=s.sig, **shift)

        norm_sig = shift_normal(m, s.sig, s.left, s.right, name="norm")
        s = stages.cut("normalized", special=s.special, sign=s.sign, exp=s.exp, sig=norm_sig)

        rounded = round_nearest(m, out, s.sig, name="round")
        s = stages.cut("rounded", special=s.special, sign=s.sign, exp=s.exp, rounded=rounded)

        packed = pack(m, out, s.sign, s.exp, s.rounded, ftz=self.ftz, name="round")
        m.d.comb += self.y.eq(stages.output(override_special(out, s.special, packed)))
        return m
