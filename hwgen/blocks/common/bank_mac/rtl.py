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
"""

from __future__ import annotations

from types import SimpleNamespace

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ....core.logic import delay
from ....core.params import ParamError
from ....numerics.rtl import FloatAdder, FloatMultiplier
from ..dtypes import acc_bits, acc_format, element_bits, element_format
from .params import PARAMS, mac_latency, terms, tree_depth  # noqa: F401  (re-exported)

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
    * ``acc``: ``Out(unsigned(ab))``, the accumulator register.

    Every strobe issued in cycle t takes effect at the clock edge that ends cycle
    t + mac_latency - 1, so ``acc`` in cycle t + mac_latency - 1 is the value just before it
    (what a read-then-clear returns) and ``acc`` in cycle t + mac_latency includes it.
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
        lanes = data.ArrayLayout(unsigned(self.element_bits), p.lanes)
        super().__init__({
            "weights": In(lanes),
            "vector": In(lanes),
            "mac": In(1),
            "load": In(1),
            "bias": In(unsigned(self.acc_bits)),
            "acc": Out(unsigned(self.acc_bits)),
        })

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

        start = Mux(load, bias, self.acc)
        with m.If(mac):
            m.d.sync += self.acc.eq(self._add_to_acc(m, start, beat_sum))
        with m.Elif(load):
            m.d.sync += self.acc.eq(bias)
        return m

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
        mul = FloatMultiplier(element_format(p.dtype), out_fmt=fmt, ftz=p.ftz, latency=p.mul_latency)
        m.submodules[f"mul{lane}"] = mul
        m.d.comb += [mul.a.eq(w), mul.b.eq(x)]
        return mul.y

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
        adder = FloatAdder(self.acc_format, ftz=self.p.ftz, latency=latency)
        m.submodules[name] = adder
        m.d.comb += [adder.a.eq(a), adder.b.eq(b)]
        return adder.y

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
