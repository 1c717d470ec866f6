"""Floating-point multiplication, IEEE-754 style, round to nearest even."""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Signal, signed, unsigned
from amaranth.lib import wiring

from ..formats import FloatFormat
from .common import (Stages, normalize, operator_ports, override_special, round_pack,
                     special_layout, unpack)

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

    Pipeline cuts for ``latency``: 1 after the multiplier; 2 also after normalization; more
    add registers at the output. Registers advance while ``en`` is high (``en`` exists only
    when ``latency > 0``).
    """

    PLAN = {0: (), 1: ("product",), 2: ("product", "normalized")}

    def __init__(self, fmt: FloatFormat, *, ftz: bool = False, latency: int = 0,
                 out_fmt: FloatFormat | None = None):
        self.fmt, self.ftz, self.latency = fmt, ftz, latency
        self.out_fmt = out_fmt or fmt
        word = unsigned(fmt.width)
        super().__init__(operator_ports(self, {"a": word, "b": word}, unsigned(self.out_fmt.width), latency))

    def elaborate(self, platform):
        m = Module()
        fmt, out = self.fmt, self.out_fmt
        stages = Stages(m, getattr(self, "en", None), self.latency, self.PLAN)

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
        # round_pack needs the output precision plus a round and a sticky bit: zeros below a
        # narrow product do not change its value
        pad = max(0, out.precision + 2 - 2 * fmt.precision)
        sig = Cat(Const(0, pad), ua.sig * ub.sig) if pad else ua.sig * ub.sig

        s = stages.cut("product", special=special, sign=special.sign, exp=exp, sig=sig)

        norm_exp, norm_sig = normalize(m, s.exp, s.sig, name="norm")
        s = stages.cut("normalized", special=s.special, sign=s.sign, exp=norm_exp, sig=norm_sig)

        packed = round_pack(m, out, s.sign, s.exp, s.sig, ftz=self.ftz, name="round")
        m.d.comb += self.y.eq(stages.output(override_special(out, s.special, packed)))
        return m
