"""``BankMac``: the MAC unit beside one DRAM bank (GDDR6-AiM style), as a reusable Amaranth core.

Each cycle it may take one column access: ``lanes`` weights times the matching ``lanes``
elements of the broadcast vector, reduced by a pipelined adder tree and added into the bank's
accumulator. The reduction order is the contract of ``mac_golden`` (docs/pim_bank_mac.md):
products rounded into the accumulator format, a pairwise tree in that format (an odd element
passes up), then ``acc <- acc + s``. All float arithmetic is ``hwgen.numerics.rtl``.

The pipeline has no enable: it always advances, and ``mac`` and ``load`` may strobe every cycle.
Both travel down the same delay, so the accumulator sees them in the order they were issued,
``mac_latency`` cycles later. A stream wrapper with back-pressure (``pim_bank_mac``) buffers
what leaves instead of stalling the core.

A float accumulator is either a one-cycle loop (``acc_latency=0``: ``acc <- acc + s``, the
speed of a whole adder) or, with ``acc_latency`` > 0, hwgen.numerics' interleaved
``FloatAccumulator`` (``acc_latency + 1`` partial sums around a pipelined adder, a tree on
each read): every load or read closes the running sum with a -0 element, the sum's value
comes out ``control_hold`` cycles later, and the next sum begins with the bias (a load) or
that value (a read without a load); no strobe may come in between (the wrapper holds its
operations back). Where the user guarantees strobes ``mac_spacing`` > 1 cycles apart (a PIM
channel's column commands are tCCD_L apart) and that leaves room, the accumulator is
``SpacedFloatAccumulator`` instead: one adder and one or two partial sums, no tree
(``accumulator_shape``); same contract, with its own slot count in the order.
"""

from __future__ import annotations

from types import SimpleNamespace

from amaranth.hdl import Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ....core.logic import delay
from ....core.params import ParamError
from ....numerics.rtl import FloatAccumulator, FloatAdder, FloatMultiplier, SpacedFloatAccumulator
from ..dtypes import acc_bits, acc_format, element_bits, element_format
from .params import (PARAMS, accumulator_shape, control_hold, mac_latency, terms,  # noqa: F401  (re-exported)
                     tree_depth)

__all__ = ["PARAMS", "BankMac", "mac_latency", "tree_depth"]

