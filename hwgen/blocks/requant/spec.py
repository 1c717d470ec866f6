"""``requant`` written a second time, in Amaranth, from its specification alone: the reference
of the formal equivalence check (``Requant.equivalent_variants``, docs/formal.md).

The block under test builds its arithmetic from the numerics library (add half the dropped
weight, then shift; clamp with comparisons pruned by width). This one follows the words of the
spec instead: the quotient ``floor(x / 2**shift)`` and the dropped remainder, then a rounding
decision read off the remainder (above half, exactly half, below), then the clamp or the low
bits. Same ports and the same single output register, so the two give each beat in the same
cycle and a miter compares them beat for beat, for every input.
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal

from .golden import limits
from .rtl import Requant


class RequantSpec(Requant):
    name = "requant_spec"

    def elaborate(self, platform):
        m = Module()
        p = self.p
        x = self.samples.payload

        # floor(x / 2**shift): an arithmetic shift for signed samples; one bit wider than x so
        # that the +1 of rounding up cannot overflow
        quotient = Signal(self._shape(p.in_width + 1))
        m.d.comb += quotient.eq(x >> p.shift)
        if p.shift == 0 or p.rounding == "truncate":
            round_up = Const(0, 1)
        else:
            remainder = x.as_unsigned()[:p.shift]        # the dropped bits, as a fraction
            at_least_half = remainder[p.shift - 1]
            above_half = at_least_half & (remainder[:p.shift - 1] != 0)
            if p.rounding == "half_up":
                round_up = at_least_half                   # ties go up, toward +infinity
            else:                                          # half_even: ties go to the even result
                exactly_half = at_least_half & ~above_half
                round_up = above_half | (exactly_half & quotient[0])
        # wide enough for the output too: a wrapped result keeps the low out_width bits of the
        # value in two's complement, its sign bits included when out_width > in_width
        rounded = Signal(self._shape(max(p.in_width + 2, p.out_width)))
        m.d.comb += rounded.eq(quotient + round_up)

        low, high = limits(p.out_width, p.signed)
        result = Signal(self._shape(p.out_width))
        if p.overflow == "saturate":
            m.d.comb += result.eq(Mux(rounded > high, high, Mux(rounded < low, low, rounded)))
        else:                                              # wrap: the low out_width bits
            m.d.comb += result.eq(rounded[:p.out_width])

        # the output register, as in the block: it takes a sample when empty or emptying
        m.d.comb += self.samples.ready.eq(~self.scaled.valid | self.scaled.ready)
        with m.If(self.samples.ready):
            m.d.sync += [self.scaled.valid.eq(self.samples.valid), self.scaled.payload.eq(result)]
        return m
