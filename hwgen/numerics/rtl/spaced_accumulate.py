"""A floating-point accumulator for streams whose elements come at least ``spacing`` cycles
apart: one pipelined adder and one or two partial sums (docs/numerics.md, "For spaced
streams")."""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ...core.logic import delay
from ..formats import FloatFormat
from ..spaced_accumulator import spaced_accumulator_geometry
from .add import FloatAdder

__all__ = ["SpacedFloatAccumulator"]


class SpacedFloatAccumulator(wiring.Component):
    """Sums of ``x`` over runs ending with ``last``, in ``fmt``, for elements that come at
    least ``spacing`` cycles apart (a PIM channel's MACs, ``tCCD_L`` apart): one pipelined adder
    and ``slots`` (1 or 2) partial sums, ``spaced_accumulator_geometry``, instead of
    FloatAccumulator's ``adder_latency + 1`` partial sums and tree.

    Order of summation: that of ``hwgen.numerics.golden.fp_accumulate`` with ``slots`` partial
    sums. Element ``i`` of a sum goes to partial sum ``i mod slots`` (``((-0 + x[j]) +
    x[j + slots]) + ...``); with two, the sum is partial 0 + partial 1 (the twin adds the newer
    to the older; IEEE addition commutes, NaNs canonical either way).

    Ports: ``x``, ``last``, ``x_valid`` (an element; ``x_valid`` at least ``spacing`` cycles
    after the previous one, and never between a sum's last element and its result), ``y`` and
    ``y_valid`` (a finished sum, ``latency`` cycles after its last element; ``y`` holds it
    until the next)."""

    def __init__(self, fmt: FloatFormat, *, ftz: bool = False, adder_latency: int = 0, spacing: int = 1):
        self.fmt, self.ftz, self.adder_latency, self.spacing = fmt, ftz, adder_latency, spacing
        geometry = spaced_accumulator_geometry(adder_latency, spacing)
        self.slots, self.latency = geometry["slots"], geometry["latency"]
        word = unsigned(fmt.width)
        super().__init__({"x": In(word), "last": In(1), "x_valid": In(1), "y": Out(word), "y_valid": Out(1)})

    def elaborate(self, platform):
        m = Module()
        fmt, pair = self.fmt, self.slots == 2
        minus_zero = Const(1 << (fmt.width - 1), fmt.width)
        m.submodules.adder = adder = FloatAdder(fmt, ftz=self.ftz, latency=self.adder_latency)
        partial = [Signal(fmt.width, init=minus_zero.value, name=f"partial{k}") for k in range(self.slots)]
        turn = Signal()                        # the partial sum the next element goes to
        combine = Signal()                     # (two partial sums) add them this cycle

        # the adder's input register, and tags beside its pipeline: which partial sum the sum
        # at its output belongs to, whether its element ended the sum, whether it is the sum
        launched, launched_turn, launched_end, launched_total = Signal(), Signal(), Signal(), Signal()
        m.d.sync += [launched.eq(self.x_valid), launched_end.eq(self.x_valid & self.last),
                     launched_total.eq(combine), launched_turn.eq(turn)]
        with m.If(self.x_valid):
            m.d.sync += [adder.a.eq(self.x), adder.b.eq(Mux(turn, partial[-1], partial[0]))]
            if pair:
                m.d.sync += turn.eq(~turn & ~self.last)
        with m.Elif(combine):
            m.d.sync += [adder.a.eq(partial[0]), adder.b.eq(partial[-1])]
        done, done_turn, done_end, done_total = (
            delay(m, tag, self.adder_latency, name) for tag, name in
            ((launched, "tag_valid"), (launched_turn, "tag_turn"), (launched_end, "tag_end"),
             (launched_total, "tag_total")))

        m.d.sync += [self.y_valid.eq(0), combine.eq(0)]
        finished = (done & done_end) if not pair else done_total
        with m.If(finished):
            # the result; every partial sum back to -0 for the next sum
            m.d.sync += [self.y.eq(adder.y), self.y_valid.eq(1)] + [p.eq(minus_zero) for p in partial]
        with m.Elif(done):
            with m.If(done_turn):
                m.d.sync += partial[-1].eq(adder.y)
            with m.Else():
                m.d.sync += partial[0].eq(adder.y)
            if pair:
                m.d.sync += combine.eq(done_end)
        return m
