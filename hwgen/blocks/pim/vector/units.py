"""Building blocks of ``pim_vector_unit``'s datapath: a numerics operator with its operands
wired and the register after it, the pairwise reduction tree with a register after every
level, and the 1/n table. No arithmetic of its own: every value is computed by an operator of
``hwgen.numerics.rtl``."""

from __future__ import annotations

from typing import Callable, Mapping

import numpy as np
from amaranth.hdl import Module, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.memory import Memory

from ....numerics.formats import PRESETS
from ....numerics.rtl import FloatAdder, FloatConverter

BF16 = PRESETS["bf16"]
FP32 = PRESETS["fp32"]


def attach(m: Module, name: str, unit: wiring.Component, **operands) -> wiring.Component:
    """Add ``unit`` (a numerics operator) as submodule ``name`` and drive its operand ports
    from ``operands``; its result ``y`` is left for the caller to register."""
    m.submodules[name] = unit
    for port, value in operands.items():
        m.d.comb += getattr(unit, port).eq(value)
    return unit


def staged(m: Module, name: str, unit: wiring.Component, **operands) -> Signal:
    """:func:`attach`, and return the register after the result (``<name>_q``): the operators'
    plans are timed between registers, and an operator's last stage chained into the next
    one's first would halve the clock."""
    attach(m, name, unit, **operands)
    out = Signal(len(unit.y), name=f"{name}_q")
    m.d.sync += out.eq(unit.y)
    return out


class Units:
    """The operators at the pipeline's latencies (``latency``: role -> latency, see
    ``pipeline.OPERATORS``), each with the block's ``ftz``."""

    def __init__(self, m: Module, ftz: bool, latency: Mapping[str, int]):
        self.m, self.ftz, self.latency = m, ftz, latency

    def make(self, cls, role: str, *formats, **options) -> wiring.Component:
        return cls(*formats, ftz=self.ftz, latency=self.latency[role], **options)

    def to_fp32(self, name: str, value: Value) -> Signal:
        return staged(self.m, name, self.make(FloatConverter, "to_fp32", BF16, FP32), a=value)

    def to_bf16(self, name: str, value: Value) -> Signal:
        return staged(self.m, name, self.make(FloatConverter, "to_bf16", FP32, BF16), a=value)

    def fp32_adder(self) -> Callable[[], wiring.Component]:
        return lambda: self.make(FloatAdder, "add_fp32", FP32)


def reduce_tree(m: Module, name: str, values: list[Value], make_unit) -> Value:
    """Fold ``values`` by a pairwise tree: each level combines neighbours (0, 1), (2, 3), ...
    with a fresh ``make_unit()`` followed by a register, and passes an odd last value up
    through as many registers (the unit's latency and one), so every value of a level is at
    the same stage; the order the golden model documents. ``ceil(log2(len(values)))`` levels,
    each ``latency + 1`` stages."""
    level, depth = list(values), 0
    while len(level) > 1:
        combined = []
        for i in range(0, len(level) - 1, 2):
            unit = make_unit()
            combined.append(staged(m, f"{name}{depth}_{i // 2}", unit, a=level[i], b=level[i + 1]))
        if len(level) % 2:
            passed = level[-1]
            for index in range(unit.latency + 1):
                registered = Signal(len(passed), name=f"{name}{depth}_pass{index}")
                m.d.sync += registered.eq(passed)
                passed = registered
            combined.append(passed)
        level, depth = combined, depth + 1
    return level[0]


def reciprocal_table(max_len: int) -> Memory:
    """A ROM of :func:`reciprocal_entries`."""
    return Memory(shape=32, depth=max_len + 1, init=reciprocal_entries(max_len))


def reciprocal_entries(max_len: int) -> list[int]:
    """fp32 patterns, entry ``n`` = 1/n rounded to nearest even (entry 0 unused, +0).

    Computed as ``float32(1.0 / n)``: the float64 quotient is within half a float64 ulp, and
    rounding it again to fp32 cannot land on a different neighbour unless 1/n has 29
    identical bits right after its 24th, which no n below 2**14 (the parameter's range) has:
    ``tests/blocks/pim/test_vector.py`` checks every entry against the exact quotient."""
    return [0] + [int(np.float32(1.0 / n).view(np.uint32)) for n in range(1, max_len + 1)]
