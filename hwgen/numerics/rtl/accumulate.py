"""A pipelined floating-point accumulator: sums of a stream of values, one value per cycle, at
the clock of a pipelined adder.

Method: interleaved partial sums and a reduction tree (docs/numerics.md, "The accumulator").
A one-cycle accumulation loop (``acc <= acc + x``) runs at the speed of a whole adder; a
pipelined adder of latency ``La`` holds ``slots = La + 1`` sums in flight around its loop, so
element ``i`` of a sum is added to the partial sum of the elements ``i - slots``, ``i - 2 *
slots``, ... (slot ``i mod slots``). When a sum ends, its partial sums leave the loop one by one
into a shift register, and the sum's last one launches them into a tree of ``leaves - 1``
adders (``leaves``: the power of two at or above ``slots``; absent partial sums read -0, the
identity of addition) whose root is the sum. An exact wide fixed-point (Kulisch) accumulator was the
other choice: for fp32 it is 277+ bits wide with a carry chain as long, slower than the adder it
replaces; for bf16 or fp16 values it is 270 or 41 bits, with the same carry problem for bf16.

Order of summation (what the twin ``hwgen.numerics.golden.fp_accumulate`` computes): slot ``j``
is ``((-0 + x[j]) + x[j + slots]) + ...`` rounded at every step; leaf ``k`` of the tree is the
slot of element ``n - 1 - k`` of the sum (``k < min(n, slots)``; the others -0), and the tree
adds leaves ``(0, 1), (2, 3), ...`` and so on up to the root. The order depends on ``slots`` only, never on
when the elements arrive.

Timing. The loop moves on every accepted element while a sum is open (so an element meets
exactly the partial sum of its slot whatever the gaps in the stream), and on every cycle
between sums (so the last partial sums of a finished sum leave without waiting for the next
sum). Everything stops while ``en`` is low (a stalled consumer). An element accepted at one
edge has its sum at ``y`` (``y_valid``) ``latency`` cycles later when its element closes the
sum and nothing stalls; a sum's result waits while the next sum is open and idle.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..formats import FloatFormat
from ..accumulator import accumulator_geometry
from .add import FloatAdder

__all__ = ["FloatAccumulator"]


class FloatAccumulator(wiring.Component):
    """Sums of ``x`` over runs of elements, each run ending with ``last``, in ``fmt``.

    Ports: ``x`` and ``last`` (an element, taken when ``x_valid`` and ``en`` are high), ``en``
    (everything advances; low while the consumer of ``y`` stalls), ``y`` and ``y_valid`` (a
    finished sum, for one cycle in which ``en`` is high). Elements are always accepted while
    ``en`` is high: the accumulator never back-pressures except through ``en``.
    """

    def __init__(self, fmt: FloatFormat, *, ftz: bool = False, adder_latency: int = 0):
        self.fmt, self.ftz, self.adder_latency = fmt, ftz, adder_latency
        geometry = accumulator_geometry(adder_latency)
        self.slots, self.leaves, self.levels = geometry["slots"], geometry["leaves"], geometry["levels"]
        self.latency = geometry["latency"]
        word = unsigned(fmt.width)
        super().__init__({
            "x": In(word), "last": In(1), "x_valid": In(1), "en": In(1, init=1),
            "y": Out(word), "y_valid": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        fmt, slots = self.fmt, self.slots
        minus_zero = Const(1 << (fmt.width - 1), fmt.width)

        # -- the loop: an input register, then the adder's pipeline --------------------------
        m.submodules.loop = adder = FloatAdder(fmt, ftz=self.ftz, latency=self.adder_latency)
        open_sum = Signal()                   # a sum has begun and its last element is to come
        taken = Signal(range(slots + 1))      # elements of the open sum so far, up to slots
        accept = Signal()
        advance = Signal()                    # the loop moves one step
        m.d.comb += [
            accept.eq(self.x_valid & self.en),
            advance.eq(self.en & (self.x_valid | ~open_sum)),
        ]
        # the token at the loop's end: a partial sum, and whether its element ended its sum.
        # Tags travel beside the adder's registers.
        token_valid, token_end = Signal(), Signal()
        out_valid, out_end = token_valid, token_end
        for index in range(self.adder_latency):
            valid, end = Signal(name=f"tag{index}_valid"), Signal(name=f"tag{index}_end")
            with m.If(advance):
                m.d.sync += [valid.eq(out_valid), end.eq(out_end)]
            out_valid, out_end = valid, end
        if self.adder_latency:
            m.d.comb += adder.en.eq(advance)

        # An element meets its slot's partial sum once its sum has filled every slot; before,
        # -0 (x + -0 is x, +0 included). The partial sum at the loop's end then belongs to it.
        full = taken == slots
        consumed = accept & full
        with m.If(advance):
            m.d.sync += [
                adder.a.eq(self.x),
                adder.b.eq(Mux(full, adder.y, minus_zero)),
                token_valid.eq(accept),
                token_end.eq(self.last),
            ]
        with m.If(accept):
            with m.If(self.last):
                m.d.sync += [open_sum.eq(0), taken.eq(0)]
            with m.Else():
                m.d.sync += [open_sum.eq(1), taken.eq(Mux(full, slots, taken + 1))]

        # -- gather: a finished sum's partial sums, newest first, until its last one ---------
        # They leave the loop in the order of their last elements, so a shift register holds
        # them by age and the sum's last one goes straight into the launch register: no
        # multiplexer behind the loop's adder (leaf k is the partial sum of the sum's element
        # n - 1 - k; those of a sum shorter than the loop read -0).
        final = Signal()                      # a partial sum leaves the loop for good
        m.d.comb += final.eq(advance & out_valid & ~consumed)
        older = [Signal(fmt.width, name=f"older{k}") for k in range(slots - 1)]
        held = Signal(max(slots - 1, 1))
        launch = [Signal(fmt.width, name=f"launch{k}") for k in range(self.leaves)]
        launch_valid = Signal()
        with m.If(final):
            with m.If(out_end):
                m.d.sync += held.eq(0)
            with m.Else():
                m.d.sync += [value.eq(newer) for value, newer in zip(older, [adder.y] + older[:-1])]
                if slots > 1:
                    m.d.sync += held.eq(Cat(1, held[:-1]) if slots > 2 else 1)
        with m.If(self.en):
            m.d.sync += [launch[0].eq(adder.y), launch_valid.eq(final & out_end)]
            for k in range(1, slots):
                m.d.sync += launch[k].eq(Mux(held[k - 1], older[k - 1], minus_zero))
        for k in range(slots, self.leaves):
            m.d.comb += launch[k].eq(minus_zero)

        # -- the reduction tree: pairs of slots, level by level ------------------------------
        values, valid = launch, launch_valid
        for level in range(self.levels):
            sums = []
            for pair in range(len(values) // 2):
                tree_adder = FloatAdder(fmt, ftz=self.ftz, latency=self.adder_latency)
                m.submodules[f"tree{level}_{pair}"] = tree_adder
                m.d.comb += [tree_adder.a.eq(values[2 * pair]), tree_adder.b.eq(values[2 * pair + 1])]
                if self.adder_latency:
                    m.d.comb += tree_adder.en.eq(self.en)
                # a register after every adder: the operators' plans are measured between
                # registers, and an adder's last stage chained into the next one's first halves
                # the clock
                total = Signal(fmt.width, name=f"tree{level}_sum{pair}")
                with m.If(self.en):
                    m.d.sync += total.eq(tree_adder.y)
                sums.append(total)
            values = sums
            for index in range(self.adder_latency + 1):
                staged = Signal(name=f"tree{level}_valid{index}")
                with m.If(self.en):
                    m.d.sync += staged.eq(valid)
                valid = staged
        m.d.comb += [self.y.eq(values[0]), self.y_valid.eq(valid)]
        return m
