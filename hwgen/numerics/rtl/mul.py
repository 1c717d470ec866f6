"""Floating-point multiplication, IEEE-754 style, round to nearest even."""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed, unsigned
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

    Pipeline cuts for ``latency``: 1 after the multiplier; 2 also after normalization; more
    add registers at the output. Registers advance while ``en`` is high (``en`` exists only
    when ``latency > 0``).
    """

    PLAN = {0: (), 1: ("product",), 2: ("product", "normalized")}

    def __init__(self, fmt: FloatFormat, *, ftz: bool = False, latency: int = 0):
        self.fmt, self.ftz, self.latency = fmt, ftz, latency
        word = unsigned(fmt.width)
        super().__init__(operator_ports(self, {"a": word, "b": word}, word, latency))

    def elaborate(self, platform):
        m = Module()
        fmt = self.fmt
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
        # biased exponent is ea + eb - bias + 1, which can be far below 1 or above exp_max.
        exp = Signal(signed(fmt.exp_bits + 2))
        m.d.comb += exp.eq(ua.exp + ub.exp - (fmt.bias - 1))

        s = stages.cut("product", special=special, sign=special.sign, exp=exp,
                       sig=ua.sig * ub.sig)

        norm_exp, norm_sig = normalize(m, s.exp, s.sig, name="norm")
        s = stages.cut("normalized", special=s.special, sign=s.sign, exp=norm_exp, sig=norm_sig)

        packed = round_pack(m, fmt, s.sign, s.exp, s.sig, ftz=self.ftz, name="round")
        m.d.comb += self.y.eq(stages.output(override_special(fmt, s.special, packed)))
        return m