class BankMac(wiring.Component):
    """One bank's MAC unit. Parameters as ``PARAMS`` (checked, ``ParamError`` when out of range).

    Ports (``eb`` = element bits, ``ab`` = accumulator bits):

    * ``weights``, ``vector``: ``In(ArrayLayout(unsigned(eb), lanes))``, bit patterns (floats)
      or two's-complement patterns (integers), lane 0 lowest;
    * ``mac``: accumulate this cycle's ``weights . vector``;
    * ``load``: ``acc <- bias`` (a bias write; ``bias = 0`` clears); with ``mac`` in the same
      cycle, ``acc <- bias + s`` (the load is ordered first);
    * ``bias``: ``In(unsigned(ab))``, the pattern to load;
    * ``read``: return the accumulated value (before a ``load`` in the same cycle);
    * ``result``, ``result_valid``: a read's value, in cycle t + ``read_latency`` for a read in
      cycle t;
    * ``acc``: ``Out(unsigned(ab))``, the accumulator register (``acc_latency=0`` only).

    Every strobe issued in cycle t takes effect at the clock edge that ends cycle
    t + mac_latency - 1, so ``acc`` in cycle t + mac_latency - 1 is the value just before it
    (what a read-then-clear returns) and ``acc`` in cycle t + mac_latency includes it.
    With ``acc_latency`` > 0, after a ``load`` or ``read`` in cycle t no strobe may come before
    cycle t + ``hold`` + 1, and ``mac`` and ``load`` never strobe together; and any two strobes
    are at least ``mac_spacing`` cycles apart.
    """

    def __init__(self, **values):
        try:
            self.param_values = PARAMS.resolve("BankMac", values)
        except ParamError:
            self._MustUse__silence = True  # never built, so not an unused elaboratable either
            raise
        self.p = p = SimpleNamespace(**self.param_values)
        self.element_bits = element_bits(p.dtype)
        self.acc_bits = acc_bits(p.dtype, p.acc, p.acc_width, terms(self.param_values))
        self.acc_format = acc_format(p.dtype, p.acc)
        self.latency = mac_latency(p.dtype, p.acc, p.lanes, mul_latency=p.mul_latency,
                                   level_latency=p.level_latency)
        # cycles after a load or read with no strobe, and from a read to its result
        self.hold = control_hold(p.acc_latency, p.mac_spacing)
        self.read_latency = self.latency - 1 + self.hold
        lanes = data.ArrayLayout(unsigned(self.element_bits), p.lanes)
        members = {
            "weights": In(lanes),
            "vector": In(lanes),
            "mac": In(1),
            "load": In(1),
            "read": In(1),
            "bias": In(unsigned(self.acc_bits)),
            "result": Out(unsigned(self.acc_bits)),
            "result_valid": Out(1),
        }
        if not p.acc_latency:
            members["acc"] = Out(unsigned(self.acc_bits))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        p = self.p
        products = [self._product(m, lane) for lane in range(p.lanes)]
        # A register on the tree's result leaves the accumulator adder alone in the last
        # pipeline segment: it must finish in one cycle so that back-to-back MACs chain.
        beat_sum = delay(m, self._tree(m, products), 1, "beat_sum")

        # The strobes and the bias walk beside the data, so they reach the accumulator in the
        # cycle their beat's sum does: loads and MACs stay in issue order.
        reach = self.latency - 1
        mac = delay(m, self.mac, reach, "mac")
        load = delay(m, self.load, reach, "load")
        bias = delay(m, self.bias, reach, "bias")
        read = delay(m, self.read, reach, "read")
        if p.acc_latency:
            self._interleaved(m, mac, load, read, bias, beat_sum)
            return m

        start = Mux(load, bias, self.acc)
        with m.If(mac):
            m.d.sync += self.acc.eq(self._add_to_acc(m, start, beat_sum))
        with m.Elif(load):
            m.d.sync += self.acc.eq(bias)
        # a read samples the accumulator in the cycle its strobe reaches it, before a load lands
        m.d.comb += [self.result.eq(self.acc), self.result_valid.eq(read)]
        return m

    def _interleaved(self, m: Module, mac, load, read, bias, beat_sum):
        """The accumulator as hwgen.numerics' FloatAccumulator: MACs are its elements; a load or
        read closes the sum with -0 (the identity: ``x + -0 = x``) and, once the sum is out,
        starts the next one with the bias or with the sum itself. The first sum starts with +0
        (a cleared accumulator), in cycle 1, before any strobe's element can arrive
        (``reach`` >= 1, and every element waits a cycle in the element register)."""
        fmt, p = self.acc_format, self.p
        if accumulator_shape(p.acc_latency, p.mac_spacing)["kind"] == "spaced":
            accumulator = SpacedFloatAccumulator(fmt, ftz=p.ftz, adder_latency=p.acc_latency,
                                                 spacing=p.mac_spacing)
        else:
            accumulator = FloatAccumulator(fmt, ftz=p.ftz, adder_latency=p.acc_latency)
        m.submodules.accumulator = accumulator
        started = Signal()             # the first sum's +0 went in
        waiting = Signal()             # a sum is closed and not out yet
        held_read, held_load = Signal(), Signal()
        held_bias = Signal(self.acc_bits)
        out = accumulator.y_valid & waiting
        m.d.sync += started.eq(1)
        with m.If(load | read):
            m.d.sync += [waiting.eq(1), held_read.eq(read), held_load.eq(load),
                         held_bias.eq(bias)]
        with m.Elif(out):
            m.d.sync += waiting.eq(0)
        # The element goes through a register: the accumulator's loop advances on it, and that
        # enable reaches every register of its adder, so it must not come from logic
        element, element_last, element_valid = Signal(fmt.width), Signal(), Signal()
        minus_zero = Const(1 << (fmt.width - 1), fmt.width)
        m.d.sync += [element_valid.eq(0), element_last.eq(0)]
        with m.If(~started):
            m.d.sync += [element.eq(0), element_valid.eq(1)]
        with m.Elif(load | read):
            m.d.sync += [element.eq(minus_zero), element_last.eq(1), element_valid.eq(1)]
        with m.Elif(mac):
            m.d.sync += [element.eq(beat_sum), element_valid.eq(1)]
        with m.Elif(out):
            m.d.sync += [element.eq(Mux(held_load, held_bias, accumulator.y)),
                         element_valid.eq(1)]
        m.d.comb += [accumulator.x.eq(element), accumulator.last.eq(element_last),
                     accumulator.x_valid.eq(element_valid)]
        m.d.comb += [self.result.eq(accumulator.y), self.result_valid.eq(out & held_read)]

    # -- the three steps of the reduction ------------------------------------------------------
    def _product(self, m: Module, lane: int):
        """Lane ``lane``'s product in the accumulator format, after ``mul_latency`` registers."""
        p = self.p
        w, x = self.weights[lane], self.vector[lane]
        fmt = self.acc_format
        if fmt is None:
            # Exact two's-complement product; the registers stand where a float multiplier's are.
            product = Signal(signed(2 * self.element_bits), name=f"product{lane}")
            m.d.comb += product.eq(w.as_signed() * x.as_signed())
            return delay(m, product, p.mul_latency, f"product{lane}")
        # bf16/fp16 operands into an fp32 accumulator: a widening multiply, exact (8x8 or 11x11
        # significand bits fit fp32's 24) and as small as the element format's multiplier.
        mul = FloatMultiplier(element_format(p.dtype), out_fmt=fmt, ftz=p.ftz,
                              latency=max(p.mul_latency - 1, 0))
        m.submodules[f"mul{lane}"] = mul
        m.d.comb += [mul.a.eq(w), mul.b.eq(x)]
        return delay(m, mul.y, min(p.mul_latency, 1), f"product{lane}")

    def _tree(self, m: Module, level: list):
        """The pairwise tree: (p0+p1), (p2+p3), ...; an odd element passes up, delayed like the
        sums beside it."""
        latency = self.p.level_latency
        for depth in range(tree_depth(len(level))):
            sums = [self._tree_add(m, level[i], level[i + 1], latency, f"tree{depth}_{i // 2}")
                    for i in range(0, len(level) - 1, 2)]
            if len(level) % 2:
                sums.append(delay(m, level[-1], latency, f"tree{depth}_pass"))
            level = sums
        return level[0]

    def _tree_add(self, m: Module, a, b, latency: int, name: str):
        if self.acc_format is None:
            total = Signal(signed(max(len(a), len(b)) + 1), name=name)
            m.d.comb += total.eq(a + b)
            return delay(m, total, latency, name)
        adder = FloatAdder(self.acc_format, ftz=self.p.ftz, latency=max(latency - 1, 0))
        m.submodules[name] = adder
        m.d.comb += [adder.a.eq(a), adder.b.eq(b)]
        return delay(m, adder.y, min(latency, 1), name)

    def _add_to_acc(self, m: Module, start, beat_sum):
        """``start + beat_sum`` in one cycle (back-to-back MACs need the new value at once)."""
        if self.acc_format is None:
            # Wraps modulo 2**acc_bits, which only happens beyond the range acc_width is
            # checked for (max_beats x lanes products between clears).
            return (start.as_signed() + beat_sum)[:self.acc_bits]
        adder = FloatAdder(self.acc_format, ftz=self.p.ftz)
        m.submodules.acc_add = adder
        m.d.comb += [adder.a.eq(start), adder.b.eq(beat_sum)]
        return adder.y
