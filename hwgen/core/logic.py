"""Small RTL helpers the block families share, written so that the Verilog Amaranth emits
stays clean under Verilator's -Wall (no constant comparisons, no incomplete case statements)."""

from __future__ import annotations

from contextlib import contextmanager

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import fifo


def equals(a, b):
    """``a == b`` without a comparison Verilator flags (``!x`` for ``x == 0``)."""
    return ~(a ^ b).any()


def lowest(m: Module, conditions, name: str):
    """(any, index of the lowest true condition) of a list of 1-bit values, as signals."""
    index = Const(0, range(max(2, len(conditions))))
    for i in reversed(range(len(conditions))):
        index = Mux(conditions[i], i, index)
    found = Signal(name=f"{name}_any")
    at = Signal(range(max(2, len(conditions))), name=f"{name}_at")
    m.d.comb += [found.eq(Cat(*conditions).any()), at.eq(index)]
    return found, at


def pick(m: Module, values, index, name: str):
    """``values[index]`` as a signal: one multiplexer shared by every use (an ``Array`` index
    used directly is expanded again into each expression that reads it). ``values`` has a
    power-of-two length, so the case list is complete."""
    out = Signal(len(values[0]), name=name)
    m.d.comb += out.eq(Array(values)[index])
    return out


def select(elements, index):
    """``elements[index]`` for a run-time ``index`` as a multiplexer, without a signal of its
    own: indexing a packed array directly becomes a wide shift that Verilator flags
    (WIDTHTRUNC). The index is cut (or zero-extended) to the bits that address the list and the
    list padded to a power of two with its last element, so the case list is complete."""
    # (a data view is indexed, not iterated; a generator has no length)
    items = [elements[i] for i in range(len(elements))] if hasattr(elements, "__len__") else list(elements)
    bits = max(1, (len(items) - 1).bit_length())
    items += items[-1:] * ((1 << bits) - len(items))
    return Array(items)[Cat(index, Const(0, bits))[:bits]]


def counter(limit: int, name: str | None = None) -> Signal:
    """A counter over 0..limit-1, at least one bit wide (Verilator rejects a [-1:0] range)."""
    return Signal(range(max(2, limit)), name=name)


class StateMachine:
    """A state register with one ``If`` per state (``with fsm.state(name)``) and ``goto``:
    like ``m.FSM`` but built from comparisons, so the Verilog has no incomplete case
    statements (Verilator's CASEINCOMPLETE) and needs no waiver."""

    def __init__(self, m: Module, names):
        self.m = m
        self.codes = {name: code for code, name in enumerate(names)}
        self.register = Signal(range(len(names)), name="state")

    def is_in(self, name: str):
        return equals(self.register, self.codes[name])

    @contextmanager
    def state(self, name: str):
        with self.m.If(self.is_in(name)):
            yield

    def goto(self, name: str):
        self.m.d.sync += self.to(name)

    def to(self, name: str):
        """The statement that enters state ``name`` (for a ``m.d.sync += [...]`` list)."""
        return self.register.eq(self.codes[name])

    def to_either(self, condition, then: str, otherwise: str):
        """The statement that enters ``then`` if ``condition`` holds, else ``otherwise``."""
        return self.register.eq(Mux(condition, self.codes[then], self.codes[otherwise]))


def delay(m: Module, value, cycles: int, name: str):
    """``value`` seen through ``cycles`` registers."""
    for index in range(cycles):
        staged = Signal.like(value, name=f"{name}_d{index}")
        m.d.sync += staged.eq(value)
        value = staged
    return value


def register_copies(m: Module, value, copies: int, name: str) -> list[Signal]:
    """``value`` registered ``copies`` times: one register for each consumer of a value that
    fans out to many operators (a broadcast operand of every lane), so each copy can sit
    beside its consumer instead of one flip-flop driving all of them across the die.

    Copies with one input are one flip-flop to Yosys (``opt_merge``), so each carries the
    ``keep`` attribute: Vivado keeps such a register as written, and hwgen's synthesis moves
    the attribute from the register's wire to its flip-flops first (``hwgen.synth``), where
    Yosys honours it. Simulation sees ``copies`` equal registers."""
    registers = [Signal.like(value, name=f"{name}{index}", attrs={"keep": 1}) for index in range(copies)]
    m.d.sync += [register.eq(value) for register in registers]
    return registers


def elapsed(m: Module, start, cycles: int, name: str, *, cut: bool = False):
    """A registered flag: high in every cycle at least ``cycles`` cycles after the latest cycle
    in which ``start`` was high, and before it ever was (a DRAM timing rule, ``t >= e +
    cycles``, as a down-counter: no timestamps, no wide comparisons).

    ``cut``: ``start`` goes into one flip-flop, and the counter starts from it a cycle later
    and a cycle shorter, while that flip-flop holds the flag low in the cycle between. The
    flag is the same in every cycle; ``start``'s logic then ends at one flip-flop instead of
    fanning out to the counter's next-state logic (a controller's issue decision, which starts
    every timing rule, is then one path shorter)."""
    if cycles <= 1:
        return Const(1)   # the cycle after any start already satisfies it
    if cut:
        started = Signal(name=f"{name}_started")
        m.d.sync += started.eq(start)
        return elapsed(m, started, cycles - 1, name) & ~started
    left = Signal(range(cycles), name=f"{name}_left")
    done = Signal(init=1, name=f"{name}_done")
    with m.If(start):
        m.d.sync += [left.eq(cycles - 1), done.eq(0)]
    with m.Elif(left != 0):
        m.d.sync += [left.eq(left - 1), done.eq(left == 1)]
    return done


class SyncFIFO(fifo.SyncFIFO):
    """Amaranth's ``SyncFIFO`` (first-word fall-through, the same ports and cycle behaviour),
    but a single register at depth 1: there a one-word memory has zero-width addresses, which
    Verilog cannot declare (``wire [-1:0]``, Verilator's ASCRANGE)."""

    def elaborate(self, platform):
        if self.depth != 1:
            return super().elaborate(platform)
        m = Module()
        # level is 0 or 1: a write only when empty, a read only when full, never both at once
        m.d.comb += [self.w_rdy.eq(~self.level), self.r_rdy.eq(self.level),
                     self.w_level.eq(self.level), self.r_level.eq(self.level)]
        word = Signal(self.width)
        m.d.comb += self.r_data.eq(word)
        with m.If(self.w_en & self.w_rdy):
            m.d.sync += [word.eq(self.w_data), self.level.eq(1)]
        with m.Elif(self.r_en & self.r_rdy):
            m.d.sync += self.level.eq(0)
        return m
